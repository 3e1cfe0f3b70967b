"""The one source of the project's numbers: `tinyexperts bench` writes BENCHMARKS.md and
docs/bench/summary.json here, and nothing else writes them.

summary.json holds every suite's result with the commit, date, machine and library versions
it was measured with, and a flat `"targets"` list (suite, name, value, goal, met) with
every named target — a missed one stays in with `met: false`, and one of a suite that has
not run yet with `measured: false`. A run of
one suite replaces only that suite's part; the other suites keep their own commit and date.
BENCHMARKS.md is rendered from summary.json, so the two never disagree.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path

from experts.core.targets import TARGETS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUMMARY = Path("docs/bench/summary.json")
BENCHMARKS = Path("BENCHMARKS.md")
SUITE_ORDER = ("experts", "router", "merge", "update", "llm", "imported", "serving", "answers",
               "build", "ablation")
DROP_KEYS = ("examples", "environment")  # sample answers are large; the machine is top-level


def git_state(root: Path) -> dict:
    """The commit the numbers were measured at, and whether tracked files (other than the
    bench's own BENCHMARKS.md and docs/bench/) differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    try:
        # the bench's own outputs do not make the code dirty (suites run one after another)
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                      f":!{BENCHMARKS}", f":!{SUMMARY.parent}")
        return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(changed)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def can_publish(root: Path) -> bool:
    """A tinyexperts checkout (not an installed copy): the summary belongs in its docs."""
    return (root / "pyproject.toml").is_file() and (root / ".git").exists()


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k not in DROP_KEYS}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def update_summary(summary: dict, results: dict, seconds: dict, env: dict, command: str,
                   git: dict, now: str) -> dict:
    """`summary` with the suites in `results` replaced (pure: returns a new dict)."""
    suites = dict(summary.get("suites", {}))
    for name, result in results.items():
        suites[name] = {"generated": now, **git, "command": command, "machine": env,
                        "seconds": seconds.get(name), "table": result.get("table"),
                        "result": json.loads(json.dumps(_clean(result), default=str))}
    ordered = {k: suites[k] for k in [*SUITE_ORDER, *sorted(suites)] if k in suites}
    targets = [t for name in dict.fromkeys([*SUITE_ORDER, *ordered])
               for t in _targets(name, ordered[name]["result"] if name in ordered else None)]
    return {"generated": now, **git, "machine": env, "suites": ordered, "targets": targets}


def _targets(suite: str, result: dict | None) -> list[dict]:
    """Every target of the suite, judged by its run; a target the run did not judge, or of
    a suite that has not run yet, is listed with `measured: false` and `met: false`."""
    judged = {t["name"]: t for t in (result or {}).get("targets") or []}
    out = []
    for t in TARGETS:
        if t.suite != suite:
            continue
        entry = judged.get(t.name)
        out.append({**entry, "measured": entry["value"] is not None} if entry else
                   {"suite": suite, "name": t.name, "value": None, "op": t.op, "goal": t.goal,
                    "met": False, "what": t.what, "measured": False})
    return out


def render_markdown(summary: dict, png_prefix: str = "docs/bench/") -> str:
    env = summary.get("machine", {})
    libs = ", ".join(f"{k} {v}" for k, v in (env.get("libraries") or {}).items())
    met = sum(t["met"] for t in summary["targets"])
    lines = ["# tinyexperts benchmarks", "",
             "_Written by `tinyexperts bench` from docs/bench/summary.json; do not edit by "
             "hand. Each suite names the commit and date it was measured at._", "",
             f"Machine: {env.get('cpu')}, {env.get('cores')} cores, torch threads "
             f"{env.get('torch_threads')}, Python {env.get('python')}; {libs}.", "",
             f"Targets met: {met} of {len(summary['targets'])}.", "",
             "| suite | measured | commit | wall time (s) | targets met |", "|---|---|---|---|---|"]
    for name in dict.fromkeys([*SUITE_ORDER, *summary["suites"]]):
        ts = [t for t in summary["targets"] if t["suite"] == name]
        s = summary["suites"].get(name)
        if s is None:
            lines.append(f"| {name} | not run yet | | | 0 of {len(ts)} (not measured) |")
            continue
        commit = (s.get("commit") or "?")[:10] + (" (dirty)" if s.get("dirty") else "")
        lines.append(f"| [{name}](#{name}) | {s['generated']} | {commit} | {s.get('seconds')} "
                     f"| {sum(t['met'] for t in ts)} of {len(ts)} |")
    for name, s in summary["suites"].items():
        lines += ["", f"## {name}", "", f"`{s['command']}` — {s['generated']}, commit "
                  f"{(s.get('commit') or '?')[:10]}", "", s.get("table") or "(no table)", "",
                  "| target | value | goal | met |", "|---|---|---|---|"]
        for t in (t for t in summary["targets"] if t["suite"] == name):
            value = "—" if t["value"] is None else f"{t['value']:.4g}"
            lines.append(f"| {t['name']} | {value} | {t['op']} {t['goal']:g} | "
                         f"{'yes' if t['met'] else '**no**'} |")
        lines += ["", f"![{name}]({png_prefix}{name}.png)"]
    return "\n".join(lines) + "\n"


def publish(results: dict, seconds: dict, env: dict, command: str, out: Path,
            root: Path | None = None, git: dict | None = None) -> list[Path]:
    """Merge this run into summary.json and re-render BENCHMARKS.md, in `root` (the project
    checkout) when given, and always in `out`. `git`: the commit the suites ran at, taken
    before they started (`git_state`); a commit made during a long run is not theirs.
    Returns the files written."""
    git = git or git_state(root or PROJECT_ROOT)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    written = []
    for base, png_dir in ([(root, root / "docs" / "bench")] if root else []) + [(out, out)]:
        summary_path = base / SUMMARY if base == root else base / "summary.json"
        md_path = base / BENCHMARKS if base == root else base / "summary.md"
        old = json.loads(summary_path.read_text(encoding="utf-8")) \
            if summary_path.is_file() else {}
        new = update_summary(old, results, seconds, env, command, git, now)
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(new, indent=1) + "\n", encoding="utf-8")
        md_path.write_text(render_markdown(new, "docs/bench/" if base == root else ""),
                           encoding="utf-8")
        written += [summary_path, md_path]
        if png_dir != out:
            png_dir.mkdir(parents=True, exist_ok=True)
            for suite in results:
                for png in out.glob(f"{suite}*.png"):
                    shutil.copy2(png, png_dir / png.name)
    return written
