"""`tinyexperts bench --suite update`: what a team pays to add a site to a served expert.

The site scenario of the merge bench (`experts.merge.sites`), as a team lives it:
1. **before** (not timed, once): the `fault_codes` expert as `tinyexperts build` makes it, but
   from two sites' data (fuel_air + drivetrain) — MiniLM teacher, then its int8 student by the
   default recipe, active;
2. the third site's data (electronics) arrives. Per seed, side by side:
   - **update**: `tinyexperts update fault_codes --data electronics/` (adapt the teacher with
     replay → warm-start re-compress → gate), timed as a whole;
   - **rebuild**: what the team would do without `update` — a teacher on all three sites'
     data, then the full recipe to an int8 student, timed as a whole.
   The two alternate in order from seed to seed (update first on odd seeds), so a machine
   that drifts in speed during the run moves both sides alike;
3. the served student after the update against the rebuilt student, on each site's test
   split; its batch-1 latency against its fp32 teacher (alternating rounds, median ratio).

Targets judge the worst seed: a target met on one seed and missed on another is missed.
Writes update.csv / update.json / update.md / update.png.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from experts.bench_experts import paired_latency
from experts.core.environment import environment
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.core.report import markdown_table, write_csv
from experts.core.targets import judge
from experts.data.datasets import load_split_folder
from experts.data.formats import write_examples
from experts.data.phrasing import SPLITS
from experts.evaluate import quality
from experts.merge.sites import SITE_EXPERT, SITES, write_site_datasets
from experts.predictor import load_predictor
from experts.specialize.pipeline import specialize
from experts.specialize.recipe import load_recipe
from experts.teacher import train_teacher
from experts.update import UpdateConfig, update

NEW_SITE = "electronics"
OLD_SITES = tuple(s for s in SITES if s != NEW_SITE)
SEEDS = (0, 1)
LATENCY_ROUNDS = 5


def run(home: Path, out: Path, *, seeds: tuple[int, ...] = SEEDS, quick: bool = False,
        log: Callable = print) -> dict:
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "update_work"
    shutil.rmtree(work, ignore_errors=True)
    sites = work / "sites"
    write_site_datasets(Paths(home).data, sites)
    old = _union_folder([sites / s for s in OLD_SITES], work / "old" / SITE_EXPERT)
    current, rebuild = _home(home, work / "current"), _home(home, work / "rebuild")
    quiet = lambda *_: None  # noqa: E731
    recipe = load_recipe(None, SITE_EXPERT)
    if quick:  # 40-step smoke models miss the recipe's quality floor by design
        recipe = recipe.model_copy(update={"min_quality": 0.0})

    log(f"update bench: the expert before the update: teacher + student on "
        f"{' + '.join(OLD_SITES)}")
    reg = Registry(Paths(current).registry)
    t0 = time.perf_counter()
    train_teacher(SITE_EXPERT, old.parent, reg, quick=quick, progress=False, log=quiet)
    before = specialize(SITE_EXPERT, recipe, root=current, quick=quick, progress=False,
                        log=quiet)["version"]
    log(f"update bench: {SITE_EXPERT} {before} serves {' + '.join(OLD_SITES)} "
        f"({time.perf_counter() - t0:.0f}s, not timed)")

    tests = {s: load_split_folder(SITE_EXPERT, sites / s).splits["test"] for s in SITES}
    runs = []
    for i, seed in enumerate(seeds):
        order = ("update", "rebuild") if i % 2 else ("rebuild", "update")
        r: dict = {"seed": seed}
        for what in order:
            if what == "update":
                t0 = time.perf_counter()
                u = update(SITE_EXPERT, sites / NEW_SITE, UpdateConfig(seed=seed, quick=quick),
                           current, progress=False, log=quiet)
                r["update_seconds"] = time.perf_counter() - t0
                r["update"], r["steps"] = u, u["seconds"]
                log(f"seed {seed}: update {r['update_seconds']:.0f}s "
                    f"({', '.join(f'{k} {v:.0f}s' for k, v in u['seconds'].items())}); gate "
                    f"{'passed' if u['gate']['passed'] else 'FAILED'}")
            else:
                r["rebuild_seconds"], r["rebuild"] = _rebuild(rebuild, sites, recipe, seed,
                                                              quick)
                log(f"seed {seed}: rebuild {r['rebuild_seconds']:.0f}s "
                    f"(teacher {r['rebuild']['teacher_seconds']:.0f}s)")
        runs.append(_judge_run(r, reg, Registry(Paths(rebuild).registry), before, tests, log))

    summary = _summary(runs, quick, time.perf_counter() - t_start)
    rows = [{k: v for k, v in run.items() if not isinstance(v, dict)} for run in runs]
    result = {"summary": summary, "targets": summary["targets"], "rows": rows, "runs": runs,
              "environment": environment()}
    write_csv(rows, out / "update.csv")
    # one line per figure, one column per seed: 24 figures do not fit across a page
    table = markdown_table([{"figure": k, **{f"seed {r['seed']}": r[k] for r in rows}}
                            for k in rows[0] if k != "seed"])
    (out / "update.md").write_text(table + "\n", encoding="utf-8")
    (out / "update.json").write_text(json.dumps(result, indent=1, default=str),
                                     encoding="utf-8")
    _plot(runs, out / "update.png")
    result["table"] = table
    return result


def _home(src: Path, dst: Path) -> Path:
    """A scratch home with the user's ontology (the recipes read its text), nothing else."""
    onto = Paths(dst).ontology
    onto.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Paths(src).ontology, onto)
    return dst


def _union_folder(parts: list[Path], folder: Path) -> Path:
    """One split folder with every part's rows and label descriptions."""
    infos: dict = {}
    for split in SPLITS:
        rows = [ex for p in parts for ex in load_split_folder(SITE_EXPERT, p).splits[split]]
        write_examples(folder / f"{split}.jsonl", "classify", rows)
    for p in parts:
        infos.update(json.loads((p / "labels.json").read_text(encoding="utf-8")))
    (folder / "labels.json").write_text(json.dumps(infos, indent=1), encoding="utf-8")
    return folder


def _rebuild(home: Path, sites: Path, recipe, seed: int, quick: bool) -> tuple[float, dict]:
    """Teacher on all sites + the full recipe to an int8 student, from nothing; timed."""
    quiet = lambda *_: None  # noqa: E731
    everything = _union_folder([sites / s for s in SITES], home / "all" / SITE_EXPERT)
    reg = Registry(Paths(home).registry)
    t0 = time.perf_counter()
    teacher = train_teacher(SITE_EXPERT, everything.parent, reg, quick=quick, seed=seed,
                            progress=False, log=quiet)
    teacher_seconds = time.perf_counter() - t0
    student = specialize(SITE_EXPERT, recipe.model_copy(update={"seed": seed}),
                         from_version=teacher["version"], root=home, quick=quick,
                         activate=False, progress=False, log=quiet)
    return time.perf_counter() - t0, {"teacher": teacher["version"],
                                      "student": student["version"],
                                      "teacher_seconds": teacher_seconds}


def _judge_run(r: dict, reg: Registry, rebuild_reg: Registry, before: str, tests: dict,
               log: Callable) -> dict:
    u, b = r["update"], r["rebuild"]
    served = load_predictor(reg, SITE_EXPERT, u["student"])
    fresh = load_predictor(rebuild_reg, SITE_EXPERT, b["student"])
    old = load_predictor(reg, SITE_EXPERT, before)
    row = {"seed": r["seed"], "update_seconds": round(r["update_seconds"], 1),
           **{f"update_{k}_seconds": v for k, v in r["steps"].items() if k != "total"},
           "rebuild_seconds": round(r["rebuild_seconds"], 1),
           "rebuild_teacher_seconds": round(b["teacher_seconds"], 1),
           "pct_of_rebuild": round(100 * r["update_seconds"] / r["rebuild_seconds"], 1),
           "gate_passed": u["gate"]["passed"]}
    for site, rows in tests.items():
        s = quality(served, rows)["top1"]
        f = quality(fresh, rows)["top1"]
        row[f"{site}_served"] = round(s, 4)
        row[f"{site}_rebuilt"] = round(f, 4)
        row[f"{site}_pct_of_rebuilt"] = round(100 * s / f, 1)
        if site != NEW_SITE:
            row[f"{site}_before"] = round(quality(old, rows)["top1"], 4)
    row["min_pct_of_rebuilt"] = min(row[f"{s}_pct_of_rebuilt"] for s in SITES)
    teacher = load_predictor(reg, SITE_EXPERT, u["adapted"])
    sample = [ex for rows in tests.values() for ex in rows][:: 7]
    t_stats, s_stats, ratio = paired_latency(teacher.model, served.model, served.tokenizer,
                                             sample, 1, LATENCY_ROUNDS, 20)
    row.update({"teacher_b1_p50_ms": round(t_stats["p50_ms"], 2),
                "served_b1_p50_ms": round(s_stats["p50_ms"], 2),
                "speedup_b1": round(ratio, 2)})
    log(f"seed {r['seed']}: update = {row['pct_of_rebuild']}% of the rebuild; served student "
        f"min {row['min_pct_of_rebuilt']}% of the rebuilt one on a site; "
        f"{row['speedup_b1']}x its teacher at batch 1")
    return {**row, "update": {k: u[k] for k in ("plan", "registered", "gate", "seconds")},
            "rebuild": b}


def _summary(runs: list[dict], quick: bool, seconds: float) -> dict:
    def spread(key: str) -> dict:
        values = [r[key] for r in runs]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    summary = {
        "seeds": [r["seed"] for r in runs],
        # the worst seed is the figure each target judges
        "pct_of_rebuild": max(r["pct_of_rebuild"] for r in runs),
        "min_pct_of_rebuilt": min(r["min_pct_of_rebuilt"] for r in runs),
        "speedup_b1": min(r["speedup_b1"] for r in runs),
        "gates_passed": float(all(r["gate_passed"] for r in runs)),
        "spread": {k: spread(k) for k in ("pct_of_rebuild", "min_pct_of_rebuilt", "speedup_b1",
                                          "update_seconds", "rebuild_seconds")},
        "quick": quick, "seconds": round(seconds, 1),
    }
    summary["targets"] = judge("update", summary)
    return summary


def _plot(runs: list[dict], path: Path) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [k for k in runs[0] if k.startswith("update_") and k.endswith("_seconds")
             and k != "update_seconds"]
    x = range(len(runs))
    bottom = [0.0] * len(runs)
    for k in steps:
        vals = [r.get(k, 0.0) for r in runs]
        ax1.bar([i - 0.2 for i in x], vals, 0.4, bottom=bottom,
                label=k.removeprefix("update_").removesuffix("_seconds"))
        bottom = [a + b for a, b in zip(bottom, vals, strict=True)]
    ax1.bar([i + 0.2 for i in x], [r["rebuild_seconds"] for r in runs], 0.4, color="grey",
            label="rebuild (teacher + recipe)")
    ax1.set_xticks(list(x), [f"seed {r['seed']}" for r in runs])
    ax1.set_ylabel("seconds")
    ax1.set_title("update vs rebuild from scratch")
    ax1.legend(fontsize=8)
    width = 0.8 / len(runs)
    for j, r in enumerate(runs):
        ax2.bar([i + j * width for i in range(len(SITES))],
                [r[f"{s}_pct_of_rebuilt"] for s in SITES], width, label=f"seed {r['seed']}")
    ax2.axhline(97, color="red", lw=0.8, ls="--", label="target 97 %")
    ax2.set_xticks([i + 0.4 - width / 2 for i in range(len(SITES))], list(SITES))
    ax2.set_ylim(80, 105)
    ax2.set_ylabel("served top-1, % of the rebuilt student")
    ax2.set_title("quality after the update, per site")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
