"""The staged start's pieces on tiny models: which stages a full build still owes after a
quick one, a full teacher taking over from a quick one, and the progress file with its
ETA (running, finished, interrupted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from experts.core.paths import Paths
from experts.core.registry import Registry, is_quick
from services.build_status import (
    REFERENCE_S,
    STATUS_FILE,
    TIMES_FILE,
    BuildStatus,
    eta_of,
    read_status,
)
from services.cli_server import build_lines
from services.system_build import ROUTER, built_teacher, ensure_teacher, plan


@pytest.fixture()
def home(tiny_home, tmp_path):
    root = tmp_path / "home"
    shutil.copytree(tiny_home, root)
    return Paths(root)


def register_full_copy(reg: Registry, name: str, version: str) -> str:
    """A copy of `version` registered as if a full (not quick) build had trained it."""
    src = reg.path(name, version)
    m = reg.manifest(name, version)

    def write(folder):
        for f in src.iterdir():
            if f.name != "manifest.json":
                shutil.copy(f, folder / f.name)

    fields = m.model_dump(exclude={"name", "version", "files", "created_at"})
    fields["data"] = {**m.data, "quick": False}
    fields["metrics"] = {**m.metrics, "train": {**m.metrics.get("train", {}), "quick": False}}
    return reg.register(name, write, **fields).version


def test_a_full_build_still_owes_what_a_quick_build_made(home):
    reg = Registry(home.registry)
    assert is_quick(reg.manifest("category", "v1"))  # tiny_home's teachers are quick-trained
    names = ["category", "attributes", ROUTER]
    full = dict(plan(names, reg, quick=False, force=False, teachers_only=False))
    assert full == {"category teacher": False, "category student": False,
                    "attributes teacher": False, "attributes student": False, ROUTER: False}
    quick = dict(plan(names, reg, quick=True, force=False, teachers_only=True))
    assert quick == {"category teacher": True, "attributes teacher": True, ROUTER: False}
    assert not dict(plan(names, reg, quick=True, force=True,
                         teachers_only=True))["category teacher"]
    assert reg.built("category", quick=True) == "v1" and reg.built("category") is None


def test_a_full_teacher_takes_over_from_the_quick_one_without_training(home):
    reg = Registry(home.registry)
    full = register_full_copy(reg, "category", "v1")
    assert reg.active("category") == "v1"  # registered, not yet active: a build killed here
    assert built_teacher(reg, "category", quick=False) == full
    logs: list[str] = []
    made = ensure_teacher("category", home, reg, None, quick=False, force=False, seed=0,
                          progress=False, log=logs.append, critical=None)
    assert made == [] and reg.active("category") == full
    assert f"{full} now serves, replacing the quick-trained v1" in logs[-1]
    assert reg.versions("category") == ["v1", full]  # nothing trained
    # a quick build keeps whatever serves
    reg.activate("category", "v1")
    ensure_teacher("category", home, reg, None, quick=True, force=False, seed=0,
                   progress=False, log=logs.append, critical=None)
    assert reg.active("category") == "v1"


def test_progress_file_eta_and_measured_times(tmp_path):
    status = BuildStatus(tmp_path, [("category teacher", True), ("category student", False),
                                    ("router", False)], quick=False)
    state = json.loads((tmp_path / STATUS_FILE).read_text())
    assert [s["state"] for s in state["stages"]] == ["skipped", "pending", "pending"]
    # nothing measured on this home yet: the reference machine's times
    expected = REFERENCE_S["category student"] + REFERENCE_S["router"]
    assert state["eta_s"] == pytest.approx(expected)
    status.start("category student")
    now = time.time()
    running = read_status(tmp_path)
    assert running["running"] and not running["interrupted"]
    assert running["eta_s"] == pytest.approx(expected, abs=5)
    # a running stage past its expected time adds nothing, never a negative
    state = json.loads((tmp_path / STATUS_FILE).read_text())
    assert eta_of(state, now + 10_000) == pytest.approx(REFERENCE_S["router"])
    status.finish("category student", 123.4)
    status.finish("router", 0.5, measured=False)  # found built: says nothing about timing
    status.close()
    done = read_status(tmp_path)
    assert not done["running"] and not done["interrupted"] and done["eta_s"] == 0
    assert json.loads((tmp_path / TIMES_FILE).read_text()) == {"category student": 123.4}
    assert "build: finished" in build_lines(done)
    lines = build_lines(done).splitlines()
    assert lines[2].split() == ["category", "student", "done", "in", "2", "min"]
    assert lines[3].split() == ["router", "skipped"]
    # the next build on this home expects what it measured
    again = BuildStatus(tmp_path, [("category student", False)], quick=False)
    assert again.eta() == pytest.approx(123.4)
    quick = BuildStatus(tmp_path, [("category student", False)], quick=True)
    assert quick.eta() == pytest.approx(REFERENCE_S["category student"] / 10)  # nothing measured


def test_a_killed_build_reads_as_interrupted(tmp_path):
    code = ("import sys; from services.build_status import BuildStatus; "
            "s = BuildStatus(sys.argv[1], [('router', False)], quick=False); "
            "s.start('router')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True,
                   cwd=os.path.dirname(os.path.dirname(__file__)))
    state = read_status(tmp_path)
    assert state["interrupted"] and not state["running"] and state["eta_s"] == 0
    assert "interrupted; `tinyexperts run` (or `build`) resumes it" in build_lines(state)
    (tmp_path / STATUS_FILE).write_text("{not json")
    assert read_status(tmp_path) is None  # a damaged file is no status, not a crash


def test_status_without_a_server_still_shows_the_build(tmp_path, monkeypatch, capsys):
    from services.cli import main

    monkeypatch.setenv("TINYEXPERTS_HOME", str(tmp_path))
    status = BuildStatus(tmp_path, [("category teacher", False), ("category student", False)],
                         quick=False)
    status.start("category teacher")
    assert main(["status", "--url", "http://127.0.0.1:9"]) == 2  # nothing listens there
    out = capsys.readouterr().out.splitlines()
    assert "server not reachable" in out[0]
    assert out[1].startswith("build: running, 0/2 stages done, about ")
    assert out[2].split()[:4] == ["category", "teacher", "running", "for"]
    minutes = round(REFERENCE_S["category student"] / 60)  # nothing measured on this home
    assert out[3].split() == ["category", "student", "pending", f"(~{minutes}", "min)"]
    assert main(["status", "--url", "http://127.0.0.1:9", "--json"]) == 2
    body = json.loads(capsys.readouterr().out)
    assert body["build"]["running"] and "server not reachable" in body["server"]["error"]
    (tmp_path / STATUS_FILE).unlink()
    assert main(["status", "--url", "http://127.0.0.1:9"]) == 2  # no build either: the error
    assert "server not reachable" in capsys.readouterr().err


def test_build_bench_judges_the_worst_run_and_never_guesses_the_unfinished_build():
    from services.bench_build import summarize

    quick = {"run": 0, "first_answer_s": 150.0, "first_grpc_answer_s": 158.0, "answer": "x"}
    watched = {"run": 1, "first_answer_s": 290.0, "first_grpc_answer_s": 302.5, "answer": "y",
               "student_at_s": {"category": 900.0, "attributes": 1500.0},
               "full_system_s": None, "requests": 1200,
               "failed_requests": [{"t_s": 901.0, "status": 503, "error": "e"}],
               "stages": [{"name": "category teacher", "state": "done", "seconds": 110.0},
                          {"name": "category student", "state": "failed", "seconds": 40.0}]}
    result = summarize([quick, watched], max_minutes=30)
    judged = {t["name"]: t for t in result["targets"]}
    assert judged["first_answer_s"]["value"] == 290.0 and judged["first_answer_s"]["met"]
    assert judged["first_grpc_answer_s"]["value"] == 302.5
    assert not judged["first_grpc_answer_s"]["met"]  # over 300 s on the worse run
    assert judged["full_build_s"]["value"] is None and not judged["full_build_s"]["met"]
    assert judged["students_active"]["value"] is None  # the build did not finish
    assert judged["failed_requests"]["value"] == 1.0 and not judged["failed_requests"]["met"]
    assert "| 1 | 290.0 | 302.5 | unfinished | 2 | 1200 / 1 |" in result["table"]
    assert "| category student | failed | 40.0 |" in result["table"]
    done = {**watched, "full_system_s": 1400.0, "failed_requests": [],
            "student_at_s": dict.fromkeys(("category", "attributes", "compatibility",
                                           "fault_codes"), 1.0)}
    judged = {t["name"]: t for t in summarize([done], 180)["targets"]}
    assert judged["full_build_s"]["value"] == 1110.0 and judged["full_build_s"]["met"]
    assert judged["students_active"]["met"] and judged["failed_requests"]["met"]
