"""The CLI: one table of commands, --help on each, README in sync, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import COMMANDS, main, parser

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        parser().parse_args([command, "--help"])
    assert done.value.code == 0
    assert COMMANDS[command][0] in capsys.readouterr().out


def test_readme_documents_exactly_the_commands():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^tinyexperts (\w+)", readme, flags=re.M))
    assert documented == set(COMMANDS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "nope"], "unknown expert 'nope'"),
        (["predict", "category", "   "], "empty text"),
        (["predict", "compatibility", "plug"], "needs two items"),
        (["predict", "category", "x", "--top-k", "0"], "out of range"),
        (["registry", "activate", "category", "v7"], "no version 'v7'"),
        (["registry", "show", "fault_codes"], "no registered version"),
        (["build", "--experts", "category,nope"], "unknown expert 'nope'"),
        (["build", "--data-dir", "/nonexistent/dir"], "data directory not found"),
        (["build", "--experts", "router", "--ontology", "x.ttl"], "ontology models only"),
        (["build", "--experts", "ontology", "--ontology", "/nonexistent.ttl"],
         "Turtle file not found"),
        (["ask", "What is a chiller?", "--ontology", "brick"], "no imported ontology named"),
        (["ask", "What is a chiller?", "--ontology", "../x"], "bad ontology name"),
        (["adapt", "category", "--data", "/nonexistent.jsonl"], "dataset file not found"),
        (["adapt", "category", "--site", "fuel_air"], "--site is the fault_codes scenario"),
        (["adapt", "category", "--data", "x.jsonl", "--method", "bogus"], "unknown method"),
        (["adapt", "category", "--data", "x.jsonl", "--ewc", "-1"], "is negative"),
        (["merge", "category", "--variants", "v1"], "two distinct variants"),
        (["merge", "category", "--variants", "v1,v2", "--density", "2"], "outside (0, 1]"),
        (["merge", "category", "--variants", "v1,v2", "--weights", "1,a"], "not a comma"),
        (["merge", "category", "--variants", "v1,v2", "--method", "avg"], "unknown method"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYEXPERTS_HOME", str(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "fix:" in err and "\n" not in err


def test_console_script_runs_without_traceback(tmp_path):
    env = {"TINYEXPERTS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "registry", "list"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0
    assert "registry is empty" in done.stdout


def test_bench_summary_keeps_every_suite_and_every_target(tmp_path):
    from experts.core.targets import judge, targets_of
    from services.bench_report import SUITE_ORDER, publish

    root = tmp_path / "repo"
    (root / "docs" / "bench").mkdir(parents=True)
    env = {"cpu": "test cpu", "cores": 2, "torch_threads": 2, "python": "3.11",
           "libraries": {"torch": "x"}}
    router = {"table": "| exact_match |\n|---|\n| 0.9612 |",
              "targets": judge("router", {"served_exact_match": 0.9612, "p50_b1_ms": 7.5})}
    publish({"router": router}, {"router": 12.0}, env, "tinyexperts bench --suite router",
            tmp_path / "out1", root)
    (tmp_path / "out2").mkdir()
    (tmp_path / "out2" / "serving.png").write_bytes(b"png")
    serving = {"table": "| case |\n|---|\n| direct |", "overhead_ms": 1.25,
               "targets": judge("serving", {"overhead_ms": 1.25})}
    publish({"serving": serving}, {"serving": 30.5}, env, "tinyexperts bench --suite serving",
            tmp_path / "out2", root)
    summary = json.loads((root / "docs" / "bench" / "summary.json").read_text())
    assert list(summary["suites"]) == ["router", "serving"]  # the router run is kept
    assert summary["suites"]["router"]["seconds"] == 12.0
    assert summary["suites"]["router"]["machine"]["cpu"] == "test cpu"
    names = [(t["suite"], t["name"]) for t in summary["targets"]]
    assert names == [(s, t.name) for s in SUITE_ORDER
                     for t in targets_of(s)]  # missed ones and suites not run yet too
    assert {t["measured"] for t in summary["targets"] if t["suite"] == "merge"} == {False}
    by = {(t["suite"], t["name"]): t for t in summary["targets"]}
    assert by["router", "served_exact_match"]["met"] is True
    assert by["router", "p50_b1_ms"]["met"] is False  # 7.5 ms > 5 ms
    assert by["router", "speedup_b1"]["value"] is None and not by["router", "speedup_b1"]["met"]
    assert by["serving", "overhead_ms"]["met"] is True
    assert by["serving", "live_update_failed_requests"]["met"] is False  # not measured
    md = (root / "BENCHMARKS.md").read_text()
    assert "| merge | not run yet |" in md
    assert "| 0.9612 |" in md and "| p50_b1_ms | 7.5 | <= 5 | **no** |" in md
    assert (root / "docs" / "bench" / "serving.png").read_bytes() == b"png"
    assert (tmp_path / "out2" / "summary.json").is_file()
