"""The server-facing `tinyexperts` commands: serve, query, status, bench.

Registered in the one command table, `services.cli.COMMANDS`. Heavy imports stay inside
the functions on purpose (see services/cli.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from experts.core.errors import TinyExpertsError
from services.cli_common import expert_names, print_out, registry, stop_on_signals
from services.http_client import request_json, wait_healthy

# ---- serve / query / status --------------------------------------------------------------


def add_serve(p: argparse.ArgumentParser) -> None:
    from services.runner import DEFAULT_CONFIG, INGRESS_MODES

    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="a Serve config (default: deploy/serve_local.yaml)")
    p.add_argument("--address", help="an existing Ray cluster (default: start one here)")
    p.add_argument("--metrics-port", type=int, default=8080,
                   help="Prometheus metrics of a cluster started here: "
                        "http://127.0.0.1:PORT/metrics (default 8080)")
    p.add_argument("--ingress", choices=INGRESS_MODES, default="auto",
                   help="how requests reach the Ingress of a cluster started here: haproxy "
                        "(HAProxy + Serve's throughput-optimized mode), proxy (Serve's "
                        "default proxy) or auto (haproxy when its binary is installed; "
                        "falls back to proxy, saying so, if HAProxy does not start)")


def run_serve(a: argparse.Namespace, *, after_start=None, before_stop=None) -> int:
    """Serve until Ctrl-C. `after_start()` runs once the server is healthy, `before_stop()`
    when it is about to stop (`tinyexperts run` starts and stops its background build)."""
    from services import runner

    if not 1024 <= a.metrics_port <= 65535:
        raise TinyExpertsError(f"--metrics-port {a.metrics_port} is not a usable port",
                               where="--metrics-port", fix="use 1024..65535, e.g. 8080")
    mode = None if a.address else runner.choose_ingress(a.ingress)  # before Serve loads
    config = runner.load_serve_config(a.config)
    missing = [e for e in _served_experts(config) if not registry().versions(e)]
    if missing:
        print(f"warning: no model for {', '.join(missing)} — those experts answer 503; "
              "run `tinyexperts build` to build them", file=sys.stderr)
    url = runner.http_url(config)
    stop_on_signals()
    try:
        try:
            runner.start(config, address=a.address, home=runner.home_from_env(),
                         metrics_port=a.metrics_port)
        except Exception as err:  # noqa: BLE001 - only HAProxy's start gets a second chance
            if mode != "haproxy" or a.ingress != "auto":
                raise
            runner.stop()
            _restart_with_proxy(err)
        stop_on_signals()  # ray.init installs its own SIGTERM handler; ours must win
        health = wait_healthy(url)
        metrics = "" if a.address else f"; metrics: http://127.0.0.1:{a.metrics_port}/metrics"
        ingress = f"; ingress: {mode}" if mode else ""
        print(f"serving on {url} (gRPC :{config.grpc_options.port}) — {health['status']}; "
              f"API docs: {url}/docs{metrics}{ingress}; Ctrl-C stops", flush=True)
        if after_start:
            after_start()
        while True:
            signal.pause()
    except KeyboardInterrupt:
        print("shutting down", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut shutdown
        if before_stop:
            before_stop()
        runner.stop()
    return 0


def add_run(p: argparse.ArgumentParser) -> None:
    add_serve(p)
    p.add_argument("--no-build", action="store_true",
                   help="serve what is built, build nothing (as `tinyexperts serve`)")


def run_run(a: argparse.Namespace) -> int:
    """Quick stage in the foreground when something is missing, then serve while the full
    compressed system builds in the background and goes live piece by piece."""
    import threading

    from services import runner, staged_start

    paths = staged_start.home_paths(runner.home_from_env())
    if a.no_build:
        return run_serve(a)
    t0 = time.perf_counter()
    missing = staged_start.quick_stage_needed(paths, staged_start.config_experts(a.config))
    if missing:
        seconds = staged_start.run_quick_stage(paths, missing)
        print(f"quick stage built in {seconds:.0f}s", flush=True)
    pending = staged_start.full_build_pending(paths)
    background = staged_start.BackgroundBuild(paths)

    def start_build() -> None:
        print(f"first answer possible {time.perf_counter() - t0:.0f}s after `run` started",
              flush=True)
        if not pending:
            print("the full compressed system is built; nothing to do in the background",
                  flush=True)
            return
        background.start()
        print(f"building in the background ({len(pending)} stages: "
              f"{', '.join(pending[:4])}{', …' if len(pending) > 4 else ''}); each "
              f"artifact goes live when it passes its gate. Progress and ETA: "
              f"`tinyexperts status`; log: {background.log_path}", flush=True)

        def report_end() -> None:
            code = background.proc.wait()
            if code == 0:
                print("background build finished: the full compressed system is live",
                      flush=True)
            elif code not in (-signal.SIGINT, 130):
                print(f"background build stopped with exit code {code}; see "
                      f"{background.log_path}; what it built serves", file=sys.stderr,
                      flush=True)

        threading.Thread(target=report_end, daemon=True).start()

    return run_serve(a, after_start=start_build, before_stop=background.stop)


def _restart_with_proxy(err: Exception) -> None:
    """Serve reads its ingress settings once per process: start again, in a fresh process,
    with Serve's default proxy."""
    import os

    reason = str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
    print(f"HAProxy ingress did not start ({reason}); falling back to Serve's default proxy "
          "(--ingress proxy)", file=sys.stderr, flush=True)
    args = [sys.executable, "-m", "services.cli", *sys.argv[1:], "--ingress", "proxy"]
    os.execv(sys.executable, args)


def _served_experts(config) -> list[str]:
    from services.schemas import AppArgs

    return [e for app in config.applications for e in AppArgs.model_validate(app.args).experts]


def add_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("text")
    p.add_argument("--experts", help="comma-separated experts to call instead of asking the router")
    p.add_argument("--b", help="second item for compatibility (vehicle or listing)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--grpc", metavar="HOST:PORT", help="use gRPC instead, e.g. 127.0.0.1:9000")
    p.add_argument("--json", action="store_true")


def run_query(a: argparse.Namespace) -> int:
    body = {"text": a.text, "top_k": a.top_k, "experts": expert_names(a.experts),
            "context": {"b": a.b} if a.b else None}
    if a.grpc:
        from services.grpc_client import query as grpc_query

        out = grpc_query(a.grpc, **body)
    else:
        out = request_json("POST", f"{a.url.rstrip('/')}/v1/query", body)
    if a.json:
        print_out(out, True)
    else:
        print_answer(out)
    return 0


def print_answer(out: dict) -> None:
    """The answer first, then what it rests on, then who was asked (HTTP or gRPC reply)."""
    print(out.get("answer") or "(no answer: see the experts' results below, or --json)")
    for f in out.get("facts", []):
        print(f"  - {f['text']}  [{f['source']}, {float(f.get('confidence', 0)):.2f}]")
    route = out.get("route") or {"source": out.get("route_source"),
                                 "decision": out.get("decision"),
                                 "experts": out.get("routed_experts", [])}
    chosen = ", ".join(route.get("experts") or []) or "none"
    print(f"route: {route.get('source')} · {route.get('decision') or 'given'} · experts: {chosen}")
    results = out.get("results", {})
    for r in (results.values() if isinstance(results, dict) else results):
        status = r.get("status", 200)
        state = r.get("error") if int(status) != 200 else f"{len(r.get('predictions', []))} " \
            "prediction(s)"
        print(f"  {r['expert']:<14} {r.get('version') or '-':<5} {status} {state}")


def add_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--json", action="store_true")


def run_status(a: argparse.Namespace) -> int:
    """The server's experts and, when a build ran on this home, its progress and ETA. With
    no server answering, the build's progress still prints (and the exit code is 2)."""
    from experts.core.assets import home
    from services.build_status import read_status
    from services.runner import home_from_env

    url = a.url.rstrip("/")
    build = read_status(home_from_env() or home())  # light imports: status stays quick
    try:
        health = request_json("GET", f"{url}/healthz")
        experts = request_json("GET", f"{url}/v1/experts")["experts"]
    except TinyExpertsError as err:
        if build is None:
            raise
        print_out({"server": {"error": err.message}, "build": build} if a.json
                  else f"{err.message}\n" + build_lines(build), a.json)
        return 2
    if a.json:
        print_out({"health": health, "experts": experts, "build": build}, True)
        return 0
    print(f"{url}: {health['status']} (router: {health['router']}, llm: {health['llm']}, "
          f"answers: {health.get('answers', '-')})")
    building: dict[str, dict] = {}  # expert -> its next unfinished stage
    for s in (build or {}).get("stages", []) if (build or {}).get("running") else []:
        if s["state"] in ("running", "pending"):
            building.setdefault(s["name"].split()[0], s)
    for e in experts:
        state = e["version"] or "-"
        note = f"  last error: {e['last_error']}" if e.get("last_error") else ""
        backend = e.get("backend") or "-"
        stage = building.get(e["expert"])
        todo = f"  building: {stage['name'].split()[-1]} ({stage['state']})" if stage else ""
        print(f"  {e['expert']:<14} {state:<6} {backend:<11} "
              f"{'ready' if e['ready'] else 'NOT READY'}{todo}{note}")
    if build:
        print(build_lines(build))
    return 0


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def build_lines(build: dict) -> str:
    """The build's stages, one per line, with the state, time taken or expected, and ETA."""
    stages = build["stages"]
    n_done = sum(s["state"] in ("done", "skipped") for s in stages)
    kind = "quick build" if build.get("quick") else "build"
    head = (f"{kind}: running, {n_done}/{len(stages)} stages done, about "
            f"{_minutes(build['eta_s'])} left" if build["running"]
            else f"{kind}: interrupted; `tinyexperts run` (or `build`) resumes it"
            if build["interrupted"] else f"{kind}: finished")
    lines = [head]
    for s in stages:
        if s["state"] == "running":
            took = f"running for {_minutes(time.time() - s['started'])} of ~" \
                   f"{_minutes(s['expected_s'])}"
        elif s["seconds"] is not None:
            took = f"{s['state']} in {_minutes(s['seconds'])}"
        else:
            took = s["state"] + (f" (~{_minutes(s['expected_s'])})"
                                 if s["state"] == "pending" else "")
        note = f" — {s['note']}" if s.get("note") else ""
        lines.append(f"  {s['name']:<24} {took}{note}")
    return "\n".join(lines)


# ---- bench ------------------------------------------------------------------------------

def add_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", choices=[*SUITES, "all"],
                   default="all",
                   help="experts: specialized experts vs their teachers (speed, quality, "
                        "bytes); router: accuracy, ECE, early-exit speed-ups; merge: site "
                        "variants vs merged vs joint, update-one cost, EWC; llm: link "
                        "prediction and graph tokens vs question-only vs text; imported: the "
                        "graph LLM built over a public ontology (Brick) and its answers; "
                        "serving: "
                        "overhead, concurrency, live update on real Ray Serve; answers: routed "
                        "/v1/query answer accuracy (generated + hand-written questions) and "
                        "per-stage latency; build: `tinyexperts run` on an empty home, "
                        "time to first answer and to the full system (not part of all); "
                        "ablation: ontology-relevance pruning vs magnitude pruning vs uniform "
                        "layer drop vs a same-size student, same size and budget, every "
                        "expert, --seeds seeds (about 40 min; not part of all); all (default)")
    p.add_argument("--questions", type=int,
                   help="llm suite: evaluate only the first N held-out questions")
    p.add_argument("--rounds", type=int, default=5,
                   help="experts suite: alternating teacher/student latency rounds")
    p.add_argument("--out", type=Path, default=Path("bench_out"),
                   help="folder for CSV, JSON and PNG (default: bench_out/)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    p.add_argument("--quick", action="store_true",
                   help="merge and update suites: 40 training steps per model (smoke runs)")
    p.add_argument("--seeds", type=int, default=2,
                   help="update suite: seeds, each an update and a rebuild; llm suite: the "
                        "registered projector plus one trained per further seed, also for the "
                        "imported suite; ablation suite: seeds per expert and arm (default 2)")
    p.add_argument("--steps", type=int, default=150,
                   help="ablation suite: optimizer steps of distillation and of recovery "
                        "per arm (default 150)")
    p.add_argument("--experts", default=None,
                   help="ablation suite: comma-separated experts (default: all four)")
    p.add_argument("--no-publish", action="store_true",
                   help="write the summary only to --out, not to BENCHMARKS.md and "
                        "docs/bench/summary.json (smoke runs)")
    p.add_argument("--runs", type=int, default=2,
                   help="build suite: runs on an empty home, each timed to its first "
                        "answer; the last one also watches the background build")
    p.add_argument("--max-minutes", type=float, default=180.0,
                   help="build suite: how long to watch the background build (default 180)")
    p.add_argument("--json", action="store_true")


SUITES = ("experts", "router", "merge", "update", "llm", "imported", "serving", "answers",
          "build", "ablation")
NOT_IN_ALL = ("build", "ablation")  # builds the whole system from nothing: only when asked for


def run_bench(a: argparse.Namespace) -> int:
    import time

    from experts.core.environment import environment
    from services.bench_report import PROJECT_ROOT, can_publish, git_state, publish

    env = environment()  # before the suites: the serving suite pins torch to 1 thread
    git = git_state(PROJECT_ROOT)  # the code the suites run, whatever is committed meanwhile
    results, seconds = {}, {}
    runners = {"experts": _bench_experts, "router": _bench_router, "merge": _bench_merge,
               "update": _bench_update, "llm": _bench_llm, "imported": _bench_imported,
               "serving": _bench_serving,
               "answers": _bench_answers, "build": _bench_build, "ablation": _bench_ablation}
    for suite in SUITES:
        if a.suite == suite or (a.suite == "all" and suite not in NOT_IN_ALL):
            t0 = time.perf_counter()
            results[suite] = runners[suite](a)
            seconds[suite] = round(time.perf_counter() - t0, 1)
    root = PROJECT_ROOT if not a.no_publish and can_publish(PROJECT_ROOT) else None
    if root is None and not a.no_publish:
        print("not a tinyexperts checkout: BENCHMARKS.md and docs/bench/summary.json are not "
              f"updated; the summary is in {a.out}", file=sys.stderr)
    command = f"tinyexperts bench --suite {a.suite}" + (" --quick" if a.quick else "")
    paths = publish(results, seconds, env, command, a.out, root, git)
    print(f"wrote {', '.join(map(str, paths))} ({sum(seconds.values()):.0f}s in all)",
          file=sys.stderr)
    if a.json:
        print_out(results, True)
    return 0


def print_table_and_targets(result: dict, *, values: bool = True) -> None:
    """A suite's table, then one line: each target, its value (with `values`), met or not."""
    print(result["table"])
    print("targets: " + ", ".join(
        f"{t['name']}{' ' + str(t['value']) if values else ''} "
        f"{'met' if t['met'] else 'MISSED'}" for t in result["targets"]))


def _bench_experts(a: argparse.Namespace) -> dict:
    from experts.bench_experts import run
    from experts.core.assets import home
    from experts.core.paths import Paths

    if not 1 <= a.rounds <= 100:
        raise TinyExpertsError(f"--rounds {a.rounds} out of range", where="--rounds",
                               fix="use 1..100")
    result = run(registry(), Paths(home()).data, a.out, rounds=a.rounds,
                 log=lambda m: print(m, file=sys.stderr))
    if not result["rows"]:
        print("experts suite: no specialized expert is active; run `tinyexperts specialize "
              "EXPERT` first", file=sys.stderr)
    elif not a.json:
        print(result["table"])
    print(f"wrote {a.out}/experts.csv, experts.json, experts.md, experts.png", file=sys.stderr)
    return result


def _bench_router(a: argparse.Namespace) -> dict:
    from experts.core.assets import home
    from experts.core.paths import Paths
    from router.bench import run

    result = run(registry(), Paths(home()).data, a.out, rounds=a.rounds,
                 log=lambda m: print(m, file=sys.stderr))
    if not a.json:
        print(result["table"])
    print(f"wrote {a.out}/router.csv, router.json, router.md, router.png", file=sys.stderr)
    return result


def _bench_merge(a: argparse.Namespace) -> dict:
    from experts.core.assets import home
    from experts.core.paths import Paths
    from experts.data.datasets import ensure_datasets
    from experts.merge.bench import run

    paths = Paths(home())
    ensure_datasets(paths)
    result = run(paths.data, a.out, quick=a.quick, log=lambda m: print(m, file=sys.stderr))
    if not a.json:
        print_table_and_targets(result, values=False)
    print(f"wrote {a.out}/merge.csv, merge_ewc.csv, merge.json, merge.md, merge.png "
          f"({result['summary']['seconds']:.0f}s)", file=sys.stderr)
    return result


def _bench_update(a: argparse.Namespace) -> dict:
    from experts.bench_update import run
    from experts.core.assets import home
    from experts.core.paths import Paths
    from experts.data.datasets import ensure_datasets

    if not 1 <= a.seeds <= 10:
        raise TinyExpertsError(f"--seeds {a.seeds} out of range", where="--seeds",
                               fix="use 1..10 (targets need at least 2)")
    ensure_datasets(Paths(home()))
    result = run(home(), a.out, seeds=tuple(range(a.seeds)), quick=a.quick,
                 log=lambda m: print(m, file=sys.stderr))
    if not a.json:
        print_table_and_targets(result)
    print(f"wrote {a.out}/update.csv, update.json, update.md, update.png "
          f"({result['summary']['seconds']:.0f}s)", file=sys.stderr)
    return result


def _bench_build(a: argparse.Namespace) -> dict:
    from services.bench_build import run

    if not 1 <= a.runs <= 10:
        raise TinyExpertsError(f"--runs {a.runs} out of range", where="--runs",
                               fix="use 1..10 (targets need at least 2)")
    if not 0 <= a.max_minutes <= 600:
        raise TinyExpertsError(f"--max-minutes {a.max_minutes} out of range",
                               where="--max-minutes", fix="use 0..600")
    result = run(a.out, runs=a.runs, max_minutes=a.max_minutes,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    if not a.json:
        print_table_and_targets(result)
    print(f"wrote {a.out}/build.csv, build.json, build.png", file=sys.stderr)
    return result


def _bench_ablation(a: argparse.Namespace) -> dict:
    from experts.bench_ablation import run
    from experts.core.targets import SPECIALIZED_EXPERTS

    if not 1 <= a.seeds <= 10:
        raise TinyExpertsError(f"--seeds {a.seeds} out of range", where="--seeds",
                               fix="use 1..10 (the targets need at least 2)")
    if not 10 <= a.steps <= 20000:
        raise TinyExpertsError(f"--steps {a.steps} out of range", where="--steps",
                               fix="use 10..20000")
    experts = a.experts.split(",") if a.experts else list(SPECIALIZED_EXPERTS)
    unknown = [e for e in experts if e not in SPECIALIZED_EXPERTS]
    if unknown:
        raise TinyExpertsError(f"unknown expert(s) {', '.join(unknown)}", where="--experts",
                               fix=f"choose from {', '.join(SPECIALIZED_EXPERTS)}")
    reg = registry()
    for name in experts:
        if not reg.versions(name):
            raise TinyExpertsError(f"{name} has no registered version", where="--experts",
                                   fix="run `tinyexperts build` first")
    result = run(a.out, seeds=a.seeds, steps=a.steps, experts=experts,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    if not a.json:
        print_table_and_targets(result)
    print(f"wrote {a.out}/ablation.csv, ablation.json, ablation.md, ablation.png",
          file=sys.stderr)
    return result


def _bench_answers(a: argparse.Namespace) -> dict:
    from experts.core.assets import home
    from experts.core.paths import Paths
    from services.bench_answers import run

    result = run(Paths(home()), a.out, log=lambda m: print(m, file=sys.stderr))
    if not a.json:
        print_table_and_targets(result)
    print(f"wrote {a.out}/answers.csv, answers.json, answers.md, answers.png", file=sys.stderr)
    return result


def _bench_llm(a: argparse.Namespace) -> dict:
    from experts.core.assets import home
    from experts.core.paths import Paths
    from ontology_gnn.bench import run

    if a.questions is not None and not 6 <= a.questions <= 5000:
        raise TinyExpertsError(f"--questions {a.questions} out of range", where="--questions",
                               fix="use 6..5000")
    if not 1 <= a.seeds <= 10:
        raise TinyExpertsError(f"--seeds {a.seeds} out of range", where="--seeds",
                               fix="use 1..10 (targets need at least 2)")
    result = run(Paths(home()), a.out, questions=a.questions, seeds=a.seeds,
                 log=lambda m: print(m, file=sys.stderr))
    if not a.json:
        print_table_and_targets(result)
    print(f"wrote {a.out}/llm.csv, llm_link.csv, llm.json, llm.md, llm.png", file=sys.stderr)
    return result


def _bench_imported(a: argparse.Namespace) -> dict:
    from experts.core.assets import home
    from experts.core.paths import Paths
    from services.bench_imported import run

    if not 1 <= a.seeds <= 10:
        raise TinyExpertsError(f"--seeds {a.seeds} out of range", where="--seeds",
                               fix="use 1..10 (targets need at least 2)")
    result = run(Paths(home()), a.out, seeds=a.seeds, log=lambda m: print(m, file=sys.stderr))
    if not a.json:
        print_table_and_targets(result)
    print(f"wrote {a.out}/imported.csv, imported.json, imported.md", file=sys.stderr)
    return result


def _bench_serving(a: argparse.Namespace) -> dict:
    from services import bench_serving

    if not registry().versions("category"):
        raise TinyExpertsError("the serving benchmark needs the category expert",
                               where=str(registry().root),
                               fix="run `tinyexperts build` first")
    if not 1 <= a.seconds <= 600:
        raise TinyExpertsError(f"--seconds {a.seconds} out of range", where="--seconds",
                               fix="use 1..600")
    results = bench_serving.run(a.out, seconds=a.seconds)
    results["table"] = bench_serving.format_table(results)
    if not a.json:
        print(results["table"])
    print(f"wrote {a.out}/serving.csv, serving.json, serving.png", file=sys.stderr)
    return results
