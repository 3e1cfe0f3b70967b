"""`tinyexperts update` on tiny models: adapt → re-compress with the active student's recipe
→ gate → activate; lineage back to the teacher; a failed gate activates nothing; bad input
fails before any training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experts.artifact import backend_of
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import load_expert_data
from experts.data.formats import write_examples
from experts.specialize.pipeline import specialize
from experts.specialize.recipe import load_recipe
from experts.update import UpdateConfig, fp32_parent, plan_update, update
from services.cli import main

TINY_RECIPE = """expert: category
min_quality: 0.0
steps:
  - {op: distill, layers: [0], epochs: 1}
  - {op: quantize, backend: torch-int8}
"""
quiet = lambda *_: None  # noqa: E731


@pytest.fixture()
def home(tiny_home, tmp_path) -> Path:
    """A copy of the tiny home whose category expert serves an int8 student (v2) of its
    teacher (v1), like a full build."""
    root = tmp_path / "home"
    shutil.copytree(tiny_home, root)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    specialize("category", load_recipe(recipe, "category"), root=root, quick=True,
               progress=False, log=quiet)
    return root


def _new_site(home: Path, tmp_path: Path) -> Path:
    """New data: the listings of a third of the categories (a site that sells only those)."""
    data = load_expert_data("category", Paths(home).data)
    keep = set(sorted(data.labels)[::3])
    folder = tmp_path / "new_site"
    for split, rows in data.splits.items():
        write_examples(folder / f"{split}.jsonl", "classify",
                       [r for r in rows if r.label in keep])
    return folder


def test_update_adapts_the_teacher_recompresses_gates_and_activates(home, tmp_path):
    reg = Registry(Paths(home).registry)
    assert reg.active("category") == "v2" and fp32_parent(reg, "category", "v2") == "v1"
    site = _new_site(home, tmp_path)
    cfg = UpdateConfig(method="finetune", quick=True, max_old_drop=1.0)
    plan = plan_update("category", site, cfg, home)
    assert (plan["active"], plan["adapt_from"], plan["recipe_steps"]) == (
        "v2", "v1", ["distill", "quantize"])  # the active student's own recipe
    out = update("category", site, cfg, home, progress=False, log=quiet)
    assert out["registered"] == ["v3", "v4"] and out["student"] == "v4"
    adapted, student = reg.manifest("category", "v3"), reg.manifest("category", "v4")
    assert adapted.parent_version == "v1" and student.parent_version == "v3"
    assert adapted.data["dir"] == str(site.resolve())
    assert student.data["dir"] == str(site.resolve())  # it distilled on the new data
    assert backend_of(reg.path("category", "v4")) == "torch-int8"
    gate = student.metrics["update_gate"]
    assert gate == out["gate"] and gate["passed"] and gate["active"] == "v2"
    for key in ("active_old", "candidate_old", "active_new", "candidate_new"):
        assert 0.0 <= gate[key] <= 1.0
    assert reg.verify("category", "v4")  # annotating the manifest left the files intact
    assert reg.active("category") == "v2"  # activation is the caller's
    tree = reg.lineage("category", "v4")
    chain = []
    while tree:
        chain.append((tree["version"], tree["how"].split()[0]))
        tree = tree["parents"][0] if tree["parents"] else None
    assert chain == [("v4", "specialize"), ("v3", "adapt"), ("v1", "trained")]


def test_registry_show_lineage_prints_the_chain(home, capsys, monkeypatch):
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    assert main(["registry", "show", "category", "v2", "--lineage"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("category v2  specialize distill, quantize")
    assert lines[1].startswith("└─ v1  trained by build") and "random tiny encoder" in lines[1]


def test_a_failed_gate_activates_nothing_and_says_why(home, tmp_path, monkeypatch, capsys):
    """Scores in the gate's order: active old, active new, candidate old, candidate new. The
    candidate loses 5 points on the old data (more than the 1 allowed): exit 2, the active
    version stays, the candidate is registered with the gate that refused it."""
    import experts.update

    scores = iter([0.90, 0.60, 0.85, 0.70])
    monkeypatch.setattr(experts.update, "_score", lambda *_: next(scores))
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    site = _new_site(home, tmp_path)
    assert main(["update", "category", "--data", str(site), "--method", "prompt",
                 "--quick"]) == 2
    err = capsys.readouterr().err
    assert "failed the update gate" in err and "dropped by 0.0500 > 0.01" in err
    reg = Registry(Paths(home).registry)
    assert reg.active("category") == "v2" and reg.versions("category") == ["v1", "v2", "v3",
                                                                          "v4"]
    gate = reg.manifest("category", "v4").metrics["update_gate"]
    assert (gate["passed"], gate["candidate_old"], gate["active_old"]) == (False, 0.85, 0.9)


@pytest.mark.parametrize(("args", "words"), [
    (["--merge-with", "v9"], "v9"),
    (["--merge-with", "v2"], "not an fp32 variant"),
    (["--method", "magic"], "magic"),
    (["--max-old-drop", "3"], "max-old-drop"),
])
def test_bad_update_input_fails_before_training(home, tmp_path, monkeypatch, capsys, args,
                                                words):
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    site = _new_site(home, tmp_path)
    before = Registry(Paths(home).registry).versions("category")
    assert main(["update", "category", "--data", str(site), *args]) == 2
    assert words in capsys.readouterr().err
    assert Registry(Paths(home).registry).versions("category") == before


def test_malformed_data_names_its_line_and_a_dry_run_trains_nothing(home, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\nnot json\n')
    assert main(["update", "category", "--data", str(bad)]) == 2
    assert "bad.jsonl" in capsys.readouterr().err
    site = _new_site(home, tmp_path)
    assert main(["update", "category", "--data", str(site), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["adapt_from"] == "v1" and plan["data_sizes"]["train"] > 0
    assert Registry(Paths(home).registry).versions("category") == ["v1", "v2"]
    with pytest.raises(TinyExpertsError, match="needs a token"):
        monkeypatch.delenv("TINYEXPERTS_ADMIN_TOKEN", raising=False)
        from services.cli import parser
        from services.cli_adapt import run_update
        run_update(parser().parse_args(["update", "category", "--data", str(site), "--url",
                                        "http://127.0.0.1:9"]))


def test_the_gate_counts_labels_and_tag_types_a_model_lacks_as_misses(tiny_predictor,
                                                                      monkeypatch):
    """The active version never saw the new data's new labels: those rows are misses, the
    rest are scored as usual (here: every known row right, so the score is their share)."""
    import experts.update
    from experts.data.formats import TagExample, TextExample

    monkeypatch.setattr(experts.update, "quality", lambda p, rows: {"m": 1.0})
    clf = tiny_predictor("category", "classify", ["a", "b"])
    rows = [TextExample("x", "a"), TextExample("y", "b"), TextExample("z", "new")]
    assert experts.update._score(clf, rows, "m") == pytest.approx(2 / 3)
    tagger = tiny_predictor("attributes", "tag", ["O", "B-A", "I-A"])
    rows = [TagExample(("w",), ("B-A",)), TagExample(("v", "u"), ("O", "B-NEW"))]
    assert experts.update._score(tagger, rows, "m") == pytest.approx(1 / 2)
    assert experts.update._score(tagger, rows[1:], "m") == 0.0
