"""`tinyexperts build`: the whole system — ontology -> datasets -> MiniLM teachers, the
router, and the GNN encoder + graph-token LLM — each registered on its own.

This is the one module that knows every artifact the system needs; it sits above the
packages it calls (experts, router, ontology_gnn) and below serving and the CLI. Each step
skips what already exists unless `force`; each expert is registered and activated on its
own, so a failure in one leaves the others (and anything registered before) intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from experts.core.assets import home, smollm_path
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import ensure_datasets
from experts.specs import EXPERTS, get_spec
from experts.teacher import train_teacher
from ontology_gnn.graph_llm import load_llm
from ontology_gnn.pipeline import build_encoder, build_graph_llm
from router.build import build_router

ROUTER = "router"
ONTOLOGY = "ontology"  # the GNN ontology encoder + the graph-token tiny LLM


def build_ontology_models(paths: Paths, *, quick: bool, force: bool, seed: int,
                          progress: bool, log: Callable) -> list[dict]:
    """The GNN encoder (link prediction), then the graph-token projector for SmolLM2."""
    done = []
    enc = build_encoder(paths, quick=quick, force=force, seed=seed, progress=progress, log=log)
    if enc:
        done.append({"expert": enc["expert"], "version": enc["version"],
                     "metrics": {"test": enc["link_prediction"]}})
    registry = Registry(paths.registry)
    if registry.versions("graph_llm") and not (force or enc):
        log(f"graph_llm: already built ({registry.versions('graph_llm')[-1]}); --force rebuilds")
        return done
    llm = load_llm(smollm_path(fetch=True))
    g = build_graph_llm(paths, quick=quick, force=True, seed=seed, progress=progress, log=log,
                        llm=llm)
    done.append({"expert": g["expert"], "version": g["version"],
                 "metrics": {"test": {m: g["test"][m]["accuracy"]
                                      for m in ("question", "text", "graph")}}})
    return done


def build(experts: list[str] | None = None, *, quick: bool = False, force: bool = False,
          data_dir: Path | None = None, root: Path | None = None, seed: int = 0,
          progress: bool = True, log: Callable = print) -> list[dict]:
    """Build what is missing: ontology, datasets, one registered teacher per expert, the
    router ("router"), and the ontology encoder + graph-token LLM ("ontology")."""
    paths = Paths(root or home())
    names = experts or [*EXPERTS, ROUTER, ONTOLOGY]
    for n in names:
        if n not in (ROUTER, ONTOLOGY):
            get_spec(n)  # unknown names fail before any work
    if data_dir is None:
        ensure_datasets(paths, force, log)
    registry = Registry(paths.registry)
    done = []
    t0 = time.perf_counter()
    for name in names:
        if name == ONTOLOGY:
            done.extend(build_ontology_models(paths, quick=quick, force=force, seed=seed,
                                              progress=progress, log=log))
            continue
        if name == ROUTER:
            r = build_router(paths, quick=quick, force=force, seed=seed, progress=progress,
                             log=log)
            if r:
                done.append({"expert": ROUTER, "version": r["version"],
                             "metrics": {"test": r["test"]["early_exit"]}})
            continue
        if registry.versions(name) and not force:
            log(f"{name}: already built ({registry.versions(name)[-1]}); --force rebuilds")
            continue
        done.append(train_teacher(name, data_dir or paths.data, registry, quick=quick,
                                  seed=seed, progress=progress, log=log))
    log(f"build finished in {time.perf_counter() - t0:.0f}s")
    return done
