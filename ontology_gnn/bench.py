"""LLM benchmark: link prediction (GNN vs text-only) and answers (question / text / graph).

In one run, on the default build:
1. link prediction — R-GCN, hetero SAGE, text MLP and raw text cosine, trained and scored on
   the same held-out edges (filtered MRR, Hits@10);
2. answers — the registered graph-token projector (seed 0) and, for each further seed, a
   projector trained here the same way on that seed's questions: graph tokens vs the same
   frozen SmolLM2 given the question alone or the same subgraph written out as text
   (zero-shot: the text path is not trained), on held-out questions (entities never asked
   about in training): accuracy overall and per kind, with answers chosen among the
   retrieved entities' names (`choose`) and written freely (`free`), invented-entity rate,
   prompt tokens. Accuracy targets are judged on the worst seed;
3. grounding — questions about codes, part numbers and vehicles not in the ontology, and
   hand-written out-of-domain questions (`ontology_gnn.grounding`);
4. `ask` latency at batch 1 on the graph path: retrieve, prefill, decode, total (p50, p99).

Writes llm.csv/.json/.md/.png (+ llm_link.csv) to --out.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch

from experts.core.environment import environment
from experts.core.report import markdown_table, write_csv
from experts.core.stats import percentile
from experts.core.targets import all_met, judge
from ontology_gnn.answer_choice import RoleDetector
from ontology_gnn.encoder import EncoderConfig
from ontology_gnn.features import load_text_encoder, text_vectors
from ontology_gnn.graph_llm import (
    GraphLLM,
    GraphTokenProjector,
    ProjectorTrainConfig,
    add_text_lora,
    load_llm,
    train_projector,
)
from ontology_gnn.pipeline import (
    VARIANTS,
    Answerer,
    evaluate_grounding,
    evaluate_modes,
    fit_projector,
    fit_roles,
    link_prediction_study,
    training_examples,
)
from ontology_gnn.sources import load_source

ALL_VARIANTS = VARIANTS + (("text", "free"), ("graph", "free"))


def latency(answerer: Answerer, questions: list[str], mode: str = "graph") -> dict:
    """ask at batch 1: per-stage medians and the total's p50 / p99 (ms)."""
    answerer.warm_up()
    stages: dict[str, list[float]] = {"retrieve": [], "detect": [], "prefill": [],
                                      "decode": [], "total": []}
    for q in questions:
        r = answerer.ask(q, mode)
        lat = r["latency_ms"]
        stages["retrieve"].append(lat["retrieve"])
        stages["detect"].append(lat.get("detect") or 0.0)  # the role detector
        stages["prefill"].append(lat.get("prefill") or 0.0)
        stages["decode"].append(lat.get("decode") or 0.0)
        stages["total"].append(lat["retrieve"] + (lat.get("detect") or 0.0) + lat["generate"])
    return {"n": len(questions), **{f"{k}_p50_ms": round(percentile(v, 50), 1)
                                    for k, v in stages.items()},
            "total_p99_ms": round(percentile(stages["total"], 99), 1)}


def seed_projector(answerer: Answerer, seed: int, train_llm, log,
                   n_per_kind: int | None = None) -> tuple[dict, RoleDetector | None]:
    """Train a projector with `seed` (on the training LLM) and, when the registered artifact
    has one, a role detector on the same questions: (projector state dict, detector)."""
    g = answerer.gllm
    torch.manual_seed(seed)
    gllm = GraphLLM(train_llm[0], train_llm[1], GraphTokenProjector(g.projector.cfg), g.kg,
                    g.vectors, g.types, g.system)
    qa, _ = fit_projector(gllm, answerer.index, answerer.source, seed=seed,
                          n_per_kind=n_per_kind, progress=True, log=log)
    detector = (fit_roles(answerer.index, qa["train"], answerer.text_encoder, seed)
                if answerer.detector is not None else None)
    return {k: v.detach().clone() for k, v in gllm.projector.state_dict().items()}, detector


def score_seeds(answerer: Answerer, seeds: range, *, first_variants=VARIANTS,
                questions: int | None = None, train_per_kind: int | None = None,
                label: str = "bench llm", log=print) -> tuple[list, list, dict]:
    """The registered projector on the first seed's held-out questions, and for each further
    seed a projector trained here the same way on that seed's: (rows per seed and variant,
    one summary per seed, example answers per seed). The registered projector is back in
    place afterwards."""
    names = answerer.source.names()
    registered = {k: v.clone() for k, v in answerer.gllm.projector.state_dict().items()}
    registered_detector = answerer.detector
    rows, per_seed, examples = [], [], {}
    train_llm = None
    for s in seeds:
        if s == seeds[0]:
            state, detector = registered, registered_detector
        else:
            log(f"{label}: training a projector with seed {s} (as the build does)")
            train_llm = train_llm or load_llm(training=True)
            state, detector = seed_projector(answerer, s, train_llm, log, train_per_kind)
        answerer.gllm.projector.load_state_dict(state)
        answerer.gllm.projector.eval()
        qa = answerer.source.questions(seed=s)["test"]
        if questions:
            qa = qa[:questions]
        variants = first_variants if s == seeds[0] else VARIANTS
        log(f"{label}: seed {s}: {len(qa)} held-out questions x {len(variants)} variants")
        quality = evaluate_modes(answerer.gllm, answerer.index, qa, variants=variants,
                                 names=names, progress=True, detector=detector)
        by = {k: v for k, v in quality.items() if k != "retrieval"}
        if detector is not None:  # as measured before role detection: all candidates
            by["graph-reader"] = evaluate_modes(answerer.gllm, answerer.index, qa,
                                                variants=(("graph", "choose"),), names=names,
                                                progress=True)["graph"]
        for key, q in by.items():
            rows.append({"seed": s, "variant": key, "mode": q["mode"], "decode": q["decode"],
                         "accuracy": q["accuracy"], "invented": q["invented"],
                         "prompt_tokens": q["prompt_tokens_mean"],
                         **{f"acc_{k}": v for k, v in q["per_kind"].items()}})
        per_seed.append({
            "seed": s, "questions": len(qa), "retrieval": quality["retrieval"],
            "accuracy": by["graph"]["accuracy"],
            "min_kind_accuracy": min(by["graph"]["per_kind"].values()),
            "graph_minus_question_pts": round(100 * (by["graph"]["accuracy"]
                                                     - by["question"]["accuracy"]), 1),
            "graph_minus_text_pts": round(100 * (by["graph"]["accuracy"]
                                                 - by["text"]["accuracy"]), 1),
            "text_over_graph_prompt_tokens": round(by["text"]["prompt_tokens_mean"] / max(
                1e-9, by["graph"]["prompt_tokens_mean"]), 2),
            "invented_rate": by["graph"]["invented"]})
        examples[s] = {k: v["examples"] for k, v in by.items()}
    answerer.gllm.projector.load_state_dict(registered)  # grounding + latency: the served one
    answerer.detector = registered_detector
    return rows, per_seed, examples


def equal_budget(answerer: Answerer, seed: int, n_per_kind: int, n_test: int,
                 arms: tuple[str, ...] = ("graph", "text", "graph+lora"), log=print) -> dict:
    """Paths trained from scratch on the same questions for the same steps, scored on the
    same held-out questions with chosen answers, all in the training dtype:
    `graph` trains the projector alone, `text` LoRA on the LLM's attention projections,
    `graph+lora` the projector and the same LoRA together. Each arm is scored as served (the
    candidates narrowed by a role detector fitted on the same training questions) and, as
    measured before role detection, with the LLM choosing among all candidates
    (`reader_accuracy`)."""
    g = answerer.gllm
    qa = answerer.source.questions(n_per_kind, seed)
    test = qa["test"][:n_test]
    detector = (fit_roles(answerer.index, qa["train"], answerer.text_encoder, seed)
                if answerer.detector is not None else None)
    cfg = ProjectorTrainConfig(epochs=1, seed=seed)
    out: dict = {"seed": seed, "train_questions": len(qa["train"]), "test_questions": len(test)}
    for arm_name in arms:
        mode = "text" if arm_name == "text" else "graph"
        llm, tok = load_llm(training=True)
        lora = add_text_lora(llm) if arm_name in ("text", "graph+lora") else []
        torch.manual_seed(seed)
        arm = GraphLLM(llm, tok, GraphTokenProjector(g.projector.cfg), g.kg, g.vectors, g.types,
                       g.system)
        params = lora + (list(arm.projector.parameters()) if mode == "graph" else [])
        report = train_projector(arm, training_examples(arm, answerer.index, qa["train"], mode),
                                 cfg, progress=True, log=log, params=params, what=arm_name)
        quality = evaluate_modes(arm, answerer.index, test, variants=((mode, "choose"),),
                                 progress=True, detector=detector)[mode]
        reader = (evaluate_modes(arm, answerer.index, test, variants=((mode, "choose"),),
                                 progress=True)[mode] if detector is not None else quality)
        out[arm_name] = {"accuracy": quality["accuracy"], "per_kind": quality["per_kind"],
                         "reader_accuracy": reader["accuracy"],
                         "prompt_tokens": quality["prompt_tokens_mean"],
                         "trained_params": sum(p.numel() for p in params),
                         "train_seconds": report["seconds"], "steps": report["steps"]}
        del arm, llm
    if "graph" in out and "text" in out:
        out["graph_minus_trained_text_pts"] = round(
            100 * (out["graph"]["accuracy"] - out["text"]["accuracy"]), 1)
        out["graph_minus_trained_text_reader_pts"] = round(
            100 * (out["graph"]["reader_accuracy"] - out["text"]["reader_accuracy"]), 1)
    if "graph+lora" in out and "text" in out:
        out["graph_lora_minus_trained_text_pts"] = round(
            100 * (out["graph+lora"]["accuracy"] - out["text"]["accuracy"]), 1)
    return out


def run(paths, out: Path, seed: int = 0, questions: int | None = None, latency_n: int = 60,
        seeds: int = 2, budget_per_kind: int = 50, train_per_kind: int | None = None,
        log=print) -> dict:
    """`train_per_kind` (questions per kind for the further seeds' projectors) defaults to
    the build's; `budget_per_kind` sizes the equal-budget comparison of graph and text."""

    kg = load_source(paths, build=True, log=log).kg
    log(f"bench llm: link prediction on {len(kg.entities)} entities, {len(kg.triples)} triples")
    enc = load_text_encoder()
    feats = text_vectors([e.text for e in kg.entities], *enc)
    lp, _ = link_prediction_study(kg, feats, ["rgcn", "sage", "text-mlp"], seed,
                                  log=lambda m: log(m))
    link_rows = [{"encoder": k, "mrr": v["mrr"], "hits@10": v["hits@10"], "n": v["n"],
                  "seconds": v.get("seconds", 0.0)} for k, v in lp.items()]

    log("bench llm: loading the answerer (SmolLM2 + projector + faiss)")
    answerer = Answerer.load(paths, text_encoder=enc)
    rows, per_seed, examples = score_seeds(
        answerer, range(seed, seed + max(1, seeds)), first_variants=ALL_VARIANTS,
        questions=questions, train_per_kind=train_per_kind, log=log)
    fair = []
    for s in range(seed, seed + max(1, seeds)):
        log(f"bench llm: graph vs text trained on the same budget, seed {s}")
        fair.append(equal_budget(answerer, s, budget_per_kind, questions or 120, log=log))

    log("bench llm: grounding (unknown entities, out-of-domain questions)")
    grounding = evaluate_grounding(answerer, seed=seed)
    log("bench llm: ask latency at batch 1")
    lat_q = [x.question for x in answerer.source.questions(seed=seed)["test"][:latency_n]]
    lat = latency(answerer, lat_q)
    log("bench llm: ask latency at batch 1 on the text path (the subgraph written out)")
    lat_text = latency(answerer, lat_q, mode="text")

    worst = {k: min(p[k] for p in per_seed) for k in
             ("accuracy", "min_kind_accuracy", "graph_minus_question_pts",
              "graph_minus_text_pts", "text_over_graph_prompt_tokens")}
    worst["graph_minus_trained_text_pts"] = min(f["graph_minus_trained_text_pts"] for f in fair)
    worst["graph_minus_trained_text_reader_pts"] = min(f["graph_minus_trained_text_reader_pts"]
                                                       for f in fair)
    worst["graph_lora_minus_trained_text_pts"] = min(f["graph_lora_minus_trained_text_pts"]
                                                     for f in fair)
    gnn = lp[EncoderConfig().kind]["mrr"]
    summary = {
        "graph_llm": answerer.versions.get("graph_llm"),
        "ontology_encoder": answerer.versions.get("ontology_encoder"),
        "seeds": [p["seed"] for p in per_seed], "per_seed": per_seed, **worst,
        "accuracy_mean": round(statistics.mean(p["accuracy"] for p in per_seed), 4),
        "invented_rate": max(p["invented_rate"] or 0.0 for p in per_seed),
        "unknown_said_rate": grounding["graph"]["unknown_said"],
        "out_of_domain_refused_rate": grounding["graph"]["out_of_domain_refused"],
        "grounding": grounding, "equal_budget": fair,
        "ask_p50_ms": lat["total_p50_ms"], "ask_p99_ms": lat["total_p99_ms"], "latency": lat,
        "ask_text_p50_ms": lat_text["total_p50_ms"], "ask_text_p99_ms": lat_text["total_p99_ms"],
        "latency_text": lat_text,
        "gnn_mrr": gnn, "text_mlp_mrr": lp["text-mlp"]["mrr"],
        "text_cosine_mrr": lp["text-cosine"]["mrr"],
        "gnn_mrr_gain": round(gnn - max(lp["text-mlp"]["mrr"], lp["text-cosine"]["mrr"]), 4),
    }
    targets = judge("llm", summary)
    summary["targets_met"] = all_met(targets)
    result = {"summary": summary, "targets": targets, "answers": rows,
              "link_prediction": link_rows, "examples": examples,
              "environment": environment()}
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "llm.csv")
    write_csv(link_rows, out / "llm_link.csv")
    main_cols = ["seed", "variant", "accuracy", "invented", "prompt_tokens"]
    kinds = sorted(k for k in rows[0] if k.startswith("acc_"))
    lat_row = [{"stage": k.removesuffix("_ms"), "graph_ms": v, "text_ms": lat_text[k]}
               for k, v in lat.items() if k != "n"]
    table = (markdown_table([{k: r.get(k) for k in main_cols + kinds} for r in rows]) + "\n\n"
             + markdown_table([{"mode": m, **{k: v for k, v in g.items()
                                               if not isinstance(v, dict)}}
                               for m, g in grounding.items()]) + "\n\n"
             + markdown_table([{"seed": f["seed"], "path": m, "accuracy": f[m]["accuracy"],
                                "reader_accuracy": f[m]["reader_accuracy"],
                                "prompt_tokens": f[m]["prompt_tokens"],
                                "trained_params": f[m]["trained_params"],
                                "train_seconds": f[m]["train_seconds"]}
                               for f in fair for m in ("graph", "graph+lora", "text")
                               if m in f]) + "\n\n"
             + markdown_table(lat_row) + "\n\n" + markdown_table(link_rows))
    (out / "llm.md").write_text(table + "\n", encoding="utf-8")
    (out / "llm.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    _plot(rows, link_rows, out / "llm.png")
    result["table"] = table
    return result


def _plot(rows: list[dict], link_rows: list[dict], path: Path) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 3.8))
    first = [r for r in rows if r["seed"] == rows[0]["seed"]]
    names = [r["variant"] for r in first]
    colors = ["tab:gray" if r["mode"] == "question" else "tab:orange" if r["mode"] == "text"
              else "tab:green" for r in first]
    a.bar(names, [r["accuracy"] for r in first], color=colors)
    a.set_ylim(0, 1)
    a.set_title("answer accuracy (held-out questions)")
    a.tick_params(axis="x", rotation=30)
    b.bar(names, [r["prompt_tokens"] for r in first], color=colors)
    b.set_title("prompt tokens (mean)")
    b.tick_params(axis="x", rotation=30)
    c.bar([r["encoder"] for r in link_rows], [r["mrr"] for r in link_rows], color="tab:blue")
    c.set_title("link prediction MRR (held-out edges)")
    c.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
