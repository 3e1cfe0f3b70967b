"""The docs quote no figure that the benchmark summary does not hold, and the summary was
measured on this history: README.md and docs/*.md (not docs/experiments.md, the dated
history) may state measured figures only if docs/bench/summary.json contains them, and goals
(after ≥, ≤, <, >) only if they are named targets."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "docs" / "bench" / "summary.json"
UNITS = r"ms|s|×|x|%|MB|GB|MiB|req/s|GFLOP/s|pts|points"
FIGURE = re.compile(rf"(?P<cmp>[≥≤<>]=?\s*)?(?<![\w.,/-])(?P<num>\d+(?:\.\d+)?)\s?"
                    rf"(?P<unit>{UNITS})(?![\w/])|(?P<cmp2>[≥≤<>]=?\s*)?(?<![\w.,/-])"
                    rf"(?P<dec>0\.\d{{2,}})(?![\d\w])")


def prose(text: str) -> str:
    """The text without code blocks and inline code (commands and config values)."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", " ", text)


def figures(text: str) -> list[tuple[str, bool]]:
    """(figure, is_goal) for every measured-looking number in the prose of `text`."""
    out = []
    for m in FIGURE.finditer(prose(text)):
        num = m.group("num") or m.group("dec")
        out.append((num, bool(m.group("cmp") or m.group("cmp2"))))
    return out


def numbers_in(obj) -> list[float]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in numbers_in(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in numbers_in(v)]
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, str):  # numbers inside the rendered tables
        return [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", obj)]
    return []


def matches(figure: str, pool: list[float]) -> bool:
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    want = float(figure)
    return any(round(x, decimals) == want or round(100 * x, decimals) == want for x in pool)


def test_figure_scan_finds_measured_numbers_and_skips_code():
    text = "p50 is 13.4 ms and 9.8× faster; F1 0.946. Target ≥ 5× at `max_batch_size: 32`.\n" \
           "```\ntinyexperts bench --rounds 7 # 3.2 ms\n```\nSmolLM2-135M, 2 cores, v1.2"
    assert figures(text) == [("13.4", False), ("9.8", False), ("0.946", False), ("5", True)]


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md")
                                        if p.name != "experiments.md")]


@pytest.fixture(scope="module")
def summary() -> dict:
    assert SUMMARY.is_file(), "docs/bench/summary.json is missing: run `tinyexperts bench`"
    return json.loads(SUMMARY.read_text(encoding="utf-8"))


def test_docs_quote_only_figures_the_summary_holds(summary):
    measured = numbers_in(summary["suites"])
    goals = [t["goal"] for t in summary["targets"]]
    bad = []
    for path in doc_files():
        for figure, is_goal in figures(path.read_text(encoding="utf-8")):
            if not matches(figure, goals if is_goal else measured + goals):
                bad.append(f"{path.relative_to(ROOT)}: {'goal' if is_goal else 'figure'} "
                           f"{figure} is not in docs/bench/summary.json")
    assert not bad, "\n".join(bad)


def test_summary_names_every_target_with_its_verdict(summary):
    from experts.core.targets import targets_of

    for suite in ("experts", "router", "merge", "llm", "serving"):  # run or not
        listed = [t["name"] for t in summary["targets"] if t["suite"] == suite]
        assert listed == [t.name for t in targets_of(suite)]
    assert all(isinstance(t["met"], bool) for t in summary["targets"])


def test_summary_was_measured_on_this_history(summary):
    for suite, part in summary["suites"].items():
        commit = part.get("commit")
        assert commit, f"suite {suite} records no commit"
        r = subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"suite {suite}: commit {commit[:10]} is not an ancestor " \
                                  f"of HEAD ({r.stderr.strip()})"
