"""`tinyexperts run`: answer within minutes on a fresh machine, then become the full system.

1. Quick stage, in the foreground: whatever a served expert or the router lacks is built
   with `build --quick --teachers-only` (task heads on the frozen MiniLM: a few minutes).
2. Serving starts at once on what exists.
3. The full build (teachers, int8 students, router, GNN + graph LLM) runs in a background
   process at low priority. Each artifact it activates reaches the running server within
   seconds: experts and the router follow the registry's ACTIVE pointer, the graph LLM is
   picked up when it appears. Nothing is restarted, no request fails.

Ctrl-C stops both; the build is interrupted between registry writes (each is atomic), and
the next `tinyexperts run` resumes with what is still missing. The build reports progress
and an ETA in `<home>/build_status.json` (`tinyexperts status`) and logs to
`<home>/build.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from experts.core.assets import home as default_home
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.specs import EXPERTS
from services.system_build import ONTOLOGY, ROUTER, build, plan

BUILD_LOG = "build.log"


def config_experts(config: Path) -> list[str]:
    """The experts a Serve config serves, read without importing Ray (Serve must not load
    before the ingress mode is chosen); `serve` validates the config properly later."""
    try:
        apps = yaml.safe_load(Path(config).read_text(encoding="utf-8"))["applications"]
        names = [e for app in apps for e in (app.get("args") or {}).get("experts", [])]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as err:
        raise TinyExpertsError(f"cannot read the experts of the Serve config ({err})",
                               where=str(config),
                               fix="pass a config like deploy/serve_local.yaml") from None
    return [n for n in names if n in EXPERTS]


def quick_stage_needed(paths: Paths, experts: list[str]) -> list[str]:
    """The served experts (and the router) that have no version at all."""
    registry = Registry(paths.registry)
    return [n for n in [*experts, ROUTER] if not registry.versions(n)]


def run_quick_stage(paths: Paths, missing: list[str], *, log: Callable = print) -> float:
    """Quick teachers for `missing` (and a quick router); returns the wall seconds."""
    t0 = time.perf_counter()
    log(f"quick stage: {', '.join(missing)} (several minutes; the full system follows in the "
        "background)")
    build(missing, quick=True, teachers_only=True, root=paths.home, log=log)
    return time.perf_counter() - t0


def full_build_pending(paths: Paths) -> list[str]:
    """The stages of a full build that are not done yet."""
    registry = Registry(paths.registry)
    stages = plan([*EXPERTS, ROUTER, ONTOLOGY], registry, quick=False, force=False,
                  teachers_only=False)
    return [name for name, done in stages if not done]


def _child_setup() -> None:
    """In the build process before it starts: lower priority (queries first: serving keeps
    its cores), and SIGINT delivered even when `run` itself was started where SIGINT is
    ignored (a background job of a script), so `stop()` interrupts it cleanly."""
    os.nice(10)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class BackgroundBuild:
    """`tinyexperts build` in a child process at low priority, its output in build.log."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.log_path = paths.home / BUILD_LOG
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "TINYEXPERTS_HOME": str(self.paths.home),
               "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "build"], env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_child_setup,
                start_new_session=True)  # our Ctrl-C handling decides when it stops

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout_s: float = 20.0) -> None:
        """Interrupt the build (it records the stage as interrupted), then make sure."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def home_paths(home: Path | None) -> Paths:
    return Paths(home or default_home())
