"""External evaluation sets: they ship, parse, are never training data, and score as said."""

from __future__ import annotations

import json

import pytest

from experts.baselines import description_lookup
from experts.core.errors import TinyExpertsError
from experts.data import external
from experts.data.external import FILES, any_hit, external_fits, read_external
from experts.specs import get_spec
from router.data import OUTPUTS, read_external_router

MIN_SIZE = {"category": 150, "attributes": 100, "compatibility": 100, "fault_codes": 100}


@pytest.mark.parametrize("name", sorted(MIN_SIZE))
def test_every_expert_has_an_external_set_with_its_provenance(name):
    ext = read_external(name, get_spec(name).kind)
    assert len(ext.examples) >= MIN_SIZE[name]
    assert (external.EXTERNAL_DIR / FILES[name]).with_suffix(".md").is_file()
    if name == "category":  # every line's label is one of the expert's categories
        labels = json.loads(json.dumps([e.label for e in ext.examples]))
        assert len(set(labels)) >= 25


def test_the_router_set_has_200_queries_over_every_skill_and_out_of_scope():
    rows = read_external_router()
    assert len(rows) >= 200
    needed = {o for q in rows for o in q.experts}
    assert needed == set(OUTPUTS)
    assert sum(not q.experts for q in rows) >= 20  # out of scope
    assert sum(len(q.experts) == 2 for q in rows) >= 20  # two skills at once
    assert {q.phrasing for q in rows} >= {"negation", "shorthand", "bare_code"}


def test_a_fault_code_line_counts_when_any_of_its_codes_is_predicted(tmp_path, monkeypatch):
    (tmp_path / "fault_codes.jsonl").write_text(
        '{"text": "shakes at idle", "labels": ["P0300", "P0301"]}\n'
        '{"text": "cat smell", "labels": ["P0420"]}\n', encoding="utf-8")
    monkeypatch.setattr(external, "EXTERNAL_DIR", tmp_path)
    ext = read_external("fault_codes", "classify")
    assert ext.label_sets == [("P0300", "P0301"), ("P0420",)]
    assert [e.label for e in ext.examples] == ["P0300", "P0420"]
    ranked = [["P0301", "P0171"], ["P0171", "P0430", "P0420", "P0300", "P0101", "P0420"]]
    assert any_hit(ranked, ext.label_sets) == {"top1": 0.5, "top5": 1.0}
    assert any_hit([["P0171"] * 5, ["P0101"] * 5], ext.label_sets) == {"top1": 0.0,
                                                                        "top5": 0.0}


def test_a_malformed_external_line_is_refused_with_its_line(tmp_path, monkeypatch):
    (tmp_path / "fault_codes.jsonl").write_text('{"text": "ok", "labels": ["P0300"]}\n'
                                                '{"text": "no labels"}\n', encoding="utf-8")
    (tmp_path / "router.jsonl").write_text('{"text": "hi", "experts": ["llm", "category"]}\n',
                                           encoding="utf-8")
    monkeypatch.setattr(external, "EXTERNAL_DIR", tmp_path)
    with pytest.raises(TinyExpertsError) as err:
        read_external("fault_codes", "classify")
    assert err.value.where.endswith("fault_codes.jsonl:2")
    with pytest.raises(TinyExpertsError) as err:  # a set of experts no intent has
        read_external_router()
    assert err.value.where.endswith("router.jsonl:1")
    with pytest.raises(TinyExpertsError):
        read_external("nonesuch", "classify")


def test_the_description_lookup_finds_the_code_whose_text_matches():
    descriptions = {"P0300": "Random/Multiple Cylinder Misfire Detected",
                    "P0420": "Catalyst System Efficiency Below Threshold (Bank 1)",
                    "P0171": "System Too Lean (Bank 1)"}
    ranked = description_lookup(descriptions, ["catalyst efficiency below threshold",
                                               "engine running too lean on bank 1"], k=2)
    assert ranked[0][0] == "P0420"
    assert ranked[1][0] == "P0171"
    assert len(ranked[0]) == 2


def test_an_external_set_is_scored_only_for_a_model_with_its_labels():
    tags = read_external("attributes", "tag")
    own = sorted({t for ex in tags.examples for t in ex.tags})
    assert external_fits(tags, own)
    # a tagger trained on another corpus (social-media types) has none of these types
    assert not external_fits(tags, ["O", "B-person", "I-person", "B-geo-loc", "I-geo-loc"])
    cats = read_external("category", "classify")
    assert not external_fits(cats, sorted({e.label for e in cats.examples})[1:])
    # any-label lines (fault codes) count a hit on any one label: always scored
    assert external_fits(read_external("fault_codes", "classify"), ["P0300"])
