"""LLM benchmark: link prediction (GNN vs text-only) and answers (question / text / graph).

In one run, on the default build:
1. link prediction — R-GCN, hetero SAGE, text MLP and raw text cosine, trained and scored on
   the same held-out edges (filtered MRR, Hits@10);
2. answers — the registered graph-token projector vs the same frozen SmolLM2 given the
   question alone or the same subgraph written out as text, on the same held-out questions
   (entities never asked about in training): accuracy, grounded rate, prompt tokens;
3. `ask` latency at batch 1 per mode: retrieval, prefill, generation, tokens/s (medians).

Targets (issue: ontology encoder + tiny LLM): graph tokens >= question-only + 20 points and
>= the text version, with >= 3x fewer prompt tokens than the text version; GNN MRR > the
text-only baselines. Writes llm.csv/.json/.md/.png (+ llm_link.csv) to --out.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from experts.core.environment import environment
from experts.core.report import markdown_table, write_csv
from experts.core.targets import all_met, judge
from experts.ontology.default import ensure_ontology
from ontology_gnn.encoder import EncoderConfig
from ontology_gnn.features import load_text_encoder, text_vectors
from ontology_gnn.graph import from_ontology
from ontology_gnn.pipeline import Answerer, evaluate_modes, link_prediction_study
from ontology_gnn.qa import generate_qa, grounded_names


def _latency(answerer, questions: list[str], mode: str, max_new_tokens: int = 16) -> dict:
    g = answerer.gllm
    pre, gen, tps = [], [], []
    for q in questions:
        t0 = time.perf_counter()
        sub = answerer.index.retrieve(q)
        retrieve = time.perf_counter() - t0
        prompt = g.prompt(q, sub, mode)
        with torch.inference_mode():
            x = g._embed(prompt)[None]
            t0 = time.perf_counter()
            g.llm(inputs_embeds=x)
            pre.append((time.perf_counter() - t0 + retrieve) * 1000)
        r = g.generate([prompt], max_new_tokens)[0]
        gen.append(r["seconds"] * 1000)
        if r["new_tokens"]:
            tps.append(r["new_tokens"] / r["seconds"])
    return {"mode": mode, "retrieve_prefill_p50_ms": round(statistics.median(pre), 1),
            "ask_p50_ms": round(statistics.median(gen), 1),
            "tokens_per_s": round(statistics.median(tps), 1) if tps else None}


def run(paths, out: Path, seed: int = 0, questions: int | None = None, latency_n: int = 12,
        log=print) -> dict:

    onto = ensure_ontology(paths, log=log)
    kg = from_ontology(onto)
    log(f"bench llm: link prediction on {len(kg.entities)} entities, {len(kg.triples)} triples")
    enc = load_text_encoder()
    feats = text_vectors([e.text for e in kg.entities], *enc)
    lp, _ = link_prediction_study(kg, feats, ["rgcn", "sage", "text-mlp"], seed,
                                     log=lambda m: log(m))
    link_rows = [{"encoder": k, "mrr": v["mrr"], "hits@10": v["hits@10"], "n": v["n"],
                  "seconds": v.get("seconds", 0.0)} for k, v in lp.items()]

    log("bench llm: loading the answerer (SmolLM2 + projector + faiss)")
    answerer = Answerer.load(paths, text_encoder=enc)
    qa = generate_qa(onto, seed=seed)["test"]
    if questions:
        qa = qa[:questions]
    log(f"bench llm: {len(qa)} held-out questions x 3 modes")
    t0 = time.perf_counter()
    quality = evaluate_modes(answerer.gllm, answerer.index, qa, names=grounded_names(onto),
                             progress=True)
    eval_s = time.perf_counter() - t0
    rows = []
    for mode in ("question", "text", "graph"):
        q = quality[mode]
        rows.append({"mode": mode, "accuracy": q["accuracy"], "grounded": q["grounded"],
                     "prompt_tokens": q["prompt_tokens_mean"],
                     **{f"acc_{k}": v for k, v in q["per_kind"].items()}})
    lat_q = [x.question for x in qa[:latency_n]]
    latency = [_latency(answerer, lat_q, m) for m in ("question", "text", "graph")]
    for r, lat in zip(rows, latency, strict=True):
        r.update({k: v for k, v in lat.items() if k != "mode"})
    by = {r["mode"]: r for r in rows}
    gnn = lp[EncoderConfig().kind]["mrr"]
    summary = {
        "graph_llm": answerer.versions.get("graph_llm"),
        "ontology_encoder": answerer.versions.get("ontology_encoder"),
        "questions": len(qa),
        "graph_minus_question_pts": round(100 * (by["graph"]["accuracy"]
                                                 - by["question"]["accuracy"]), 1),
        "graph_minus_text_pts": round(100 * (by["graph"]["accuracy"] - by["text"]["accuracy"]),
                                      1),
        "text_over_graph_prompt_tokens": round(by["text"]["prompt_tokens"]
                                               / max(1e-9, by["graph"]["prompt_tokens"]), 2),
        "gnn_mrr": gnn, "text_mlp_mrr": lp["text-mlp"]["mrr"],
        "text_cosine_mrr": lp["text-cosine"]["mrr"],
        "retrieval": quality["retrieval"], "eval_seconds": round(eval_s, 1),
    }
    summary["gnn_mrr_gain"] = round(gnn - max(lp["text-mlp"]["mrr"], lp["text-cosine"]["mrr"]),
                                    4)
    targets = judge("llm", summary)
    summary["targets_met"] = all_met(targets)
    result = {"summary": summary, "targets": targets, "answers": rows, "link_prediction": link_rows,
              "examples": {m: quality[m]["examples"] for m in ("question", "text", "graph")},
              "environment": environment()}
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "llm.csv")
    write_csv(link_rows, out / "llm_link.csv")
    main_cols = ["mode", "accuracy", "grounded", "prompt_tokens", "retrieve_prefill_p50_ms",
                 "ask_p50_ms", "tokens_per_s"]
    table = (markdown_table([{k: r[k] for k in main_cols} for r in rows]) + "\n\n"
             + markdown_table(link_rows))
    (out / "llm.md").write_text(table + "\n", encoding="utf-8")
    (out / "llm.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    _plot(rows, link_rows, out / "llm.png")
    result["table"] = table
    return result


def _plot(rows: list[dict], link_rows: list[dict], path: Path) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.8))
    modes = [r["mode"] for r in rows]
    a.bar(modes, [r["accuracy"] for r in rows], color=["tab:gray", "tab:orange", "tab:green"])
    a.set_ylim(0, 1)
    a.set_title("answer accuracy (held-out questions)")
    b.bar(modes, [r["prompt_tokens"] for r in rows],
          color=["tab:gray", "tab:orange", "tab:green"])
    b.set_title("prompt tokens (mean)")
    c.bar([r["encoder"] for r in link_rows], [r["mrr"] for r in link_rows], color="tab:blue")
    c.set_title("link prediction MRR (held-out edges)")
    c.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
