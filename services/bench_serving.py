"""Serving benchmark: the cost of each hop, against Serve's own floor, and the system under load.

`run()` measures each ingress mode (docs/operations.md) in a fresh process — Serve reads
its mode once, at import — with the same models, on the same machine, in one run:

- direct in-process `Predictor.predict` of one text (no serving at all);
- the floor: no-op apps (`services.bench_noop`) with one hop and with two;
- HTTP `/v1/experts/<e>/predict`, `/v1/query` naming one expert, and `/v1/query` routed
  (the router runs in the Ingress); gRPC Predict and Query; the Ingress→Expert handle hop
  alone; each measured in two rounds, interleaved, judged on the worse;
- throughput and p50/p99 at 1, 8, 32 and 128 concurrent clients, HTTP batching on/off and
  gRPC, beside the fp32 teacher of the same expert at 32 clients;
- a live version switch under load: failed requests and worst latency.

Writes serving.csv, serving.json and serving.png to --out and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import yaml

from experts.core.assets import home
from experts.core.registry import Registry
from experts.core.stats import latency_summary
from experts.core.targets import judge
from services.http_client import timed_post, wait_healthy

MODES = ("proxy", "haproxy")  # the last one is what `tinyexperts serve` uses by default
TEXT = "NGK 6619 laser iridium spark plug, fits 2012-2015 Honda Civic 1.8L"
PAIR_B = "2013 Honda Civic 1.8L I4"
CLIENTS = (1, 8, 32, 128)
ROUNDS = 2
# one request at a time: (case, what it crosses)
SINGLE_REQUEST_CASES = (
    ("direct", "in-process predict, no serving"),
    ("noop_1hop", "floor: proxy → no-op deployment"),
    ("noop_2hop", "floor: proxy → no-op → no-op (handle)"),
    ("handle_expert", "Ingress→Expert handle call alone (from a driver)"),
    ("http_predict", "HTTP → Ingress → Expert"),
    ("http_query_1", "HTTP /v1/query naming one expert"),
    ("http_query_routed", "HTTP /v1/query, the router decides (in the Ingress)"),
    ("grpc_predict", "gRPC → Ingress → Expert"),
    ("grpc_query_1", "gRPC Query naming one expert"),
)


def _client(keepalive: bool = False) -> httpx.Client:
    """No keep-alive by default: each request pays its TCP connect, like a client that does
    not pool (how this bench has always measured)."""
    return httpx.Client(timeout=60, limits=httpx.Limits(
        max_keepalive_connections=None if keepalive else 0))


def _sequential_http(url: str, body: dict, n: int) -> list[float]:
    with _client() as c:
        for _ in range(5):
            timed_post(c, url, body)
        return [t for s, t in (timed_post(c, url, body) for _ in range(n)) if s == 200]


def _grpc_stub(target: str):
    import grpc

    from services.grpc_stubs import load

    pb2, pb2_grpc = load()
    channel = grpc.insecure_channel(target)
    return pb2, pb2_grpc.TinyExpertsStub(channel), channel


GRPC_ERRORS: dict[str, dict] = {}  # status code -> {"count", "example"}: why calls failed


def _grpc_call(stub, pb2, kind: str, expert: str, app: str = "tinyexperts"):
    """A function making one gRPC call; returns True when it answered (failures are counted
    by status code in GRPC_ERRORS)."""
    import grpc

    metadata = (("application", app),)
    if kind == "predict":
        request = pb2.PredictRequest(expert=expert, texts=[TEXT], top_k=5)
        method = stub.Predict
    else:
        request = pb2.QueryRequest(text=TEXT, experts=[expert], top_k=5)
        method = stub.Query

    def call() -> bool:
        try:
            method(request, metadata=metadata, timeout=60)
            return True
        except grpc.RpcError as err:
            seen = GRPC_ERRORS.setdefault(err.code().name, {"count": 0,
                                                           "example": str(err.details())[:200]})
            seen["count"] += 1
            return False
    return call


def _sequential_grpc(target: str, kind: str, expert: str, n: int) -> list[float]:
    """One channel for all calls (gRPC clients keep their channel)."""
    pb2, stub, channel = _grpc_stub(target)
    call = _grpc_call(stub, pb2, kind, expert)
    try:
        for _ in range(5):
            call()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            if call():
                times.append((time.perf_counter() - t0) * 1000)
        return times
    finally:
        channel.close()


_LOOP: asyncio.AbstractEventLoop | None = None


def _driver_loop() -> asyncio.AbstractEventLoop:
    """One event loop for the life of this process, running in a thread: Serve binds a
    handle to the loop it was first used on and needs that loop to keep running."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        threading.Thread(target=_LOOP.run_forever, daemon=True).start()
    return _LOOP


def _sequential_handle(expert: str, n: int) -> list[float]:
    """The Ingress→Expert hop alone: this driver awaits the expert's handle, as the Ingress
    does."""
    from ray import serve

    from services.live_config import expert_deployment_name

    async def main() -> list[float]:
        handle = serve.get_deployment_handle(expert_deployment_name(expert), "tinyexperts")
        for _ in range(5):
            await handle.predict.remote([TEXT], 5)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await handle.predict.remote([TEXT], 5)
            times.append((time.perf_counter() - t0) * 1000)
        return times
    return asyncio.run_coroutine_threadsafe(main(), _driver_loop()).result(timeout=600)


def _concurrent(call_factory, clients: int, seconds: float) -> dict:
    """`clients` threads, each with its own `call_factory()` -> (call() -> ok), for
    `seconds`: throughput, errors and the latency of the calls that answered."""
    times: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds

    def worker():
        call, close = call_factory()
        try:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                ok = call()
                if ok:
                    times.append((time.perf_counter() - t0) * 1000)
                else:
                    errors[0] += 1
        finally:
            close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "rps": round(len(times) / wall, 1), "errors": errors[0],
            **latency_summary(times)}


def _http_factory(url: str, body: dict, keepalive: bool = True):
    """Load clients keep their connection, as pooled application clients do (the
    one-at-a-time cases and the `no keep-alive` row open one per request)."""
    def factory():
        c = _client(keepalive)
        return (lambda: timed_post(c, url, body)[0] == 200), c.close
    return factory


def _grpc_factory(target: str, expert: str, app: str = "tinyexperts"):
    def factory():
        pb2, stub, channel = _grpc_stub(target)
        return _grpc_call(stub, pb2, "predict", expert, app), channel.close
    return factory


def _direct(expert: str, n: int, threads: int) -> dict:
    import torch

    from experts.predictor import load_predictor

    torch.set_num_threads(threads)
    predictor = load_predictor(Registry(home() / "registry"), expert)
    for _ in range(5):
        predictor.predict([TEXT])
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        predictor.predict([TEXT])
        times.append((time.perf_counter() - t0) * 1000)
    return {**latency_summary(times), "backend": predictor.backend}


def teacher_of(reg: Registry, expert: str) -> str | None:
    """The fp32 version the active student was made from (None if the active one is it)."""
    return reg.manifest(expert, reg.active(expert)).parent_version


def _config(experts: list[str], teacher: str | None, path: Path):
    """The real app (batched), the same with batching off, the teacher app, the floor apps."""
    from ray.serve.schema import ServeDeploySchema

    from services.runner import default_config_on_free_ports

    raw = default_config_on_free_ports()
    app = raw["applications"][0]
    app["args"].update(experts=experts, llm=False)
    app["deployments"] = [d for d in app["deployments"]
                          if d["name"] == "Ingress" or d["name"][7:] in experts]
    unbatched = copy.deepcopy(app)
    unbatched.update(name="nobatch", route_prefix="/nobatch")
    unbatched["args"]["max_batch_size"] = 1
    raw["applications"].append(unbatched)
    if teacher:
        fp32 = copy.deepcopy(app)
        fp32.update(name="teacher", route_prefix="/teacher")
        fp32["args"]["experts"] = experts[:1]
        fp32["deployments"] = [d for d in fp32["deployments"]
                               if d["name"] in ("Ingress", f"Expert_{experts[0]}")]
        fp32["deployments"][-1]["user_config"] = {"version": teacher}
        raw["applications"].append(fp32)
    for name in ("one", "two"):
        raw["applications"].append({"name": f"noop_{name}", "route_prefix": f"/noop_{name}",
                                    "import_path": f"services.bench_noop:{name}"})
    path.write_text(yaml.safe_dump(raw))
    return ServeDeploySchema.model_validate(raw)


def measure_mode(mode: str, expert: str, second: str, n: int, seconds: float) -> dict:
    """One ingress mode, in this process (its environment already set for `mode`)."""
    from services.runner import http_url, ingress_mode, start, stop

    assert ingress_mode() == mode, (ingress_mode(), mode)
    reg = Registry(home() / "registry")
    experts = [e for e in (expert, second) if reg.versions(e)]
    teacher = teacher_of(reg, expert)
    token = os.environ.setdefault("TINYEXPERTS_ADMIN_TOKEN", "bench-token")
    config = _config(experts, teacher, Path(f"/tmp/tinyexperts_bench_serving_{mode}.yaml"))
    start(config, home=home())
    url = http_url(config)
    grpc_target = f"127.0.0.1:{config.grpc_options.port}"
    r: dict = {"mode": mode, "teacher_version": teacher}
    try:
        for prefix in ("", "/nobatch", "/teacher" if teacher else ""):
            wait_healthy(f"{url}{prefix}")
        predict = {"inputs": [TEXT]}
        cases = {
            "noop_1hop": lambda: _sequential_http(f"{url}/noop_one", predict, n),
            "noop_2hop": lambda: _sequential_http(f"{url}/noop_two", predict, n),
            "handle_expert": lambda: _sequential_handle(expert, n),
            "http_predict": lambda: _sequential_http(
                f"{url}/v1/experts/{expert}/predict", predict, n),
            "http_query_1": lambda: _sequential_http(
                f"{url}/v1/query", {"text": TEXT, "experts": [expert]}, n),
            "http_query_routed": lambda: _sequential_http(f"{url}/v1/query", {"text": TEXT}, n),
            "grpc_predict": lambda: _sequential_grpc(grpc_target, "predict", expert, n),
            "grpc_query_1": lambda: _sequential_grpc(grpc_target, "query", expert, n),
        }
        rounds: dict[str, list[dict]] = {k: [] for k in cases}
        for _ in range(ROUNDS):  # interleaved: drift on a shared machine hits every case
            for key, case in cases.items():
                times = case()
                rounds[key].append({"failed": n - len(times), **latency_summary(times)})
        r["rounds"] = rounds
        r["load"] = []
        for clients in CLIENTS:
            for label, factory in (
                    ("http batching", _http_factory(f"{url}/v1/experts/{expert}/predict",
                                                    predict)),
                    ("http no batching", _http_factory(
                        f"{url}/nobatch/v1/experts/{expert}/predict", predict)),
                    ("grpc batching", _grpc_factory(grpc_target, expert))):
                r["load"].append({"case": label, **_concurrent(factory, clients, seconds)})
        r["load"].append({"case": "http batching, no keep-alive", **_concurrent(
            _http_factory(f"{url}/v1/experts/{expert}/predict", predict, keepalive=False),
            32, seconds)})
        if teacher:
            r["load"].append({"case": "http batching, fp32 teacher", **_concurrent(
                _http_factory(f"{url}/teacher/v1/experts/{expert}/predict", predict),
                32, seconds)})
        r["live_update"] = _live_update(url, expert, reg, token, seconds)
    finally:
        r["grpc_errors"] = GRPC_ERRORS
        stop()
    return r


def worst_round(rounds: list[dict]) -> dict:
    """The round with the higher p50 (a target must hold on every round); a round with
    failed requests is worse than any, and yields no figure (the target is then missed)."""
    failed = [x for x in rounds if x.get("failed") or x.get("p50_ms") is None]
    if failed:
        return {**failed[0], "p50_ms": None, "p99_ms": None}
    return max(rounds, key=lambda x: x["p50_ms"])


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 2)


def run(out: Path, expert: str = "category", second: str = "compatibility",
        n: int = 200, seconds: float = 10.0, modes: tuple[str, ...] = MODES) -> dict:
    """Run the serving suite; returns the results written to out/serving.json."""
    from services.runner import INGRESS_ENV, haproxy_binary

    out.mkdir(parents=True, exist_ok=True)
    modes = tuple(m for m in modes if m != "haproxy" or haproxy_binary())
    results: dict = {"expert": expert, "default_mode": modes[-1], "modes": {},
                     "direct": _direct(expert, n, threads=1)}
    for mode in modes:
        print(f"serving bench: ingress {mode} …", file=sys.stderr, flush=True)
        path = out / f"serving_{mode}.json"
        path.unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "services.bench_serving", "--mode", mode, "--expert", expert,
             "--second", second, "--n", str(n), "--seconds", str(seconds), "--out", str(path)],
            env={**os.environ, **INGRESS_ENV[mode]}, timeout=1800)
        if proc.returncode != 0 or not path.is_file():
            results["modes"][mode] = {"error": f"exit code {proc.returncode}"}
            continue
        results["modes"][mode] = json.loads(path.read_text())
    summarise(results)
    _write(out, results)
    return results


def summarise(r: dict) -> None:
    """Per mode: the worse round of each case and the derived overheads; targets on the
    default mode."""
    direct = r["direct"]["p50_ms"]
    for m in r["modes"].values():
        if "rounds" not in m:
            continue
        worst = {k: worst_round(v) for k, v in m["rounds"].items()}
        m["worst"] = worst
        m["overhead_ms"] = _minus(worst["http_predict"]["p50_ms"], direct)
        m["grpc_overhead_ms"] = _minus(worst["grpc_predict"]["p50_ms"], direct)
        m["floor_ms"] = worst["noop_2hop"]["p50_ms"]
        m["overhead_over_floor_ms"] = _minus(m["overhead_ms"], m["floor_ms"])
        m["router_ms"] = _minus(worst["http_query_routed"]["p50_ms"],
                                worst["http_query_1"]["p50_ms"])
        m["hop_ms"] = _minus(worst["noop_2hop"]["p50_ms"], worst["noop_1hop"]["p50_ms"])
        m["failed_requests"] = (sum(x.get("failed", 0) for v in m["rounds"].values()
                                    for x in v) + sum(x["errors"] for x in m["load"]))
        by = {(x["case"], x["clients"]): x for x in m["load"]}
        student = by.get(("http batching", 32))
        teacher = by.get(("http batching, fp32 teacher", 32))
        m["throughput_x_teacher_c32"] = (round(student["rps"] / teacher["rps"], 2)
                                         if student and teacher and teacher["rps"] else None)
        m["p99_c32_ms"] = student["p99_ms"] if student else None
        best = max((x for x in m["load"] if "teacher" not in x["case"]),
                   key=lambda x: x["rps"], default=None)
        m["saturation"] = ({"case": best["case"], "clients": best["clients"],
                            "rps": best["rps"]} if best else None)
    d = r["modes"].get(r["default_mode"], {})
    r["targets"] = judge("serving", {
        "overhead_ms": d.get("overhead_ms"),
        "grpc_overhead_ms": d.get("grpc_overhead_ms"),
        "overhead_over_floor_ms": d.get("overhead_over_floor_ms"),
        "routed_query_p99_ms": (d.get("worst") or {}).get("http_query_routed", {}).get("p99_ms"),
        "throughput_x_teacher_c32": d.get("throughput_x_teacher_c32"),
        "p99_c32_ms": d.get("p99_c32_ms"),
        "failed_requests": d.get("failed_requests"),
        "live_update_failed_requests": (d.get("live_update") or {}).get("failed_requests")})


def _live_update(url: str, expert: str, reg: Registry, token: str, seconds: float) -> dict:
    """Switch to the previous version and back under 8 clients; count failures."""
    versions = reg.versions(expert)
    active = reg.active(expert)
    other = next((v for v in reversed(versions) if v != active), None)
    if other is None:
        return {"skipped": f"{expert} has only one version"}
    box: dict = {}
    load = threading.Thread(target=lambda: box.update(_concurrent(
        _http_factory(f"{url}/v1/experts/{expert}/predict", {"inputs": [TEXT]}), 8, seconds)))
    load.start()
    time.sleep(seconds / 4)
    with _client() as c:
        switch = [timed_post(c, f"{url}/v1/experts/{expert}/activate", {"version": other},
                             token)]
        time.sleep(seconds / 4)
        switch.append(timed_post(c, f"{url}/v1/experts/{expert}/activate",
                                 {"version": active}, token))
    load.join()
    return {"switches": [f"{active}->{other}", f"{other}->{active}"],
            "switch_status": [s for s, _ in switch],
            "switch_ms": [round(t, 1) for _, t in switch],
            "failed_requests": box.get("errors"), "requests": box.get("n"),
            "worst_ms": box.get("max_ms"), "p99_ms": box.get("p99_ms"),
            "p50_ms": box.get("p50_ms")}


def _write(out: Path, r: dict) -> None:

    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "serving.json").write_text(json.dumps(r, indent=1))
    rows = [{"mode": "", "case": "direct", **r["direct"]}]
    for mode, m in r["modes"].items():
        for key, rounds in (m.get("rounds") or {}).items():
            rows += [{"mode": mode, "case": key, "round": i + 1, **x}
                     for i, x in enumerate(rounds)]
        rows += [{"mode": mode, **x} for x in m.get("load") or []]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with (out / "serving.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    modes = [(mode, m) for mode, m in r["modes"].items() if "worst" in m]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    cases = [k for k, _ in SINGLE_REQUEST_CASES if k != "direct"]
    width = 0.8 / max(len(modes), 1)
    for i, (mode, m) in enumerate(modes):
        xs = [j + i * width for j in range(len(cases))]
        p50 = [m["worst"][k]["p50_ms"] for k in cases]
        axes[0].bar(xs, p50, width, label=f"{mode} p50")
        tail = [m["worst"][k]["p99_ms"] - v for k, v in zip(cases, p50, strict=True)]
        axes[0].bar(xs, tail, width, bottom=p50, alpha=0.35)
    axes[0].axhline(r["direct"]["p50_ms"], color="k", lw=0.8, ls="--", label="direct p50")
    axes[0].set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(cases))], cases,
                       rotation=30, ha="right", fontsize=8)
    axes[0].set_ylabel("ms (bar p50, shaded to p99)")
    axes[0].set_title(f"one request at a time, expert {r['expert']}")
    axes[0].legend(fontsize=8)
    for mode, m in modes:
        for case, style in (("http batching", "-"), ("http no batching", ":"),
                            ("grpc batching", "--")):
            pts = [x for x in m["load"] if x["case"] == case]
            axes[1].plot([x["clients"] for x in pts], [x["rps"] for x in pts], style,
                         marker="o", label=f"{mode}, {case}")
            axes[2].plot([x["clients"] for x in pts], [x["p99_ms"] for x in pts], style,
                         marker="o", label=f"{mode}, {case}")
    for ax, what in ((axes[1], "requests / s"), (axes[2], "p99 ms")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(what)
        ax.legend(fontsize=7)
    axes[1].set_title("throughput")
    axes[2].set_title("tail latency under load")
    fig.tight_layout()
    fig.savefig(out / "serving.png", dpi=110)
    plt.close(fig)


def format_table(r: dict) -> str:
    modes = [(mode, m) for mode, m in r["modes"].items()]
    head = " | ".join(f"{mode} p50 / p99 ms" for mode, _ in modes)
    lines = [f"| case | crosses | {head} |", "|---|---|" + "---|" * len(modes)]
    d = r["direct"]
    lines.append(f"| direct | in-process predict ({d.get('backend')}) | "
                 + " | ".join(f"{d['p50_ms']} / {d['p99_ms']}" for _ in modes) + " |")
    for key, what in SINGLE_REQUEST_CASES[1:]:
        cells = []
        for _, m in modes:
            rounds = (m.get("rounds") or {}).get(key) or []
            cells.append(", ".join(f"{x['p50_ms']} / {x['p99_ms']}" + (
                f" ({x['failed']} failed)" if x.get("failed") else "") for x in rounds) or "—")
        lines.append(f"| {key} | {what} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Each cell: one round per entry (two rounds, interleaved); targets use the "
                 "worse round.")
    for mode, m in modes:
        if "error" in m:
            lines.append(f"\n{mode}: failed ({m['error']})")
            continue
        lines.append(f"\n{mode}: overhead (HTTP predict p50 − direct p50) {m['overhead_ms']} "
                     f"ms, gRPC {m['grpc_overhead_ms']} ms; Serve's two-hop floor "
                     f"{m['floor_ms']} ms (one hop costs {m['hop_ms']} ms), ours above it "
                     f"{m['overhead_over_floor_ms']} ms; the router adds {m['router_ms']} ms")
        if m.get("failed_requests"):
            lines.append(f"{mode}: {m['failed_requests']} requests failed in all; gRPC status "
                         f"codes: {m.get('grpc_errors') or 'none'}")
        lines += ["", "| load | clients | req/s | p50 ms | p99 ms | errors |",
                  "|---|---|---|---|---|---|"]
        for x in m["load"]:
            lines.append(f"| {x['case']} | {x['clients']} | {x['rps']} | {x.get('p50_ms')} | "
                         f"{x.get('p99_ms')} | {x['errors']} |")
        if m.get("throughput_x_teacher_c32") is not None:
            lines.append(f"\nat 32 clients the int8 student serves "
                         f"{m['throughput_x_teacher_c32']}x the requests/s of its fp32 teacher "
                         f"({m['teacher_version']}); most requests/s: {m['saturation']}")
        lu = m.get("live_update", {})
        if "failed_requests" in lu:
            lines.append(f"live update under 8 clients: {lu['switches']}, failed requests "
                         f"{lu['failed_requests']} of {lu['requests']}, worst {lu['worst_ms']} "
                         "ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """One ingress mode in this process (run() starts one per mode)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--expert", default="category")
    p.add_argument("--second", default="compatibility")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    result = measure_mode(a.mode, a.expert, a.second, a.n, a.seconds)
    a.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
