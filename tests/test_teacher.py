"""A fine-tuned teacher must have learned something before it is registered."""

from __future__ import annotations

import pytest

from experts.core.errors import TinyExpertsError
from experts.data.formats import PairExample
from experts.specs import EXPERTS


def test_a_teacher_no_better_than_the_commonest_label_is_refused(tmp_path, monkeypatch,
                                                                  tokenizer, small_ontology):
    """A fine-tuned teacher stuck at chance is refused with the fix, and nothing is
    registered; one that learned is kept. (The pair task's plateau: docs/experiments.md.)"""
    from experts.core.registry import Registry
    from experts.data.datasets import write_default_datasets
    from experts.model import tiny_encoder_config
    from experts.teacher import refuse_chance_level, train_teacher
    from experts.train import TrainResult

    spec = EXPERTS["compatibility"]
    balanced = [PairExample("a", "b", "compatible"), PairExample("a", "c", "incompatible")] * 5
    with pytest.raises(TinyExpertsError, match="learned nothing"):
        refuse_chance_level(spec, balanced, 0.51)
    refuse_chance_level(spec, balanced, 0.60)  # learned something: kept
    refuse_chance_level(EXPERTS["category"], balanced, 0.0)  # macro-F1: not judged this way

    data = tmp_path / "data"
    write_default_datasets(small_ontology, data, seed=0)
    stuck = lambda predictor, *a, **k: TrainResult(predictor.model, [], 0.5, 1.0, 1)  # noqa: E731
    monkeypatch.setattr("experts.teacher.fine_tune", stuck)
    registry = Registry(tmp_path / "registry")
    with pytest.raises(TinyExpertsError, match="another seed"):
        train_teacher("compatibility", data, registry, head_only=False, progress=False,
                      encoder_config=tiny_encoder_config(tokenizer.vocab_size))
    assert not registry.versions("compatibility")


def test_a_part_number_without_a_digit_is_not_an_entity(tiny_predictor, monkeypatch,
                                                           tokenizer):
    """Part numbers are codes: a span tagged PART_NUMBER with no digit ("no" in "part no .
    7090") becomes O in what the predictor answers and is scored on; other types and spans
    with a digit stay. The teacher enforces a code type only where its training data agree,
    and an artifact from before the head recorded it follows the spec."""
    import torch

    from experts.data.formats import TagExample
    from experts.predictor import codes_with_digits
    from experts.teacher import code_types

    words = ["NGK", "part", "no", ".", "BKR5E", "for", "Honda", "Civic"]
    tags = ["B-BRAND", "O", "B-PART_NUMBER", "O", "B-PART_NUMBER", "O", "B-VEHICLE",
            "I-VEHICLE"]
    fixed = ["B-BRAND", "O", "O", "O", "B-PART_NUMBER", "O", "B-VEHICLE", "I-VEHICLE"]
    assert codes_with_digits(words, tags, ("PART_NUMBER",)) == fixed
    assert codes_with_digits(words, tags, ()) == tags
    two_words = ["pn", "AB", "12"], ["B-PART_NUMBER", "I-PART_NUMBER", "I-PART_NUMBER"]
    assert codes_with_digits(*two_words, ("PART_NUMBER",)) == two_words[1]

    spec = EXPERTS["attributes"]
    agree = [TagExample(("fits", "x", "0242236541"), ("O", "O", "B-PART_NUMBER"))] * 3
    assert code_types(spec, agree) == ("PART_NUMBER",)
    said = []
    contradicts = [*agree, TagExample(("part", "ABC"), ("O", "B-PART_NUMBER"))]
    assert code_types(spec, contradicts, said.append) == ()
    assert "1 of 4 PART_NUMBER spans" in said[0]
    assert code_types(EXPERTS["category"], agree) == ()
    # a new model (a teacher, or `adapt --from base`) records them from its training data
    from experts.model import tiny_encoder_config
    from experts.teacher import new_teacher

    tags_of_spec = ["O", "B-PART_NUMBER", "I-PART_NUMBER"]
    tiny = tiny_encoder_config(tokenizer.vocab_size)
    made = new_teacher("attributes", tags_of_spec, {}, tokenizer, encoder_config=tiny,
                       train=contradicts, log=said.append)
    assert made.model.head_config.code_types == ()
    made = new_teacher("attributes", tags_of_spec, {}, tokenizer, encoder_config=tiny,
                       train=agree)
    assert made.model.head_config.code_types == ("PART_NUMBER",)

    labels = ["O", "B-BRAND", "I-BRAND", "B-PART_NUMBER", "I-PART_NUMBER", "B-VEHICLE",
              "I-VEHICLE"]
    p = tiny_predictor("attributes", "tag", labels)
    ids = [labels.index(t) for t in tags]
    monkeypatch.setattr(p, "logits", lambda exs: [torch.nn.functional.one_hot(
        torch.tensor(ids), len(labels)).float() for _ in exs])
    example = TagExample(tuple(words), tuple(tags))
    p.model.head_config.code_types = None  # an artifact from before: the spec's types
    assert p.predict_tags([example]) == [fixed]
    assert [e["text"] for e in p.predict([list(words)])[0]["entities"]] == [
        "NGK", "BKR5E", "Honda Civic"]
    p.model.head_config.code_types = ()  # trained on data that contradicts it
    assert p.predict_tags([example]) == [tags]


def test_a_trained_tagger_records_its_code_types(tiny_home):
    """The teacher writes the code types its data agrees with into its artifact, where the
    students made from it and the server read them."""
    import json

    from experts.core.paths import Paths
    from experts.core.registry import Registry
    from experts.predictor import load_predictor

    reg = Registry(Paths(tiny_home).registry)
    config = json.loads((reg.path("attributes", "v1") / "config.json").read_text())
    assert config["head"]["code_types"] == ["PART_NUMBER"]
    assert load_predictor(reg, "attributes", "v1").code_types() == ("PART_NUMBER",)
