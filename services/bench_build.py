"""`tinyexperts bench --suite build`: what a new user waits for, measured on an empty home.

Each run starts `tinyexperts run` on a new, empty $TINYEXPERTS_HOME (its own ports) and
times, from the start of the command:

- the first answer to the README's question over HTTP `/v1/query` (router + experts), and
  then over gRPC — the quick stage plus the server's start;
- on the last run, while one client keeps asking once a second: the background build's
  stages (wall times from `build_status.json`), when each expert first serves an int8
  student, when the whole compressed system is active, and every request that failed
  while versions switched live under it.

`--max-minutes` bounds the observed build; stages it did not reach are reported as
unfinished and the targets that need the whole build are then not measured (never
guessed). The model assets the packages ship (SmolLM2) are linked from the current home
when present, so a download is not what is timed.

Writes build.csv, build.json and build.png to --out and returns the suite's result.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

from experts.core.assets import home as current_home
from experts.core.targets import judge
from services.build_status import STATUS_FILE, read_status
from services.runner import default_config_on_free_ports, free_port

QUESTION = "does this Bosch 0242236541 plug fit a 2012 Civic and what thread is it?"
FIRST_ANSWER_LIMIT_S = 1800  # give up on a run that has not answered by then


def _config(folder: Path) -> tuple[Path, int, int, int]:
    """serve_local.yaml on free ports; (path, http, grpc, metrics)."""
    config = default_config_on_free_ports()
    path = folder / "serve_bench_build.yaml"
    path.write_text(yaml.safe_dump(config))
    return (path, config["http_options"]["port"], config["grpc_options"]["port"],
            free_port())


def _ask(url: str) -> tuple[int, dict | str]:
    try:
        r = httpx.post(f"{url}/v1/query", json={"text": QUESTION}, timeout=60)
        return r.status_code, r.json()
    except (httpx.HTTPError, ValueError) as err:
        return 0, str(err)


def _serving(url: str) -> dict[str, tuple[str | None, str | None]]:
    r = httpx.get(f"{url}/v1/experts", timeout=30)
    return {e["expert"]: (e["version"], e.get("backend")) for e in r.json()["experts"]}


def one_run(index: int, work: Path, *, observe_s: float, log) -> dict:
    """One `tinyexperts run` on an empty home; observe its background build for
    `observe_s` seconds at most (0: stop once both first answers came)."""
    home = work / f"home{index}"
    home.mkdir(parents=True)
    assets = current_home() / "assets"
    if assets.is_dir():
        (home / "assets").symlink_to(assets.resolve())
    config, http, grpc, metrics = _config(work)
    url = f"http://127.0.0.1:{http}"
    env = {**os.environ, "TINYEXPERTS_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    out = (work / f"run{index}.log").open("w")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--config",
                             str(config), "--metrics-port", str(metrics)], env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    row: dict = {"run": index, "first_answer_s": None, "first_grpc_answer_s": None,
                 "answer": None}
    try:
        while time.monotonic() - t0 < FIRST_ANSWER_LIMIT_S and proc.poll() is None:
            status, body = _ask(url)
            if status == 200 and isinstance(body, dict) and body.get("answer"):
                row["first_answer_s"] = round(time.monotonic() - t0, 1)
                row["answer"] = body["answer"]
                break
            time.sleep(1)
        log(f"build bench run {index}: first HTTP answer at {row['first_answer_s']} s")
        if row["first_answer_s"] is not None:
            g = subprocess.run([sys.executable, "-m", "services.cli", "query", QUESTION,
                                "--grpc", f"127.0.0.1:{grpc}"], env=env, capture_output=True,
                               text=True, timeout=120)
            if g.returncode == 0:
                row["first_grpc_answer_s"] = round(time.monotonic() - t0, 1)
        if observe_s > 0 and row["first_answer_s"] is not None:
            row.update(_observe(url, home, t0, observe_s, log))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            row["exit_code"] = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            row["exit_code"] = "killed"
        out.close()
    status = read_status(home)
    # a stage stopped by the bench's own Ctrl-C is "interrupted", not a failure
    row["stages"] = [{"name": s["name"], "seconds": s.get("seconds"),
                      "state": "interrupted" if s.get("note") == "interrupted" else s["state"]}
                     for s in (status or {}).get("stages", [])]
    return row


def _observe(url: str, home: Path, t0: float, limit_s: float, log) -> dict:
    """Ask once a second while the background build runs; when each expert first serves
    an int8 student; every failed request."""
    failed: list[dict] = []
    asked = 0
    student_at: dict[str, float] = {}
    stop = threading.Event()

    def trickle() -> None:
        nonlocal asked
        while not stop.is_set():
            status, body = _ask(url)
            asked += 1
            if status != 200:
                failed.append({"t_s": round(time.monotonic() - t0, 1), "status": status,
                               "error": str(body)[:200]})
            stop.wait(1.0)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    deadline = time.monotonic() + limit_s
    finished = None
    try:
        while time.monotonic() < deadline:
            try:
                for expert, (_, backend) in _serving(url).items():
                    if backend not in (None, "torch-fp32") and expert not in student_at:
                        student_at[expert] = round(time.monotonic() - t0, 1)
                        log(f"build bench: {expert} serves an int8 student at "
                            f"{student_at[expert]} s")
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            state = json.loads((home / STATUS_FILE).read_text()) \
                if (home / STATUS_FILE).is_file() else {}
            if state.get("finished") and not state.get("quick"):
                finished = round(time.monotonic() - t0, 1)
                break
            time.sleep(2)
    finally:
        stop.set()
        thread.join(timeout=90)
    return {"student_at_s": student_at, "full_system_s": finished, "requests": asked,
            "failed_requests": failed}


def run(out: Path, *, runs: int = 2, max_minutes: float = 180.0, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tinyexperts-bench-build-"))
    t_all = time.perf_counter()
    try:
        rows = [one_run(i, work, observe_s=max_minutes * 60 if i == runs - 1 else 0, log=log)
                for i in range(runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = summarize(rows, max_minutes, seconds=time.perf_counter() - t_all)
    (out / "build.json").write_text(json.dumps(result, indent=1, default=str))
    _write_csv(rows, out / "build.csv")
    _plot(rows[-1], out / "build.png")
    return result


def summarize(rows: list[dict], max_minutes: float, seconds: float = 0.0) -> dict:
    """The suite's result from its runs: each figure the worst run's; the build's figures
    from the observed (last) run; a figure not measured stays None and misses its target."""
    observed = rows[-1]
    firsts = [r["first_answer_s"] for r in rows]
    grpcs = [r["first_grpc_answer_s"] for r in rows]
    full = observed.get("full_system_s")
    students = observed.get("student_at_s") or {}
    watched = bool(observed.get("requests"))
    summary = {
        "runs": len(rows),
        "first_answer_s": None if None in firsts else max(firsts),
        "first_answer_s_runs": firsts,
        "first_grpc_answer_s": None if None in grpcs else max(grpcs),
        "full_system_s": full,
        # the full build's own wall time: the observed run minus its quick stage and start
        "full_build_s": round(full - observed["first_answer_s"], 1) if full else None,
        "students_active": len(students),
        "failed_requests": len(observed.get("failed_requests") or []),
        "requests": observed.get("requests", 0),
        "max_minutes": max_minutes,
        "seconds": round(seconds, 1),
    }
    targets = judge("build", {
        "first_answer_s": summary["first_answer_s"],
        "first_grpc_answer_s": summary["first_grpc_answer_s"],
        "full_build_s": summary["full_build_s"],
        "students_active": float(len(students)) if full else None,
        "failed_requests": float(summary["failed_requests"]) if watched else None,
    })
    return {"rows": rows, "summary": summary, "targets": targets, "table": _table(rows)}


def _table(rows: list[dict]) -> str:
    lines = ["| run | first HTTP answer (s) | first gRPC answer (s) | full system active (s) "
             "| int8 students live | requests / failed |", "|---|---|---|---|---|---|"]
    for r in rows:
        students = r.get("student_at_s")
        full = r.get("full_system_s") or ("not observed" if students is None else "unfinished")
        live = "-" if students is None else len(students)
        asked = "-" if students is None else f"{r['requests']} / {len(r['failed_requests'])}"
        lines.append(f"| {r['run']} | {r['first_answer_s']} | {r['first_grpc_answer_s']} | "
                     f"{full} | {live} | {asked} |")
    stages = rows[-1].get("stages") or []
    if stages:
        lines += ["", "| stage (observed run) | state | wall time (s) |", "|---|---|---|"]
        lines += [f"| {s['name']} | {s['state']} | "
                  f"{'-' if s['seconds'] is None else s['seconds']} |" for s in stages]
    return "\n".join(lines)


def _write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "first_answer_s", "first_grpc_answer_s", "full_system_s",
                    "students_active", "requests", "failed_requests"])
        for r in rows:
            w.writerow([r["run"], r["first_answer_s"], r["first_grpc_answer_s"],
                        r.get("full_system_s"), len(r.get("student_at_s") or {}),
                        r.get("requests"), len(r.get("failed_requests") or [])])


def _plot(row: dict, path: Path) -> None:
    """The observed run as a timeline: first answer, each build stage, each student live."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in row.get("stages") or [] if s.get("seconds")]
    fig, ax = plt.subplots(figsize=(9, 0.4 * max(4, len(stages) + 4)))
    start = row.get("first_answer_s") or 0.0
    ax.barh(0, start / 60, color="tab:blue")
    ax.text(0, 0, " quick stage + server start", va="center", fontsize=8, color="white")
    y = 1
    for s in stages:
        ax.barh(y, s["seconds"] / 60, left=start / 60,
                color="tab:green" if s["state"] == "done" else "tab:gray")
        ax.text(start / 60, y, f" {s['name']}", va="center", fontsize=8)
        start += s["seconds"]
        y += 1
    if row.get("first_answer_s"):
        ax.axvline(row["first_answer_s"] / 60, color="tab:blue", ls="--", label="first answer")
    for expert, t in (row.get("student_at_s") or {}).items():
        ax.axvline(t / 60, color="tab:orange", ls=":", lw=1)
        ax.text(t / 60, y, expert, rotation=90, fontsize=7, va="bottom")
    ax.set_xlim(left=0)
    ax.set_xlabel("minutes since `tinyexperts run` started")
    ax.set_yticks([])
    ax.set_title("tinyexperts run on an empty home: quick stage, then the full build live")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
