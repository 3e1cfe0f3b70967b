"""Tiny random experts of every kind: encoding, prediction, evaluation, training steps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from experts.data.formats import PairExample, TagExample, TextExample
from experts.encoding import IGNORE, encode
from experts.evaluate import evaluate, quality
from experts.model import ExpertModel
from experts.specs import EXPERTS, TrainConfig
from experts.train import fine_tune


def test_first_subtoken_alignment(tokenizer):
    ex = TagExample(("Bosch", "0242236541", "plug"), ("B-BRAND", "B-PART_NUMBER", "O"))
    ids = {"O": 0, "B-BRAND": 1, "B-PART_NUMBER": 2}
    batch = encode(tokenizer, "tag", [ex], 32, ids)
    labels = batch["labels"][0].tolist()
    words = batch["word_index"][0].tolist()
    kept = [(w, lab) for w, lab in zip(words, labels, strict=True) if lab != IGNORE]
    assert kept == [(0, 1), (1, 2), (2, 0)]  # one label per word, on its first sub-token
    n_sub = sum(1 for w in tokenizer(["Bosch", "0242236541", "plug"],
                                     is_split_into_words=True).word_ids() if w == 1)
    assert n_sub > 1  # the part number really is split, so -100 was needed


KINDS = {
    "category": ("classify", ["spark plugs", "batteries"],
                 [TextExample("NGK iridium spark plug", "spark plugs"),
                  TextExample("12V AGM battery group 35", "batteries")]),
    "compatibility": ("pair", ["compatible", "incompatible"],
                      [PairExample("plug fits 2012-2015 Civic", "2013 Honda Civic", "compatible"),
                       PairExample("plug fits 2012-2015 Civic", "2019 Honda Civic",
                                   "incompatible")]),
    "attributes": ("tag", ["O", "B-BRAND", "I-BRAND", "B-PART_NUMBER", "I-PART_NUMBER"],
                   [TagExample(("Bosch", "0242", "plug"), ("B-BRAND", "B-PART_NUMBER", "O")),
                    TagExample(("NGK", "6619"), ("B-BRAND", "B-PART_NUMBER"))]),
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_tiny_expert_predicts_evaluates_and_reloads(name, tiny_predictor, tmp_path):
    kind, labels, examples = KINDS[name]
    p = tiny_predictor(name, kind, labels)
    report = evaluate(p, examples * 4, latency=True)
    assert report["params"] == p.model.num_params() < 2_500_000
    assert report["latency_b1"]["mean_ms"] > 0
    assert report["latency_b32"]["batch_size"] == 32
    p.model.save(tmp_path)
    again = ExpertModel.load(tmp_path)
    batch = encode(p.tokenizer, kind, examples, 48)
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask",
                                                       "token_type_ids")}
    assert torch.allclose(p.model(**inputs), again(**inputs))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_fine_tune_learns_a_tiny_set(name, tiny_predictor):
    kind, labels, examples = KINDS[name]
    p = tiny_predictor(name, kind, labels)
    # a random tiny model needs a larger learning rate than a pretrained teacher
    spec = dataclasses.replace(EXPERTS[name], train=TrainConfig(
        epochs=12, lr=3e-3, head_lr=3e-3, batch_size=8, patience=12))
    data = examples * 8
    before = quality(p, examples)[spec.main_metric]
    result = fine_tune(p, spec, data, examples, seed=0, progress=False)
    after = quality(p, examples)[spec.main_metric]
    assert result.steps > 0 and len(result.history) >= 1
    assert after == pytest.approx(1.0), (before, after)


def test_prototype_head_starts_zero_shot(tiny_predictor):
    p = tiny_predictor("category", "classify", ["a", "b", "c"])
    from experts.teacher import encode_texts

    texts = ["spark plug iridium", "car battery agm", "oil filter spin-on"]
    p.model.set_prototypes(encode_texts(p.model, p.tokenizer, texts))
    ranked = p.rank([TextExample(t, "") for t in texts], k=1)
    # each description is nearest to its own prototype (cosine 1 vs < 1)
    assert [r[0][0] for r in ranked] == ["a", "b", "c"]


def test_predict_returns_entities_for_tagging(tiny_predictor):
    p = tiny_predictor("attributes", "tag", ["O", "B-BRAND", "I-BRAND"])
    with torch.no_grad():
        p.model.classifier.bias.copy_(torch.tensor([0.0, 50.0, 0.0]))  # force B-BRAND
    out = p.predict(["Bosch plug"])[0]
    assert out["tags"] == ["B-BRAND", "B-BRAND"]
    assert [e["text"] for e in out["entities"]] == ["Bosch", "plug"]


@pytest.mark.parametrize("kind", ["classify", "tag"])
def test_logits_come_back_in_input_order_after_length_sorting(tiny_predictor, kind):
    from experts.data.formats import TagExample, TextExample

    p = tiny_predictor("category" if kind == "classify" else "attributes", kind,
                       ["O", "B-BRAND", "I-BRAND"] if kind == "tag" else ["a", "b", "c"])
    p.batch_size = 2
    texts = ["a much longer listing title with many words in it", "short", "mid size title",
             "x", "another fairly long listing title here"]
    ex = [TagExample(tuple(t.split()), tuple("O" for _ in t.split())) if kind == "tag"
          else TextExample(t, "") for t in texts]
    together = p.logits(ex)
    for e, got in zip(ex, together, strict=True):
        assert torch.allclose(p.logits([e])[0], got, atol=1e-5)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_fit_head_trains_the_head_alone_on_frozen_features(name, tiny_predictor):
    from experts.train import fit_head

    kind, labels, examples = KINDS[name]
    p = tiny_predictor(name, kind, labels, seed=1)
    encoder = {k: v.clone() for k, v in p.model.encoder.state_dict().items()}
    head = p.model.classifier.weight.detach().clone()
    spec = dataclasses.replace(EXPERTS[name], max_length=48)
    before = quality(p, examples * 8)[spec.main_metric]
    result = fit_head(p, spec, examples * 8, epochs=60, lr=5e-2, progress=False)
    assert all(torch.equal(v, p.model.encoder.state_dict()[k]) for k, v in encoder.items())
    assert not torch.equal(head, p.model.classifier.weight)
    assert result.steps == 60 and not p.model.training
    # two or three distinct examples: a trained linear head separates them
    assert quality(p, examples * 8)[spec.main_metric] > before or before == 1.0
    assert quality(p, examples * 8)[spec.main_metric] == pytest.approx(1.0)


def test_fit_head_with_no_epochs_keeps_the_initial_head(tiny_predictor):
    from experts.train import fit_head

    kind, labels, examples = KINDS["category"]
    p = tiny_predictor("category", kind, labels)
    head = p.model.classifier.weight.detach().clone()
    result = fit_head(p, EXPERTS["category"], examples, epochs=0, progress=False)
    assert result.steps == 0 and torch.equal(head, p.model.classifier.weight)


@pytest.mark.parametrize("setting, dtype", [("float32", torch.float32),
                                            ("bfloat16", torch.bfloat16)])
def test_training_forward_runs_in_the_chosen_dtype(setting, dtype, monkeypatch):
    from experts.train import mixed_precision, train_dtype

    monkeypatch.setenv("TINYEXPERTS_TRAIN_DTYPE", setting)
    assert train_dtype() == dtype
    layer = torch.nn.Linear(4, 3)
    with mixed_precision():
        out = layer(torch.randn(2, 4))
    assert out.dtype == dtype and layer.weight.dtype == torch.float32  # fp32 master weights


def test_the_default_training_dtype_follows_the_cpu(monkeypatch):
    from experts.core.environment import native_bf16
    from experts.train import train_dtype

    monkeypatch.delenv("TINYEXPERTS_TRAIN_DTYPE", raising=False)
    assert train_dtype() == (torch.bfloat16 if native_bf16() else torch.float32)


def test_an_unknown_training_dtype_is_refused_with_the_fix(monkeypatch):
    from experts.core.errors import TinyExpertsError
    from experts.train import train_dtype

    monkeypatch.setenv("TINYEXPERTS_TRAIN_DTYPE", "fp16")
    with pytest.raises(TinyExpertsError, match="TINYEXPERTS_TRAIN_DTYPE.*float32, bfloat16"):
        train_dtype()
