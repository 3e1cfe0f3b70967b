"""CLI: `tinyexperts route "query"` and `tinyexperts eval router`.

Heavy imports stay inside the functions on purpose (see services/cli.py).
"""

from __future__ import annotations

import argparse

from services.cli_common import print_out, registry


def add_route(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="+", help="one or more queries (each a quoted string)")
    p.add_argument("--version", help="router version (default: the active one)")
    p.add_argument("--full-depth", action="store_true", help="disable early exit")
    p.add_argument("--json", action="store_true")


def run_route(a: argparse.Namespace) -> int:
    from router.runtime import Router

    router = Router.from_registry(registry(), a.version)
    results = router.route(a.query, early_exit=not a.full_depth)
    if a.json:
        print_out(results if len(results) > 1 else results[0], True)
        return 0
    for q, r in zip(a.query, results, strict=True):
        target = {"experts": ", ".join(r["experts"]), "llm": "ontology encoder + tiny LLM",
                  "no_expert": "no expert: out of scope",
                  "abstain": "abstain -> ontology encoder + tiny LLM"}[r["decision"]]
        print(f"{q}\n  -> {target}   (intent {r['intent']} {r['intent_confidence']:.2f}, "
              f"confidence {r['confidence']:.3f}, {_exit_text(r)})")
        print("     " + "  ".join(f"{k}={v:.3f}" for k, v in r["scores"].items()))
    return 0


def _exit_text(r: dict) -> str:
    if r["exit_layer"] == 0:
        return f"exit on the embeddings, 0/{r['layers']} layers"
    return f"exit after layer {r['exit_layer']}/{r['layers']}"


def eval_router(a: argparse.Namespace) -> int:
    from experts.core.assets import home
    from experts.core.errors import TinyExpertsError
    from experts.core.paths import Paths
    from router.data import read_external_router, read_router_data
    from router.runtime import Router, evaluate_router

    a.split = a.split or "test"
    if a.split not in ("train", "validation", "test", "external"):
        raise TinyExpertsError(f"unknown split {a.split!r} for the router", where="--split",
                               fix="use train, validation, test or external")
    router = Router.from_registry(registry(), a.version)
    split = a.split
    if split == "external":
        rows = read_external_router()
    else:
        folder = (a.data_dir / "router") if a.data_dir else Paths(home()).data / "router"
        rows = read_router_data(folder)[split]
    report = {"expert": "router", "version": router.version, "split": split,
              **evaluate_router(router, rows)}
    if a.json:
        print_out(report, True)
        return 0
    print(f"router {router.version} on {split} ({report['n_examples']} queries)")
    for mode in ("early_exit", "full_depth"):
        r = report[mode]
        print(f"  {mode:<11} exact match {r['exact_match']:.4f}  intent {r['intent_accuracy']:.4f}"
              f"  out-of-scope recall {r['out_of_scope_recall']:.4f}  ECE {r['ece']:.4f}  "
              f"abstained {r['abstained']:.3f}  mean exit layer {r['mean_exit_layer']:.2f}")
        print("              recall by expert: " + ", ".join(
            f"{k} {v:.4f}" for k, v in r["recall_by_expert"].items()))
        if r["exact_match_by_phrasing"]:
            print(f"              exact match by {'kind' if split == 'external' else 'phrasing'}: "
                  + ", ".join(
                f"{k} {v:.4f}" for k, v in r["exact_match_by_phrasing"].items()))
    return 0
