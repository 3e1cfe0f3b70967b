"""`tinyexperts merge`: several registered variants of one expert -> one registered expert.

Variants must have been adapted from the same base (same encoder digest, recorded by
`adapt`) and have the same shapes; everything is checked before anything is written.
Encoder: each tensor's task vector `variant − base` is merged with `tensors.merge_deltas`
(or, for `knots`, the LoRA factors are merged in their shared SVD basis). Head: the union
of the variants' label spaces (`tensors.union_head`). A merge is kept only if every
variant's validation score stays ≥ `floor` × that variant's own score (the regression
gate); `--search` tries a small grid of density × weight and keeps the best that passes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from safetensors.torch import load_file
from transformers import BertModel

from experts.adapt import BASE_REF, encoder_digest, previous_data
from experts.core.assets import minilm_dir
from experts.core.errors import TinyExpertsError
from experts.core.registry import Manifest, Registry
from experts.data.datasets import ExpertData
from experts.evaluate import quality
from experts.merge.tensors import (
    METHODS,
    knots_basis_from_factors,
    knots_merge,
    merge_deltas,
    union_head,
)
from experts.predictor import Predictor, load_predictor
from experts.specs import get_spec

MERGE_METHODS = (*METHODS, "knots")
DENSITY_METHODS = ("ties", "dare_linear", "dare_ties", "knots")
SEARCH_DENSITIES = (0.3, 0.5, 0.7, 1.0)
SEARCH_WEIGHTS = (0.5, 0.75, 1.0)
SEARCH_ROWS = 300  # validation rows per variant that rank the search candidates


@dataclass
class MergeConfig:
    method: str = "ties"
    weights: list[float] | None = None  # default: 1.0 per variant
    density: float = 0.5
    seed: int = 0
    inner: str = "ties"  # KnOTS: how the aligned blocks are merged

    def check(self, n_variants: int) -> None:
        def bad(what: str, fix: str) -> TinyExpertsError:
            return TinyExpertsError(what, where="merge options", fix=fix)

        if self.method not in MERGE_METHODS:
            raise bad(f"unknown method {self.method!r}", f"use one of: {', '.join(MERGE_METHODS)}")
        if self.inner not in METHODS:
            raise bad(f"unknown KnOTS inner method {self.inner!r}",
                      f"use one of: {', '.join(METHODS)}")
        if not 0.0 < self.density <= 1.0:
            raise bad(f"--density {self.density} is outside (0, 1]", "pass e.g. --density 0.5")
        if self.weights is not None and len(self.weights) != n_variants:
            raise bad(f"{len(self.weights)} weight(s) for {n_variants} variants",
                      "give one weight per variant, e.g. --weights 1,1,1")
        if self.weights is not None and any(not 0 < w <= 10 for w in self.weights):
            raise bad(f"weights {self.weights} must lie in (0, 10]", "e.g. --weights 1,1,1")

    def weight_list(self, n: int) -> list[float]:
        return list(self.weights) if self.weights is not None else [1.0] * n


@dataclass
class Variant:
    version: str
    manifest: Manifest
    predictor: Predictor
    lora: dict[str, torch.Tensor] | None
    data: ExpertData | None = field(default=None, repr=False)

    @property
    def own_validation(self) -> float:
        spec = get_spec(self.predictor.name)
        return float(self.manifest.metrics.get("validation", {}).get(spec.main_metric, 0.0))

    @property
    def own_test(self) -> float:
        spec = get_spec(self.predictor.name)
        return float(self.manifest.metrics.get("test", {}).get(spec.main_metric, 0.0))


def load_variants(registry: Registry, expert: str, versions: list[str]) -> list[Variant]:
    """Load and check the variants: ≥ 2, distinct, adapted, one base, same shapes."""

    where = f"{expert} {','.join(versions)}"
    if len(versions) < 2 or len(set(versions)) != len(versions):
        raise TinyExpertsError(f"need at least two distinct variants, got {versions}",
                               where="--variants", fix="e.g. --variants v5,v6,v7")
    manifests = [registry.manifest(expert, v) for v in versions]
    for m in manifests:
        if not (m.recipe or {}).get("adapt") or "base" not in m.data:
            raise TinyExpertsError(f"{expert} {m.version} was not made by `adapt`, so its base "
                                   "is unknown", where=where,
                                   fix="merge versions made by `tinyexperts adapt` "
                                       "(`tinyexperts registry list`)")
    bases = {m.data["base"]["sha256"] for m in manifests}
    if len(bases) != 1:
        refs = sorted({m.data["base"]["ref"] for m in manifests})
        raise TinyExpertsError(f"the variants come from different bases ({', '.join(refs)}); "
                               "their weight differences cannot be merged", where=where,
                               fix="adapt every variant from the same --from version")
    variants = []
    for m in manifests:
        folder = registry.path(expert, m.version)
        lora = load_file(str(folder / "lora.safetensors")) \
            if (folder / "lora.safetensors").is_file() else None
        variants.append(Variant(m.version, m, load_predictor(registry, expert, m.version), lora,
                                previous_data(m, expert)))
    shapes = [{k: tuple(t.shape) for k, t in v.predictor.model.encoder.state_dict().items()}
              for v in variants]
    if any(s != shapes[0] for s in shapes[1:]):
        raise TinyExpertsError("the variants' encoders have different shapes (pruned "
                               "differently?)", where=where,
                               fix="merge variants adapted from the same unpruned base")
    return variants


def base_encoder_state(variants: list[Variant], registry: Registry, expert: str) -> dict:
    """The weights every variant started from, checked against the recorded digest."""

    base = variants[0].manifest.data["base"]
    if base["ref"] == BASE_REF:
        model = BertModel.from_pretrained(str(minilm_dir()), add_pooling_layer=False)
    else:
        name, _, version = base["ref"].partition("@")
        model = load_predictor(registry, name, version).model.encoder
    holder = torch.nn.Module()
    holder.encoder = model
    if encoder_digest(holder) != base["sha256"]:
        raise TinyExpertsError(f"the base {base['ref']} no longer matches the digest the "
                               "variants recorded", where=expert,
                               fix="the base artifact changed; re-adapt the variants")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def merge_predictors(variants: list[Variant], base: dict[str, torch.Tensor],
                     cfg: MergeConfig, knots_cache: dict | None = None) -> Predictor:
    """One Predictor: merged encoder + union head (nothing written). `knots_cache` keeps
    each layer's shared SVD basis between calls (it does not depend on density/weights)."""
    knots_cache = {} if knots_cache is None else knots_cache
    weights = cfg.weight_list(len(variants))
    states = [v.predictor.model.encoder.state_dict() for v in variants]
    merged: dict[str, torch.Tensor] = {}
    if cfg.method == "knots" and any(v.lora is None for v in variants):
        raise TinyExpertsError("KnOTS merges LoRA updates, and some variants have none",
                               where=",".join(v.version for v in variants if v.lora is None),
                               fix="adapt the variants with --method lora, or pick ties/dare")
    for name, w0 in base.items():
        deltas = [s[name] - w0 for s in states] if w0.is_floating_point() else []
        if not deltas or all(not d.any() for d in deltas):
            merged[name] = w0.clone()
            continue
        module = "encoder." + name.removesuffix(".weight")
        if cfg.method == "knots" and f"{module}.lora_A" in variants[0].lora:
            factors = [(v.lora[f"{module}.lora_B"], v.lora[f"{module}.lora_A"])
                       for v in variants]
            if module not in knots_cache:
                knots_cache[module] = knots_basis_from_factors(factors)
            merged[name] = w0 + knots_merge(factors, cfg.inner, weights, cfg.density, cfg.seed,
                                            basis=knots_cache[module])
            continue
        method = cfg.inner if cfg.method == "knots" else cfg.method
        merged[name] = w0 + merge_deltas(deltas, method, weights, cfg.density, cfg.seed)
    first = variants[0].predictor
    model = copy.deepcopy(first.model)
    model.encoder.load_state_dict(merged)
    labels, w, b = union_head([(v.predictor.labels, v.predictor.model.classifier.weight.data,
                                v.predictor.model.classifier.bias.data) for v in variants],
                              weights)
    model.set_head(w, b)
    info: dict = {}
    for v in variants:
        info.update(v.predictor.label_info)
    return Predictor(first.name, model.eval(), first.tokenizer, labels, info)


def score_on_variants(predictor: Predictor, variants: list[Variant], split: str,
                      limit: int | None = None) -> dict:
    """The merged model's main metric on each variant's own split (union label space);
    `limit`: a fixed, evenly spaced subset of that many rows per variant."""
    metric = get_spec(predictor.name).main_metric
    out = {}
    for v in variants:
        if v.data is None:
            raise TinyExpertsError(f"the data of variant {v.version} is gone",
                                   where=v.manifest.data.get("dir", "?"),
                                   fix="restore the folder it was adapted on")
        rows = v.data.splits[split]
        if limit and len(rows) > limit:
            rows = rows[:: len(rows) // limit][:limit]
        out[v.version] = quality(predictor, rows)[metric]
    return out


def gate(scores: dict[str, float], variants: list[Variant], floor: float
         ) -> tuple[bool, dict[str, float]]:
    """Each variant's merged validation score / its own; passes if every ratio ≥ floor."""
    ratios = {v.version: scores[v.version] / max(1e-9, v.own_validation) for v in variants}
    return all(r >= floor for r in ratios.values()), ratios


def search_grid(cfg: MergeConfig, n: int) -> list[MergeConfig]:
    """Density × uniform weight (density only for the methods that use it)."""
    densities = SEARCH_DENSITIES if cfg.method in DENSITY_METHODS else (1.0,)
    return [MergeConfig(cfg.method, [w] * n, d, cfg.seed, cfg.inner)
            for d in densities for w in SEARCH_WEIGHTS]


def merge(expert: str, versions: list[str], cfg: MergeConfig, registry: Registry, *,
          search: bool = False, floor: float = 0.97, activate: bool = False,
          log: Callable = print) -> dict:
    """Merge, gate on validation, evaluate on the variants' test splits, register."""
    spec = get_spec(expert)
    cfg.check(len(versions))
    if not 0 <= floor <= 1:
        raise TinyExpertsError(f"--floor {floor} is outside [0, 1]", where="merge options",
                               fix="pass e.g. --floor 0.97")
    t0 = time.perf_counter()
    variants = load_variants(registry, expert, versions)
    base = base_encoder_state(variants, registry, expert)
    n = len(variants)
    candidates = search_grid(cfg, n) if search else [cfg]
    cache: dict = {}
    tried = []
    for c in candidates:  # a search ranks candidates on a validation subset ...
        predictor = merge_predictors(variants, base, c, cache)
        val = score_on_variants(predictor, variants, "validation",
                                SEARCH_ROWS if search else None)
        row = {"density": c.density, "weights": c.weight_list(n),
               "mean_validation": sum(val.values()) / n,
               **{f"val_{k}": s for k, s in val.items()}}
        # a search keeps scores, not its 12 merged models (seeded: the gated one is rebuilt)
        tried.append((c, None if search else predictor, row))
        if search:
            log(f"  {c.method} density={c.density:g} weights={c.weight_list(n)}: validation "
                f"subset {tried[-1][2]['mean_validation']:.4f}")
    tried.sort(key=lambda t: -t[2]["mean_validation"])
    best, gate_rows = None, []
    for c, predictor, row in tried:  # ... and the gate checks the full validation split
        predictor = predictor or merge_predictors(variants, base, c, cache)
        val = score_on_variants(predictor, variants, "validation") if search else \
            {k.removeprefix("val_"): s for k, s in row.items() if k.startswith("val_")}
        ok, ratios = gate(val, variants, floor)
        gate_row = {"density": c.density, "weights": c.weight_list(n), "passes": ok,
                    "mean_validation": sum(val.values()) / n,
                    "min_ratio": min(ratios.values())}
        gate_rows.append(gate_row)
        log(f"  gate: {c.method} density={c.density:g} weights={c.weight_list(n)}: "
            f"validation {gate_row['mean_validation']:.4f}, min ratio "
            f"{gate_row['min_ratio']:.3f}{'' if ok else ' (fails the gate)'}")
        if ok:
            best = (c, gate_row, predictor)
            break
    tried = [t[2] for t in tried]
    if best is None:
        worst = max(gate_rows, key=lambda r: r["min_ratio"])
        raise TinyExpertsError(
            f"no merge kept every variant at ≥ {floor:.0%} of its own validation score (best "
            f"min ratio {worst['min_ratio']:.3f}); nothing was registered",
            where=f"{expert} {','.join(versions)}",
            fix="try --search, another --method, or a lower --floor")
    chosen, val_row, predictor = best
    merge_seconds = time.perf_counter() - t0
    test = score_on_variants(predictor, variants, "test")
    per_variant = {v.version: {"site": v.manifest.data.get("site"), "own_test": v.own_test,
                               "merged_test": test[v.version],
                               "ratio": test[v.version] / max(1e-9, v.own_test)}
                   for v in variants}
    metrics = {"test": {spec.main_metric: sum(test.values()) / n,
                        "min_ratio": min(r["ratio"] for r in per_variant.values())},
               "validation": {spec.main_metric: val_row["mean_validation"]},
               "variants": per_variant, "search": tried if search else [], "gate": gate_rows,
               "merge_seconds": round(merge_seconds, 1)}
    model = predictor.model

    manifest = registry.register(
        expert, predictor.save, task=spec.kind,
        base_model=f"merged from {','.join(versions)} ({chosen.method})",
        labels=predictor.labels, critical_labels=list(variants[0].manifest.critical_labels),
        recipe={"merge": {**asdict(chosen), "weights": chosen.weight_list(n),
                          "variants": versions, "floor": floor, "search": search}},
        params=model.num_params(), metrics=metrics,
        data={"variants": versions, "base": variants[0].manifest.data["base"],
              "variant_data": [{k: v.manifest.data[k] for k in ("dir", "sha256", "seed")
                                if k in v.manifest.data} for v in variants]})
    if activate:
        registry.activate(expert, manifest.version)
    log(f"{expert}: registered {manifest.version} = {chosen.method}"
        f"(density={chosen.density:g}, weights={chosen.weight_list(n)}) of {','.join(versions)}"
        f" — test {spec.main_metric} per variant: " + ", ".join(
            f"{k} {r['merged_test']:.4f} ({r['ratio']:.1%} of own)"
            for k, r in per_variant.items()))
    return {"expert": expert, "version": manifest.version, "config": asdict(chosen),
            "metrics": metrics, "seconds": merge_seconds, "predictor": predictor}
