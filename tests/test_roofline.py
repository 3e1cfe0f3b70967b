"""The roofline FLOP count agrees with torch's own FLOP counter on real (tiny) encoders,
including pruned ones, so the GFLOP/s column of `bench --suite experts` is not guesswork."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from experts import structure as st
from experts.model import ExpertModel, HeadConfig, tiny_encoder_config
from experts.roofline import achieved_gflops, encoder_flops, gemm_ceiling_gflops


def _counted(model: ExpertModel, batch: int, length: int) -> int:
    # eager attention: its score and value matmuls are visible to the counter (the fused
    # CPU kernel is not registered with it)
    model.encoder.set_attn_implementation("eager")
    ids = torch.randint(5, 100, (batch, length))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=torch.ones_like(ids),
              token_type_ids=torch.zeros_like(ids))
    return counter.get_total_flops()


def _head(task: str, labels: int) -> HeadConfig:
    return HeadConfig(task=task, num_labels=labels, max_length=64)


@pytest.mark.parametrize("task,labels", [("classify", 7), ("tag", 5)])
@pytest.mark.parametrize("pruned", [False, True])
def test_flop_count_matches_torch_counter(task, labels, pruned):
    torch.manual_seed(0)
    model = ExpertModel(tiny_encoder_config(), _head(task, labels))
    model.eval()
    if pruned:  # drop heads and FFN units unevenly, as ontology-relevance pruning does
        st.keep_heads(model, 0, [0])
        st.keep_neurons(model, 1, list(range(0, st.ffn_per_layer(model)[1], 3)))
    config = model.config_dict()
    for batch, length in ((1, 16), (4, 40)):
        ours = encoder_flops(config, batch, length)
        torch_count = _counted(model, batch, length)
        assert ours == pytest.approx(torch_count, rel=0.02), (batch, length, ours, torch_count)
    if pruned:
        full = ExpertModel(tiny_encoder_config(), _head(task, labels))
        assert encoder_flops(config, 4, 40) < encoder_flops(full.config_dict(), 4, 40)


def test_achieved_and_ceiling_are_sane():
    config = ExpertModel(tiny_encoder_config(), HeadConfig(task="classify", max_length=64,
                                                           num_labels=3)).config_dict()
    flops = encoder_flops(config, 32, 64)
    assert achieved_gflops(config, 32, 64, 1000.0) == pytest.approx(flops / 1e9)
    ceiling = gemm_ceiling_gflops(sizes=(128, 256), runs=2)
    assert 0.1 < ceiling < 100_000
