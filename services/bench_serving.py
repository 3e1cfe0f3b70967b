"""Serving benchmark: overhead over a direct in-process call, concurrency, live update.

One run starts real Ray Serve on 127.0.0.1 with two applications side by side — the same
experts with `@serve.batch` (max 32) and without (max 1) — and measures, on the same
machine and models:

- direct in-process `Predictor.predict` of one text (the floor);
- HTTP `/v1/experts/<e>/predict` and `/v1/query` (one expert, two in parallel): p50/p99;
- throughput at 8 and 32 concurrent clients, batching on vs off;
- a live version switch under load: failed requests and worst latency.

Writes serving.csv, serving.json and serving.png to --out and prints the table.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import threading
import time
from pathlib import Path

import httpx
import torch
import yaml

from experts.core.assets import home
from experts.core.registry import Registry
from experts.core.stats import latency_summary
from experts.core.targets import judge
from experts.predictor import load_predictor
from services.http_client import timed_post, wait_healthy
from services.runner import (
    DEFAULT_CONFIG,
    free_port,
    http_url,
    load_serve_config,
    start,
    stop,
)

SINGLE_REQUEST_CASES = ("direct", "http_predict", "http_query_1", "http_query_2")
TEXT = "NGK 6619 laser iridium spark plug, fits 2012-2015 Honda Civic 1.8L"


def _client() -> httpx.Client:
    """One per thread; a new connection per request (no keep-alive), as the bench has
    always measured: each request pays its TCP connect, like a client that does not pool."""
    return httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))


def _sequential(url: str, body: dict, n: int) -> dict:
    with _client() as c:
        for _ in range(5):
            timed_post(c, url, body)
        times = [t for s, t in (timed_post(c, url, body) for _ in range(n)) if s == 200]
    return latency_summary(times)


def _concurrent(url: str, body: dict, clients: int, seconds: float) -> dict:
    times: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds

    def worker():
        with _client() as c:
            while time.monotonic() < stop_at:
                status, t = timed_post(c, url, body)
                if status == 200:
                    times.append(t)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "rps": round(len(times) / wall, 1), "errors": errors[0],
            **latency_summary(times)}


def _direct(expert: str, n: int, threads: int) -> dict:

    torch.set_num_threads(threads)
    predictor = load_predictor(Registry(home() / "registry"), expert)
    for _ in range(5):
        predictor.predict([TEXT])
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        predictor.predict([TEXT])
        times.append((time.perf_counter() - t0) * 1000)
    return latency_summary(times)


def _config(experts: list[str]):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["http_options"]["port"] = free_port()
    raw["grpc_options"]["port"] = free_port()
    app = raw["applications"][0]
    app["args"]["experts"] = experts
    app["deployments"] = [d for d in app["deployments"]
                          if d["name"] == "Ingress" or d["name"][7:] in experts]
    unbatched = copy.deepcopy(app)
    unbatched.update(name="nobatch", route_prefix="/nobatch")
    unbatched["args"]["max_batch_size"] = 1
    raw["applications"].append(unbatched)
    path = Path(f"/tmp/tinyexperts_bench_{raw['http_options']['port']}.yaml")
    path.write_text(yaml.safe_dump(raw))
    return load_serve_config(path)


def run(out: Path, expert: str = "category", second: str = "compatibility",
        n: int = 200, seconds: float = 10.0) -> dict:
    """Run the serving suite; returns the results written to out/serving.json."""

    out.mkdir(parents=True, exist_ok=True)
    reg = Registry(home() / "registry")
    experts = [e for e in (expert, second) if reg.versions(e)]
    token = os.environ.setdefault("TINYEXPERTS_ADMIN_TOKEN", "bench-token")
    results: dict = {"expert": expert, "direct": _direct(expert, n, threads=1)}
    config = _config(experts)
    start(config, home=home())
    url = http_url(config)
    try:
        wait_healthy(url)
        wait_healthy(f"{url}/nobatch")
        predict = {"inputs": [TEXT]}
        results["http_predict"] = _sequential(f"{url}/v1/experts/{expert}/predict", predict, n)
        results["http_query_1"] = _sequential(
            f"{url}/v1/query", {"text": TEXT, "experts": [expert]}, n)
        if second in experts:
            results["http_query_2"] = _sequential(
                f"{url}/v1/query", {"text": TEXT, "experts": [expert, second],
                                    "context": {"b": "2013 Honda Civic 1.8L I4"}}, n)
        results["overhead_ms"] = round(results["http_predict"]["p50_ms"]
                                       - results["direct"]["p50_ms"], 2)
        results["concurrency"] = []
        for prefix, batching in (("", True), ("/nobatch", False)):
            for clients in (8, 32):
                row = _concurrent(f"{url}{prefix}/v1/experts/{expert}/predict", predict,
                                  clients, seconds)
                results["concurrency"].append({"batching": batching, **row})
        results["live_update"] = _live_update(url, expert, reg, token, seconds)
    finally:
        stop()
    results["targets"] = judge("serving", {
        "overhead_ms": results.get("overhead_ms"),
        "live_update_failed_requests": results["live_update"].get("failed_requests")})
    _write(out, results)
    return results


def _live_update(url: str, expert: str, reg: Registry, token: str, seconds: float) -> dict:
    """Switch to the previous version and back under 8 clients; count failures."""
    versions = reg.versions(expert)
    active = reg.active(expert)
    other = next((v for v in reversed(versions) if v != active), None)
    if other is None:
        return {"skipped": f"{expert} has only one version"}
    box: dict = {}
    load = threading.Thread(target=lambda: box.update(
        _concurrent(f"{url}/v1/experts/{expert}/predict", {"inputs": [TEXT]}, 8, seconds)))
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
    rows = [{"case": k, **r[k]} for k in SINGLE_REQUEST_CASES if k in r]
    rows += [{"case": f"{'batch' if c['batching'] else 'nobatch'}_c{c['clients']}", **c}
             for c in r["concurrency"]]
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k != "case", k))
    with (out / "serving.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    lat = [row for row in rows if "clients" not in row]
    a.bar([x["case"] for x in lat], [x["p50_ms"] for x in lat], label="p50")
    a.bar([x["case"] for x in lat], [x["p99_ms"] - x["p50_ms"] for x in lat],
          bottom=[x["p50_ms"] for x in lat], alpha=0.4, label="p99")
    a.set_ylabel("ms")
    a.set_title(f"one request, expert {r['expert']}")
    a.legend()
    a.tick_params(axis="x", rotation=20)
    conc = r["concurrency"]
    b.bar([f"{'batch' if c['batching'] else 'no batch'}\n{c['clients']} clients" for c in conc],
          [c["rps"] for c in conc], color=["tab:green" if c["batching"] else "tab:gray"
                                           for c in conc])
    b.set_ylabel("requests / s")
    b.set_title("throughput")
    fig.tight_layout()
    fig.savefig(out / "serving.png", dpi=110)
    print(format_table(r))


def format_table(r: dict) -> str:
    lines = ["| case | n | p50 ms | p99 ms | req/s |", "|---|---|---|---|---|"]
    for key in SINGLE_REQUEST_CASES:
        if key in r:
            v = r[key]
            lines.append(f"| {key} | {v['n']} | {v['p50_ms']} | {v['p99_ms']} | |")
    for c in r["concurrency"]:
        name = f"{'batching' if c['batching'] else 'no batching'}, {c['clients']} clients"
        lines.append(f"| {name} | {c['n']} | {c['p50_ms']} | {c['p99_ms']} | {c['rps']} |")
    lines.append(f"\nserving overhead (HTTP predict p50 − direct p50): {r['overhead_ms']} ms")
    lu = r.get("live_update", {})
    if "failed_requests" in lu:
        lines.append(f"live update under 8 clients: {lu['switches']}, failed requests "
                     f"{lu['failed_requests']} of {lu['requests']}, worst {lu['worst_ms']} ms")
    return "\n".join(lines)
