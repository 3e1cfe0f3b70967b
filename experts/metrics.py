"""Quality metrics: classification, top-k, and entity-level tagging with critical types.

Entity metrics follow SEEDS.md §4: spans (type, start, end) from BIO tags, exact match;
F1_critical is F1 over the critical types only; coverage is the share of true critical
spans recovered exactly. seqeval does the span extraction and overall P/R/F1.
"""

from __future__ import annotations

from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities
from sklearn.metrics import accuracy_score
from sklearn.metrics import f1_score as sk_f1


def classification_metrics(gold: list[str], ranked: list[list[str]]) -> dict[str, float]:
    """gold labels vs ranked predictions (best first)."""
    pred = [r[0] for r in ranked]
    out = {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(sk_f1(gold, pred, average="macro", zero_division=0)),
        "top1": float(accuracy_score(gold, pred)),
    }
    if ranked and len(ranked[0]) >= 5:
        out["top5"] = sum(g in r[:5] for g, r in zip(gold, ranked, strict=True)) / len(gold)
    return out


def _spans(seqs: list[list[str]], types: set[str] | None) -> set[tuple[int, str, int, int]]:
    out = set()
    for i, seq in enumerate(seqs):
        for typ, s, e in get_entities(seq):
            if types is None or typ in types:
                out.add((i, typ, s, e))
    return out


def _prf(gold: set, pred: set) -> tuple[float, float, float]:
    tp = len(gold & pred)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def tagging_metrics(gold: list[list[str]], pred: list[list[str]],
                    critical: tuple[str, ...] = ()) -> dict[str, float]:
    out = {
        "precision": float(precision_score(gold, pred, zero_division=0)),
        "recall": float(recall_score(gold, pred, zero_division=0)),
        "f1": float(f1_score(gold, pred, zero_division=0)),
    }
    if critical:
        g, p = _spans(gold, set(critical)), _spans(pred, set(critical))
        pc, rc, fc = _prf(g, p)
        out.update({"precision_critical": pc, "recall_critical": rc, "f1_critical": fc,
                    "coverage": rc})
    types = sorted({t for t, _, _ in (e for s in gold for e in get_entities(s))})
    for typ in types:
        out[f"f1_{typ}"] = _prf(_spans(gold, {typ}), _spans(pred, {typ}))[2]
    return out
