"""Nothing the project loads can execute code: no pickle in the source, no pickled file in
an artifact. (Admin token, import_path and tampered artifacts are tested elsewhere:
test_serving, test_deploy_configs, test_registry / test_real_build.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("experts", "services", "router", "ontology_gnn")
UNSAFE = [
    (re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib|shelve|marshal)\b", re.M),
     "a pickle-family import"),
    (re.compile(r"torch\.load\((?![^)]*weights_only\s*=\s*True)"),
     "torch.load without weights_only=True"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy allow_pickle=True"),
    (re.compile(r"yaml\.load\((?![^)]*SafeLoader)"), "yaml.load without SafeLoader"),
    (re.compile(r"(?<![\w.])(?<!def )(eval|exec)\("), "eval/exec"),
]
# file kinds an artifact may hold: weights, configs, tokenizer, ONNX graphs
ARTIFACT_SUFFIXES = {".safetensors", ".json", ".txt", ".onnx", ".model"}


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if "proto_gen" not in p.parts]


def test_the_scan_catches_what_it_looks_for():
    bad = ("import pickle\nx = torch.load(f)\nnp.load(f, allow_pickle=True)\n"
           "yaml.load(text)\neval(s)\n")
    found = {why for rx, why in UNSAFE if rx.search(bad)}
    assert found == {why for _, why in UNSAFE}
    fine = ("torch.load(f, weights_only=True)\nyaml.safe_load(t)\nmodel.eval()\n"
            "def eval(self):\n")
    assert not [why for rx, why in UNSAFE if rx.search(fine)]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unsafe_loading_in_the_source(path):
    text = path.read_text(encoding="utf-8")
    hits = [why for rx, why in UNSAFE if rx.search(text)]
    assert not hits, f"{path.relative_to(ROOT)}: {hits}"


def test_registered_artifacts_hold_no_pickled_files(tiny_home):
    files = [p for p in (tiny_home / "registry").rglob("*") if p.is_file()
             and p.parent.name.startswith("v")]
    assert files
    odd = sorted({p.suffix for p in files} - ARTIFACT_SUFFIXES)
    assert not odd, f"unexpected artifact file kinds: {odd}"
    for p in files:
        with p.open("rb") as f:
            head = f.read(2)
        assert head != b"\x80\x04" and head[:1] != b"\x80", f"{p} starts like a pickle"
