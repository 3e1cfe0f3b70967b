"""A quick build of one real expert on the pretrained MiniLM, then eval/predict via the CLI."""

from __future__ import annotations

import json

import pytest

from services.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture()
def built_home(in_home):
    return in_home


def test_quick_real_build_registers_a_useful_teacher(built_home, capsys):
    capsys.readouterr()
    assert main(["registry", "list", "--json"]) == 0
    rows = {r["expert"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted((r["expert"], r["version"], r["active"]) for r in rows.values()) == [
        ("category", "v1", True), ("compatibility", "v1", True)]
    # 33 categories, unseen products and phrasings: chance is 3 %
    assert rows["category"]["test"] > 0.6
    assert rows["category"]["params"] == pytest.approx(22.7e6, rel=0.01)  # real MiniLM + head


def test_eval_and_predict_on_the_real_teacher(built_home, capsys):
    capsys.readouterr()
    assert main(["eval", "category", "--split", "validation", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["macro_f1"] > 0.6 and report["file_bytes"] > 80e6
    assert report["latency_b1"]["mean_ms"] > 0
    assert main(["predict", "category", "Bosch 0242236541 iridium spark plug 4 pcs"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "spark plugs"


def test_a_tampered_model_is_refused_by_the_cli(built_home, capsys):
    weights = built_home / "registry" / "category" / "v1" / "model.safetensors"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-10] + b"0123456789")
        assert main(["predict", "category", "spark plug"]) == 2
        assert "sha256 of model.safetensors does not match" in capsys.readouterr().err
    finally:
        weights.write_bytes(original)


def test_build_without_teachers_only_serves_the_int8_student(quick_home, tmp_path, monkeypatch,
                                                              capsys):
    """`build` goes on from the teacher to its student (default recipe), which becomes
    active; a second build finds nothing to do; a rolled-back student is not rebuilt."""
    import shutil

    from experts.core.registry import Registry
    from experts.predictor import load_predictor

    home = tmp_path / "home"
    shutil.copytree(quick_home, home)
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    assert main(["build", "--experts", "category", "--quick", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [(d["expert"], d["version"]) for d in done] == [("category", "v2")]
    reg = Registry(home / "registry")
    assert reg.active("category") == "v2"
    student = load_predictor(reg, "category")
    assert student.backend == "onnx-int8" and reg.manifest("category").parent_version == "v1"
    assert student.predict(["Bosch 0242236541 iridium spark plug 4 pcs"])[0]["label"]
    assert main(["build", "--experts", "category", "--quick", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing missing
    reg.rollback("category")  # back to the teacher: the build respects that choice
    assert main(["build", "--experts", "category", "--quick", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [] and reg.active("category") == "v1"
