"""`tinyexperts specialize --quick` on the real MiniLM category teacher, then `report` and
`predict` on the int8 ONNX Runtime artifact it registers."""

from __future__ import annotations

import json
import shutil

import pytest

from services.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture()
def own_home(quick_home, tmp_path, monkeypatch):
    """A private copy: the new version must not become active for the other tests."""
    home = tmp_path / "home"
    shutil.copytree(quick_home, home)
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    return home


def test_specialize_default_recipe_quick_then_report_and_predict(own_home, capsys):
    assert main(["specialize", "category", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    steps = result["report"]["steps"]
    assert result["version"] == "v2"
    assert [s["op"] for s in steps] == ["teacher v1", "distill", "prune", "freeze", "quantize"]
    teacher, final = steps[0], steps[-1]
    assert final["params"] < teacher["params"] / 4  # 3 of 6 layers, half the heads/FFN, vocab
    assert final["file_bytes"] < 0.15 * teacher["file_bytes"]
    assert steps[2]["details"]["vocab"]["after"] < 8000  # of 30,522 rows
    # int8 ONNX Runtime keeps the fp32 student's answers (same 300 test rows)
    assert abs(final["macro_f1"] - steps[3]["macro_f1"]) < 0.05
    assert final["macro_f1"] > 0.3  # 33 classes, 40 KD steps: far above chance (0.03)

    assert main(["report", "category", "--out", str(own_home / "r")]) == 0
    out = capsys.readouterr().out
    assert "| 4 | quantize |" in out
    assert (own_home / "r" / "category_v2.png").stat().st_size > 10_000

    assert main(["registry", "show", "category", "v2"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["parent_version"] == "v1" and "model.onnx" in manifest["files"]
    assert main(["predict", "category", "Bosch 0242236541 iridium spark plug 4 pcs"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "spark plugs"
