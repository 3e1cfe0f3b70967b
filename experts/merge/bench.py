"""`tinyexperts bench --suite merge`: variants vs merged vs joint, update-one cost, EWC.

One run, in a scratch registry under `<out>/merge_registry` (the user's registry is only
read for the default data):
1. one LoRA variant of `fault_codes` per site, from MiniLM (`experts.merge.sites`);
2. the joint model: the same LoRA recipe on all three sites' data at once;
3. every merge method, each with `--search` (density × weight on validation, gate 0.97);
4. update one site: retrain that variant only and re-merge with the chosen setting,
   vs the joint model's training time. The retrain runs right after the joint model, and
   the site's first training ran right before it; the update is timed with the mean of
   the two, so a machine that speeds up or slows down during the run (shared CPUs drift
   by 10 % over minutes) moves both sides of the ratio alike. The single run is reported
   too;
5. EWC: the joint model fine-tuned on one site's data with and without EWC; forgetting
   = drop of its score on the full (previous) test split.
Writes merge.csv / merge_ewc.csv / merge.json / merge.md / merge.png.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from experts.adapt import BASE, AdaptConfig, adapt
from experts.core.environment import environment
from experts.core.registry import Registry
from experts.core.report import markdown_table, write_csv
from experts.core.targets import judge
from experts.data.datasets import load_split_folder
from experts.evaluate import quality
from experts.merge.sites import SITE_EXPERT, SITES, write_site_datasets
from experts.merge.variants import MERGE_METHODS, MergeConfig, merge
from experts.predictor import Predictor, load_predictor

UPDATED_SITE = "electronics"
# LoRA passes over each model's data (variants and joint alike). One pass (fault_codes'
# teacher default) left the variants undertrained: 2 passes gave them +0.9 to +2.3 points
# of test top-1 while the joint model, which sees three sites' rows per pass, moved -0.3
LORA_EPOCHS = 2
EWC_LAMBDAS = (100.0, 1000.0)


def run(data_dir: Path, out: Path, *, quick: bool = False, seed: int = 0,
        methods: tuple[str, ...] = MERGE_METHODS, log: Callable = print) -> dict:
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    reg_root = out / "merge_registry"
    shutil.rmtree(reg_root, ignore_errors=True)
    reg = Registry(reg_root)
    sites_dir = out / "merge_sites"
    write_site_datasets(data_dir, sites_dir)
    quiet = lambda *_: None  # noqa: E731
    metric = "top1"

    def lora(path: Path, site: str | None, seed_: int = seed) -> dict:
        return adapt(SITE_EXPERT, path, AdaptConfig(method="lora", epochs=LORA_EPOCHS, quick=quick,
                                                     seed=seed_),
                     reg, parent=BASE, progress=False, log=quiet, site=site)

    variants = {}
    # the updated site last: its first training is then the one right before the joint run
    for site in sorted(SITES, key=lambda s: s == UPDATED_SITE):
        r = lora(sites_dir / site, site)
        variants[site] = r
        log(f"variant {site}: {r['version']} test {metric} "
            f"{r['metrics']['test'][metric]:.4f} in {r['seconds']:.0f}s")
    joint = lora(data_dir / SITE_EXPERT, None)
    log(f"joint: {joint['version']} test {metric} {joint['metrics']['test'][metric]:.4f} "
        f"in {joint['seconds']:.0f}s")
    # the update's retrain, timed next to the joint run (re-merged below, once the
    # merge setting is chosen)
    updated = lora(sites_dir / UPDATED_SITE, UPDATED_SITE, seed + 1)
    log(f"update {UPDATED_SITE}: retrained {updated['version']} test {metric} "
        f"{updated['metrics']['test'][metric]:.4f} in {updated['seconds']:.0f}s")
    joint_pred = load_predictor(reg, SITE_EXPERT, joint["version"])

    site_tests = {s: load_split_folder(SITE_EXPERT, sites_dir / s).splits["test"] for s in SITES}
    joint_site = {s: quality(joint_pred, rows)[metric] for s, rows in site_tests.items()}
    versions = [variants[s]["version"] for s in SITES]

    rows, chosen, predictors = [], {}, {}
    for method in methods:
        m = merge(SITE_EXPERT, versions, MergeConfig(method=method, seed=seed), reg,
                  search=True, floor=0.0, log=quiet)
        per = m["metrics"]["variants"]
        row = {"model": f"merged: {method}", "density": m["config"]["density"],
               "weight": m["config"]["weights"][0], "seconds": round(m["seconds"], 1)}
        for s in SITES:
            v = variants[s]["version"]
            row[f"{s}_{metric}"] = round(per[v]["merged_test"], 4)
            row[f"{s}_pct_of_variant"] = round(100 * per[v]["ratio"], 1)
        row["mean"] = round(m["metrics"]["test"][metric], 4)
        row["pts_vs_joint"] = round(100 * (row["mean"] - _mean(joint_site)), 2)
        row["min_pct_of_variant"] = min(row[f"{s}_pct_of_variant"] for s in SITES)
        rows.append(row)
        chosen[method] = m["config"]
        predictors[method] = m["predictor"]
        log(f"merge {method}: mean {row['mean']:.4f}, min {row['min_pct_of_variant']}% of "
            f"variant, {row['pts_vs_joint']:+.2f} pts vs joint ({m['seconds']:.0f}s incl. search)")
    for s in SITES:
        rows.append({"model": f"variant: {s}", "seconds": round(variants[s]["seconds"], 1),
                     f"{s}_{metric}": round(variants[s]["metrics"]["test"][metric], 4)})
    rows.append({"model": "joint (all sites)", "seconds": round(joint["seconds"], 1),
                 **{f"{s}_{metric}": round(joint_site[s], 4) for s in SITES},
                 "mean": round(_mean(joint_site), 4)})
    best = max((r for r in rows if r["model"].startswith("merged")), key=lambda r: r["mean"])
    best_method = best["model"].split(": ")[1]
    # where the gap to the joint model comes from: the best merge scored with each query's
    # site known (only that site's codes ranked) — what is left is the encoder merge
    known = {s: quality(site_only(predictors[best_method],
                                  load_predictor(reg, SITE_EXPERT, variants[s]["version"]).labels),
                        site_tests[s])[metric] for s in SITES}
    known_row = {"model": f"merged: {best_method}, site known (diagnostic)"}
    for s in SITES:
        known_row[f"{s}_{metric}"] = round(known[s], 4)
        known_row[f"{s}_pct_of_variant"] = round(
            100 * known[s] / variants[s]["metrics"]["test"][metric], 1)
    known_row["mean"] = round(_mean(known), 4)
    known_row["pts_vs_joint"] = round(100 * (known_row["mean"] - _mean(joint_site)), 2)
    rows.append(known_row)
    log(f"merge {best_method} with the site known: mean {known_row['mean']:.4f}, "
        f"{known_row['pts_vs_joint']:+.2f} pts vs joint")

    # update one site: its retrain (above) + a re-merge with the chosen setting
    new_versions = [updated["version"] if s == UPDATED_SITE else variants[s]["version"]
                    for s in SITES]
    remerged = merge(SITE_EXPERT, new_versions, MergeConfig(**chosen[best_method]), reg,
                     floor=0.0, log=quiet)
    update = update_cost(variants[UPDATED_SITE]["seconds"], updated["seconds"],
                         remerged["metrics"]["merge_seconds"], joint["seconds"])
    update = {"site": UPDATED_SITE, "method": best_method, **update,
              "remerged_mean": round(remerged["metrics"]["test"][metric], 4),
              "remerged_min_pct_of_variant":
                  round(100 * remerged["metrics"]["test"]["min_ratio"], 1)}
    log(f"update {UPDATED_SITE}: {update['update_seconds']:.0f}s = "
        f"{update['pct_of_joint']}% of the joint retrain ({update['joint_seconds']:.0f}s); "
        f"single run {update['pct_of_joint_single_run']}%")

    ewc_rows = ewc_study(reg, joint["version"], sites_dir / UPDATED_SITE, quick, seed, log)

    summary = {
        "best_method": best_method, "best_mean": best["mean"],
        "best_min_pct_of_variant": best["min_pct_of_variant"],
        "joint_mean": round(_mean(joint_site), 4),
        "best_pts_vs_joint": best["pts_vs_joint"], "update": update,
        "update_pct_of_joint": update["pct_of_joint"],
        "ewc_less_forgetting": float(_ewc_helps(ewc_rows)),
        "quick": quick, "seconds": round(time.perf_counter() - t_start, 1),
    }
    summary["targets"] = judge("merge", summary)
    result = {"summary": summary, "targets": summary["targets"], "rows": rows, "ewc": ewc_rows,
              "environment": environment()}
    write_csv(rows, out / "merge.csv")
    write_csv(ewc_rows, out / "merge_ewc.csv")
    table = (markdown_table(rows) + "\n\n" + markdown_table([update]) + "\n\n"
             + markdown_table(ewc_rows))
    (out / "merge.md").write_text(table + "\n", encoding="utf-8")
    (out / "merge.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    _plot(rows, ewc_rows, update, out / "merge.png")
    result["table"] = table
    return result


def update_cost(retrain_before: float, retrain_after: float, remerge: float,
                joint: float) -> dict:
    """Update one site (retrain + re-merge) as a share of the joint retrain. The retrain
    time is the mean of the site's two trainings on either side of the joint run, which
    cancels a linear drift of the machine's speed; the single (after) run is kept too."""
    retrain = (retrain_before + retrain_after) / 2
    return {"retrain_seconds": round(retrain, 1),
            "retrain_seconds_before_joint": round(retrain_before, 1),
            "retrain_seconds_after_joint": round(retrain_after, 1),
            "remerge_seconds": round(remerge, 1),
            "update_seconds": round(retrain + remerge, 1),
            "joint_seconds": round(joint, 1),
            "pct_of_joint": round(100 * (retrain + remerge) / joint, 1),
            "pct_of_joint_single_run": round(100 * (retrain_after + remerge) / joint, 1)}


def ewc_study(reg: Registry, parent: str, new_data: Path, quick: bool, seed: int,
              log: Callable) -> list[dict]:
    """Fine-tune `parent` on one site's data, without and with EWC; forgetting on the
    parent's own (all-sites) test split."""
    rows = []
    for lam in (0.0, *EWC_LAMBDAS):
        r = adapt(SITE_EXPERT, new_data, AdaptConfig(method="finetune", ewc=lam, quick=quick,
                                                     seed=seed),
                  reg, parent=parent, progress=False, log=lambda *_: None)
        prev = r["metrics"]["previous_test"]
        rows.append({"ewc_lambda": lam, "new_site_top1": round(r["metrics"]["test"]["top1"], 4),
                     "previous_before": round(prev["parent"]["top1"], 4),
                     "previous_after": round(prev["adapted"]["top1"], 4),
                     "forgetting_pts": round(100 * prev["forgetting"], 2),
                     "seconds": round(r["seconds"], 1)})
        log(f"ewc λ={lam:g}: new {rows[-1]['new_site_top1']:.4f}, forgetting "
            f"{rows[-1]['forgetting_pts']:+.2f} pts")
    return rows


def _ewc_helps(rows: list[dict]) -> bool:
    """Some λ forgets less than plain fine-tuning at new-task quality within 1 point."""
    plain = rows[0]
    return any(r["forgetting_pts"] < plain["forgetting_pts"]
               and r["new_site_top1"] >= plain["new_site_top1"] - 0.01 for r in rows[1:])


def site_only(merged: Predictor, labels: list[str]) -> Predictor:
    """The merged expert ranking only `labels` (one site's; their head rows), as if each
    query came tagged with its site: the union head without cross-site mistakes."""
    rows = torch.tensor([merged.labels.index(lab) for lab in labels])
    model = copy.deepcopy(merged.model)
    model.set_head(merged.model.classifier.weight[rows], merged.model.classifier.bias[rows])
    return Predictor(merged.name, model, merged.tokenizer, labels, merged.label_info)


def _mean(d: dict) -> float:
    return sum(d.values()) / len(d)


def _plot(rows: list[dict], ewc_rows: list[dict], update: dict, path: Path) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4))
    merged = [r for r in rows if r["model"].startswith("merged")]
    joint = next(r for r in rows if r["model"].startswith("joint"))
    own = {s: next(r[f"{s}_top1"] for r in rows if r["model"] == f"variant: {s}")
           for s in SITES}
    x = np.arange(len(SITES))
    bars = [("variant (own)", [own[s] for s in SITES]),
            ("joint", [joint[f"{s}_top1"] for s in SITES])]
    bars += [(r["model"].split(": ")[1], [r[f"{s}_top1"] for s in SITES]) for r in merged]
    width = 0.8 / len(bars)
    for i, (name, vals) in enumerate(bars):
        a.bar(x + i * width, vals, width, label=name)
    a.set_xticks(x + 0.4 - width / 2, list(SITES))
    a.set_ylim(0.5, 1.12)  # headroom for the legend above the bars
    a.set_title("test top-1 per site (union label space)")
    a.legend(fontsize=6, ncol=3, loc="upper center")
    names = ["joint retrain", f"update {update['site']}"]
    b.bar(names, [update["joint_seconds"], update["retrain_seconds"]],
          color=["tab:gray", "tab:green"], label="training")
    b.bar(names[1:], [update["remerge_seconds"]], bottom=[update["retrain_seconds"]],
          color="tab:olive", label="re-merge (load, merge, gate)")
    b.axhline(0.4 * update["joint_seconds"], color="tab:red", ls="--", lw=1,
              label="target: 40 % of joint")
    b.legend(fontsize=7)
    b.set_ylabel("seconds")
    b.set_title(f"update one site: {update['pct_of_joint']}% of joint")
    lam = [str(r["ewc_lambda"]) for r in ewc_rows]
    forget = c.bar(lam, [r["forgetting_pts"] for r in ewc_rows], color="tab:red")
    c.bar_label(forget, fmt="%+.2f", fontsize=8)  # a zero bar is invisible without it
    c.set_xlabel("EWC λ (0 = plain fine-tuning)")
    c.set_ylabel("forgetting on the previous test (pts)")
    c.set_title("EWC vs forgetting")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
