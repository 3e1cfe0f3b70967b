"""What a measurement ran on: CPU model, cores, threads and library versions."""

from __future__ import annotations

import functools
import os
import platform
from importlib.metadata import PackageNotFoundError, version

import torch

LIBRARIES = ("torch", "transformers", "onnxruntime", "onnx", "ray", "torch-geometric",
             "faiss-cpu", "peft", "numpy")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache  # asked at every training step; the CPU's flags do not change
def native_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX). Without it PyTorch
    emulates bf16: a 960x960 bf16 matmul took 0.95 s against 0.03 s in float32 on an
    AVX2-only EPYC, so bf16 is only worth it where this holds."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def environment() -> dict:
    libs = {}
    for name in LIBRARIES:
        try:
            libs[name] = version(name)
        except PackageNotFoundError:
            libs[name] = None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "native_bf16": native_bf16(),
            "python": platform.python_version(), "platform": platform.platform(),
            "libraries": libs}
