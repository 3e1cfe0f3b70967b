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


def test_bench_summary_collects_every_suite(tmp_path):
    from services.cli_server import write_bench_summary

    results = {
        "router": {"table": "| exact_match |\n|---|\n| 0.9612 |"},
        "serving": {"expert": "category", "direct": {"n": 5, "p50_ms": 2.0, "p99_ms": 3.0},
                    "concurrency": [{"batching": True, "clients": 8, "n": 40, "p50_ms": 9.5,
                                     "p99_ms": 20.1, "rps": 310.2}], "overhead_ms": 1.25},
        "experts": {"table": "| expert |\n|---|\n| category |",
                    "roofline": {"gemm_ceiling_gflops": 123.4, "nominal_peak_gflops": 166,
                                 "nominal_assumes_flops_per_cycle": 32}},
    }
    path = write_bench_summary(results, {"router": 12.0, "serving": 30.5, "experts": 7.5},
                               tmp_path)
    text = path.read_text()
    assert "| 0.9612 |" in text and "| **total** | 50.0 |" in text
    assert "310.2" in text and "overhead" in text and "123.4 GFLOP/s" in text
    assert "--suite router,serving,experts" in text
    assert json.loads((tmp_path / "summary.json").read_text())["seconds"]["serving"] == 30.5
