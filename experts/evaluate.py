"""Score an expert on a split: quality metrics, size and latency in one report."""

from __future__ import annotations

from pathlib import Path

from experts.artifact import served_bytes
from experts.core.errors import TinyExpertsError
from experts.data.external import ExternalSet, any_hit
from experts.data.formats import Example
from experts.latency import measure_latency
from experts.metrics import classification_metrics, tagging_metrics
from experts.predictor import Predictor
from experts.specs import get_spec


def critical_of(predictor: Predictor) -> tuple[str, ...]:
    """The critical entity types a tagger is scored on: its own (from its manifest), else
    the expert's default ones — only those its labels have (none: not applicable)."""
    spec = get_spec(predictor.name)
    chosen = predictor.critical if predictor.critical is not None else spec.critical_labels
    return tuple(t for t in chosen if f"B-{t}" in predictor.labels)


def quality(predictor: Predictor, examples: list[Example]) -> dict[str, float]:
    """The expert's quality metrics on labelled examples."""
    if predictor.kind == "tag":
        unknown = {t for ex in examples for t in ex.tags} - set(predictor.labels)
        if unknown:
            raise TinyExpertsError(
                f"tags {sorted(unknown)[:5]} are not among the model's labels",
                where=f"expert {predictor.name}",
                fix=f"use tags from: {', '.join(predictor.labels)}")
        pred = predictor.predict_tags(examples)
        return tagging_metrics([list(e.tags) for e in examples], pred,
                               critical_of(predictor))
    unknown = {e.label for e in examples} - set(predictor.labels)
    if unknown:
        raise TinyExpertsError(
            f"{len(unknown)} label(s) not known to the model, e.g. {sorted(unknown)[:3]}",
            where=f"expert {predictor.name}",
            fix="evaluate on data with the model's label set (`tinyexperts registry show`)")
    ranked = [[lab for lab, _ in r] for r in predictor.rank(examples, k=5)]
    return classification_metrics([e.label for e in examples], ranked)


def evaluate(predictor: Predictor, examples: list[Example], folder: Path | None = None,
             latency: bool = True) -> dict:
    """Quality + params + artifact bytes + latency at batch 1 and 32."""
    report: dict = {"n_examples": len(examples), **quality(predictor, examples)}
    report["params"] = predictor.model.num_params()
    if folder is not None:
        report["file_bytes"] = served_bytes(folder)
    if latency:
        report["latency_b1"] = measure_latency(predictor.model, predictor.tokenizer,
                                               examples, batch_size=1, runs=20)
        report["latency_b32"] = measure_latency(predictor.model, predictor.tokenizer,
                                                examples, batch_size=32, runs=3)
    return report


def quality_external(predictor: Predictor, ext: ExternalSet) -> dict[str, float]:
    """Quality on an external set: the usual metrics, or any-label top-1/top-5 for sets
    whose lines accept several labels (their labels need not all be the model's)."""
    if ext.label_sets is None:
        return quality(predictor, ext.examples)
    ranked = [[lab for lab, _ in r] for r in predictor.rank(ext.examples, k=5)]
    return any_hit(ranked, ext.label_sets)
