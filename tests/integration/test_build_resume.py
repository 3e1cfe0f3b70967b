"""A build killed with SIGKILL mid-training leaves the registry as it was and a status that
reads as interrupted; the next build resumes: it keeps what was built, trains only what is
missing and finishes (real MiniLM, --quick)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from experts.core.registry import Registry
from services.build_status import STATUS_FILE, read_status
from services.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _stage_state(home: Path, name: str) -> str | None:
    try:
        stages = json.loads((home / STATUS_FILE).read_text())["stages"]
    except (OSError, ValueError, KeyError):
        return None
    return next((s["state"] for s in stages if s["name"] == name), None)


def _build_in_training(home: Path, args: list[str], stage: str, **popen) -> subprocess.Popen:
    """`tinyexperts ARGS` in a child process, returned a few seconds into `stage`."""
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", *args], cwd=ROOT,
                            env={**os.environ, "TINYEXPERTS_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    deadline = time.monotonic() + 240
    while _stage_state(home, stage) != "running":
        assert proc.poll() is None and time.monotonic() < deadline, "the build never started"
        time.sleep(0.5)
    time.sleep(5)  # inside training
    return proc


def test_a_killed_build_resumes(quick_home, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    shutil.copytree(quick_home, home)
    shutil.rmtree(home / "registry" / "compatibility")  # the part still to build
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    args = ["build", "--experts", "category,compatibility", "--quick", "--teachers-only"]
    proc = _build_in_training(home, args, "compatibility teacher")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reg = Registry(home / "registry")
    assert reg.versions("category") == ["v1"] and reg.active("category") == "v1"
    assert reg.versions("compatibility") == []
    state = read_status(home)
    assert state["interrupted"] and not state["running"]
    assert [(s["name"], s["state"]) for s in state["stages"]] == [
        ("category teacher", "skipped"), ("compatibility teacher", "running")]

    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert [b["expert"] for b in built] == ["compatibility"]  # category was kept
    assert reg.versions("compatibility") == ["v1"] and reg.active("compatibility") == "v1"
    assert reg.versions("category") == ["v1"]
    assert not list((home / "registry" / "compatibility").glob(".tmp-*"))
    state = read_status(home)
    assert not state["interrupted"] and not state["running"]
    assert [s["state"] for s in state["stages"]] == ["skipped", "done"]


def test_a_terminated_background_build_stops_cleanly(quick_home, tmp_path):
    """`kill` (SIGTERM) on a build started in the background, where the shell leaves SIGINT
    ignored: the build stops at once, exits 130, marks the stage it was in as interrupted
    and registers nothing half-made."""
    home = tmp_path / "home"
    shutil.copytree(quick_home, home)
    shutil.rmtree(home / "registry" / "compatibility")
    args = ["build", "--experts", "compatibility", "--quick", "--teachers-only"]
    proc = _build_in_training(home, args, "compatibility teacher",
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    state = read_status(home)
    assert not state["running"]
    [stage] = state["stages"]
    assert (stage["name"], stage["state"], stage["note"]) == (
        "compatibility teacher", "failed", "interrupted")
    assert Registry(home / "registry").versions("compatibility") == []
