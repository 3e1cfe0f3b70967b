"""Metric functions on hand-made inputs with known answers, and the serving metrics."""

from __future__ import annotations

import pytest

from experts.metrics import classification_metrics, tagging_metrics


def test_tagging_metrics_critical_and_coverage():
    gold = [["B-PART_NUMBER", "O", "B-BRAND", "B-VEHICLE", "I-VEHICLE"],
            ["B-PART_NUMBER", "I-PART_NUMBER", "O"]]
    # 1st sentence: PN right, BRAND right, VEHICLE cut short (wrong span)
    # 2nd sentence: PN span too short (wrong)
    pred = [["B-PART_NUMBER", "O", "B-BRAND", "B-VEHICLE", "O"],
            ["B-PART_NUMBER", "O", "O"]]
    m = tagging_metrics(gold, pred, critical=("PART_NUMBER", "VEHICLE"))
    # overall: 4 gold spans, 4 predicted, 2 exact matches
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    # critical: 3 gold (PN, VEHICLE, PN), 3 predicted, 1 exact (first PN)
    assert m["f1_critical"] == pytest.approx(1 / 3)
    assert m["coverage"] == pytest.approx(1 / 3)
    assert m["f1_BRAND"] == pytest.approx(1.0)


def test_classification_metrics_topk():
    gold = ["a", "b", "c", "a"]
    ranked = [["a", "b", "c", "d", "e"], ["c", "b", "a", "d", "e"],
              ["a", "b", "d", "e", "f"], ["a", "c", "b", "d", "e"]]
    m = classification_metrics(gold, ranked)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["top5"] == pytest.approx(0.75)  # "c" is not in the third ranking


def test_every_serving_metric_can_be_created():
    """Ray checks a histogram's buckets when it is made; a bad bound (0 or below) would make
    `services.metrics._safe` skip every metric of the replica silently."""
    from services import metrics

    metrics._metrics.cache_clear()
    try:
        made = metrics._metrics()
    finally:
        metrics._metrics.cache_clear()
    assert "router_exit_layer" in made and made["router_exit_layer"].boundaries[0] > 0
    assert all(b > 0 for name in ("LATENCY_MS", "BATCH", "LAYERS", "TOKENS_PER_S")
               for b in getattr(metrics, name))
