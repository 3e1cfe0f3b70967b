"""`tinyexperts specialize`: run a recipe on a registered version, measure every step the
same way, gate on quality, and register the result (parent = the version it came from).

Every step is followed by the same evaluation: validation main metric (for the gate), test
metrics as in `tinyexperts eval`, params, artifact bytes (model + tokenizer + labels files,
as registered) and latency at batch 1 and 32 by the SEEDS.md §4 protocol.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from experts.artifact import save_warm_start
from experts.core.assets import home
from experts.core.environment import environment
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import recorded_data
from experts.evaluate import critical_of, quality
from experts.latency import measure_latency
from experts.model import ExpertModel
from experts.ontology.schema import domain_text_at
from experts.predictor import Predictor, load_predictor
from experts.specialize.recipe import Recipe, validate_against
from experts.specialize.steps import STEPS, StepContext
from experts.specs import get_spec
from experts.train import seed_everything

QUICK_EVAL_ROWS = 300


def artifact_files(model, ctx: StepContext, folder: Path, label_info: dict,
                   quantized: Path | None = None) -> None:
    """The files a version of this model is registered with; an int8 model's files are
    the ones its quantize step wrote (`quantized`)."""
    Predictor(ctx.spec.name, model, ctx.tokenizer, ctx.labels, label_info).save(folder,
                                                                                 quantized)


def measure(model, ctx: StepContext, label_info: dict, *, quantized: Path | None = None,
            latency_runs: int = 20) -> dict:
    predictor = ctx.predictor(model)
    val, test = ctx.data.splits["validation"], ctx.data.splits["test"]
    if ctx.quick:
        val, test = val[:QUICK_EVAL_ROWS], test[:QUICK_EVAL_ROWS]
    row: dict = {"validation": quality(predictor, val)[ctx.spec.main_metric]}
    row.update(quality(predictor, test))
    row["params"] = model.num_params()
    with tempfile.TemporaryDirectory() as tmp:
        artifact_files(model, ctx, Path(tmp), label_info, quantized)
        row["file_bytes"] = sum(f.stat().st_size for f in Path(tmp).iterdir())
    row["latency_b1"] = measure_latency(model, ctx.tokenizer, test, 1,
                                        runs=5 if ctx.quick else latency_runs)
    row["latency_b32"] = measure_latency(model, ctx.tokenizer, test, 32,
                                         runs=1 if ctx.quick else 3)
    return row


def load_start(name: str, from_version: str | None, root: Path | None):
    """The version to specialize from (fp32), its manifest, its data and the home's paths."""

    paths = Paths(root or home())
    registry = Registry(paths.registry)
    from_version = from_version or registry.active(name)
    parent = registry.manifest(name, from_version)
    teacher = load_predictor(registry, name, from_version)
    if not isinstance(teacher.model, ExpertModel):
        raise TinyExpertsError(f"{name} {from_version} is an int8 model; specialize starts "
                               "from an fp32 version", where="--from",
                               fix="pass a teacher version (see `tinyexperts registry list`)")
    data = recorded_data(parent, name)  # the data this version was made from, or refuse
    return paths, registry, from_version, parent, teacher, data


def specialize(name: str, recipe: Recipe, *, from_version: str | None = None,
               root: Path | None = None, quick: bool = False, activate: bool = True,
               progress: bool = True, log: Callable = print) -> dict:
    """Run `recipe` on `name@from_version`; register (and activate) the result."""
    spec = get_spec(name)
    paths, registry, from_version, parent, teacher, data = load_start(name, from_version,
                                                                      root)
    validate_against(recipe, len(teacher.model.encoder.encoder.layer))
    seed_everything(recipe.seed)
    onto_text = domain_text_at(paths.ontology)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinyexperts-specialize-") as work:
        ctx = StepContext(spec=spec, tokenizer=teacher.tokenizer, labels=teacher.labels,
                          teacher=teacher.model, data=data, workdir=Path(work),
                          extra_domain_text=onto_text, quick=quick, seed=recipe.seed,
                          progress=progress, critical=teacher.critical)
        log(f"{name}: measuring {from_version} (the starting point)")
        rows = [{"step": 0, "op": f"teacher {from_version}", "seconds": 0.0,
                 **measure(teacher.model, ctx, teacher.label_info)}]
        floor = recipe.min_quality * rows[0]["validation"]
        model, quantized, before_int8 = teacher.model, None, None
        for i, step in enumerate(recipe.steps, start=1):
            log(f"{name}: step {i}/{len(recipe.steps)} {step.op}")
            t0 = time.perf_counter()
            if step.op == "quantize":
                before_int8 = model
            model, details = STEPS[step.op](model, step, ctx)
            if step.op == "quantize":
                quantized = Path(details["files"])
            seconds = time.perf_counter() - t0
            row = {"step": i, "op": step.op, "seconds": round(seconds, 1),
                   **measure(model, ctx, teacher.label_info, quantized=quantized),
                   "details": details}
            rows.append(row)
            log(f"{name}:   {step_summary(row, spec.main_metric)}")
            if step.gate and row["validation"] < floor:
                raise TinyExpertsError(
                    f"step {i} ({step.op}) dropped validation {spec.main_metric} to "
                    f"{row['validation']:.4f} < min_quality {recipe.min_quality} x "
                    f"{rows[0]['validation']:.4f}; nothing was registered",
                    where=f"recipe steps[{i - 1}]",
                    fix="prune less, train longer, or lower the recipe's min_quality")
        manifest, report = register_student(
            registry, ctx, model, teacher, parent, rows, recipe=recipe.model_dump(),
            quantized=quantized, before_int8=before_int8,
            seconds=time.perf_counter() - t_start)
    if activate:
        registry.activate(name, manifest.version)
    log(f"{name}: registered {manifest.version} (from {from_version})"
        f"{' and activated' if activate else ''} in {report['seconds']:.0f}s")
    return {"expert": name, "version": manifest.version, "report": report}


def register_student(registry: Registry, ctx: StepContext, model, teacher: Predictor,
                     parent, rows: list[dict], *, recipe: dict, quantized: Path | None,
                     before_int8, seconds: float):
    """Register a student made from `teacher` (the registered version `parent`): its files
    (+ the fp32 weights it was quantized from), the measured steps `rows` and the recipe.
    Returns the manifest and the specialization report."""
    spec, final, env = ctx.spec, rows[-1], environment()
    report = {"steps": rows, "environment": env, "quick": ctx.quick, "seconds": round(seconds, 1),
              "main_metric": spec.main_metric}

    def write(folder: Path) -> None:
        artifact_files(model, ctx, folder, teacher.label_info, quantized)
        if before_int8 is not None:  # the next update's student can start from it
            save_warm_start(before_int8, folder)
        (folder / "versions.json").write_text(json.dumps(env, indent=1), encoding="utf-8")

    test = {k: v for k, v in final.items() if k not in ("step", "op", "seconds", "details",
                                                         "validation")}
    manifest = registry.register(
        spec.name, write, task=spec.kind, base_model=parent.base_model, labels=teacher.labels,
        critical_labels=list(critical_of(ctx.predictor(teacher.model))),
        params=final["params"],
        parent_version=parent.version, recipe=recipe,
        metrics={"test": test, "validation": {spec.main_metric: final["validation"]},
                 "specialization": report},
        data=parent.data)
    return manifest, report


def step_summary(row: dict, metric: str) -> str:
    return (f"val {metric}={row['validation']:.4f} test {metric}={row[metric]:.4f} "
            f"params={row['params']:,} bytes={row['file_bytes']:,} "
            f"b1 p50={row['latency_b1']['p50_ms']:.2f}ms")
