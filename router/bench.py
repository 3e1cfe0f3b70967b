"""Router benchmark: accuracy, out-of-scope recall, ECE, mean exit layer, and the early-exit
speed-up over full depth at batch 1 and 32 (paired alternating rounds, medians of ratios).

Targets (issue: router): exact match >= 95 % on held-out phrasings; out-of-scope recall
>= 90 %; early exit >= 1.5x lower mean latency than full depth at >= 99 % of its accuracy
(batch 1 and 32); p50 at batch 1 <= 5 ms. Writes router.csv/.json/.md/.png to --out.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from experts.core.environment import environment
from experts.core.report import markdown_table, write_csv
from experts.core.targets import all_met, judge
from router.data import read_external_router, read_router_data
from router.runtime import Router, evaluate_router, route_latency


def run(registry, data_dir: Path, out: Path, rounds: int = 5, log=print) -> dict:
    router = Router.from_registry(registry)
    test = read_router_data(data_dir / "router")["test"]
    log(f"bench router {router.version}: quality on {len(test)} held-out queries")
    quality = evaluate_router(router, test)
    external = read_external_router()  # hand-written, never trained on
    log(f"bench router {router.version}: quality on {len(external)} external queries")
    quality_external = evaluate_router(router, external)
    texts = [q.text for q in test]
    rows = []
    for bs, runs in ((1, 200), (32, 20)):  # 200 and 640 different queries per round
        ee, fd = [], []
        for _ in range(rounds):
            ee.append(route_latency(router, texts, bs, True, runs=runs))
            fd.append(route_latency(router, texts, bs, False, runs=runs))
        rows.append({
            "batch_size": bs,
            "early_exit_p50_ms": statistics.median(r["p50_ms"] for r in ee),
            "full_depth_p50_ms": statistics.median(r["p50_ms"] for r in fd),
            "early_exit_mean_ms": statistics.median(r["mean_ms"] for r in ee),
            "full_depth_mean_ms": statistics.median(r["mean_ms"] for r in fd),
            "speedup_mean": statistics.median(f["mean_ms"] / e["mean_ms"]
                                              for e, f in zip(ee, fd, strict=True)),
        })
    e, f = quality["early_exit"], quality["full_depth"]
    summary = {
        "version": router.version, "params": router.model.num_params(),
        "served_exact_match": e["served_exact_match"],
        "exact_match": e["exact_match"], "full_depth_exact_match": f["exact_match"],
        "early_vs_full_accuracy": quality["early_exit_vs_full_accuracy"],
        "intent_accuracy": e["intent_accuracy"], "out_of_scope_recall": e["out_of_scope_recall"],
        "abstained": e["abstained"], "ece": e["ece"], "mean_exit_layer": e["mean_exit_layer"],
        **{f"exact_match_{k}": v for k, v in e["exact_match_by_phrasing"].items()},
        "external_n": len(external),
        "external_served_exact_match": quality_external["early_exit"]["served_exact_match"],
        "external_exact_match": quality_external["early_exit"]["exact_match"],
        "external_out_of_scope_recall": quality_external["early_exit"]["out_of_scope_recall"],
        **{f"external_recall_{k}": v
           for k, v in quality_external["early_exit"]["recall_by_expert"].items()},
        "layers": len(router.model.encoder.encoder.layer),
        "speedup_b1": rows[0]["speedup_mean"], "speedup_b32": rows[1]["speedup_mean"],
        "p50_b1_ms": rows[0]["early_exit_p50_ms"],
    }
    targets = judge("router", summary)
    summary["targets_met"] = all_met(targets)
    result = {"summary": summary, "targets": targets, "latency": rows, "quality": quality,
              "quality_external": quality_external, "environment": environment()}
    out.mkdir(parents=True, exist_ok=True)
    write_csv([summary], out / "router.csv")
    write_csv(rows, out / "router_latency.csv")
    kinds = quality_external["early_exit"]["exact_match_by_phrasing"]
    table = (markdown_table([summary]) + "\n\n" + markdown_table(rows)
             + "\n\nExternal set (hand-written, never trained on), exact match by kind:\n\n"
             + markdown_table([{"kind": k, "n": sum(q.phrasing == k for q in external),
                                "exact_match": v} for k, v in kinds.items()]))
    (out / "router.md").write_text(table + "\n", encoding="utf-8")
    (out / "router.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    _plot(quality, rows, out / "router.png")
    result["table"] = table
    return result


def _plot(quality: dict, rows: list[dict], path: Path) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    hist = quality["early_exit"]["exit_histogram"]
    first = quality.get("exit_offset", 1)  # layers run at the first exit
    a.bar(["embeddings" if i + first == 0 else f"layer {i + first}" for i in range(len(hist))],
          hist, color="tab:blue")
    a.set_title("where queries leave (test)")
    x = range(len(rows))
    a_w = 0.38
    b.bar([i - a_w / 2 for i in x], [r["full_depth_mean_ms"] for r in rows], a_w,
          label="full depth")
    b.bar([i + a_w / 2 for i in x], [r["early_exit_mean_ms"] for r in rows], a_w,
          label="early exit")
    b.set_xticks(list(x), [f"batch {r['batch_size']}" for r in rows])
    b.set_ylabel("mean ms per call")
    b.set_yscale("log")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
