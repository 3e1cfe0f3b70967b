"""The artifact registry: one folder per expert version, hash-checked, written atomically.

    <root>/<expert>/<version>/manifest.json      pydantic Manifest, sha256 of every file
                             /model.safetensors  weights (no pickle)
                             /config.json        encoder + head config
                             /tokenizer.json ... tokenizer files
                             /labels.json        label -> info (descriptions, subsystem)
    <root>/<expert>/ACTIVE                       {"version": ..., "history": [...]}

The registry stores and verifies; it does not know what a model is. The loaders live with
the models they build (`experts.predictor.load_predictor`, `router.runtime.Router.load`, ...).

A version is written into a hidden temp folder and renamed into place, so readers never see
half an artifact. Loading re-hashes every file and refuses anything that does not match.
A write that fails (disk full, read-only file system) removes its temp folder and raises a
TinyExpertsError saying so; a writer killed outright (kill -9) leaves its temp folder behind,
invisible to readers, and the next register() of that expert on the same host deletes it
(the folder name carries the writer's pid and host).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from safetensors import SafetensorError

from experts.core.assets import sha256_file
from experts.core.errors import ArtifactError, NotFoundError, TinyExpertsError

VERSION_RE = re.compile(r"^v(\d+)$")
MANIFEST = "manifest.json"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    task: Literal["classify", "tag", "pair", "route", "graph_encode", "graph_answer"]
    base_model: str
    labels: list[str]
    critical_labels: list[str] = Field(default_factory=list)
    parent_version: str | None = None
    recipe: dict[str, Any] | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    params: int
    created_at: str
    files: dict[str, str]  # file name -> sha256
    data: dict[str, Any] = Field(default_factory=dict)


def is_quick(manifest: Manifest) -> bool:
    """Trained by `--quick` (a short schedule on a data subset): the flag is in `data`, or,
    for teachers registered before it moved there, in the training report."""
    return bool(manifest.data.get("quick") or manifest.metrics.get("train", {}).get("quick"))


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---- reading ----------------------------------------------------------------------

    def experts(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def path(self, name: str, version: str) -> Path:
        if version not in self.versions(name):
            known = ", ".join(self.versions(name)) or "none"
            raise NotFoundError(f"no version {version!r} of expert {name!r} (known: {known})",
                                where=str(self.root / name),
                                fix="pick a version from `tinyexperts registry list`")
        return self.root / name / version

    def manifest(self, name: str, version: str | None = None) -> Manifest:
        folder = self.path(name, version or self.active(name))
        try:
            return Manifest.model_validate_json((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ArtifactError(f"unreadable manifest ({str(err)[:120]})", where=str(folder),
                                fix="the artifact is damaged; activate another version") from None

    def active(self, name: str) -> str:
        state = self._read_active(name)
        if not state.get("version"):
            if not self.versions(name):
                raise NotFoundError(f"expert {name!r} has no registered version",
                                    where=str(self.root),
                                    fix=f"run `tinyexperts build --experts {name}`")
            raise NotFoundError(f"expert {name!r} has no active version", where=str(self.root),
                                fix=f"run `tinyexperts registry activate {name} VERSION`")
        return state["version"]

    def built(self, name: str, *, quick: bool = False) -> str | None:
        """The newest version a build can keep instead of training again: any version for
        a `--quick` build, else the newest one that was not quick-trained (the staged start
        serves quick versions first; the full build must still replace them)."""
        for version in reversed(self.versions(name)):
            try:
                if quick or not is_quick(self.manifest(name, version)):
                    return version
            except ArtifactError:
                continue  # a damaged version is never kept
        return None

    def lineage(self, name: str, version: str) -> dict:
        """The version and what it was made from, back to the pretrained base: its parent
        (adapted, specialized) or its variants (merged), each with method and data."""
        m = self.manifest(name, version)
        recipe = m.recipe or {}
        how = ("merge " + recipe["merge"].get("method", "?") if "merge" in recipe
               else "adapt " + recipe["adapt"].get("method", "?") if "adapt" in recipe
               else f"warm start from {recipe['warm_start'].get('from', '?')}, distill, "
                    "quantize" if "warm_start" in recipe
               else "specialize " + ", ".join(s.get("op", "?") for s in recipe["steps"])
               if "steps" in recipe else "trained by build")
        parents = (recipe["merge"].get("variants", []) if "merge" in recipe
                   else [m.parent_version] if m.parent_version else [])
        node = {"version": version, "how": how, "base_model": m.base_model,
                "data": {k: m.data[k] for k in ("dir", "sha256") if k in m.data}
                | ({"replay": m.data["replay"]["fraction"]} if m.data.get("replay") else {}),
                "parents": []}
        for p in parents:
            try:
                node["parents"].append(self.lineage(name, p))
            except TinyExpertsError as err:  # a parent deleted since: say so, keep the rest
                node["parents"].append({"version": p, "how": f"unavailable ({err.message})",
                                        "parents": []})
        return node

    def verify(self, name: str, version: str) -> Manifest:
        """Re-hash every file; raise ArtifactError on a missing, changed or extra file."""
        folder = self.path(name, version)
        manifest = self.manifest(name, version)
        present = {p.name for p in folder.iterdir()} - {MANIFEST}
        extra = present - set(manifest.files)
        if extra:
            raise ArtifactError(f"unexpected file(s) {sorted(extra)} in the artifact",
                                where=str(folder), fix="remove them or re-register the model")
        for fname, digest in manifest.files.items():
            f = folder / fname
            if not f.is_file():
                raise ArtifactError(f"file {fname} is missing", where=str(folder),
                                    fix="the artifact is damaged; activate another version")
            if sha256_file(f) != digest:
                raise ArtifactError(f"sha256 of {fname} does not match the manifest "
                                    "(damaged or tampered)", where=str(folder),
                                    fix="activate another version or rebuild this one")
        return manifest

    # ---- writing ----------------------------------------------------------------------

    def annotate(self, name: str, version: str, key: str, value: Any) -> Manifest:
        """Add `metrics[key]` to a registered version's manifest (e.g. the gate an update
        judged it by). The model files and their hashes are untouched; the manifest is
        replaced atomically, so a reader sees the old or the new one, never half."""
        with self._locked(name):
            manifest = self.manifest(name, version)
            manifest.metrics[key] = value
            tmp = self.root / name / f".manifest-{uuid.uuid4().hex}.tmp"
            try:
                _write_durably(tmp, manifest.model_dump_json(indent=1))
                os.replace(tmp, self.path(name, version) / MANIFEST)
            except OSError as err:
                tmp.unlink(missing_ok=True)
                raise _write_error(err, self.path(name, version), "the manifest is unchanged") \
                    from None
        return manifest

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        (self.root / name).mkdir(parents=True, exist_ok=True)
        with (self.root / name / ".lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def register(self, name: str, write_files: Callable[[Path], None],
                 **manifest_fields: Any) -> Manifest:
        """Write a new version atomically: files + manifest into a temp folder, then rename.

        `write_files(folder)` writes the model files; every file it leaves is hashed.
        """
        try:
            (self.root / name).mkdir(parents=True, exist_ok=True)
            self._sweep_orphans(name)
            tmp = self.root / name / f".tmp-{os.getpid()}-{uuid.uuid4().hex}@{_HOST}"
            tmp.mkdir()
        except OSError as err:
            raise _write_error(err, self.root / name, "nothing was registered") from None
        try:
            write_files(tmp)
            files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            with self._locked(name):
                existing = self.versions(name)
                version = f"v{int(existing[-1][1:]) + 1 if existing else 1}"
                manifest = Manifest(name=name, version=version, files=files,
                                    created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                                    **manifest_fields)
                _write_durably(tmp / MANIFEST, manifest.model_dump_json(indent=1))
                os.replace(tmp, self.root / name / version)
        except (OSError, SafetensorError) as err:  # safetensors reports I/O errors its way
            shutil.rmtree(tmp, ignore_errors=True)
            raise _write_error(err, self.root / name, "nothing was registered") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return manifest

    def _sweep_orphans(self, name: str) -> None:
        """Delete temp folders of writers on this host that no longer run (killed mid-write);
        a writer on another host sharing the registry is never judged by local pids."""
        for p in (self.root / name).glob(f".tmp-*@{_HOST}"):
            pid = p.name.split("-")[1]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)

    def activate(self, name: str, version: str) -> str:
        """Point `name` at a verified version; returns the version that was active before."""
        self.verify(name, version)
        with self._locked(name):
            state = self._read_active(name)
            previous = state.get("version")
            history = list(state.get("history", []))
            if previous and previous != version:
                history.append(previous)
            self._write_active(name, {"version": version, "history": history[-50:]})
        return previous or ""

    def rollback(self, name: str) -> str:
        """Re-activate the previously active version; returns it."""
        with self._locked(name):
            state = self._read_active(name)
            history = list(state.get("history", []))
            while history:
                candidate = history.pop()
                if candidate in self.versions(name):
                    self.verify(name, candidate)
                    self._write_active(name, {"version": candidate, "history": history})
                    return candidate
        raise TinyExpertsError(f"expert {name!r} has no earlier active version to roll back to",
                               where=str(self.root / name),
                               fix="activate a version explicitly with `registry activate`")

    def _read_active(self, name: str) -> dict:
        path = self.root / name / "ACTIVE"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise ArtifactError("ACTIVE pointer is not valid JSON", where=str(path),
                                fix=f"run `tinyexperts registry activate {name} VERSION`") from None

    def _write_active(self, name: str, state: dict) -> None:
        path = self.root / name / "ACTIVE"
        tmp = path.with_name(f".ACTIVE.{uuid.uuid4().hex}")
        try:
            _write_durably(tmp, json.dumps(state))
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise _write_error(err, path, f"{name} still serves what it served before"
                               ) from None


_HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """A process with this pid runs on this host (one we may not signal counts)."""
    if pid <= 0:  # 0 and negatives name process groups, never one process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_error(err: Exception, where: Path, outcome: str) -> TinyExpertsError:
    if isinstance(err, OSError):
        reason = err.strerror or type(err).__name__
    else:  # SafetensorError: "Error while serializing: I/O error: File too large (os error 27)"
        reason = str(err).rsplit("I/O error: ", 1)[-1].split(" (os error")[0]
    return TinyExpertsError(f"cannot write to the registry ({reason}); {outcome}",
                            where=str(where),
                            fix="free disk space or make the registry writable, then retry")


def _write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
