"""`tinyexperts specialize EXPERT --sweep beta=0,0.1,0.2,0.5`: the recipe's distill step,
once per beta, each run restored from the same saved initial student (SEEDS.md §4).

The initial student is written to a safetensors file once; before every run it is loaded
back and its sha256 recorded, so the table shows that all runs started from one state.
Each run is scored on validation and test; the beta is chosen on **validation** only (the
critical-type F1 for a tagger, else the main metric; ties go to the smaller beta), and
`with_beta` writes it into the recipe that `specialize` then runs and registers. The table
goes to CSV + PNG.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from experts.core.errors import TinyExpertsError
from experts.core.report import plot_sweep, write_csv
from experts.evaluate import quality
from experts.specialize.distill import student_from_teacher
from experts.specialize.pipeline import load_start
from experts.specialize.recipe import Distill, Recipe
from experts.specialize.steps import StepContext
from experts.specs import get_spec
from experts.train import seed_everything


def state_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def parse_sweep(text: str) -> tuple[str, list[float]]:
    key, _, values = text.partition("=")
    if key.strip() != "beta" or not values:
        raise TinyExpertsError(f"cannot sweep {text!r}", where="--sweep",
                               fix="use --sweep beta=0,0.1,0.2,0.5")
    try:
        betas = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise TinyExpertsError(f"beta values must be numbers, got {values!r}", where="--sweep",
                               fix="use --sweep beta=0,0.1,0.2,0.5") from None
    if not betas or any(b < 0 for b in betas):
        raise TinyExpertsError("beta values must be >= 0", where="--sweep",
                               fix="use --sweep beta=0,0.1,0.2,0.5")
    return "beta", betas


def beta_sweep(name: str, recipe: Recipe, betas: list[float], *, out: Path,
               from_version: str | None = None, root: Path | None = None,
               quick: bool = False, progress: bool = True, log: Callable = print) -> list[dict]:

    spec = get_spec(name)
    *_, teacher, data = load_start(name, from_version, root)
    step = next((s for s in recipe.steps if s.op == "distill"), Distill(op="distill"))
    test = data.splits["test"][:300] if quick else data.splits["test"]
    validation = data.splits["validation"][:300] if quick else data.splits["validation"]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        ctx = StepContext(spec=spec, tokenizer=teacher.tokenizer, labels=teacher.labels,
                          teacher=teacher.model, data=data, workdir=Path(work), quick=quick,
                          seed=recipe.seed, progress=progress, critical=teacher.critical)
        seed_everything(recipe.seed)
        initial = student_from_teacher(teacher.model, step.layers)
        init_file = Path(work) / "initial_student.safetensors"
        save_file({k: v.contiguous() for k, v in initial.state_dict().items()}, str(init_file))
        for beta in betas:
            student = copy.deepcopy(initial)
            student.load_state_dict(load_file(str(init_file)))  # the same start every run
            start_hash = state_sha256(student)
            log(f"{name}: beta={beta}")
            t0 = time.perf_counter()
            ctx.train(student, step.model_copy(update={"beta": beta}), f"beta={beta}")
            seconds = time.perf_counter() - t0
            predictor = ctx.predictor(student)
            q, v = quality(predictor, test), quality(predictor, validation)
            row = {"beta": beta, "critical_mode": step.critical_mode,
                   "seconds": round(seconds, 1), "initial_state_sha256": start_hash[:16],
                   "val_choice": v.get("f1_critical", v[spec.main_metric])}
            row.update({k: q[k] for k in ("precision", "recall", "f1", "precision_critical",
                                          "recall_critical", "f1_critical", "coverage",
                                          "accuracy", "macro_f1", "top1") if k in q})
            rows.append(row)
    best = choose_beta(rows)
    for row in rows:
        row["chosen"] = row["beta"] == best
    write_csv(rows, out / f"{name}_sweep_beta.csv")
    plot_sweep(rows, out / f"{name}_sweep_beta.png",
               f"{name}: constrained KD, {step.critical_mode} mode")
    return rows


def choose_beta(rows: list[dict]) -> float:
    """The beta with the best validation score (`val_choice`); the smaller beta on a tie."""
    return max(rows, key=lambda r: (round(r["val_choice"], 6), -r["beta"]))["beta"]


def with_beta(recipe: Recipe, beta: float, tried: list[float]) -> Recipe:
    """The recipe with `beta` in every step that distils (distill, freeze), saying why."""
    steps = [s.model_copy(update={"beta": beta}) if s.op in ("distill", "freeze") else s
             for s in recipe.steps]
    note = (f"beta {beta:g} chosen on validation by a sweep over "
            f"{', '.join(f'{b:g}' for b in tried)}")
    description = f"{recipe.description}; {note}" if recipe.description else note
    return recipe.model_copy(update={"steps": steps, "description": description})
