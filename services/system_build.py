"""`tinyexperts build`: the whole system — ontology -> datasets -> per expert a MiniLM
teacher and its compressed student (the default recipe in deploy/recipes/, gated, then
active), the router, and the GNN encoder + graph-token LLM — each registered on its own.

This is the one module that knows every artifact the system needs; it sits above the
packages it calls (experts, router, ontology_gnn) and below serving and the CLI. Each step
skips what already exists unless `force`; each expert is registered and activated on its
own, so a failure in one leaves the others (and anything registered before) intact.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from experts.artifact import backend_of
from experts.core.assets import home, smollm_path
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry, is_quick
from experts.data.datasets import ensure_datasets
from experts.specialize.pipeline import specialize
from experts.specialize.recipe import load_recipe
from experts.specs import EXPERTS, get_spec
from experts.teacher import train_teacher
from ontology_gnn.graph_llm import load_llm
from ontology_gnn.pipeline import ENCODER, GRAPH_LLM, build_encoder, build_graph_llm
from ontology_gnn.sources import import_file
from router.build import build_router
from services.build_status import BuildStatus

ROUTER = "router"
ONTOLOGY = "ontology"  # the GNN ontology encoder + the graph-token tiny LLM


def build_ontology_models(paths: Paths, *, quick: bool, force: bool, seed: int,
                          progress: bool, log: Callable, source=None) -> list[dict]:
    """The GNN encoder (link prediction), then the graph-token projector for SmolLM2, over
    the product ontology or `source` (an imported one: `build_imported`)."""
    done = []
    enc = build_encoder(paths, quick=quick, force=force, seed=seed, progress=progress, log=log,
                        source=source)
    if enc:
        done.append({"expert": enc["expert"], "version": enc["version"],
                     "metrics": {"test": enc["link_prediction"]}})
    registry = Registry(source.registry if source is not None else paths.registry)
    if (kept := registry.built(GRAPH_LLM, quick=quick)) and not (force or enc):
        if _reads_roles(registry, kept):
            log(f"{GRAPH_LLM}: already built ({kept}); --force rebuilds")
            return done
        log(f"{GRAPH_LLM}: {kept} was built before role detection; building it again")
    llm = load_llm(smollm_path(fetch=True))
    g = build_graph_llm(paths, quick=quick, force=True, seed=seed, progress=progress, log=log,
                        llm=llm, source=source)
    done.append({"expert": g["expert"], "version": g["version"],
                 "metrics": {"test": {m: g["test"][m]["accuracy"]
                                      for m in ("question", "graph")}}})
    return done


def build_imported(ttl: Path, *, root: Path | None = None, quick: bool = False,
                   force: bool = False, seed: int = 0, progress: bool = True,
                   log: Callable = print) -> list[dict]:
    """`build --experts ontology --ontology FILE.ttl`: the encoder and graph-token LLM over
    an imported RDF/OWL/SKOS ontology, kept apart from the product ontology's (a changed
    file is rebuilt)."""
    paths = Paths(root or home())
    t0 = time.perf_counter()
    source, changed = import_file(paths, ttl, log=log)
    done = build_ontology_models(paths, quick=quick, force=force or changed, seed=seed,
                                 progress=progress, log=log, source=source)
    log(f"ontology {source.name}: built in {time.perf_counter() - t0:.0f}s; ask it with "
        f"`tinyexperts ask --ontology {source.name} \"QUESTION\"`")
    return done


def _reads_roles(registry: Registry, version: str) -> bool:
    """The graph_llm `version` carries a role detector (built since role detection)."""
    config = registry.path(GRAPH_LLM, version) / "config.json"
    try:
        return "role_detector" in json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def serves_student(registry: Registry, name: str, *, quick: bool = True) -> bool:
    """The active version of `name` is a compressed student (an int8 artifact); with
    `quick=False`, one that was not quick-trained."""
    try:
        version = registry.active(name)
        manifest = registry.manifest(name, version)
    except TinyExpertsError:
        return False
    return (backend_of(registry.path(name, version)) != "torch-fp32"
            and (quick or not is_quick(manifest)))


def _is_student_of(registry: Registry, name: str, version: str, teacher: str) -> bool:
    """`version` was specialized by a recipe from `teacher` (adapt and merge record others)."""
    manifest = registry.manifest(name, version)
    return manifest.parent_version == teacher and "steps" in (manifest.recipe or {})


def built_teacher(registry: Registry, name: str, *, quick: bool) -> str | None:
    """The newest teacher the build trained (not adapted, merged or specialized) that this
    build can keep: any for a quick build, else one that was not quick-trained."""
    for version in reversed(registry.versions(name)):
        try:
            m = registry.manifest(name, version)
        except TinyExpertsError:
            continue  # a damaged version is never kept
        if m.parent_version is None and m.recipe is None and (quick or not is_quick(m)):
            return version
    return None


def ensure_student(name: str, paths: Paths, registry: Registry, *, quick: bool, force: bool,
                   progress: bool, log: Callable, recipe: Path | None = None) -> dict | None:
    """Specialize the active teacher with the expert's default recipe; the student becomes
    active if it passes the recipe's gate. A failed gate leaves the teacher active and says
    which step fell short and by how much; the build goes on with the other experts.
    `recipe` defaults to deploy/recipes/<name>.yaml."""
    if serves_student(registry, name, quick=quick) and not force:
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


def plan(names: list[str], registry: Registry, *, quick: bool, force: bool,
         teachers_only: bool) -> list[tuple[str, bool]]:
    """The build's stages in order, each with whether it is already done (and so skipped):
    "<expert> teacher", "<expert> student", "router", "ontology"."""
    stages = []
    for name in names:
        if name == ROUTER:
            stages.append((ROUTER, not force and bool(registry.built(ROUTER, quick=quick))))
        elif name == ONTOLOGY:
            kept = registry.built(GRAPH_LLM, quick=quick)
            stages.append((ONTOLOGY, not force and bool(
                kept and _reads_roles(registry, kept)
                and registry.built(ENCODER, quick=quick))))
        else:
            stages.append((f"{name} teacher",
                           not force and bool(built_teacher(registry, name, quick=quick))))
            if not teachers_only:
                stages.append((f"{name} student",
                               not force and serves_student(registry, name, quick=quick)))
    return stages


def build(experts: list[str] | None = None, *, quick: bool = False, force: bool = False,
          data_dir: Path | None = None, root: Path | None = None, seed: int = 0,
          teachers_only: bool = False, progress: bool = True, log: Callable = print,
          critical: list[str] | None = None) -> list[dict]:
    """Build what is missing: ontology, datasets, per expert a teacher and (unless
    `teachers_only`) its compressed student, the router ("router"), and the ontology
    encoder + graph-token LLM ("ontology"). A full build replaces what a `--quick` build
    made; a quick build keeps whatever exists. Progress and an ETA are written to
    `<home>/build_status.json` as it goes (`tinyexperts status`); every stage's wall time
    is logged at the end."""
    paths = Paths(root or home())
    names = experts or [*EXPERTS, ROUTER, ONTOLOGY]
    for n in names:
        if n not in (ROUTER, ONTOLOGY):
            get_spec(n)  # unknown names fail before any work
    registry = Registry(paths.registry)
    paths.home.mkdir(parents=True, exist_ok=True)
    status = BuildStatus(paths.home, plan(names, registry, quick=quick, force=force,
                                          teachers_only=teachers_only), quick=quick)
    if data_dir is None:
        ensure_datasets(paths, force, log)
    done: list[dict] = []
    timed: list[tuple[str, float]] = []
    t0 = time.perf_counter()

    def stage(key: str, work: Callable[[], list[dict]]) -> None:
        status.start(key)
        t_stage = time.perf_counter()
        try:
            made = work()
        except BaseException as err:
            status.finish(key, time.perf_counter() - t_stage, ok=False,
                          note="interrupted" if isinstance(err, KeyboardInterrupt)
                          else f"failed: {err}"[:300])
            raise
        seconds = time.perf_counter() - t_stage
        status.finish(key, seconds, measured=bool(made))
        done.extend(made)
        if made:
            timed.append((key, seconds))

    for name in names:
        if name == ONTOLOGY:
            stage(ONTOLOGY, lambda: build_ontology_models(
                paths, quick=quick, force=force, seed=seed, progress=progress, log=log))
        elif name == ROUTER:
            stage(ROUTER, lambda: _router_rows(build_router(
                paths, quick=quick, force=force, seed=seed, progress=progress, log=log)))
        else:
            stage(f"{name} teacher", lambda name=name: ensure_teacher(
                name, paths, registry, data_dir, quick=quick, force=force, seed=seed,
                progress=progress, log=log, critical=critical))
            if not teachers_only:
                stage(f"{name} student", lambda name=name: [s for s in [ensure_student(
                    name, paths, registry, quick=quick, force=force, progress=progress,
                    log=log)] if s])
    status.close()
    total = time.perf_counter() - t0
    log("build stages: " + ", ".join(f"{n} {s:.0f}s" for n, s in timed) if timed
        else "build: nothing to do")
    log(f"build finished in {total:.0f}s")
    return done


def _router_rows(r: dict) -> list[dict]:
    return [{"expert": ROUTER, "version": r["version"],
             "metrics": {"test": r["test"]["early_exit"]}}] if r else []


def ensure_teacher(name: str, paths: Paths, registry: Registry, data_dir: Path | None, *,
             quick: bool, force: bool, seed: int, progress: bool, log: Callable,
             critical: list[str] | None) -> list[dict]:
    """Train the expert's teacher unless one this build can keep exists; a kept teacher is
    made active when a quick-trained version serves in its place (a staged start, or a
    build stopped between registering and activating)."""
    kept = None if force else built_teacher(registry, name, quick=quick)
    if kept is None:
        return [{**train_teacher(name, data_dir or paths.data, registry, quick=quick,
                                 seed=seed, progress=progress, log=log,
                                 critical=critical if get_spec(name).kind == "tag" else None),
                 "stage": "teacher"}]
    log(f"{name}: teacher already built ({kept}); --force rebuilds")
    try:
        active = registry.active(name)
        replace = not quick and is_quick(registry.manifest(name, active))
    except TinyExpertsError:  # none active (stopped before activating) or damaged
        active, replace = None, True
    if replace:
        registry.activate(name, kept)
        log(f"{name}: {kept} now serves" + (f", replacing the quick-trained {active}"
                                            if active else ""))
    return []
