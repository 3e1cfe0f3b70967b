"""Latency by the protocol of SEEDS.md §4: warm-up, N timed forward passes at a fixed batch
size, repeated M times; report mean ± std over repeats and the median single pass.

The batch is encoded once with the expert's own collate, so only the model is timed and
every model sees the same padded inputs.
"""

from __future__ import annotations

import statistics
import time

import torch

from experts.core.stats import percentile
from experts.data.formats import Example
from experts.encoding import encode, model_inputs


@torch.inference_mode()
def measure_latency(model, tokenizer, examples: list[Example], batch_size: int,
                    warmup: int = 3, runs: int = 10, repeats: int = 3) -> dict[str, float]:
    """Milliseconds per forward pass of `batch_size` examples."""
    model.eval()
    batch = [examples[i % len(examples)] for i in range(batch_size)]
    head = model.head_config
    inputs = model_inputs(encode(tokenizer, model.task, batch, head.max_length,
                                 text_form=head.text_form))
    for _ in range(warmup):
        model(**inputs)
    means, singles = [], []
    for _ in range(repeats):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(**inputs)
            times.append((time.perf_counter() - t0) * 1000)
        means.append(statistics.fmean(times))
        singles.extend(times)
    return {
        "batch_size": batch_size,
        "mean_ms": round(statistics.fmean(means), 3),
        "std_ms": round(statistics.stdev(means) if len(means) > 1 else 0.0, 3),
        "p50_ms": round(percentile(singles, 50), 3),
        "p99_ms": round(percentile(singles, 99), 3),
        "threads": torch.get_num_threads(),
        "seq_len": int(inputs["input_ids"].shape[1]),
    }
