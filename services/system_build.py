"""`tinyexperts build`: the whole system — ontology -> datasets -> per expert a MiniLM
teacher and its compressed student (the default recipe in deploy/recipes/, gated, then
active), the router, and the GNN encoder + graph-token LLM — each registered on its own.

This is the one module that knows every artifact the system needs; it sits above the
packages it calls (experts, router, ontology_gnn) and below serving and the CLI. Each step
skips what already exists unless `force`; each expert is registered and activated on its
own, so a failure in one leaves the others (and anything registered before) intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from experts.artifact import backend_of
from experts.core.assets import home, smollm_path
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import ensure_datasets
from experts.specialize.pipeline import specialize
from experts.specialize.recipe import load_recipe
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


def serves_student(registry: Registry, name: str) -> bool:
    """The active version of `name` is a compressed student (an int8 artifact)."""
    try:
        version = registry.active(name)
    except TinyExpertsError:
        return False
    return backend_of(registry.path(name, version)) != "torch-fp32"


def _is_student_of(registry: Registry, name: str, version: str, teacher: str) -> bool:
    """`version` was specialized by a recipe from `teacher` (adapt and merge record others)."""
    manifest = registry.manifest(name, version)
    return manifest.parent_version == teacher and "steps" in (manifest.recipe or {})


def ensure_student(name: str, paths: Paths, registry: Registry, *, quick: bool, force: bool,
                   progress: bool, log: Callable, recipe: Path | None = None) -> dict | None:
    """Specialize the active teacher with the expert's default recipe; the student becomes
    active if it passes the recipe's gate. A failed gate leaves the teacher active and says
    which step fell short and by how much; the build goes on with the other experts.
    `recipe` defaults to deploy/recipes/<name>.yaml."""
    if serves_student(registry, name) and not force:
        log(f"{name}: already serves a student ({registry.active(name)}); --force rebuilds")
        return None
    teacher = registry.active(name)
    made = [v for v in registry.versions(name) if _is_student_of(registry, name, v, teacher)]
    if made and not force:
        log(f"{name}: {made[-1]} is a student of {teacher} but not active (rolled back?); "
            f"`tinyexperts registry activate {name} {made[-1]}` serves it, --force rebuilds")
        return None
    try:
        out = specialize(name, load_recipe(recipe, name), root=paths.home, quick=quick,
                         progress=progress, log=log)
    except TinyExpertsError as err:
        log(f"{name}: the student was not activated — {err.message} ({err.where}); "
            f"{registry.active(name)} keeps serving")
        return None
    final = out["report"]["steps"][-1]
    return {"expert": name, "version": out["version"], "stage": "student",
            "metrics": {"test": {k: v for k, v in final.items() if isinstance(v, float)}}}


def build(experts: list[str] | None = None, *, quick: bool = False, force: bool = False,
          data_dir: Path | None = None, root: Path | None = None, seed: int = 0,
          teachers_only: bool = False, progress: bool = True, log: Callable = print,
          critical: list[str] | None = None) -> list[dict]:
    """Build what is missing: ontology, datasets, per expert a teacher and (unless
    `teachers_only`) its compressed student, the router ("router"), and the ontology
    encoder + graph-token LLM ("ontology"). Every stage's wall time is logged at the end."""
    paths = Paths(root or home())
    names = experts or [*EXPERTS, ROUTER, ONTOLOGY]
    for n in names:
        if n not in (ROUTER, ONTOLOGY):
            get_spec(n)  # unknown names fail before any work
    if data_dir is None:
        ensure_datasets(paths, force, log)
    registry = Registry(paths.registry)
    done: list[dict] = []
    stages: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    for name in names:
        t_stage = time.perf_counter()
        if name == ONTOLOGY:
            done.extend(build_ontology_models(paths, quick=quick, force=force, seed=seed,
                                              progress=progress, log=log))
            stages.append((ONTOLOGY, time.perf_counter() - t_stage))
            continue
        if name == ROUTER:
            r = build_router(paths, quick=quick, force=force, seed=seed, progress=progress,
                             log=log)
            if r:
                done.append({"expert": ROUTER, "version": r["version"],
                             "metrics": {"test": r["test"]["early_exit"]}})
            stages.append((ROUTER, time.perf_counter() - t_stage))
            continue
        if registry.versions(name) and not force:
            log(f"{name}: teacher already built ({registry.versions(name)[0]}); --force "
                "rebuilds")
        else:
            done.append({**train_teacher(name, data_dir or paths.data, registry, quick=quick,
                                         seed=seed, progress=progress, log=log,
                                         critical=critical if get_spec(name).kind == "tag"
                                         else None),
                         "stage": "teacher"})
            stages.append((f"{name} teacher", time.perf_counter() - t_stage))
        if not teachers_only:
            t_stage = time.perf_counter()
            student = ensure_student(name, paths, registry, quick=quick, force=force,
                                     progress=progress, log=log)
            if student:
                done.append(student)
                stages.append((f"{name} student", time.perf_counter() - t_stage))
    total = time.perf_counter() - t0
    log("build stages: " + ", ".join(f"{n} {s:.0f}s" for n, s in stages) if stages
        else "build: nothing to do")
    log(f"build finished in {total:.0f}s")
    return done
