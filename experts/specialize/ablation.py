"""Does ontology relevance earn its place? Four ways to the same kept size, one budget.

For one expert and one seed, from its teacher (the fp32 version its active student was
specialized from) and its default recipe (kept layers, head and FFN fractions, KD loss):

    relevance   recipe distill (S steps) -> prune by ontology relevance -> recovery (S steps)
    magnitude   the same distilled start -> prune by weight magnitude   -> recovery (S steps)
    layer_drop  distill into k evenly spaced teacher layers, k giving the body about the
                pruned arms' parameters (S steps) -> recovery (S steps); no head/FFN pruning
    fresh       the relevance arm's exact shape with its layers and head re-initialised
                (a same-size student, nothing pruned): KD for 2S steps

Every arm uses the same teacher, the same KD loss (the recipe's alpha, temperature, beta,
critical mode), the same vocabulary pruning and 2S optimizer steps in all. Arms are
compared in fp32: int8 is the same last step for every arm.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from experts import structure as st
from experts.core.assets import home
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.external import external_fits, read_external
from experts.evaluate import quality, quality_external
from experts.latency import measure_latency
from experts.ontology.schema import domain_text_at
from experts.specialize.pipeline import load_start
from experts.specialize.recipe import Distill, Freeze, Prune, Recipe, load_recipe
from experts.specialize.steps import StepContext, distill, freeze, prune
from experts.specs import get_spec
from experts.train import seed_everything

ARMS = ("relevance", "magnitude", "layer_drop", "fresh")


def recipe_steps(recipe: Recipe) -> tuple[Distill, Prune, Freeze]:
    """The recipe's distill, prune and recovery (freeze) steps; the ablation needs all three."""
    found = {}
    for step in recipe.steps:
        found.setdefault(step.op, step)
    missing = [op for op in ("distill", "prune", "freeze") if op not in found]
    if missing:
        raise TinyExpertsError(f"the {recipe.expert} recipe has no {', '.join(missing)} step",
                               where=f"deploy/recipes/{recipe.expert}.yaml",
                               fix="the ablation compares pruning criteria inside a "
                                   "distill -> prune -> freeze recipe")
    return found["distill"], found["prune"], found["freeze"]


def layer_params(model) -> int:
    return sum(p.numel() for lay in st.layers(model) for p in lay.parameters())


def evenly_spaced(n_layers: int, k: int) -> list[int]:
    """k of n layers, first and last included when k > 1 (uniform layer drop)."""
    if k >= n_layers:
        return list(range(n_layers))
    if k == 1:
        return [0]
    return sorted({round(i * (n_layers - 1) / (k - 1)) for i in range(k)})


def layers_matching(teacher, body_params: int) -> int:
    """How many whole teacher layers come closest to `body_params` (ties: the larger, so
    the baseline is never the smaller model)."""
    per_layer = layer_params(teacher) / len(st.layers(teacher))
    n = len(st.layers(teacher))
    return min(range(1, n + 1), key=lambda k: (abs(k * per_layer - body_params), -k))


def reinitialised(model, seed: int):
    """A copy with the encoder layers and the head drawn afresh (BERT's initialisation);
    the embeddings stay the teacher's (word embeddings are never trained)."""
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for lay in st.layers(fresh):
        lay.apply(fresh.encoder._init_weights)
    fresh.classifier.apply(fresh.encoder._init_weights)
    return fresh


def build_arms(ctx: StepContext, recipe: Recipe, steps: int,
               log: Callable = print) -> dict[str, tuple[object, dict]]:
    """The four arms for one seed (ctx.seed): {arm: (fp32 model, details)}."""
    d_cfg, p_cfg, f_cfg = recipe_steps(recipe)
    ctx = replace(ctx, steps=steps)
    arms: dict[str, tuple[object, dict]] = {}
    t0 = time.perf_counter()
    start, d_details = distill(ctx.teacher, d_cfg, ctx)
    shared = {"distill_s": round(time.perf_counter() - t0, 1)}
    for arm, criterion in (("relevance", "relevance"), ("magnitude", "magnitude")):
        t0 = time.perf_counter()
        pruned, p_details = prune(start, p_cfg.model_copy(update={"criterion": criterion}),
                                  ctx)
        if arm == "relevance":
            relevance_shape = pruned
        model, r_details = freeze(pruned, f_cfg, ctx)
        arms[arm] = (model, {**shared, "after_prune": p_details["after"],
                             "train_s": round(shared["distill_s"] + time.perf_counter() - t0,
                                              1),
                             "train_steps": d_details["train_steps"]
                             + r_details["train_steps"]})
        log(f"  {arm}: built in {arms[arm][1]['train_s']:.0f}s")
    t0 = time.perf_counter()
    k = layers_matching(ctx.teacher, layer_params(relevance_shape))
    keep = evenly_spaced(len(st.layers(ctx.teacher)), k)
    dropped, dd = distill(ctx.teacher, d_cfg.model_copy(update={"layers": keep}), ctx)
    vocab_only = p_cfg.model_copy(update={"heads": 0.0, "ffn": 0.0, "drop_layers": 0})
    dropped, _ = prune(dropped, vocab_only, ctx)
    model, rd = freeze(dropped, f_cfg, ctx)
    arms["layer_drop"] = (model, {"layers": keep, "train_s": round(time.perf_counter() - t0, 1),
                                  "train_steps": dd["train_steps"] + rd["train_steps"]})
    log(f"  layer_drop (layers {keep}): built in {arms['layer_drop'][1]['train_s']:.0f}s")
    t0 = time.perf_counter()
    model, fd = freeze(reinitialised(relevance_shape, ctx.seed), f_cfg,
                       replace(ctx, steps=2 * steps))
    arms["fresh"] = (model, {"train_s": round(time.perf_counter() - t0, 1),
                             "train_steps": fd["train_steps"]})
    log(f"  fresh: built in {arms['fresh'][1]['train_s']:.0f}s")
    return arms


def measure_arm(model, ctx: StepContext, external, latency_runs: int = 10) -> dict:
    """Validation and test main metric, external quality, params, fp32 latency b1/b32."""
    spec = ctx.spec
    predictor = ctx.predictor(model)
    test = ctx.data.splits["test"]
    row = {"validation": quality(predictor, ctx.data.splits["validation"])[spec.main_metric],
           "test": quality(predictor, test)[spec.main_metric],
           "params": model.num_params(), "layer_params": layer_params(model)}
    if external is not None:
        key = "top5" if external.label_sets is not None else spec.main_metric
        row["external"] = quality_external(predictor, external)[key]
    row["b1_p50_ms"] = measure_latency(model, ctx.tokenizer, test, 1, runs=latency_runs)["p50_ms"]
    row["b32_p50_ms"] = measure_latency(model, ctx.tokenizer, test, 32, runs=2)["p50_ms"]
    return row


def teacher_of(registry, name: str) -> str:
    """The fp32 version the active student came from (or the active version, if a teacher)."""
    version = registry.active(name)
    manifest = registry.manifest(name, version)
    if manifest.metrics.get("specialization") and manifest.parent_version:
        return manifest.parent_version
    return version


def run_expert(name: str, seeds: list[int], steps: int, root: Path | None = None,
               progress: bool = False, log: Callable = print) -> list[dict]:
    """One row per (seed, arm) plus one teacher row, for one expert."""
    recipe = load_recipe(None, name)
    registry = Registry(Paths(root or home()).registry)
    paths, _, version, _, teacher, data = load_start(name, teacher_of(registry, name), root)
    spec = get_spec(name)
    try:
        external = read_external(name, spec.kind)
    except TinyExpertsError:
        external = None
    if external is not None and not external_fits(external, teacher.labels):
        external = None  # a model of another corpus: not scored on the project's set
    base = StepContext(spec=spec, tokenizer=teacher.tokenizer, labels=teacher.labels,
                       teacher=teacher.model, data=data, workdir=paths.home,
                       extra_domain_text=domain_text_at(paths.ontology), progress=progress,
                       critical=teacher.critical)
    rows = [{"expert": name, "seed": None, "arm": "teacher", "teacher": version,
             **measure_arm(teacher.model, base, external)}]
    for seed in seeds:
        log(f"ablation {name}: seed {seed} ({steps} + {steps} steps per arm)")
        seed_everything(seed)
        ctx = replace(base, seed=seed)  # shares the teacher-logit cache across seeds
        for arm, (model, details) in build_arms(ctx, recipe, steps, log).items():
            rows.append({"expert": name, "seed": seed, "arm": arm, "teacher": version,
                         **measure_arm(model, ctx, external), **details})
    return rows
