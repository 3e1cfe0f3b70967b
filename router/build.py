"""`tinyexperts build` (router part): data -> train -> calibrate -> test -> registry."""

from __future__ import annotations

import time
from collections.abc import Callable

from transformers import AutoTokenizer

from experts.core.assets import minilm_dir
from experts.core.environment import environment
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.ontology.default import ensure_ontology
from experts.ontology.schema import domain_text_at
from router.data import INTENTS, OUTPUTS, read_router_data, router_datasets, write_router_data
from router.runtime import NAME, Router, as_served, evaluate_router
from router.train import save_router, train_router

BASE_MODEL = "all-MiniLM-L6-v2 -> 4-layer pruned student (router)"


def ensure_router_data(paths: Paths, force: bool = False, seed: int = 0, log: Callable = print):
    folder = paths.data / NAME
    if force or not (folder / "test.jsonl").is_file():
        data = router_datasets(ensure_ontology(paths, log=log), seed)
        write_router_data(data, folder)
        log(f"router data: {folder} { {k: len(v) for k, v in data.items()} }")
    return read_router_data(folder)


def build_router(paths: Paths, *, quick: bool = False, force: bool = False, seed: int = 0,
                 progress: bool = True, log: Callable = print, encoder_config=None) -> dict:

    registry = Registry(paths.registry)
    if (done := registry.built(NAME, quick=quick)) and not force:
        log(f"router: already built ({done}); --force rebuilds")
        return {}
    t0 = time.perf_counter()
    data = ensure_router_data(paths, force=force, seed=seed, log=log)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    model, calib, report = train_router(data, tokenizer, quick=quick, seed=seed,
                                        progress=progress, log=log,
                                        domain_text=domain_text_at(paths.ontology),
                                        encoder_config=encoder_config)
    # scored as it will be served: int8 dynamic quantization of the same weights
    test = evaluate_router(Router(as_served(model), tokenizer, calib), data["test"])
    report["seconds"] = round(time.perf_counter() - t0, 1)

    def write(folder):
        save_router(model, calib, tokenizer, folder)

    manifest = registry.register(
        NAME, write, task="route", base_model=BASE_MODEL if encoder_config is None
        else "random tiny encoder", labels=list(OUTPUTS) + list(INTENTS),
        params=model.num_params(),
        metrics={"test": {"exact_match": test["early_exit"]["exact_match"], **test},
                 "train": report, "calibration": calib, "environment": environment()},
        data={"dir": str(paths.data / NAME), "sizes": {k: len(v) for k, v in data.items()},
              "seed": seed, "quick": quick})
    registry.activate(NAME, manifest.version)
    log(f"router: registered {manifest.version} — test exact match "
        f"{test['early_exit']['exact_match']:.4f} (full depth "
        f"{test['full_depth']['exact_match']:.4f}), mean exit layer "
        f"{test['early_exit']['mean_exit_layer']:.2f}, {report['seconds']:.0f}s")
    return {"expert": NAME, "version": manifest.version, "test": test}
