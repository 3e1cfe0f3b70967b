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
