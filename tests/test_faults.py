"""Faults while writing artifacts, caused for real where the OS allows it:

* a file-size limit (RLIMIT_FSIZE, the kernel's EFBIG — what a full disk looks like to the
  writer) on a real `tinyexperts adapt` process;
* kill -9 of a process in the middle of writing a version;
* a read-only file system during `registry activate` (simulated: os.replace raises EROFS —
  tests run as root, for whom chmod does not make anything read-only).

Every time: a clear one-line error and a non-zero exit, the version list and the ACTIVE
pointer unchanged, the active version still loads, and nothing half-written is visible.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experts.core.registry import Registry
from experts.predictor import load_predictor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def home(tiny_home, tmp_path):
    copy = tmp_path / "home"
    shutil.copytree(tiny_home, copy)
    return copy


def _state(home: Path, name: str) -> tuple[list[str], str, list[str]]:
    folder = home / "registry" / name
    reg = Registry(home / "registry")
    return reg.versions(name), (folder / "ACTIVE").read_text(), sorted(
        p.name for p in folder.iterdir() if p.name.startswith("."))


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a dead process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_during_adapt_leaves_the_registry_as_it_was(home):
    before = _state(home, "category")
    env = {**os.environ, "TINYEXPERTS_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "adapt", "category", "--data",
         str(home / "data" / "category"), "--method", "finetune", "--quick"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
        preexec_fn=_limit_file_size(256 * 1024))  # the weights file is ~8 MB
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "cannot write to the registry (File too large); " \
        "nothing was registered" in last and "fix: free disk space" in last, last
    assert "Traceback" not in done.stderr
    assert _state(home, "category") == before
    load_predictor(Registry(home / "registry"), "category")  # the active version still loads


WRITER = """
import sys, time
from pathlib import Path
from experts.core.registry import Registry

def slow(folder: Path):
    with (folder / "model.safetensors").open("wb") as f:
        for i in range(10_000):
            f.write(b"x" * 65536)
            f.flush()
            if i == 3:
                print("writing", flush=True)
            time.sleep(0.01)

Registry(Path(sys.argv[1])).register("category", slow, task="classify", base_model="t",
                                     labels=["a"], params=1)
"""


def test_kill_9_during_an_artifact_write_leaves_no_half_version(home, tiny_predictor,
                                                                 tokenizer):
    before = _state(home, "category")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home / "registry")], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    versions, active, hidden = _state(home, "category")
    assert (versions, active) == before[:2]  # nothing new is visible, ACTIVE untouched
    orphans = [h for h in hidden if h.startswith(".tmp-")]
    assert orphans and f".tmp-{proc.pid}-" in orphans[0]  # the half write, hidden
    reg = Registry(home / "registry")
    load_predictor(reg, "category")
    # the next write of this expert removes the dead writer's folder and counts on
    p = tiny_predictor("category", "classify", ["a", "b"])
    m = reg.register("category", lambda f: p.model.save(f), task="classify",
                     base_model="tiny", labels=["a", "b"], params=1)
    assert m.version == f"v{len(before[0]) + 1}"
    assert not [h for h in _state(home, "category")[2] if h.startswith(".tmp-")]


def test_read_only_registry_during_activate(home, monkeypatch, capsys):
    from services.cli import main

    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    reg = Registry(home / "registry")
    p_versions, p_active, p_hidden = _state(home, "category")
    real_replace = os.replace

    def read_only(src, dst):
        if str(dst).endswith("ACTIVE"):
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr("experts.core.registry.os.replace", read_only)
    assert main(["registry", "activate", "category", p_versions[0]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cannot write to the registry (Read-only file " \
        "system)" in err, err
    assert "still serves what it served before" in err
    assert _state(home, "category") == (p_versions, p_active, p_hidden)  # no .ACTIVE.* left
    load_predictor(reg, "category")
