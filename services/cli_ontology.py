"""CLI: `tinyexperts ask "question"` and `tinyexperts ontology export|import`.

Heavy imports stay inside the functions on purpose (see services/cli.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli_common import print_out


def add_ask(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help='a free-form question, e.g. "What does P0171 mean?"')
    p.add_argument("--mode", default="graph", choices=("graph", "text", "question"),
                   help="what carries the ontology to the LLM: graph tokens (default), the "
                        "subgraph written as text, or nothing (the question alone)")
    p.add_argument("--decode", default="choose", choices=("choose", "free"),
                   help="choose: the answer is one of the retrieved entities' names "
                        "(default); free: the LLM writes freely")
    p.add_argument("--max-new-tokens", type=int, default=24,
                   help="for free writing (the question-only mode always writes freely)")
    p.add_argument("--ontology", metavar="NAME",
                   help="answer over an imported ontology (built with `build --experts "
                        "ontology --ontology NAME.ttl`); default: the product ontology")
    p.add_argument("--json", action="store_true")


def run_ask(a: argparse.Namespace) -> int:
    import time

    from experts.core.assets import home
    from experts.core.errors import TinyExpertsError
    from experts.core.paths import Paths
    from ontology_gnn.pipeline import Answerer

    if not 1 <= a.max_new_tokens <= 256:
        raise TinyExpertsError(f"--max-new-tokens {a.max_new_tokens} is out of range",
                               where="--max-new-tokens", fix="use 1..256")
    if not a.question.strip():  # refuse before loading 1 GB of model
        raise TinyExpertsError("the question is empty", where="question",
                               fix='ask something, e.g. "What does P0171 mean?"')
    t0 = time.perf_counter()
    answerer = Answerer.load(Paths(home()), ontology=a.ontology)
    load_s = time.perf_counter() - t0
    r = answerer.ask(a.question, mode=a.mode, max_new_tokens=a.max_new_tokens,
                     decode=a.decode)
    r["load_seconds"] = round(load_s, 1)
    if a.json:
        print_out(r, True)
        return 0
    print(r["answer"])
    if r["entities"]:
        print("  entities: " + "; ".join(f"{e['name']} ({e['type']})" for e in r["entities"]))
    if r["related"]:
        print("  similar in the graph: " + "; ".join(f"{e['name']} ({e['similarity']:.2f})"
                                                      for e in r["related"]))
    lat = r["latency_ms"]
    speed = f", {r['tokens_per_s']} tokens/s" if r["tokens_per_s"] else ""
    stages = (f"prefill {lat['prefill']:.0f} ms, decode {lat['decode']:.0f} ms"
              if lat.get("prefill") is not None else f"prefill + generate {lat['generate']:.0f} ms")
    among = r.get("chosen_among")
    how = ((f"chose among {among} of {r['candidates']} names (the roles the question asks for)"
            if among is not None and among < r["candidates"]
            else f"chose among {r['candidates']} names") if r.get("decode") == "choose"
           else f"{r['new_tokens']} new tokens")
    detect = f", roles {lat['detect']:.0f} ms" if lat.get("detect") is not None else ""
    print(f"  {r['mode']} mode, {r['prompt_tokens']} prompt tokens, {how}; "
          f"retrieve {lat['retrieve']:.0f} ms{detect}, {stages}{speed} "
          f"(models loaded in {load_s:.0f} s)")
    return 0


def add_ontology(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    ex = sub.add_parser("export", help="write the built ontology as RDF/OWL Turtle")
    ex.add_argument("path", type=Path, help="output .ttl file")
    im = sub.add_parser("import", help="read an RDF/OWL/SKOS Turtle file; show what it holds")
    im.add_argument("path", type=Path, help="a .ttl file")
    im.add_argument("--link-prediction", action="store_true",
                    help="also train the GNN on it (MiniLM features) and report MRR / Hits@10 "
                         "against the text-only baselines")
    im.add_argument("--epochs", type=int, default=100)
    for s in (ex, im):
        s.add_argument("--json", action="store_true")


def run_ontology(a: argparse.Namespace) -> int:
    from experts.core.assets import home
    from experts.core.errors import TinyExpertsError
    from experts.core.paths import Paths
    from experts.ontology.default import ensure_ontology
    from ontology_gnn.graph import from_ontology
    from ontology_gnn.turtle import read_turtle, write_turtle

    if a.action == "export":
        kg = from_ontology(ensure_ontology(Paths(home())))
        path = write_turtle(kg, a.path)
        out = {"path": str(path), "entities": len(kg.entities), "triples": len(kg.triples)}
        print_out(out, a.json) if a.json else print(
            f"wrote {path}: {out['entities']} entities, {out['triples']} triples")
        return 0
    if a.link_prediction and not 1 <= a.epochs <= 5000:
        raise TinyExpertsError(f"--epochs {a.epochs} is out of range", where="--epochs",
                               fix="use 1..5000")
    kg = read_turtle(a.path)
    types: dict[str, int] = {}
    for e in kg.entities:
        types[e.type] = types.get(e.type, 0) + 1
    rels: dict[str, int] = {}
    for _, r, _ in kg.triples:
        rels[r] = rels.get(r, 0) + 1
    out = {"name": kg.name, "entities": len(kg.entities), "triples": len(kg.triples),
           "types": types, "relations": rels}
    if a.link_prediction:
        if len(kg.triples) < 20:
            raise TinyExpertsError(f"only {len(kg.triples)} triples; link prediction needs "
                                   "at least 20", where=str(a.path),
                                   fix="import a larger ontology")
        from ontology_gnn.encoder import EncoderConfig
        from ontology_gnn.features import load_text_encoder, text_vectors
        from ontology_gnn.pipeline import link_prediction_study

        model, tok = load_text_encoder()
        feats = text_vectors([e.text for e in kg.entities], model, tok)
        results, _ = link_prediction_study(kg, feats, [EncoderConfig().kind, "text-mlp"],
                                              epochs=a.epochs, log=lambda *_: None)
        out["link_prediction"] = {k: {m: v[m] for m in ("mrr", "hits@10", "n")}
                                  for k, v in results.items()}
    if a.json:
        print_out(out, True)
        return 0
    print(f"{a.path}: {out['entities']} entities, {out['triples']} triples")
    print("  types: " + ", ".join(f"{k} {v}" for k, v in sorted(types.items())))
    print("  relations: " + ", ".join(f"{k} {v}" for k, v in sorted(rels.items())))
    for k, v in out.get("link_prediction", {}).items():
        print(f"  link prediction {k:<12} MRR {v['mrr']:.3f}  Hits@10 {v['hits@10']:.3f}  "
              f"({v['n']} held-out triples)")
    print(f"  to ask questions over it: tinyexperts build --experts ontology --ontology "
          f"{a.path}")
    return 0
