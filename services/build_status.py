"""What a build is doing, for `tinyexperts status` while it runs: one JSON file per home.

`build` writes `<home>/build_status.json` as it goes: its stages in order, each pending,
running, done, skipped or failed, with wall times, and an estimate of the time left. The
estimate for a stage is the time it took the last time it ran on this home
(`build_times.json`), else its time on the reference machine (2 cores, no GPU).
Files are replaced atomically, so a reader never sees half a file; a build that was killed
leaves a status whose pid is gone, which readers report as interrupted.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from experts.core.registry import pid_alive

STATUS_FILE = "build_status.json"
TIMES_FILE = "build_times.json"

# Wall seconds per stage of a full build on the reference machine (2 cores, no GPU): the
# foreground build of 2026-12-06 into an empty home (docs/experiments.md, "The project's
# shape"); the ontology stage from its own build on the same day after the projector went to
# one pass; the attributes stages scaled by 1.33, what 650 written training titles added on
# 2026-12-07 (teacher 107 -> 144 s, student 192 -> 254 s, one build each). A quick stage is
# estimated at a tenth.
REFERENCE_S = {
    "category teacher": 114, "attributes teacher": 108, "compatibility teacher": 407,
    "fault_codes teacher": 268, "category student": 152, "attributes student": 207,
    "compatibility student": 249, "fault_codes student": 465, "router": 602,
    "ontology": 315,
}
QUICK_SHARE = 0.1
UNKNOWN_S = 300.0


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class BuildStatus:
    """The running build's record; every change is written through at once."""

    def __init__(self, home: Path, stages: list[tuple[str, bool]], *, quick: bool) -> None:
        """stages: (name, already done) in the order the build runs them."""
        self.home = Path(home)
        self.quick = quick
        times = _read_json(self.home / TIMES_FILE) or {}
        self.expected = {name: self._expected(name, times) for name, _ in stages}
        self.state = {"pid": os.getpid(), "quick": quick, "started": time.time(),
                      "finished": None,
                      "stages": [{"name": n, "state": "skipped" if done else "pending",
                                  "seconds": None, "started": None, "note": None}
                                 for n, done in stages]}
        self._save()

    def _expected(self, name: str, times: dict) -> float:
        key = f"{'quick ' if self.quick else ''}{name}"
        if key in times:
            return float(times[key])
        base = REFERENCE_S.get(name, UNKNOWN_S)
        return base * QUICK_SHARE if self.quick else base

    def _stage(self, name: str) -> dict:
        return next(s for s in self.state["stages"] if s["name"] == name)

    def start(self, name: str) -> None:
        self._stage(name).update(state="running", started=time.time())
        self._save()

    def finish(self, name: str, seconds: float, *, ok: bool = True, note: str | None = None,
               measured: bool = True) -> None:
        """`measured`: the stage did its work (else it found it done: skipped), so its time
        predicts the next run's."""
        state = ("done" if measured else "skipped") if ok else "failed"
        self._stage(name).update(state=state, seconds=round(seconds, 1) if measured else None,
                                 note=note)
        if ok and measured:
            path = self.home / TIMES_FILE
            times = _read_json(path) or {}
            times[f"{'quick ' if self.quick else ''}{name}"] = round(seconds, 1)
            _write_json(path, times)
        self._save()

    def close(self) -> None:
        self.state["finished"] = time.time()
        self._save()

    def _save(self) -> None:
        for s in self.state["stages"]:
            s["expected_s"] = round(self.expected[s["name"]], 1)
        self.state["eta_s"] = round(self.eta(), 1)
        _write_json(self.home / STATUS_FILE, self.state)

    def eta(self, now: float | None = None) -> float:
        return eta_of(self.state, now)


def eta_of(state: dict, now: float | None = None) -> float:
    """Seconds left: every pending stage's expected time, plus what the running one is
    expected to need beyond what it has used (at least nothing)."""
    now = time.time() if now is None else now
    left = 0.0
    for s in state["stages"]:
        if s["state"] == "pending":
            left += s.get("expected_s") or 0.0
        elif s["state"] == "running":
            left += max(0.0, (s.get("expected_s") or 0.0) - (now - s["started"]))
    return left


def read_status(home: Path) -> dict | None:
    """The home's last build as written, plus `running` (its process is alive and it has
    not finished), `interrupted` (it stopped without finishing) and a fresh `eta_s`."""
    state = _read_json(Path(home) / STATUS_FILE)
    if not state or "stages" not in state:
        return None
    running = state.get("finished") is None and pid_alive(int(state.get("pid", 0)))
    state["running"] = running
    state["interrupted"] = state.get("finished") is None and not running
    state["eta_s"] = round(eta_of(state), 1) if running else 0.0
    return state
