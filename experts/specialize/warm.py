"""Re-compress an updated teacher by starting from the active student (a "warm start").

The full recipe builds a student from the teacher: distill, prune, recover, int8 — for
fault_codes about 9 minutes. After an update the active student already has the structure
the recipe chose (its layers, heads, neurons and vocabulary); what is out of date is its
knowledge. So the warm start:

1. loads the active student's fp32 weights, saved beside its int8 files when it was made
   (`experts.artifact.save_warm_start`);
2. aligns it with the updated teacher: head rows in the teacher's label order (rows for
   labels the student never had come from the teacher's head), and embedding rows, from the
   teacher, for tokens of the new data the pruned vocabulary maps to [UNK];
3. distils it from the updated teacher on the teacher's data (the new rows plus the replayed
   old ones, see `experts.data.datasets.with_replay`) for `epochs` passes, with the
   recipe's distill settings (alpha, temperature, critical-class beta);
   with `rebalance`, the new labels' logits then get the offset with the best validation
   score over old and new rows (`experts.forgetting.rebalance_new_labels`), as the adapted
   teacher's did: the student learnt the new labels from the same lopsided rows;
4. quantizes it with the recipe's quantize step, measures every step as `specialize` does,
   gates on the recipe's `min_quality`, and registers it with parent = the teacher and the
   recipe it inherits plus a `warm_start` record.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from experts.artifact import load_warm_start
from experts.core.errors import TinyExpertsError
from experts.forgetting import KeepParent, rebalance_new_labels
from experts.ontology.schema import domain_text_at
from experts.specialize.pipeline import load_start, measure, register_student, step_summary
from experts.specialize.recipe import Recipe
from experts.specialize.steps import STEPS, StepContext
from experts.specs import get_spec
from experts.structure import extend_vocab
from experts.train import seed_everything

WARM_EPOCHS = 1


def warm_student(registry, expert: str, version: str):
    """The fp32 weights `version` was quantized from, or a clear error saying why not."""
    registry.verify(expert, version)
    model = load_warm_start(registry.path(expert, version))
    if model is None:
        raise TinyExpertsError(f"{expert} {version} keeps no fp32 weights to start from "
                               "(made before warm starts existed, or not an int8 student)",
                               where=f"{expert} {version}",
                               fix="re-compress with the full recipe (`--recompress full`)")
    return model


def align_head(student, student_labels: list[str], teacher, teacher_labels: list[str]
               ) -> list[str]:
    """Reorder the student's head to the teacher's labels; rows for labels the student
    lacks are the teacher's. Returns those labels."""
    index = {lab: i for i, lab in enumerate(student_labels)}
    new = [lab for lab in teacher_labels if lab not in index]
    with torch.no_grad():
        weight = torch.stack([student.classifier.weight[index[lab]] if lab in index
                              else teacher.classifier.weight[j]
                              for j, lab in enumerate(teacher_labels)])
        bias = torch.stack([student.classifier.bias[index[lab]] if lab in index
                            else teacher.classifier.bias[j]
                            for j, lab in enumerate(teacher_labels)])
    student.set_head(weight, bias)
    return new


def warm_start(expert: str, recipe: Recipe, *, from_version: str, student_version: str,
               root: Path | None = None, epochs: int = WARM_EPOCHS, lwf: float = 0.0,
               rebalance: bool = False, quick: bool = False, progress: bool = True,
               log: Callable = print) -> dict:
    """A new student of `from_version` (an fp32 teacher), started from `student_version`;
    registered, not activated. `lwf` > 0 also keeps the starting student's own distribution
    over its labels (`experts.forgetting.KeepParent`, that weight); `rebalance` offsets the
    new labels' logits, chosen on validation (classifiers only)."""
    spec = get_spec(expert)
    paths, registry, from_version, parent, teacher, data = load_start(expert, from_version,
                                                                      root)
    distill = next((s for s in recipe.steps if s.op == "distill"), None)
    if distill is None:
        raise TinyExpertsError("the recipe has no distill step to take the warm start's "
                               "settings from", where="recipe",
                               fix="re-compress with the full recipe (`--recompress full`)")
    quantize = recipe.steps[-1] if recipe.steps[-1].op == "quantize" else None
    start = warm_student(registry, expert, student_version)
    student_labels = registry.manifest(expert, student_version).labels
    seed_everything(recipe.seed)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinyexperts-warm-") as work:
        ctx = StepContext(spec=spec, tokenizer=teacher.tokenizer, labels=teacher.labels,
                          teacher=teacher.model, data=data, workdir=Path(work),
                          extra_domain_text=domain_text_at(paths.ontology), quick=quick,
                          seed=recipe.seed, progress=progress, critical=teacher.critical)
        log(f"{expert}: measuring {from_version} (the teacher)")
        rows = [{"step": 0, "op": f"teacher {from_version}", "seconds": 0.0,
                 **measure(teacher.model, ctx, teacher.label_info)}]
        floor = recipe.min_quality * rows[0]["validation"]

        log(f"{expert}: warm start 1/2 distill {student_version} from {from_version} "
            f"({epochs} pass(es) over {len(data.splits['train'])} rows)")
        t0 = time.perf_counter()
        model = copy.deepcopy(start)
        vocab_rows = extend_vocab(model, sorted(ctx.domain_token_ids()), teacher.model,
                                  teacher.tokenizer.unk_token_id)
        new_labels = align_head(model, student_labels, teacher.model, teacher.labels)
        keep = KeepParent(start, student_labels, teacher.labels, lwf) if lwf > 0 else None
        details = {"from": student_version, "new_labels": len(new_labels),
                   "new_vocab_rows": vocab_rows, "epochs": epochs, "lwf": lwf,
                   **ctx.train(model, distill.model_copy(update={"epochs": epochs}),
                               "warm-distill", extra=keep)}
        balance = rebalance_new_labels(ctx.predictor(model), new_labels,
                                       data.splits["validation"]) if rebalance else None
        if balance:
            details["rebalance"] = balance
        rows.append({"step": 1, "op": "warm-distill",
                     "seconds": round(time.perf_counter() - t0, 1),
                     **measure(model, ctx, teacher.label_info), "details": details})
        log(f"{expert}:   {step_summary(rows[-1], spec.main_metric)}")
        if rows[-1]["validation"] < floor:
            raise TinyExpertsError(
                f"the warm-started student's validation {spec.main_metric} is "
                f"{rows[-1]['validation']:.4f} < min_quality {recipe.min_quality} x "
                f"{rows[0]['validation']:.4f}; nothing was registered",
                where="warm start", fix="more --warm-epochs, or `--recompress full`")
        quantized, before_int8 = None, None
        if quantize is not None:
            log(f"{expert}: warm start 2/2 quantize ({quantize.backend})")
            t0 = time.perf_counter()
            before_int8 = model
            model, q = STEPS["quantize"](model, quantize, ctx)
            quantized = Path(q["files"])
            rows.append({"step": 2, "op": "quantize",
                         "seconds": round(time.perf_counter() - t0, 1),
                         **measure(model, ctx, teacher.label_info, quantized=quantized),
                         "details": q})
            log(f"{expert}:   {step_summary(rows[-1], spec.main_metric)}")
        record = {**recipe.model_dump(),
                  "warm_start": {"from": student_version, "epochs": epochs, "lwf": lwf,
                                 "rebalance": details.get("rebalance", {}).get("offset"),
                                 "new_labels": len(new_labels), "new_vocab_rows": vocab_rows}}
        manifest, report = register_student(
            registry, ctx, model, teacher, parent, rows, recipe=record, quantized=quantized,
            before_int8=before_int8, seconds=time.perf_counter() - t_start)
    log(f"{expert}: registered {manifest.version} (warm start from {student_version}, "
        f"teacher {from_version}) in {report['seconds']:.0f}s")
    return {"expert": expert, "version": manifest.version, "report": report}


def recipe_of(recorded: dict) -> Recipe:
    """The recipe a student's manifest records, without its `warm_start` note."""
    return Recipe.model_validate({k: v for k, v in recorded.items() if k != "warm_start"})
