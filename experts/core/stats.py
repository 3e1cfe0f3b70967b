"""The one way tinyexperts summarises timings: numpy percentiles (linear interpolation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`, numpy's default linear interpolation."""
    if len(values) == 0:
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(ms: Sequence[float], digits: int = 2) -> dict:
    """n, p50, p99, mean and max of a list of milliseconds, rounded to `digits`."""
    a = np.asarray(ms, dtype=float)
    if a.size == 0:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None}
    return {"n": int(a.size), "p50_ms": round(percentile(a, 50), digits),
            "p99_ms": round(percentile(a, 99), digits), "mean_ms": round(float(a.mean()), digits),
            "max_ms": round(float(a.max()), digits)}
