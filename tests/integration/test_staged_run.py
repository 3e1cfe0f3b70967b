"""`tinyexperts run` (what `make run` runs) on a home with two quick teachers and no router:
the quick stage builds the missing router, the server answers a routed question, the full
build runs in the background and shows in `tinyexperts status`, and Ctrl-C stops both,
leaving the build marked as interrupted (real MiniLM, real Ray Serve)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from experts.core.registry import Registry, is_quick, pid_alive
from services.build_status import read_status
from services.cli import main
from services.http_client import wait_healthy
from services.runner import free_port

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "does this Bosch 0242236541 plug fit a 2012 Civic and what thread is it?"


def test_run_answers_at_once_builds_behind_and_stops_cleanly(quick_home, tmp_path, capsys,
                                                            monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(quick_home, home)
    assert not Registry(home / "registry").versions("router")
    http, grpc, metrics = free_port(), free_port(), free_port()
    config = yaml.safe_load((ROOT / "deploy" / "serve_local.yaml").read_text())
    config["http_options"]["port"], config["grpc_options"]["port"] = http, grpc
    app = config["applications"][0]
    app["args"]["experts"] = ["category", "compatibility"]
    app["args"]["llm"] = False
    app["deployments"] = [d for d in app["deployments"]
                          if d["name"] in ("Ingress", "Expert_category", "Expert_compatibility")]
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--config", str(path),
                             "--metrics-port", str(metrics)], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "TINYEXPERTS_HOME": str(home)})
    url = f"http://127.0.0.1:{http}"
    try:
        wait_healthy(url, timeout_s=600)
        reg = Registry(home / "registry")
        assert reg.versions("router") == ["v1"] and is_quick(reg.manifest("router", "v1"))
        r = httpx.post(f"{url}/v1/query", json={"text": QUESTION}, timeout=60)
        assert r.status_code == 200 and r.json()["route"]["source"] == "router"
        deadline = time.monotonic() + 120
        while True:  # the background build has started and says what it is doing
            state = read_status(home)
            if state and state["running"] and not state["quick"]:
                break
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(1)
        build_pid = state["pid"]
        monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
        capsys.readouterr()
        assert main(["status", "--url", url]) == 0
        shown = capsys.readouterr().out
        assert "build: running" in shown and "category teacher" in shown
        assert "building: teacher" in shown  # the quick teacher serves; the full one builds
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = "killed"
        log.close()
    assert rc == 0, (tmp_path / "run.log").read_text()[-3000:]
    deadline = time.monotonic() + 30
    while pid_alive(build_pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pid_alive(build_pid), "the background build outlived `run`"
    state = read_status(home)
    assert state["interrupted"] and not state["running"]
    stopped = [s for s in state["stages"] if s["state"] == "failed"]
    assert stopped and stopped[0]["note"] == "interrupted"
