"""The layers hold: import-linter's contracts (.importlinter) pass, and no module imports
another module's private (`_name`) helpers."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("experts", "router", "ontology_gnn", "services")


def test_import_linter_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is not installed (pip install -e '.[dev]')"
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "4 kept, 0 broken" in r.stdout


def private_imports(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, module, name) of every `from <project module> import _name`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split(".")[0] in PACKAGES:
            found += [(node.lineno, node.module, a.name) for a in node.names
                      if a.name.startswith("_")]
    return found


def test_private_import_scan_finds_one():
    tree = ast.parse("from experts.data.fault_text import WITH_CODE, _hidden\n")
    assert private_imports(tree) == [(1, "experts.data.fault_text", "_hidden")]


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if ".venv" in path.parts or "proto_gen" in path.parts:
            continue
        for line, module, name in private_imports(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: from {module} import {name}")
    assert not offenders, "\n".join(offenders)
