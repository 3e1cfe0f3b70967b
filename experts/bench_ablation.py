"""`tinyexperts bench --suite ablation`: ontology-relevance pruning against magnitude pruning,
uniform layer drop and a same-size student trained without pruning (experts.specialize.
ablation), at the same kept size and training budget, on every specialized expert and
several seeds. Says which arm wins and whether the default recipes use it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path

from experts.core.environment import environment
from experts.core.report import markdown_table, write_csv
from experts.core.targets import SPECIALIZED_EXPERTS, judge
from experts.specialize.ablation import ARMS, run_expert
from experts.specialize.recipe import load_recipe


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def score(d: dict) -> float:
    """Quality vs the teacher, test and external weighing the same (test alone without an
    external ratio)."""
    return statistics.fmean([d["test_ratio"]] + ([d["external_ratio"]]
                                                 if "external_ratio" in d else []))


def ratios(rows: list[dict]) -> list[dict]:
    """Each arm row with its quality relative to its expert's teacher (test, external)."""
    teacher = {r["expert"]: r for r in rows if r["arm"] == "teacher"}
    out = []
    for r in rows:
        if r["arm"] == "teacher":
            continue
        t = teacher[r["expert"]]
        row = dict(r, test_ratio=r["test"] / t["test"] if t["test"] else float("nan"))
        if "external" in r and t.get("external"):
            row["external_ratio"] = r["external"] / t["external"]
        row["score"] = score(row)
        out.append(row)
    return out


def summarise(rows: list[dict]) -> dict:
    """Per expert and arm: mean ± std over seeds; per arm: the score over all experts (mean
    of test and external ratios to the teacher), per seed and overall; the winner."""
    arm_rows = ratios(rows)
    experts = list(dict.fromkeys(r["expert"] for r in arm_rows))
    seeds = sorted({r["seed"] for r in arm_rows})
    table = []
    for e in experts:
        for arm in ARMS:
            rs = [r for r in arm_rows if r["expert"] == e and r["arm"] == arm]
            if not rs:
                continue
            cell = {"expert": e, "arm": arm, "seeds": len(rs)}
            for key in ("test", "external", "test_ratio", "external_ratio"):
                vals = [r[key] for r in rs if key in r]
                if vals:
                    cell[key], cell[f"{key}_std"] = _mean_std(vals)
            for key in ("params", "b1_p50_ms", "b32_p50_ms", "train_s"):
                cell[key] = statistics.median(r[key] for r in rs)
            table.append(cell)
    per_seed = {arm: {s: statistics.fmean(r["score"] for r in arm_rows
                                          if r["arm"] == arm and r["seed"] == s)
                      for s in seeds}
                for arm in ARMS if any(r["arm"] == arm for r in arm_rows)}
    overall = {arm: statistics.fmean(v.values()) for arm, v in per_seed.items()}
    winner = max(overall, key=overall.get)
    every_seed = all(max(per_seed, key=lambda a, s=s: per_seed[a][s]) == winner
                     for s in seeds)
    by_expert = {}
    for e in experts:
        cells = {c["arm"]: score(c) for c in table if c["expert"] == e}
        by_expert[e] = max(cells, key=cells.get)
    return {"table": table, "score_per_seed": per_seed, "score": overall, "winner": winner,
            "winner_on_every_seed": every_seed, "winner_per_expert": by_expert,
            "experts": experts, "seeds": seeds}


def recipe_criteria(experts: list[str]) -> dict[str, str]:
    return {e: next(s.criterion for s in load_recipe(None, e).steps if s.op == "prune")
            for e in experts}


def values(summary: dict, criteria: dict[str, str]) -> dict:
    v = {"experts": len(summary["experts"]), "seeds": len(summary["seeds"]),
         "recipes_follow_winner": int(bool(criteria) and all(
             c == summary["winner"] for c in criteria.values())),
         "winner_on_every_seed": int(summary["winner_on_every_seed"])}
    for arm, score in summary["score"].items():
        v[f"{arm}.score"] = score
    for c in summary["table"]:
        for key in ("test", "external", "test_ratio", "external_ratio", "b1_p50_ms"):
            if key in c:
                v[f"{c['expert']}.{c['arm']}.{key}"] = c[key]
    return v


def render(summary: dict, criteria: dict[str, str], steps: int) -> str:
    def pm(c: dict, key: str) -> str:
        return f"{c[key]:.4f} ± {c[f'{key}_std']:.4f}" if key in c else "-"

    rows = [{"expert": c["expert"], "arm": c["arm"], "test": pm(c, "test"),
             "external": pm(c, "external"), "test / teacher": f"{c['test_ratio']:.3f}",
             "external / teacher": (f"{c['external_ratio']:.3f}" if "external_ratio" in c
                                    else "-"),
             "params (M)": f"{c['params'] / 1e6:.2f}", "b1 p50 ms": f"{c['b1_p50_ms']:.2f}",
             "b32 p50 ms": f"{c['b32_p50_ms']:.1f}", "train s": f"{c['train_s']:.0f}"}
            for c in summary["table"]]
    seeds = summary["seeds"]
    score_rows = [{"arm": a, "score (mean)": f"{s:.4f}",
                   **{f"seed {k}": f"{summary['score_per_seed'][a][k]:.4f}" for k in seeds}}
                  for a, s in sorted(summary["score"].items(), key=lambda x: -x[1])]
    follows = all(c == summary["winner"] for c in criteria.values())
    lines = [
        f"Same kept size, same budget ({steps} distillation + {steps} recovery steps per "
        f"arm; the fresh student {2 * steps} steps), fp32, seeds {seeds}. Quality is the "
        "expert's main metric (fault_codes external: any-code top-5); mean ± std over seeds.",
        "", markdown_table(rows), "",
        "Score = mean over experts of (test / teacher + external / teacher) / 2:", "",
        markdown_table(score_rows), "",
        f"**Winner: {summary['winner']}** "
        f"({'on every seed' if summary['winner_on_every_seed'] else 'not on every seed'}); "
        "per expert: " + ", ".join(f"{e} {a}" for e, a in summary["winner_per_expert"].items())
        + ".",
        "Default recipes prune by: " + ", ".join(f"{e} {c}" for e, c in criteria.items())
        + f" — {'they follow' if follows else 'they do NOT follow'} the winner."]
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    experts, arms = summary["experts"], list(summary["score"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    width = 0.8 / len(arms)
    for ax, key, title in ((axes[0], "test_ratio", "generated test split"),
                           (axes[1], "external_ratio", "external set (hand-written)")):
        for i, arm in enumerate(arms):
            cells = [next((c for c in summary["table"]
                           if c["expert"] == e and c["arm"] == arm), {}) for e in experts]
            ax.bar([j + i * width for j in range(len(experts))],
                   [c.get(key, 0.0) for c in cells], width,
                   yerr=[c.get(f"{key}_std", 0.0) for c in cells], label=arm, capsize=2)
        ax.axhline(1.0, color="gray", ls=":")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(experts))], experts,
                      rotation=15)
        ax.set_title(f"quality / teacher, {title}")
        ax.set_ylim(0.0, 1.1)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(out: Path, *, seeds: int = 2, steps: int = 150, experts: list[str] | None = None,
        root: Path | None = None, progress: bool = False, log: Callable = print) -> dict:
    experts = experts or list(SPECIALIZED_EXPERTS)
    rows: list[dict] = []
    for name in experts:
        rows += run_expert(name, list(range(seeds)), steps, root=root, progress=progress,
                           log=log)
    summary = summarise(rows)
    criteria = recipe_criteria(experts)
    result = {"rows": rows, "summary": summary, "steps": steps, "recipe_criteria": criteria,
              "environment": environment(),
              "targets": judge("ablation", values(summary, criteria))}
    result["table"] = render(summary, criteria, steps)
    out.mkdir(parents=True, exist_ok=True)
    write_csv([{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in rows],
              out / "ablation.csv")
    (out / "ablation.md").write_text(result["table"] + "\n", encoding="utf-8")
    (out / "ablation.json").write_text(json.dumps(result, indent=1, default=str),
                                       encoding="utf-8")
    plot(summary, out / "ablation.png")
    return result
