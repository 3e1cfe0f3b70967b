"""Roofline column for the benchmarks: how much of this CPU's arithmetic an encoder uses.

achieved GFLOP/s = the forward pass's floating-point operations / its measured time. The
operations are counted from the saved structure (config.json: hidden size, kept heads and
FFN units per layer, head), so a pruned student is charged only for what it computes:
per layer and sequence of length L, with d = hidden size, a = kept heads x head size,
f = kept FFN units (one multiply-add = 2 FLOPs):
    Q, K, V, output projections  2 * L * 4 * d * a
    scores and weighted values   2 * 2 * L * L * a
    feed-forward                 2 * 2 * L * d * f
plus the task head. Embedding lookups, layer norms, softmax and GELU are not counted
(memory-bound, a few % of the total at these sizes).

Two ceilings: the nominal peak (threads x clock x 32 FP32 FLOPs per cycle: two 8-lane FMA
units, the common x86 server core; an assumption stated in the output) and the measured
ceiling — the best of large FP32 matrix multiplies with the same torch threads on this
machine, the honest roof for dense FP32 work here. int8 backends are charged the same
operation count; with VNNI they can pass the FP32 roof (4 int8 multiply-adds per lane).
"""

from __future__ import annotations

import time

import torch

FLOPS_PER_CYCLE = 32  # 2 FMA units x 8 FP32 lanes x 2


def encoder_flops(config: dict, batch: int, seq_len: int) -> float:
    """FLOPs of one forward pass of `batch` sequences of `seq_len` tokens (see module doc)."""
    enc, head = config["encoder"], config.get("head", {})
    d = enc["hidden_size"]
    head_dim = d // enc["num_attention_heads"]
    n_layers = enc["num_hidden_layers"]
    structure = config.get("structure") or {}
    heads = structure.get("heads") or [enc["num_attention_heads"]] * n_layers
    ffn = structure.get("ffn") or [enc["intermediate_size"]] * n_layers
    L = seq_len
    per_seq = 0.0
    for h, f in zip(heads, ffn, strict=True):
        a = h * head_dim
        per_seq += 2 * L * 4 * d * a + 2 * 2 * L * L * a + 2 * 2 * L * d * f
    labels = head.get("num_labels", 0)
    rows = L if head.get("task") == "tag" else 1
    per_seq += 2 * rows * d * labels
    return per_seq * batch


def nominal_peak_gflops(threads: int | None = None) -> float:
    """threads x clock (GHz, from /proc/cpuinfo) x FLOPS_PER_CYCLE; 0 if the clock is unknown."""
    threads = threads or torch.get_num_threads()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            mhz = max(float(line.split(":")[1]) for line in f if line.startswith("cpu MHz"))
    except (OSError, ValueError):
        return 0.0
    return threads * mhz / 1000 * FLOPS_PER_CYCLE


@torch.inference_mode()
def gemm_ceiling_gflops(sizes: tuple[int, ...] = (1024, 2048), runs: int = 5) -> float:
    """The best GFLOP/s of square FP32 matrix multiplies with the current torch threads.

    Best, not median: a ceiling is what the machine can do, and noise only ever slows a run
    down (a median of 1024-sized runs came out below what the FP32 teacher itself reached).
    """
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        for _ in range(runs):
            t0 = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def achieved_gflops(config: dict, batch: int, seq_len: int, ms: float) -> float:
    return encoder_flops(config, batch, seq_len) / (ms / 1000) / 1e9
