"""Experts benchmark: each specialized expert vs its fp32 MiniLM teacher, side by side.

For every expert whose active version came from `tinyexperts specialize`, the teacher (its
parent version) and the student are loaded together and measured in alternating rounds on
the same inputs (so machine noise hits both alike): p50/p99 latency at batch 1 and 32,
throughput, test quality (re-evaluated here), params and artifact bytes. Speed-ups are the
median of the per-round ratios. A roofline column gives each encoder's achieved GFLOP/s at
batch 32 as a share of this machine's measured FP32 GEMM ceiling (experts.roofline).

Targets (issue: specialization): b1 p50 >= 5x lower at >= 97 % of the teacher's main
metric; attributes F1_critical and coverage >= the teacher's; artifact bytes <= 15 %.
Writes experts.csv / .json / .md / .png to --out.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from experts.artifact import served_bytes
from experts.baselines import baseline, description_lookup
from experts.core.environment import environment
from experts.core.errors import TinyExpertsError
from experts.core.registry import Registry
from experts.core.report import markdown_table, write_csv
from experts.core.targets import all_met, goal, judge
from experts.data.datasets import load_expert_data, recorded_data
from experts.data.external import FURTHER, any_hit, external_fits, read_external
from experts.evaluate import critical_of, quality, quality_external
from experts.latency import measure_latency
from experts.predictor import load_predictor
from experts.roofline import (
    FLOPS_PER_CYCLE,
    achieved_gflops,
    gemm_ceiling_gflops,
    nominal_peak_gflops,
)
from experts.specs import EXPERTS, get_spec


def artifact_bytes(registry: Registry, name: str, version: str) -> int:
    return served_bytes(registry.path(name, version))


def paired_latency(a, b, tokenizer, examples, batch_size: int, rounds: int, runs: int):
    """Alternate a and b; per-round p50s, and the median of per-round ratios a/b."""
    rows_a, rows_b = [], []
    for _ in range(rounds):
        rows_a.append(measure_latency(a, tokenizer, examples, batch_size, runs=runs, repeats=1))
        rows_b.append(measure_latency(b, tokenizer, examples, batch_size, runs=runs, repeats=1))

    def summary(rows):
        return {"p50_ms": statistics.median(r["p50_ms"] for r in rows),
                "p99_ms": max(r["p99_ms"] for r in rows), "seq_len": rows[0]["seq_len"]}

    ratio = statistics.median(x["p50_ms"] / y["p50_ms"] for x, y in zip(rows_a, rows_b,
                                                                      strict=True))
    return summary(rows_a), summary(rows_b), ratio


def _config(registry: Registry, name: str, version: str) -> dict:
    return json.loads((registry.path(name, version) / "config.json").read_text())


def bench_expert(registry: Registry, name: str, data_dir: Path, rounds: int,
                 gemm_gflops: float) -> dict | None:
    spec = get_spec(name)
    version = registry.active(name)
    manifest = registry.manifest(name, version)
    if not manifest.metrics.get("specialization") or not manifest.parent_version:
        return None
    teacher = load_predictor(registry, name, manifest.parent_version)
    student = load_predictor(registry, name, version)
    data = data_of(registry, name, manifest.parent_version, data_dir)
    test = data.splits["test"]
    q_t, q_s = quality(teacher, test), quality(student, test)
    t1, s1, r1 = paired_latency(teacher.model, student.model, teacher.tokenizer, test, 1,
                                rounds, 20)
    t32, s32, r32 = paired_latency(teacher.model, student.model, teacher.tokenizer, test, 32,
                                   rounds, 3)
    b_t = artifact_bytes(registry, name, manifest.parent_version)
    b_s = artifact_bytes(registry, name, version)
    m = spec.main_metric
    t_cfg, s_cfg = _config(registry, name, manifest.parent_version), _config(registry, name,
                                                                            version)
    row = {
        "expert": name, "teacher": manifest.parent_version, "student": version,
        "backend": s_cfg.get("backend", "torch-fp32"),
        f"teacher_{m}": q_t[m], f"student_{m}": q_s[m],
        "quality_ratio": q_s[m] / q_t[m] if q_t[m] else None,  # a teacher scoring 0: no ratio
        "teacher_params": teacher.model.num_params(), "student_params": student.model.num_params(),
        "teacher_MB": b_t / 1e6, "student_MB": b_s / 1e6, "bytes_ratio": b_s / b_t,
        "teacher_b1_p50_ms": t1["p50_ms"], "student_b1_p50_ms": s1["p50_ms"],
        "student_b1_p99_ms": s1["p99_ms"], "speedup_b1": r1,
        "teacher_b32_p50_ms": t32["p50_ms"], "student_b32_p50_ms": s32["p50_ms"],
        "speedup_b32": r32, "student_b32_per_s": 32_000 / s32["p50_ms"],
    }
    # roofline at batch 32 (batch 1 is latency-bound): achieved GFLOP/s vs this machine's
    # measured FP32 GEMM ceiling (experts.roofline)
    for who, cfg, t in (("teacher", t_cfg, t32), ("student", s_cfg, s32)):
        row[f"{who}_b32_gflops"] = achieved_gflops(cfg, 32, t["seq_len"], t["p50_ms"])
        row[f"{who}_roofline_pct"] = 100 * row[f"{who}_b32_gflops"] / gemm_gflops
    # the baseline on the same test split, trained here on the teacher's training rows
    # (teachers registered before 2026-12-05 recorded it in their manifest)
    base_test = registry.manifest(name, manifest.parent_version).metrics.get(
        "baseline_test") or baseline(spec.kind, data.splits["train"], test, critical_of(teacher))
    if m in base_test:
        row[f"baseline_test_{m}"] = base_test[m]
        row["test_minus_baseline_pts"] = 100 * (q_s[m] - base_test[m])
    row.update(external_row(name, spec, data, teacher, student))
    row.update(further_external_rows(name, spec, data, teacher, student))
    if "f1_critical" in q_t and "f1_critical" in q_s:  # critical types declared
        row.update(critical_rows(registry, name, version, test, q_t, q_s))
    return row


def data_of(registry: Registry, name: str, teacher_version: str, data_dir: Path):
    """The data the teacher was made from (a user's corpus too); the home's datasets for a
    version that records none."""
    try:
        return recorded_data(registry.manifest(name, teacher_version), name)
    except TinyExpertsError:
        return load_expert_data(name, data_dir)


def seed_siblings(registry: Registry, name: str, version: str) -> list[str]:
    """`version` and, for each other seed, the newest registered student of the same teacher
    made by the same recipe with that seed: the runs a seed mean is taken over."""
    m = registry.manifest(name, version)

    def same(recipe: dict | None) -> dict | None:
        return None if recipe is None else {**recipe, "seed": None, "description": None}

    by_seed: dict = {}
    for v in registry.versions(name):
        o = registry.manifest(name, v)
        if o.parent_version == m.parent_version and same(o.recipe) == same(m.recipe):
            by_seed[o.recipe.get("seed")] = v
    by_seed[m.recipe.get("seed")] = version
    return sorted(by_seed.values(), key=registry.versions(name).index)


def critical_rows(registry: Registry, name: str, version: str, test, q_t: dict,
                  q_s: dict) -> dict:
    """Teacher vs student on the critical types (F1_critical, coverage). The ratios use the
    mean over the student's seed siblings (`seed_siblings`), with their spread and count."""
    seeds = seed_siblings(registry, name, version)
    scores = [q_s if v == version else quality(load_predictor(registry, name, v), test)
              for v in seeds]
    row: dict = {"student_seeds": len(seeds)}
    for k in ("f1_critical", "coverage"):
        values = [q[k] for q in scores]
        mean = statistics.fmean(values)
        row[f"teacher_{k}"], row[f"student_{k}"] = q_t[k], q_s[k]
        row[f"student_{k}_mean"] = mean
        row[f"student_{k}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row[f"{k}_ratio"] = mean / q_t[k] if q_t[k] else float("nan")
    return row


def external_row(name: str, spec, data, teacher, student, set_name: str | None = None,
                 prefix: str = "external") -> dict:
    """Teacher, student and baseline on one of the expert's external sets (hand-written text
    no template produced; by default its main one): the main metric, or any-label top-5 for
    fault codes, where the baseline is a TF-IDF lookup of the official code descriptions with
    no training. Keys start with `prefix` (`external`, `external_summaries`, ...)."""
    try:
        ext = read_external(set_name or name, spec.kind)
    except TinyExpertsError:
        return {}
    if not external_fits(ext, teacher.labels):
        return {f"{prefix}_metric": None, f"{prefix}_note": "the external set's labels are "
                "not this model's (trained on another corpus)"}
    q_t, q_s = quality_external(teacher, ext), quality_external(student, ext)
    if ext.label_sets is not None:
        key = "top5"
        descriptions = {lab: (data.label_info.get(lab) or {}).get("description", "")
                        for lab in data.labels}
        base = any_hit(description_lookup(descriptions, [e.text for e in ext.examples]),
                       ext.label_sets)
        method = "tfidf description lookup"
    else:
        key = spec.main_metric
        base = baseline(spec.kind, data.splits["train"], ext.examples, critical_of(teacher))
        method = base["method"]
    row = {f"{prefix}_n": len(ext.examples), f"{prefix}_metric": key,
           f"{prefix}_baseline": method,
           f"teacher_{prefix}_{key}": q_t[key], f"student_{prefix}_{key}": q_s[key],
           f"baseline_{prefix}_{key}": base[key],
           f"{prefix}_quality_ratio": q_s[key] / q_t[key] if q_t[key] else float("nan"),
           f"{prefix}_minus_baseline_pts": 100 * (q_s[key] - base[key])}
    if key == "top5":
        row[f"teacher_{prefix}_top1"], row[f"student_{prefix}_top1"] = q_t["top1"], q_s["top1"]
        row[f"baseline_{prefix}_top1"] = base["top1"]
    return row


def further_external_rows(name: str, spec, data, teacher, student) -> dict:
    """The expert's further external sets (`FURTHER`), each under `external_<short name>`."""
    row: dict = {}
    for short, set_name in FURTHER.get(name, {}).items():
        row.update(external_row(name, spec, data, teacher, student, set_name,
                                prefix=f"external_{short}"))
    return row


def _values(rows: list[dict]) -> dict[str, float]:
    """The suite's flat values: `<expert>.<metric>` for every number of every row."""
    return {f"{r['expert']}.{k}": v for r in rows for k, v in r.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def run(registry: Registry, data_dir: Path, out: Path, experts: list[str] | None = None,
        rounds: int = 5, log=print) -> dict:
    rows = []
    gemm = gemm_ceiling_gflops()
    log(f"bench experts: FP32 GEMM ceiling {gemm:.1f} GFLOP/s with "
        f"{environment()['torch_threads']} threads (nominal {nominal_peak_gflops():.0f})")
    for name in experts or list(EXPERTS):
        if not registry.versions(name):
            continue
        log(f"bench experts: {name}")
        row = bench_expert(registry, name, data_dir, rounds, gemm)
        if row is None:
            log(f"  {name}: active version is not specialized; run `tinyexperts specialize "
                f"{name}` first")
            continue
        rows.append(row)
    result = {"rows": rows, "environment": environment(),
              "roofline": {"gemm_ceiling_gflops": gemm, "nominal_peak_gflops":
                           nominal_peak_gflops(), "nominal_assumes_flops_per_cycle":
                           FLOPS_PER_CYCLE},
              "targets": judge("experts", _values(rows))}
    for row in rows:  # each expert's own targets, from the one judgement above
        row["targets_met"] = all_met([t for t in result["targets"]
                                      if t["name"].startswith(f"{row['expert']}.")])
    out.mkdir(parents=True, exist_ok=True)
    if rows:
        write_csv(rows, out / "experts.csv")
        cols = ["expert", "backend", "quality_ratio", "speedup_b1", "speedup_b32",
                "bytes_ratio", "teacher_b1_p50_ms", "student_b1_p50_ms", "teacher_MB",
                "student_MB", "student_params", "teacher_b32_gflops", "student_b32_gflops",
                "teacher_roofline_pct", "student_roofline_pct", "targets_met"]
        roof = result["roofline"]
        table = markdown_table([{c: r[c] for c in cols} for r in rows]) + (
            f"\n\nRoofline: FP32 GEMM ceiling measured {roof['gemm_ceiling_gflops']:.1f} "
            f"GFLOP/s; nominal peak {roof['nominal_peak_gflops']:.0f} GFLOP/s (clock x threads x "
            f"{roof['nominal_assumes_flops_per_cycle']} FLOPs/cycle).")
        table += "\n\n" + quality_table(rows) + critical_table(rows)
        (out / "experts.md").write_text(table + "\n", encoding="utf-8")
        _plot(rows, out / "experts.png")
        result["table"] = table
    (out / "experts.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def quality_table(rows: list[dict]) -> str:
    """Teacher / student / baseline on the generated test split and on the external set."""
    def cell(row: dict, key: str) -> str:
        v = row.get(key)
        return "—" if v is None else f"{v:.3f}"
    lines = ["Quality on the generated test split and on the external set (hand-written, "
             "never trained on; docs/external-eval.md):", "",
             "| expert | test metric | teacher | student | baseline | external metric (n) | "
             "teacher | student | baseline |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = get_spec(r["expert"]).main_metric
        e = r.get("external_metric")
        ext = (f"{e} ({r['external_n']}) | {cell(r, f'teacher_external_{e}')} | "
               f"{cell(r, f'student_external_{e}')} | {cell(r, f'baseline_external_{e}')}"
               if e else "— | — | — | —")
        lines.append(f"| {r['expert']} | {m} | {cell(r, f'teacher_{m}')} | "
                     f"{cell(r, f'student_{m}')} | {cell(r, f'baseline_test_{m}')} | {ext} |")
        for short in FURTHER.get(r["expert"], {}):
            p = f"external_{short}"
            e = r.get(f"{p}_metric")
            if e:
                lines.append(f"| {r['expert']} ({short}) | | | | | {e} ({r[f'{p}_n']}) | "
                             f"{cell(r, f'teacher_{p}_{e}')} | {cell(r, f'student_{p}_{e}')} | "
                             f"{cell(r, f'baseline_{p}_{e}')} |")
    return "\n".join(lines)


def critical_table(rows: list[dict]) -> str:
    """The critical types of taggers: teacher vs the student's mean ± std over its seeds."""
    rows = [r for r in rows if "student_seeds" in r]
    if not rows:
        return ""
    lines = ["", "", "Critical types (test split): the student as the mean ± std over its "
             "seeds (same recipe and teacher):", "",
             "| expert | seeds | teacher F1_critical | student F1_critical | teacher coverage "
             "| student coverage |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['expert']} | {r['student_seeds']} | {r['teacher_f1_critical']:.4f} | "
            f"{r['student_f1_critical_mean']:.4f} ± {r['student_f1_critical_std']:.4f} | "
            f"{r['teacher_coverage']:.4f} | {r['student_coverage_mean']:.4f} ± "
            f"{r['student_coverage_std']:.4f} |")
    return "\n".join(lines)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["expert"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = [(key, label, goal("experts", f"{names[0]}.{key}"))
              for key, label in (("speedup_b1", "speed-up, batch 1 (x)"),
                                 ("quality_ratio", "quality vs teacher"),
                                 ("bytes_ratio", "artifact bytes vs teacher"))]
    for ax, (key, label, target) in zip(axes, panels, strict=True):
        ax.bar(names, [r[key] for r in rows], color="tab:blue")
        ax.axhline(target, color="tab:red", ls="--", label=f"target {target}")
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=20)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
