"""Render a specialization report: a step-by-step table (text/markdown/CSV) and a
quality-vs-latency plot (PNG)."""

from __future__ import annotations

import csv
from pathlib import Path


def report_rows(report: dict) -> list[dict]:
    """One flat row per step: quality, size, latency, and ratios to step 0."""
    metric = report["main_metric"]
    steps = report["steps"]
    base = steps[0]
    rows = []
    for s in steps:
        row = {
            "step": s["step"], "op": s["op"], f"val_{metric}": s["validation"],
            metric: s[metric], "quality_vs_start": s[metric] / base[metric] if base[metric]
            else float("nan"),
        }
        for extra in ("f1_critical", "coverage"):
            if extra in s:
                row[extra] = s[extra]
        row.update({
            "params": s["params"], "file_bytes": s["file_bytes"],
            "bytes_vs_start": s["file_bytes"] / base["file_bytes"],
            "b1_p50_ms": s["latency_b1"]["p50_ms"],
            "b1_mean_ms": s["latency_b1"]["mean_ms"], "b1_std_ms": s["latency_b1"]["std_ms"],
            "b32_p50_ms": s["latency_b32"]["p50_ms"],
            "speedup_b1": base["latency_b1"]["p50_ms"] / s["latency_b1"]["p50_ms"],
            "speedup_b32": base["latency_b32"]["p50_ms"] / s["latency_b32"]["p50_ms"],
            "seconds": s["seconds"],
        })
        rows.append(row)
    return rows


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int) and v > 99_999:
        return f"{v:,}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0]) if rows else []
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def plot_quality_latency(rows: list[dict], metric: str, title: str, path: Path) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key in zip(axes, ("b1_p50_ms", "b32_p50_ms"), strict=True):
        xs = [r[key] for r in rows]
        ys = [r[metric] for r in rows]
        ax.plot(xs, ys, "-o", color="tab:blue")
        for r, x, y in zip(rows, xs, ys, strict=True):
            ax.annotate(f"{r['step']}:{r['op']}\n{r['file_bytes'] / 1e6:.1f} MB", (x, y),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set_xlabel(f"p50 latency, batch {1 if key.startswith('b1') else 32} (ms, log)")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sweep(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    betas = [r["beta"] for r in rows]
    for key in ("f1", "f1_critical", "coverage"):
        if key in rows[0]:
            ax.plot(betas, [r[key] for r in rows], "-o", label=key)
    ax.set_xlabel("beta (critical-class weight)")
    ax.set_ylabel("test score")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
