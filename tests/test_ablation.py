"""The pruning ablation: magnitude scores, a fixed training budget, the four arms on a tiny
random expert (same shape, same budget), and how the winner is decided."""

from __future__ import annotations

import math

import pytest
import torch

from experts import structure as st
from experts.bench_ablation import summarise, values
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import load_expert_data
from experts.model import ExpertModel, HeadConfig, tiny_encoder_config
from experts.predictor import load_predictor
from experts.specialize.ablation import build_arms, evenly_spaced, layers_matching
from experts.specialize.importance import magnitude_scores
from experts.specialize.recipe import Recipe
from experts.specialize.steps import StepContext
from experts.specs import get_spec
from experts.train import fine_tune


def test_magnitude_ranks_a_zeroed_head_and_neuron_lowest():
    torch.manual_seed(0)
    model = ExpertModel(tiny_encoder_config(), HeadConfig("classify", 3, 32))
    d = st.head_size(model)
    lay = st.layers(model)[1]
    with torch.no_grad():
        for m in (lay.attention.self.query, lay.attention.self.key, lay.attention.self.value):
            m.weight[2 * d: 3 * d] = 0
        lay.attention.output.dense.weight[:, 2 * d: 3 * d] = 0
        lay.intermediate.dense.weight[7] = 0
        lay.output.dense.weight[:, 7] = 0
    scores = magnitude_scores(model)
    assert scores.heads.shape == (2, 4)
    assert scores.heads[1, 2] == 0 and scores.heads[1].argmin() == 2
    assert scores.heads[0].min() > 0  # the other layer is untouched
    assert scores.ffn[1][7] == 0 and scores.ffn[1].argmin() == 7


def test_layer_choice_for_the_layer_drop_arm():
    assert evenly_spaced(6, 3) == [0, 2, 5]
    assert evenly_spaced(6, 2) == [0, 5] and evenly_spaced(6, 1) == [0]
    assert evenly_spaced(6, 6) == list(range(6)) and evenly_spaced(6, 9) == list(range(6))
    model = ExpertModel(tiny_encoder_config(), HeadConfig("classify", 3, 32))
    per_layer = sum(p.numel() for p in st.layers(model)[0].parameters())
    assert layers_matching(model, int(0.4 * per_layer)) == 1
    assert layers_matching(model, int(1.6 * per_layer)) == 2
    assert layers_matching(model, int(1.5 * per_layer)) == 2  # a tie: the larger


@pytest.fixture(scope="module")
def category_ctx(tiny_home, tmp_path_factory):
    reg = Registry(Paths(tiny_home).registry)
    p = load_predictor(reg, "category")
    return StepContext(spec=get_spec("category"), tokenizer=p.tokenizer, labels=p.labels,
                       teacher=p.model, data=load_expert_data("category",
                                                              Paths(tiny_home).data),
                       workdir=tmp_path_factory.mktemp("ablation"), quick=True,
                       progress=False)


def test_a_step_budget_trains_exactly_that_many_steps_across_epochs(category_ctx):
    import copy

    ctx = category_ctx
    model = copy.deepcopy(ctx.teacher)
    rows = ctx.data.splits["train"][:64]  # 2 steps per epoch at batch 32
    res = fine_tune(ctx.predictor(model), ctx.spec, rows, ctx.data.splits["validation"][:32],
                    progress=False, steps=5)
    assert res.steps == 5 and len(res.history) == 3


def test_the_four_arms_have_one_budget_and_the_pruned_ones_one_shape(category_ctx):
    recipe = Recipe.model_validate({"expert": "category", "steps": [
        {"op": "distill", "layers": [0, 1], "epochs": 1},
        {"op": "prune", "heads": 0.5, "ffn": 0.5, "vocab": True, "batches": 2},
        {"op": "freeze", "embeddings": True, "epochs": 1},
        {"op": "quantize"}]})
    arms = build_arms(category_ctx, recipe, steps=3, log=lambda *_: None)
    assert list(arms) == ["relevance", "magnitude", "layer_drop", "fresh"]
    shapes = {a: st.structure(m) for a, (m, _) in arms.items()}
    assert shapes["relevance"] == shapes["fresh"]
    # both criteria rank units over all layers, so the layers may differ, not the total
    for kind in ("heads", "ffn"):
        assert sum(shapes["magnitude"][kind]) == sum(shapes["relevance"][kind])
    assert arms["magnitude"][0].num_params() == arms["relevance"][0].num_params()
    assert sum(shapes["relevance"]["heads"]) == 4  # half of 2 x 4
    assert arms["layer_drop"][1]["layers"] == [0]  # one whole layer ~ half of two
    assert all(d["train_steps"] == 6 for _, d in arms.values())
    n_vocab = {a: m.encoder.embeddings.word_embeddings.num_embeddings
               for a, (m, _) in arms.items()}
    assert len(set(n_vocab.values())) == 1 and n_vocab["fresh"] < 30522
    teacher_head = category_ctx.teacher.classifier.weight
    fresh_head = arms["fresh"][0].classifier.weight
    assert not torch.allclose(fresh_head, teacher_head)  # drawn afresh, not copied


def _rows(scores: dict[tuple[str, int], float]) -> list[dict]:
    rows = [{"expert": e, "seed": None, "arm": "teacher", "test": 0.8, "external": 0.5}
            for e in ("category", "attributes")]
    for (arm, seed), q in scores.items():
        for e in ("category", "attributes"):
            rows.append({"expert": e, "seed": seed, "arm": arm, "test": 0.8 * q,
                         "external": 0.5 * q, "params": 1, "b1_p50_ms": 1.0,
                         "b32_p50_ms": 2.0, "train_s": 3.0})
    return rows


def test_the_winner_is_the_best_mean_and_the_recipes_are_judged_against_it():
    summary = summarise(_rows({("relevance", 0): 0.95, ("relevance", 1): 0.97,
                               ("magnitude", 0): 0.96, ("magnitude", 1): 0.90}))
    assert summary["winner"] == "relevance"
    assert math.isclose(summary["score"]["relevance"], 0.96)
    assert not summary["winner_on_every_seed"]  # magnitude won seed 0
    cell = next(c for c in summary["table"]
                if c["expert"] == "category" and c["arm"] == "magnitude")
    assert math.isclose(cell["test_ratio"], 0.93) and cell["test_ratio_std"] > 0.04
    v = values(summary, {"category": "relevance", "attributes": "relevance"})
    assert v["recipes_follow_winner"] == 1 and v["seeds"] == 2 and v["experts"] == 2
    assert values(summary, {"category": "magnitude",
                            "attributes": "relevance"})["recipes_follow_winner"] == 0
