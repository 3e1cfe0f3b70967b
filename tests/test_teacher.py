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
