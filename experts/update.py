"""`tinyexperts update EXPERT --data D`: new data → adapt → (merge) → re-compress → gate.

One flow, each step logged and registered as it finishes:

1. **adapt** the expert's fp32 parent — the active version when it is fp32, else the teacher
   the active student was specialized from — on the new data plus a replayed share of the
   data the parent saw (`experts.adapt`; the label set may grow: union head), keeping the
   parent's outputs (learning without forgetting) and offsetting the new labels' logits
   (`experts.forgetting`);
2. optionally **merge** the adapted version with named variants of the same base
   (`experts.merge.variants`);
3. **re-compress** the adapted/merged teacher, on the data that teacher was made from:
   `warm` starts from the active student's fp32 weights and distils it from the new teacher
   (`experts.specialize.warm`, minutes); `full` runs the whole recipe of the active student
   (or `--recipe`) from the teacher (`specialize --from`). `auto` (default) is warm when the
   active student keeps its fp32 weights and no other recipe is asked for;
4. **gate**: the candidate student against the active version on the old test split (the
   data the active version was made from) and on the new data's test split — at most
   `max_old_drop` lost on the old and `max_new_drop` on the new (default: not worse). The
   decision and all four numbers are written into the candidate's manifest
   (`metrics.update_gate`).

Activation is the caller's (the registry, or a running server through its admin API), and
only after a passed gate. A failed step or gate leaves the active version as it was; the
versions registered on the way stay in the registry, unactivated, named in the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from experts.adapt import AdaptConfig, adapt
from experts.artifact import backend_of, has_warm_start
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import load_data_path, recorded_data
from experts.evaluate import quality
from experts.merge.variants import MergeConfig, merge
from experts.predictor import load_predictor
from experts.specialize.pipeline import specialize
from experts.specialize.recipe import Recipe, load_recipe
from experts.specialize.warm import WARM_EPOCHS, recipe_of, warm_start
from experts.specs import get_spec

FP32 = "torch-fp32"
RECOMPRESS = ("auto", "warm", "full")
# Without replay, one pass over a new site's rows teaches the head to prefer the new labels
# and the old site's quality falls through the gate; a fifth of the old rows keeps it.
REPLAY = 0.2
# Replay alone still let the new labels take old queries (old test -4.7 points on the update
# bench); learning without forgetting at its usual weight, in the adapt and the warm start,
# and the rebalanced new labels cut that to about -1.1 (docs/experiments.md, "the update
# chain forgets less").
LWF = 1.0


@dataclass
class UpdateConfig:
    method: str = "lora"  # adapt method: finetune | lora | prompt | hybrid
    ewc: float = 0.0
    merge_with: list[str] = field(default_factory=list)  # variants to merge the adapted one with
    merge_method: str = "ties"  # or "search": try density x weights on validation
    replay: float = REPLAY  # share of the parent's training rows trained on again
    lwf: float = LWF  # keep the parent's distribution over its own labels (KD weight)
    rebalance: bool = True  # offset the new labels (teacher and warm student), on validation
    recompress: str = "auto"  # auto | warm | full
    warm_epochs: int = WARM_EPOCHS
    recipe: Path | None = None  # default: the active student's recipe
    max_old_drop: float = 0.01  # the gate: at most this much of the main metric lost on old
    max_new_drop: float = 0.0  # … and on the new test split (0: not worse than the active)
    seed: int = 0
    quick: bool = False  # smoke runs: short adapt and specialize


def fp32_parent(registry: Registry, expert: str, version: str) -> str:
    """`version` when it is an fp32 model, else the teacher it was specialized from."""
    seen = set()
    while backend_of(registry.path(expert, version)) != FP32:
        parent = registry.manifest(expert, version).parent_version
        if not parent or parent in seen:
            raise TinyExpertsError(f"{expert} {version} has no fp32 parent to adapt",
                                   where=f"{expert} {version}",
                                   fix="build the expert's teacher (`tinyexperts build`)")
        seen.add(version)
        version = parent
    return version


def active_recipe(registry: Registry, expert: str, version: str,
                  path: Path | None) -> tuple[Recipe, str]:
    """The recipe to re-compress with, and where it comes from."""
    if path is not None:
        return load_recipe(path, expert), str(path)
    recorded = registry.manifest(expert, version).recipe or {}
    if "steps" in recorded:
        return recipe_of(recorded), f"{expert} {version}'s recipe"
    return load_recipe(None, expert), f"deploy/recipes/{expert}.yaml (the active version " \
                                      "has no recipe of its own)"


def adapt_config(cfg: UpdateConfig) -> AdaptConfig:
    return AdaptConfig(method=cfg.method, ewc=cfg.ewc, replay=cfg.replay, lwf=cfg.lwf,
                       rebalance=cfg.rebalance and cfg.replay > 0, seed=cfg.seed,
                       quick=cfg.quick)


def recompress_mode(registry: Registry, expert: str, active: str, recipe: Recipe,
                    cfg: UpdateConfig) -> tuple[str, str]:
    """`warm` or `full`, and why."""
    if cfg.recompress == "full":
        return "full", "asked for"
    has_weights = has_warm_start(registry.path(expert, active))
    has_distill = any(s.op == "distill" for s in recipe.steps)
    if cfg.recompress == "warm":
        if not has_weights:
            raise TinyExpertsError(f"{expert} {active} keeps no fp32 weights to warm-start "
                                   "from", where="--recompress warm",
                                   fix="use --recompress full (or auto)")
        if not has_distill:
            raise TinyExpertsError("the recipe has no distill step for the warm start",
                                   where="--recompress warm", fix="use --recompress full")
        return "warm", "asked for"
    if cfg.recipe is not None:
        return "full", "a recipe was given"
    if not has_weights:
        return "full", f"the active {active} keeps no fp32 weights to start from"
    if not has_distill:
        return "full", "the recipe has no distill step"
    return "warm", f"from the active student {active}"


def plan_update(expert: str, data: Path, cfg: UpdateConfig, root: Path) -> dict:
    """What `update` would do, checked before anything trains (`--dry-run` prints it)."""
    spec = get_spec(expert)
    adapting = adapt_config(cfg)
    adapting.check(spec)
    if cfg.recompress not in RECOMPRESS:
        raise TinyExpertsError(f"unknown --recompress {cfg.recompress!r}", where="--recompress",
                               fix=f"use one of: {', '.join(RECOMPRESS)}")
    if not 1 <= cfg.warm_epochs <= 20:
        raise TinyExpertsError(f"--warm-epochs {cfg.warm_epochs} is outside 1..20",
                               where="--warm-epochs", fix="e.g. --warm-epochs 1")
    registry = Registry(Paths(root).registry)
    active = registry.active(expert)
    parent = fp32_parent(registry, expert, active)
    new = load_data_path(expert, data, cfg.seed)  # a malformed file fails here, file:line
    for v in cfg.merge_with:
        registry.manifest(expert, v)  # unknown versions fail before training
        if backend_of(registry.path(expert, v)) != FP32:
            raise TinyExpertsError(f"{expert} {v} is not an fp32 variant to merge",
                                   where="--merge-with", fix="name versions made by `adapt`")
    if cfg.merge_with:
        MergeConfig(method="ties" if cfg.merge_method == "search" else cfg.merge_method
                    ).check(len(cfg.merge_with) + 1)
    recipe, recipe_from = active_recipe(registry, expert, active, cfg.recipe)
    how, why = recompress_mode(registry, expert, active, recipe, cfg)
    return {"expert": expert, "active": active, "adapt_from": parent,
            "data": str(Path(data).resolve()),
            "data_sizes": {k: len(v) for k, v in new.splits.items()},
            "method": cfg.method, "ewc": cfg.ewc, "replay": cfg.replay, "lwf": cfg.lwf,
            "rebalance": adapting.rebalance,
            "merge_with": cfg.merge_with,
            "merge_method": cfg.merge_method if cfg.merge_with else None,
            "recompress": how, "recompress_why": why,
            "recipe": recipe_from, "recipe_steps": [s.op for s in recipe.steps],
            "gate": {"max_old_drop": cfg.max_old_drop, "max_new_drop": cfg.max_new_drop}}


def update(expert: str, data: Path, cfg: UpdateConfig, root: Path, *, progress: bool = True,
           log: Callable = print) -> dict:
    """Run the whole flow; returns the plan, every registered version and the gate. The
    caller activates `result["student"]` when `result["gate"]["passed"]`."""
    plan = plan_update(expert, data, cfg, root)
    registry = Registry(Paths(root).registry)
    spec = get_spec(expert)
    out: dict = {"plan": plan, "registered": [], "seconds": {}}
    clock = time.perf_counter()

    def lap(step: str) -> None:  # wall time of each step, for the output and the bench
        nonlocal clock
        now = time.perf_counter()
        out["seconds"][step] = round(now - clock, 1)
        clock = now

    log(f"{expert}: update 1/4 adapt {plan['adapt_from']} on {plan['data']} ({cfg.method})")
    adapted = adapt(expert, data, adapt_config(cfg), registry, parent=plan["adapt_from"],
                    progress=progress, log=log, score_previous=False)
    teacher = adapted["version"]
    out["registered"].append(teacher)
    out["adapted"] = teacher
    lap("adapt")
    if cfg.merge_with:
        log(f"{expert}: update 2/4 merge {teacher} with {','.join(cfg.merge_with)}")
        search = cfg.merge_method == "search"
        merged = merge(expert, [teacher, *cfg.merge_with],
                       MergeConfig(method="ties" if search else cfg.merge_method, seed=cfg.seed),
                       registry, search=search, log=log)
        teacher = merged["version"]
        out["registered"].append(teacher)
        out["merged"] = teacher
        lap("merge")
    else:
        log(f"{expert}: update 2/4 merge: nothing to merge with")
    recipe, _ = active_recipe(registry, expert, plan["active"], cfg.recipe)
    log(f"{expert}: update 3/4 re-compress {teacher}: {plan['recompress']} "
        f"({plan['recompress_why']})")
    if plan["recompress"] == "warm":
        student = warm_start(expert, recipe, from_version=teacher,
                             student_version=plan["active"], root=root,
                             epochs=cfg.warm_epochs, lwf=cfg.lwf,
                             rebalance=plan["rebalance"], quick=cfg.quick,
                             progress=progress, log=log)["version"]
    else:
        student = specialize(expert, recipe, from_version=teacher, root=root, quick=cfg.quick,
                             activate=False, progress=progress, log=log)["version"]
    out["registered"].append(student)
    out["student"] = student
    lap("recompress")
    log(f"{expert}: update 4/4 gate {student} against the active {plan['active']}")
    out["gate"] = gate(registry, expert, student, plan["active"], data, cfg)
    registry.annotate(expert, student, "update_gate", out["gate"])
    lap("gate")
    out["seconds"]["total"] = round(sum(out["seconds"].values()), 1)
    g, took = out["gate"], out["seconds"]
    metric = spec.main_metric
    steps = ", ".join(f"{k} {v:.0f}s" for k, v in took.items() if k != "total")
    log(f"{expert}: gate {'passed' if g['passed'] else 'FAILED'}: old test {metric} "
        f"{g['active_old']:.4f} -> {g['candidate_old']:.4f} (may drop {cfg.max_old_drop}), "
        f"new test {g['active_new']:.4f} -> {g['candidate_new']:.4f}; "
        f"{took['total']:.0f}s ({steps})")
    return out


def gate(registry: Registry, expert: str, candidate: str, active: str, data: Path,
         cfg: UpdateConfig) -> dict:
    """The candidate vs the active version on the old and the new test split."""
    metric = get_spec(expert).main_metric
    old = recorded_data(registry.manifest(expert, active), expert).splits["test"]
    new = load_data_path(expert, data, cfg.seed).splits["test"]
    scores = {}
    for who, version in (("active", active), ("candidate", candidate)):
        predictor = load_predictor(registry, expert, version)
        scores[f"{who}_old"] = _score(predictor, old, metric)
        scores[f"{who}_new"] = _score(predictor, new, metric)
    old_ok = scores["candidate_old"] >= scores["active_old"] - cfg.max_old_drop
    new_ok = scores["candidate_new"] >= scores["active_new"] - cfg.max_new_drop
    reasons = ([] if old_ok else [f"old test {metric} dropped by "
                                  f"{scores['active_old'] - scores['candidate_old']:.4f} > "
                                  f"{cfg.max_old_drop}"]) + \
        ([] if new_ok else [f"new test {metric} dropped by "
                            f"{scores['active_new'] - scores['candidate_new']:.4f} > "
                            f"{cfg.max_new_drop}"])
    return {"metric": metric, **{k: round(v, 4) for k, v in scores.items()},
            "max_old_drop": cfg.max_old_drop, "max_new_drop": cfg.max_new_drop,
            "passed": old_ok and new_ok, "reasons": reasons,
            "active": active, "candidate": candidate}


def _score(predictor, rows, metric: str) -> float:
    """The main metric on the rows the model can label, times their share: a label (or a
    sentence with a tag type) the model does not know counts as a miss — the active version
    has not seen the new data's new labels; that is what the update is for. Exact for
    accuracy-like metrics; for macro-F1 an approximation that still ranks the two models."""
    known = set(predictor.labels)
    if predictor.kind == "tag":  # a sentence with a tag type the model lacks is a miss
        kept = [r for r in rows if set(r.tags) <= known]
    else:
        kept = [r for r in rows if r.label in known]
    if not kept:
        return 0.0
    return float(quality(predictor, kept)[metric]) * len(kept) / len(rows)
