"""`bench --suite imported`: the graph LLM over a public ontology it was not designed for.

Brick (brickschema.org, BSD-3-Clause) describes buildings' equipment, sensors and points;
the `brickschema` package ships it as Turtle (version 1.1: 1,335 entities — equipment,
point and location classes, tags, quantity kinds — and 5,565 triples). The suite imports it
and builds its encoder and graph-token projector exactly as `tinyexperts build --experts
ontology --ontology Brick.ttl` does (into this home, so `ask --ontology brick` works
afterwards; a built one is reused), then answers held-out generic questions
(`ontology_gnn.generic_qa`: type, relation, inverse, two-hop; anchors never asked about in
training) with the registered projector (seed 0) and one trained here per further seed:
accuracy overall and per kind for question-only, text and graph paths, answers naming no
entity, out-of-domain questions refused, ask latency. Targets are judged on the worst seed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from experts.core.environment import environment
from experts.core.errors import NotFoundError
from experts.core.paths import Paths
from experts.core.report import markdown_table, write_csv
from experts.core.targets import all_met, judge
from ontology_gnn.bench import latency, score_seeds
from ontology_gnn.features import load_text_encoder
from ontology_gnn.pipeline import Answerer, evaluate_grounding
from ontology_gnn.sources import name_for
from services.system_build import build_imported

BRICK = Path("ontologies") / "1.1" / "Brick.ttl"


def brick_ttl() -> Path:
    """Brick 1.1 as the installed `brickschema` package ships it (found without importing
    the package, which pulls in reasoners the suite does not need)."""
    spec = importlib.util.find_spec("brickschema")
    path = Path(next(iter(spec.submodule_search_locations))) / BRICK if spec else None
    if path is None or not path.is_file():
        raise NotFoundError("Brick.ttl not found (package brickschema)", where=str(BRICK),
                            fix="pip install brickschema==0.8.0 (`make install` does)")
    return path


def run(paths: Paths, out: Path, seeds: int = 2, ttl: Path | None = None, log=print) -> dict:
    ttl = ttl or brick_ttl()
    build_imported(ttl, root=paths.home, log=log)
    enc = load_text_encoder()
    answerer = Answerer.load(paths, text_encoder=enc, ontology=name_for(ttl))
    source = answerer.source
    rows, per_seed, _ = score_seeds(answerer, range(max(1, seeds)), label="bench imported",
                                    log=log)
    log("bench imported: out-of-domain questions, ask latency")
    grounding = evaluate_grounding(answerer)["graph"]
    lat = latency(answerer, [q.question for q in source.questions(seed=0)["test"][:60]])
    worst = {k: min(p[k] for p in per_seed) for k in
             ("accuracy", "min_kind_accuracy", "graph_minus_question_pts",
              "graph_minus_text_pts")}
    summary = {"ontology": source.name, "file": ttl.name,
               "entities": len(source.kg.entities), "triples": len(source.kg.triples),
               "versions": answerer.versions, "seeds": [p["seed"] for p in per_seed],
               "per_seed": per_seed, **worst,
               "invented_rate": max(p["invented_rate"] or 0.0 for p in per_seed),
               "out_of_domain_refused_rate": grounding["out_of_domain_refused"],
               "ask_p50_ms": lat["total_p50_ms"], "ask_p99_ms": lat["total_p99_ms"],
               "latency": lat}
    targets = judge("imported", summary)
    summary["targets_met"] = all_met(targets)
    result = {"summary": summary, "targets": targets, "answers": rows,
              "environment": environment()}
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "imported.csv")
    table = (f"{source.name}: {summary['entities']} entities, {summary['triples']} triples\n\n"
             + markdown_table(rows) + "\n\n"
             + markdown_table([{"stage": k.removesuffix("_ms"), "ms": v}
                               for k, v in lat.items() if k != "n"]))
    (out / "imported.md").write_text(table + "\n", encoding="utf-8")
    (out / "imported.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    _plot(rows, out / "imported.png")
    result["table"] = table
    return result


def _plot(rows: list[dict], path: Path) -> None:
    """Accuracy per question kind, one group of bars per kind: each variant (question
    alone, text path, graph tokens) and seed, with the 0.5 per-kind goal drawn across."""
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted(k.removeprefix("acc_") for k in rows[0] if k.startswith("acc_"))
    colors = {"question": "tab:gray", "text": "tab:orange", "graph": "tab:green"}
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        xs = [k + (i - (len(rows) - 1) / 2) * width for k in range(len(kinds))]
        ax.bar(xs, [r[f"acc_{k}"] for k in kinds], width,
               color=colors.get(r["variant"], "tab:blue"), alpha=1.0 if r["seed"] == 0 else 0.55,
               label=f"{r['variant']} (seed {r['seed']})")
    ax.axhline(0.5, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (held-out questions)")
    ax.set_title("graph LLM over an imported ontology, per question kind")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
