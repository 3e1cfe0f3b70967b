"""Real Ray Serve on 127.0.0.1 with real MiniLM experts: HTTP, gRPC, bad input, live update.

The server is `tinyexperts serve` in a subprocess, exactly as users start it; it is stopped
with SIGINT at the end and must exit cleanly, leaving no Ray process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml

from experts.core.registry import Registry
from services.grpc_stubs import load
from services.http_client import wait_healthy
from services.runner import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-admin-token"



def _ray_processes() -> int:
    done = subprocess.run(["pgrep", "-f", "gcs_server|raylet"], capture_output=True, text=True)
    return len(done.stdout.split())


@dataclass
class Server:
    url: str
    grpc_target: str
    home: Path
    proc: subprocess.Popen
    metrics_url: str


def call(method: str, url: str, body=None, token: str | None = None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def server(quick_home, tmp_path_factory):
    """Serves a private copy of the quick build: these tests add versions to its registry,
    which must not leak into other test files that share `quick_home`."""
    before = _ray_processes()
    home = tmp_path_factory.mktemp("serve_home") / "home"
    shutil.copytree(quick_home, home)
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    config = yaml.safe_load((ROOT / "deploy" / "serve_local.yaml").read_text())
    config["http_options"]["port"] = http_port
    config["grpc_options"]["port"] = grpc_port
    app = config["applications"][0]
    app["args"]["experts"] = ["category", "compatibility"]
    app["deployments"] = [d for d in app["deployments"]
                          if d["name"] in ("Ingress", "Expert_category", "Expert_compatibility",
                                           "GraphLLM")]
    folder = tmp_path_factory.mktemp("serve")
    path = folder / "serve_test.yaml"
    path.write_text(yaml.safe_dump(config))
    log = (folder / "server.log").open("w")
    env = {**os.environ, "TINYEXPERTS_HOME": str(home), "TINYEXPERTS_ADMIN_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "--config",
                             str(path), "--metrics-port", str(metrics_port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_healthy(url, timeout_s=240)
    except Exception:
        proc.kill()
        raise AssertionError((folder / "server.log").read_text()[-4000:]) from None
    yield Server(url, f"127.0.0.1:{grpc_port}", home, proc,
                 f"http://127.0.0.1:{metrics_port}/metrics")
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = "killed"
    deadline = time.monotonic() + 30
    while _ray_processes() > before and time.monotonic() < deadline:
        time.sleep(1)
    assert rc == 0, (folder / "server.log").read_text()[-3000:]
    assert _ray_processes() <= before, "Ray processes left behind"


def test_health_and_expert_list(server):
    status, health = call("GET", f"{server.url}/healthz")
    assert status == 200 and health["status"] == "ok"
    assert health["experts"] == {"category": {"version": "v1", "ready": True},
                                 "compatibility": {"version": "v1", "ready": True}}
    status, listing = call("GET", f"{server.url}/v1/experts")
    by_name = {e["expert"]: e for e in listing["experts"]}
    assert by_name["category"]["labels"] == 33
    assert by_name["category"]["test_metrics"]["macro_f1"] > 0.5


def test_query_calls_the_named_experts_in_parallel(server):
    status, out = call("POST", f"{server.url}/v1/query", {
        "text": "NGK 6619 laser iridium spark plug, fits 2012-2015 Honda Civic 1.8L",
        "experts": ["category", "compatibility"],
        "context": {"b": "2013 Honda Civic 1.8L I4"}, "top_k": 3})
    assert status == 200, out
    assert out["route"] == {"source": "request", "experts": ["category", "compatibility"]}
    assert out["results"]["category"]["predictions"][0]["label"] == "spark plugs"
    assert len(out["results"]["category"]["predictions"][0]["top_k"]) == 3
    assert out["results"]["compatibility"]["predictions"][0]["label"] in (
        "compatible", "incompatible")
    assert out["versions"] == {"category": "v1", "compatibility": "v1"}
    assert out["latency_ms"]["total"] > 0


def test_predict_batch(server):
    status, out = call("POST", f"{server.url}/v1/experts/category/predict",
                       {"inputs": ["Bosch AGM car battery group 35", "Fram oil filter"]})
    assert status == 200
    assert [p["label"] for p in out["predictions"]] == ["batteries", "oil filters"]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "words"),
    [
        ("POST", "/v1/query", {"text": "spark plug"}, 503, "router"),
        ("POST", "/v1/query", {"text": ""}, 422, "text"),
        ("POST", "/v1/query", {"text": "x" * 1_000_000, "experts": ["category"]}, 422, "text"),
        ("POST", "/v1/query", {"text": "x", "experts": ["nope"]}, 422, "experts"),
        ("POST", "/v1/query", {"text": "x", "experts": ["compatibility"]}, 422, "context.b"),
        ("POST", "/v1/query", {"text": "x", "experts": ["attributes"]}, 404, "not served"),
        ("POST", "/v1/experts/nope/predict", {"inputs": ["x"]}, 404, "not served"),
        ("POST", "/v1/experts/category/predict", {"inputs": [{"a": "x", "b": "y"}]}, 422,
         "must be a string"),
        ("POST", "/v1/experts/category/predict", {"inputs": ["x"] * 65}, 422, "inputs"),
        ("POST", "/v1/experts/category/predict", {"inputs": ["x"], "top_k": -1}, 422, "top_k"),
        ("POST", "/v1/experts/category/activate", {"version": "v1"}, 401, "token"),
        ("POST", "/v1/experts/category/rollback", None, 401, "token"),
    ],
)
def test_bad_requests_get_a_4xx_or_503_with_a_reason(server, method, path, body, code, words):
    status, out = call(method, f"{server.url}{path}", body)
    assert status == code, out
    assert words in json.dumps(out)


def test_invalid_json_and_wrong_token(server):
    status, _ = call("POST", f"{server.url}/v1/query", raw=b'{"text": ')
    assert status == 422
    # valid JSON, not Unicode (a lone surrogate): a 422 naming the field, not a 500
    for path, raw in (("/v1/query", b'{"text": "\\ud800"}'),
                      ("/v1/ask", b'{"question": "\\ud800?"}')):
        status, out = call("POST", f"{server.url}{path}", raw=raw)
        assert status == 422, out
        assert "unicode" in json.dumps(out).lower()
    status, out = call("POST", f"{server.url}/v1/experts/category/activate",
                       {"version": "v1"}, token="wrong")
    assert status == 401 and "token" in out["detail"]


def test_grpc_query_and_predict(server):
    pb2, pb2_grpc = load()
    meta = (("application", "tinyexperts"),)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb2_grpc.TinyExpertsStub(channel)
        reply = stub.Query(pb2.QueryRequest(text="Denso iridium spark plug 4 pcs",
                                            experts=["category"]), metadata=meta, timeout=60)
        assert reply.results[0].predictions[0].label == "spark plugs"
        assert reply.results[0].version == "v1" and reply.route_source == "request"
        pairs = stub.Predict(pb2.PredictRequest(expert="compatibility", pairs=[
            pb2.Pair(a="plug | Fits: 2012-2015 Honda Civic 1.8L", b="2013 Honda Civic 1.8L")]),
            metadata=meta, timeout=60)
        assert pairs.result.predictions[0].label in ("compatible", "incompatible")
        with pytest.raises(grpc.RpcError) as err:
            stub.Query(pb2.QueryRequest(text=""), metadata=meta, timeout=60)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(pb2.PredictRequest(expert="nope", texts=["x"]), metadata=meta,
                         timeout=60)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_router_decides_once_registered(server):
    """Without a router, /v1/query with no experts is 503 (tested above); once a router is
    registered the Ingress loads it on the next such query and routes — HTTP and gRPC."""
    from experts.core.paths import Paths
    from experts.model import tiny_encoder_config
    from router.build import build_router

    build_router(Paths(server.home), quick=True, progress=False, log=lambda *_: None,
                 encoder_config=tiny_encoder_config())
    for text in ("NGK 6619 iridium spark plug", "how do I bake sourdough bread?"):
        status, body = call("POST", f"{server.url}/v1/query",
                            {"text": text, "context": {"b": "2013 Honda Civic 1.8L"}})
        assert status == 200, body
        route = body["route"]
        assert route["source"] == "router" and route["version"] == "v1"
        assert route["decision"] in ("experts", "llm", "abstain", "no_expert")
        assert set(body["results"]) == set(route["experts"]) & {"category", "compatibility"}
        if route["decision"] != "experts":  # the LLM's or the no-expert answer
            assert body["answer"]
        for fact in body["facts"]:  # whatever was composed names its source
            assert fact["source"].startswith(("ontology:", "expert:")), fact
        assert body["latency_ms"]["router"] > 0 and "link" in body["latency_ms"]
    pb2, pb2_grpc = load()
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = pb2_grpc.TinyExpertsStub(channel).Query(
            pb2.QueryRequest(text="P0171 system too lean bank 1"),
            metadata=(("application", "tinyexperts"),), timeout=60)
    assert reply.route_source == "router"
    assert reply.decision in ("experts", "llm", "abstain", "no_expert")
    _router_switches_live(server)


ISSUE_QUERIES = (
    # (question, a fact kind and value the answer must rest on, words the answer must say)
    ("does this Bosch 0242236541 plug fit a 2012 Civic and what thread is it?",
     ("unknown", "0242236541"), ("no part numbered 0242236541", "cannot be told")),
    ("my check engine light is on and the scanner says P0171, what part should I buy",
     ("code", "P0171"), ("System Too Lean", "oxygen sensors")),
    ("What does trouble code P0301 mean?", ("code", "P0301"), ("Cylinder 1 Misfire",)),
    ("Which vehicles does the Bosch 0242236541 fit?", ("unknown", "0242236541"),
     ("cannot list",)),
)


def test_routed_questions_get_grounded_answers_over_http_and_grpc(server):
    """The four questions of the answers issue, routed (no experts named): each gets an
    answer from the ontology's records — an unknown part number is said to be unknown, never
    given an invented fitment — the same over HTTP and gRPC, with each stage timed."""
    from experts.core.paths import Paths
    from experts.model import tiny_encoder_config
    from router.build import build_router

    if not Registry(server.home / "registry").versions("router"):
        build_router(Paths(server.home), quick=True, progress=False, log=lambda *_: None,
                     encoder_config=tiny_encoder_config())
    pb2, pb2_grpc = load()
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb2_grpc.TinyExpertsStub(channel)
        for text, (kind, value), words in ISSUE_QUERIES:
            status, body = call("POST", f"{server.url}/v1/query", {"text": text})
            assert status == 200, body
            assert (kind, value) in [(f["kind"], f["value"]) for f in body["facts"]], body
            for w in words:
                assert w in body["answer"], (w, body["answer"])
            # no catalog fact about a part the catalog lacks: catalog parts appear only as
            # the alternatives offered instead ("products")
            assert not [f for f in body["facts"] if f["source"].startswith("ontology:product")
                        and f["kind"] != "products"]
            assert {"router", "link", "experts", "compose"} <= set(body["latency_ms"])
            reply = stub.Query(pb2.QueryRequest(text=text),
                               metadata=(("application", "tinyexperts"),), timeout=60)
            assert reply.answer == body["answer"]
            assert [(f.kind, json.loads(f.value_json)) for f in reply.facts] == [
                (f["kind"], f["value"]) for f in body["facts"]]


def _router_version(server) -> str:
    status, body = call("POST", f"{server.url}/v1/query", {"text": "NGK 6619 spark plug"})
    assert status == 200, body
    return body["route"]["version"]


def _router_switches_live(server):
    """The router is updated like an expert: a version activated in the registry (here by
    the CLI's code path) reaches the running Ingress without a restart; the admin call
    rolls back at once; a damaged version is refused and the loaded router keeps routing."""
    reg = Registry(server.home / "registry")
    v2 = _copy_version(server.home, "router")
    reg.activate("router", v2)
    deadline = time.monotonic() + 10
    while _router_version(server) != v2:  # replicas re-read ACTIVE at most every second
        assert time.monotonic() < deadline, "the Ingress never picked up the new router"
        time.sleep(0.3)
    status, out = call("POST", f"{server.url}/v1/experts/router/rollback", token=TOKEN)
    assert status == 200 and out == {"expert": "router", "active": "v1", "previous": v2}
    assert _router_version(server) == "v1"
    bad = _copy_version(server.home, "router", damage=True)
    status, out = call("POST", f"{server.url}/v1/experts/router/activate", {"version": bad},
                       token=TOKEN)
    assert status == 409 and "sha256" in out["detail"]
    assert reg.active("router") == "v1" and _router_version(server) == "v1"
    # damaged behind the registry's back (ACTIVE edited by hand): still refused at load
    (reg.root / "router" / "ACTIVE").write_text(json.dumps({"version": bad, "history": []}))
    time.sleep(1.2)
    assert _router_version(server) == "v1"
    _, health = call("GET", f"{server.url}/healthz")
    assert health["router"].startswith("v1 (the active router could not be loaded")
    assert "sha256" in health["router"]
    reg.activate("router", "v1")
    time.sleep(1.2)
    assert call("GET", f"{server.url}/healthz")[1]["router"] == "v1"


def test_ask_without_a_built_graph_llm_says_how_to_build_it(server):
    """The GraphLLM deployment runs but nothing is built in this home: a clear 4xx naming
    the build command, bad questions are 422, and the server keeps answering."""
    status, body = call("POST", f"{server.url}/v1/ask", {"question": "What does P0420 mean?"})
    assert status in (400, 404) and "tinyexperts build" in body["detail"], body
    for bad in ({"question": "   "}, {"question": "x" * 1001}, {"question": 5},
                {"question": "P0420?", "mode": "telepathy"},
                {"question": "P0420?", "decode": "beam"}, {"q": "P0420"},
                {"question": "P0420?", "ontology": "../registry"},
                {"question": "P0420?", "ontology": "Brick"}):
        status, body = call("POST", f"{server.url}/v1/ask", bad)
        assert status == 422, (bad, body)
    # an imported ontology that was never built: 404 naming the build command
    status, body = call("POST", f"{server.url}/v1/ask",
                        {"question": "What is a chiller?", "ontology": "brick"})
    assert status == 404 and "--ontology FILE.ttl" in body["detail"], body
    status, health = call("GET", f"{server.url}/healthz")
    assert status == 200 and health["llm"].startswith("error:")


def _copy_version(home: Path, expert: str, damage: bool = False) -> str:
    """Register a new version with v1's files (optionally damaged after hashing)."""
    reg = Registry(home / "registry")
    src = reg.path(expert, "v1")
    m = reg.manifest(expert, "v1")

    def write(folder):
        for f in src.iterdir():
            if f.name != "manifest.json":
                shutil.copy(f, folder / f.name)

    new = reg.register(expert, write, task=m.task, base_model=m.base_model, labels=m.labels,
                       params=m.params, parent_version="v1", metrics=m.metrics)
    if damage:
        weights = reg.path(expert, new.version) / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[len(data) // 3] ^= 0xFF
        weights.write_bytes(bytes(data))
    return new.version


def test_live_update_under_load_then_rollback(server):
    v2 = _copy_version(server.home, "category")
    _, before = call("GET", f"{server.url}/v1/experts")
    compat_loaded = {e["expert"]: e for e in before["experts"]}["compatibility"]["loaded_at"]
    failures, latencies, stop = [], [], threading.Event()

    def load_loop():
        while not stop.is_set():
            t0 = time.perf_counter()
            status, out = call("POST", f"{server.url}/v1/experts/category/predict",
                               {"inputs": ["NGK iridium spark plug"]})
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                failures.append((status, out))

    threads = [threading.Thread(target=load_loop) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    status, out = call("POST", f"{server.url}/v1/experts/category/activate",
                       {"version": v2}, token=TOKEN)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert status == 200 and out == {"expert": "category", "active": v2, "previous": "v1"}
    assert failures == [] and len(latencies) > 10
    _, after = call("GET", f"{server.url}/v1/experts")
    by_name = {e["expert"]: e for e in after["experts"]}
    assert by_name["category"]["version"] == v2
    assert by_name["compatibility"]["loaded_at"] == compat_loaded  # untouched
    status, out = call("POST", f"{server.url}/v1/experts/category/rollback", token=TOKEN)
    assert status == 200 and out["active"] == "v1"
    assert call("GET", f"{server.url}/healthz")[1]["experts"]["category"]["version"] == "v1"


def test_a_damaged_version_is_refused_and_the_old_one_keeps_serving(server):
    bad = _copy_version(server.home, "category", damage=True)
    status, out = call("POST", f"{server.url}/v1/experts/category/activate",
                       {"version": bad}, token=TOKEN)
    assert status == 409 and "sha256" in out["detail"]
    _, health = call("GET", f"{server.url}/healthz")
    assert health["experts"]["category"]["version"] == "v1"
    status, out = call("POST", f"{server.url}/v1/experts/category/predict", {"inputs": ["plug"]})
    assert status == 200 and out["version"] == "v1"


def _wait_for(server, expert: str, check, timeout_s: float = 40.0) -> dict:
    """Poll /v1/experts until `check(expert's entry)` holds; that entry."""
    deadline = time.monotonic() + timeout_s
    while True:
        _, out = call("GET", f"{server.url}/v1/experts")
        entry = {e["expert"]: e for e in out["experts"]}[expert]
        if check(entry) or time.monotonic() > deadline:
            return entry
        time.sleep(0.5)


def test_the_server_follows_the_registry_under_load(server):
    """What the background build of `tinyexperts run` does: register and activate in the
    registry only, never calling the server. The expert picks the new version up live, with
    no failed request; a version damaged after activation is refused and the one before
    keeps serving."""
    reg = Registry(server.home / "registry")
    v2 = _copy_version(server.home, "compatibility")
    pair = {"inputs": [{"a": "NGK 6619 iridium spark plug", "b": "2012 Honda Civic 1.8L"}]}
    failures, served, stop = [], [], threading.Event()

    def load_loop():
        while not stop.is_set():
            status, out = call("POST", f"{server.url}/v1/experts/compatibility/predict", pair)
            if status != 200:
                failures.append((status, out))
            else:
                served.append(out["version"])

    threads = [threading.Thread(target=load_loop) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1)
    reg.activate("compatibility", v2)
    entry = _wait_for(server, "compatibility", lambda e: e["version"] == v2)
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert entry["version"] == v2 and failures == []
    assert served[0] == "v1" and served[-1] == v2 and len(served) > 10

    v3 = _copy_version(server.home, "compatibility")
    reg.activate("compatibility", v3)  # verified here; damaged on disk before it loads
    weights = reg.path("compatibility", v3) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    entry = _wait_for(server, "compatibility", lambda e: bool(e["last_error"]))
    assert entry["version"] == v2 and v3 in entry["last_error"] and "sha256" in entry["last_error"]
    status, out = call("POST", f"{server.url}/v1/experts/compatibility/predict", pair)
    assert status == 200 and out["version"] == v2
    reg.activate("compatibility", "v1")  # as the other tests expect
    entry = _wait_for(server, "compatibility", lambda e: e["version"] == "v1")
    assert entry["version"] == "v1" and entry["last_error"] is None


def test_cli_status_and_query_against_the_server(server):
    env = {**os.environ, "TINYEXPERTS_HOME": str(server.home)}
    done = subprocess.run([sys.executable, "-m", "services.cli", "query",
                           "Bosch AGM battery 12V group 35", "--experts", "category",
                           "--url", server.url, "--json"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"]["category"]["predictions"][0]["label"] == \
        "batteries"
    done = subprocess.run([sys.executable, "-m", "services.cli", "query", "oil filter",
                           "--experts", "category", "--grpc", server.grpc_target, "--json"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["predictions"][0]["label"] == "oil filters"
    done = subprocess.run([sys.executable, "-m", "services.cli", "status", "--url",
                           server.url], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0 and "category" in done.stdout and "ready" in done.stdout


# ---- hardening: more bad input, malformed gRPC, fuzzing, secrets, a killed replica -------

def _still_serving(server) -> None:
    status, out = call("POST", f"{server.url}/v1/experts/category/predict", {"inputs": ["plug"]})
    assert status == 200 and out["predictions"], out


@pytest.mark.parametrize(
    ("path", "raw", "code", "words"),
    [
        ("/v1/query", b'{"text": "\xff\xfe spark plug", "experts": ["category"]}', 400, "utf-8"),
        ("/v1/query", b"[1, 2, 3]", 422, "dict"),
        ("/v1/query", b"null", 422, "dict"),
        ("/v1/query", b"", 422, "body"),
        ("/v1/query", json.dumps({"text": 5, "experts": ["category"]}).encode(), 422, "text"),
        ("/v1/query", json.dumps({"text": "x", "experts": "category"}).encode(), 422,
         "experts"),
        ("/v1/query", json.dumps({"text": "x", "experts": ["category"], "top_k": 10**12}
                                 ).encode(), 422, "top_k"),
        ("/v1/query", json.dumps({"text": "x", "experts": ["category"], "top_k": "3x"}
                                 ).encode(), 422, "top_k"),
        ("/v1/query", json.dumps({"text": "x", "context": ["b"], "experts": ["category"]}
                                 ).encode(), 422, "context"),
        ("/v1/query", json.dumps({"text": "x" * 3_000_000}).encode(), 413, "over the limit"),
        ("/v1/experts/category/predict", json.dumps({"inputs": "plug"}).encode(), 422,
         "inputs"),
        ("/v1/experts/category/predict", json.dumps({"inputs": []}).encode(), 422, "inputs"),
        ("/v1/experts/category/predict", json.dumps({"inputs": ["   "]}).encode(), 422,
         "characters"),
        ("/v1/experts/compatibility/predict", json.dumps({"inputs": ["just one text"]}
                                                         ).encode(), 422, '{\\"a\\"'),
        ("/v1/experts/..%2F..%2Fetc/predict", json.dumps({"inputs": ["x"]}).encode(), 404, ""),
    ],
)
def test_more_bad_input_is_refused_and_the_server_keeps_serving(server, path, raw, code,
                                                                words):
    status, out = call("POST", f"{server.url}{path}", raw=raw)
    assert status == code, out
    assert words.lower() in json.dumps(out).lower(), out
    _still_serving(server)


def _metric_sum(server, name: str, **tags: str) -> float:
    """Sum of a metric's samples whose tags include `tags` (0 when not exported yet)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(server.metrics_url, timeout=10).text
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in tags.items()))


def test_metrics_count_real_requests(server):
    """Prometheus metrics from Ray's exporter: after 6 predictions the category expert's
    request counter has grown by exactly 6, its latency histogram by 6 observations, and a
    serving-version gauge is exported."""
    name = "ray_tinyexperts_expert_requests_total"
    hist = "ray_tinyexperts_expert_latency_ms_count"
    # Ray exports every ~10 s: wait until earlier tests' requests have all arrived (no
    # change for over two export periods)
    seen, deadline = [], time.monotonic() + 150
    while len(seen) < 6 or len(set(seen[-6:])) > 1:
        assert time.monotonic() < deadline, f"the metrics never settled: {seen}"
        seen.append((_metric_sum(server, name, expert="category", status="200"),
                     _metric_sum(server, hist, expert="category")))
        time.sleep(5)
    before, hist_before = seen[-1]
    for i in range(6):
        status, _ = call("POST", f"{server.url}/v1/experts/category/predict",
                         {"inputs": [f"spark plug {i}"]})
        assert status == 200
    deadline = time.monotonic() + 60  # Ray exports metrics every ~10 s
    while time.monotonic() < deadline:
        after = _metric_sum(server, name, expert="category", status="200")
        if after >= before + 6:
            break
        time.sleep(2)
    time.sleep(12)  # one more export: nothing beyond the 6 requests may arrive
    after = _metric_sum(server, name, expert="category", status="200")
    assert after == before + 6, (before, after, seen)
    assert _metric_sum(server, hist, expert="category") == hist_before + 6
    # the version /healthz names is marked 1 (the gauge is refreshed by health checks, so it
    # outlives Ray's ~20 s expiry of series nobody sets again)
    status, health = call("GET", f"{server.url}/healthz")
    served = health["experts"]["category"]["version"]
    gauge = "ray_tinyexperts_expert_serving"
    assert _metric_sum(server, gauge, expert="category", version=served) >= 1
    assert _metric_sum(server, gauge, expert="category") == _metric_sum(
        server, gauge, expert="category", version=served)  # no other version is marked 1
    assert _metric_sum(server, "ray_serve_num_http_requests_total") > 0  # Serve's own too


def test_console_in_a_real_browser(server, tmp_path):
    """The console at `/` in headless Chromium (Debian's, installed by `make test`): the
    experts load with their serving versions; a routed query shows the router's decision
    and each expert called; a query holding markup is shown as text, never run; an
    activation and a rollback made in the page reach the server and the page; the token is
    never written into the page. Saves a screenshot."""
    from playwright.sync_api import sync_playwright

    from experts.core.paths import Paths
    from experts.model import tiny_encoder_config
    from router.build import build_router

    chromium = shutil.which("chromium")
    assert chromium, "no chromium: `make browser` installs Debian's (apt-get, as root)"
    if not Registry(server.home / "registry").versions("router"):
        build_router(Paths(server.home), quick=True, progress=False, log=lambda *_: None,
                     encoder_config=tiny_encoder_config())
    serving = call("GET", f"{server.url}/healthz")[1]["experts"]["category"]["version"]
    new = _copy_version(server.home, "category")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/")
            cat = page.locator('#experts tbody tr[data-expert="category"]')
            cat.wait_for(timeout=30_000)
            assert cat.get_attribute("data-version") == serving
            assert page.locator("#status").inner_text() == "ok"

            markup = "<script>window.pwned = 1</script><b>NGK 6619</b> spark plug"
            page.fill("#query", markup)
            page.click("#query-form button")
            page.locator("#answer").wait_for(state="visible", timeout=30_000)
            assert page.locator("#asked").inner_text() == markup  # shown as text
            assert page.evaluate("window.pwned") is None
            assert page.locator("#answer script, #answer b").count() == 0
            # the page shows what the API answers for the same question
            status, body = call("POST", f"{server.url}/v1/query", {"text": markup})
            assert status == 200, body
            route = page.locator("#route").inner_text()
            assert "routed by\trouter" in route and body["route"]["decision"] in route
            called = page.locator("#results tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.expert)")
            assert called == list(body["results"])

            page.fill("#token", TOKEN)
            page.reload()  # the new version is listed after a refresh
            page.fill("#token", TOKEN)
            cat.wait_for(timeout=30_000)
            cat.locator("select").select_option(new)
            cat.locator('button[data-action="activate"]').click()
            page.wait_for_selector(f'#experts tr[data-expert="category"][data-version="{new}"]',
                                   timeout=30_000)
            assert call("GET", f"{server.url}/healthz")[1]["experts"]["category"][
                "version"] == new
            cat.locator('button[data-action="rollback"]').click()
            page.wait_for_selector(
                f'#experts tr[data-expert="category"][data-version="{serving}"]',
                timeout=30_000)
            assert "is live" in page.locator("#admin-result").inner_text()
            assert TOKEN not in page.content()
            shot = tmp_path / "console.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert call("GET", f"{server.url}/healthz")[1]["experts"]["category"]["version"] == serving


def test_a_chunked_body_is_held_to_the_limit_too(server):
    """No Content-Length: the body is read up to the limit and refused there (413), never
    read whole; a small chunked body is served as usual."""
    import httpx

    def chunks(total: int, size: int = 64 * 1024):
        yield b'{"text": "'
        for _ in range(total // size):
            yield b"x" * size
        yield b'", "experts": ["category"]}'

    big = httpx.post(f"{server.url}/v1/query", content=chunks(5_000_000), timeout=30,
                     headers={"content-type": "application/json"})
    assert big.status_code == 413 and "without Content-Length" in big.text, big.text
    small = httpx.post(f"{server.url}/v1/query", content=iter([b'{"text": "spark plug", ',
                                                               b'"experts": ["category"]}']),
                       timeout=30, headers={"content-type": "application/json"})
    assert small.status_code == 200 and small.json()["results"], small.text
    _still_serving(server)


def test_admin_bad_input_with_the_right_token(server):
    for body, code, words in (({"version": "v999"}, 404, "v999"),
                              ({"version": "../v1"}, 422, "version"),
                              ({"version": 1}, 422, "version"), ({}, 422, "version")):
        status, out = call("POST", f"{server.url}/v1/experts/category/activate", body,
                           token=TOKEN)
        assert status == code and words in json.dumps(out), (body, out)
    status, out = call("POST", f"{server.url}/v1/experts/nope/activate", {"version": "v1"},
                       token=TOKEN)
    assert status == 404, out
    assert call("GET", f"{server.url}/healthz")[1]["experts"]["category"]["version"] == "v1"


def test_malformed_grpc_messages(server):
    pb2, pb2_grpc = load()
    meta = (("application", "tinyexperts"),)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb2_grpc.TinyExpertsStub(channel)
        cases = [
            (stub.Query, pb2.QueryRequest(text="x" * 5000, experts=["category"])),
            (stub.Query, pb2.QueryRequest(text="plug", experts=["nope"])),
            (stub.Query, pb2.QueryRequest(text="plug", experts=["category"], top_k=-3)),
            (stub.Query, pb2.QueryRequest(text="plug", experts=["compatibility"])),
            (stub.Predict, pb2.PredictRequest(expert="category")),
            (stub.Predict, pb2.PredictRequest(expert="category", texts=["a"],
                                              pairs=[pb2.Pair(a="a", b="b")])),
            (stub.Predict, pb2.PredictRequest(expert="compatibility", texts=["a"])),
            (stub.Predict, pb2.PredictRequest(expert="category", texts=["x"] * 65)),
        ]
        for method, msg in cases:
            with pytest.raises(grpc.RpcError) as err:
                method(msg, metadata=meta, timeout=60)
            assert err.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                        grpc.StatusCode.NOT_FOUND), (msg, err.value)
            assert err.value.details(), msg
        # bytes that are not a protobuf message at all: refused by gRPC itself, never a hang
        raw = channel.unary_unary("/tinyexperts.TinyExperts/Query")
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\xff\xff\xff\xff\x0f", metadata=meta, timeout=60)
        assert err.value.code() != grpc.StatusCode.DEADLINE_EXCEEDED
    _still_serving(server)


def test_fuzz_the_http_api_from_its_openapi(server, tmp_path):
    """schemathesis generates requests from the server's own /openapi.json: no 5xx.
    Bounded: 25 examples per operation and phase. With a router registered (as after
    `make run`): without one, `/v1/query` with no experts is a deliberate 503."""
    from experts.core.paths import Paths
    from experts.model import tiny_encoder_config
    from router.build import build_router

    if not Registry(server.home / "registry").versions("router"):
        build_router(Paths(server.home), quick=True, progress=False, log=lambda *_: None,
                     encoder_config=tiny_encoder_config())
    done = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run",
         f"{server.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "25", "--seed", "1", "--request-timeout", "60",
         "--exclude-path", "/v1/ask", "--report", "junit",
         "--report-dir", str(tmp_path)], capture_output=True, text=True, timeout=900,
        cwd=tmp_path)  # its .schemathesis/ cache stays out of the checkout
    assert done.returncode == 0, done.stdout[-4000:]
    assert "passed" in done.stdout.lower()
    _still_serving(server)


def test_secrets_are_never_logged(server):
    """After admin calls with the right and a wrong token, neither token appears in the
    server's output or in this Ray session's logs."""
    call("POST", f"{server.url}/v1/experts/category/activate", {"version": "v1"},
         token="wrong-token-value-123")
    call("POST", f"{server.url}/v1/experts/category/activate", {"version": "v1"}, token=TOKEN)
    logs = [p for p in Path("/tmp/ray/session_latest/logs").rglob("*") if p.is_file()]
    args = server.proc.args
    server_log = Path(args[args.index("--config") + 1]).with_name("server.log")
    assert logs and server_log.is_file()
    for p in [*logs, server_log]:
        data = p.read_bytes()
        assert TOKEN.encode() not in data and b"wrong-token-value-123" not in data, p


def test_killing_an_expert_replica_under_load(server):
    """kill -9 the category replica while clients query category + compatibility: the
    compatibility expert keeps answering, category's part of a query is answered or fails
    with an explicit per-expert 503, no request gets a 500, and Serve brings the replica
    back (a new process) that answers again."""
    _, listing = call("GET", f"{server.url}/v1/experts")
    old_pid = {e["expert"]: e for e in listing["experts"]}["category"]["pid"]
    results, stop = [], threading.Event()
    both = {"text": "NGK 6619 iridium spark plug", "experts": ["category", "compatibility"],
            "context": {"b": "2013 Honda Civic 1.8L I4"}}
    compat = {"inputs": [{"a": "plug | Fits: 2012-2015 Honda Civic", "b": "2013 Honda Civic"}]}

    def loop(kind):
        while not stop.is_set():
            if kind == "query":
                status, out = call("POST", f"{server.url}/v1/query", both)
            else:
                status, out = call("POST", f"{server.url}/v1/experts/compatibility/predict",
                                   compat)
            results.append((kind, status, out, time.monotonic()))

    threads = [threading.Thread(target=loop, args=(k,)) for k in ("query", "query", "compat")]
    for t in threads:
        t.start()
    time.sleep(2)
    killed_at = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)
    new_pid, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline:
        _, listing = call("GET", f"{server.url}/v1/experts")
        info = {e["expert"]: e for e in listing.get("experts", [])}.get("category", {})
        if info.get("ready") and info.get("pid") not in (None, old_pid):
            new_pid = info["pid"]
            break
        time.sleep(1)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    assert new_pid is not None, "the category replica did not come back within 120 s"
    after = [r for r in results if r[3] > killed_at]
    assert len(after) > 5, "the load stopped"
    for kind, status, out, _ in results:
        assert status == 200, (kind, status, out)  # never a 500, never a whole-query failure
        if kind == "compat":
            assert out["predictions"], out
            continue
        assert out["results"]["compatibility"]["status"] == 200, out
        cat = out["results"]["category"]
        assert cat["status"] == 200 or (cat["status"] == 503 and "category" in cat["error"]), out
    failed = sum(r[0] == "query" and r[2]["results"]["category"]["status"] == 503
                 for r in results)
    print(f"kill replica: {len(results)} requests, {len(after)} after the kill, "
          f"{failed} category parts answered 503, back as pid {new_pid}")
    _still_serving(server)


def test_update_ends_with_a_live_int8_student_and_no_failed_request(server, tmp_path):
    """`tinyexperts update` on the real quick-built category teacher: adapt on a new site's
    data → re-compress with the default recipe (int8) → gate → activate on the running
    server through its admin API, while two clients keep asking: 0 failures."""
    from experts.data.datasets import load_expert_data
    from experts.data.formats import write_examples

    data = load_expert_data("category", server.home / "data")
    keep = set(sorted(data.labels)[::3])
    site = tmp_path / "new_site"
    for split, rows in data.splits.items():
        write_examples(site / f"{split}.jsonl", "classify", [r for r in rows if r.label in keep])
    failures, served, stop = [], [], threading.Event()

    def load_loop():  # paced: the clients must see the switch, not starve the training
        while not stop.is_set():
            status, out = call("POST", f"{server.url}/v1/experts/category/predict",
                               {"inputs": ["NGK iridium spark plug"]})
            if status != 200:
                failures.append((status, out))
            else:
                served.append(out["version"])
            time.sleep(0.05)

    # the default recipe's steps; its per-step gate lowered: a --quick run recovers from
    # pruning in a few steps, and how close it lands to 0.95 x the teacher (seen: 0.986 of
    # the bar) is not what this test is about
    recipe = yaml.safe_load((ROOT / "deploy" / "recipes" / "category.yaml").read_text())
    recipe["min_quality"] = 0.8
    recipe_file = tmp_path / "category.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe))
    threads = [threading.Thread(target=load_loop) for _ in range(2)]
    for t in threads:
        t.start()
    env = {**os.environ, "TINYEXPERTS_HOME": str(server.home),
           "TINYEXPERTS_ADMIN_TOKEN": TOKEN}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "update", "category", "--data", str(site),
             "--method", "finetune", "--quick", "--max-old-drop", "1", "--max-new-drop", "1",
             "--recipe", str(recipe_file), "--url", server.url, "--json"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    student = result["student"]
    assert result["gate"]["passed"] and result["activated"]["active"] == student
    assert failures == [] and student in served and len(set(served)) == 2  # old, then new
    _, listing = call("GET", f"{server.url}/v1/experts")
    served = {e["expert"]: e for e in listing["experts"]}["category"]
    assert served["version"] == student and served["backend"] == "onnx-int8"
    reg = Registry(server.home / "registry")
    assert reg.manifest("category", student).data["dir"] == str(site.resolve())
