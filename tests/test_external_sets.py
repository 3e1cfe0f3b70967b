"""External evaluation sets: they ship, parse, are never training data, and score as said."""

from __future__ import annotations

import json
import re

import pytest

from experts.baselines import description_lookup
from experts.core.errors import TinyExpertsError
from experts.data import external
from experts.data.external import FILES, FURTHER, any_hit, external_fits, read_external
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


def test_fault_codes_has_a_second_set_of_paragraphs_that_never_name_a_code():
    assert set(FURTHER) <= set(MIN_SIZE)
    ext = read_external(FURTHER["fault_codes"]["summaries"], "classify")
    assert len(ext.examples) >= 100
    assert ext.label_sets is not None and all(1 <= len(s) <= 4 for s in ext.label_sets)
    assert external.external_path("fault_codes_summaries").with_suffix(".md").is_file()
    words = sorted(len(e.text.split()) for e in ext.examples)
    assert words[0] >= 60  # paragraphs, past the expert's 48-token training length
    assert not any(re.search(r"\b[PCBU][0-9]{4}\b", e.text, re.I) for e in ext.examples)
    main = {e.text for e in read_external("fault_codes", "classify").examples}
    assert not main & {e.text for e in ext.examples}


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


def test_the_experts_bench_scores_a_further_set_beside_the_main_one():
    from types import SimpleNamespace

    from experts.bench_experts import further_external_rows, quality_table

    ext = read_external("fault_codes_summaries", "classify")
    labels = sorted({c for s in ext.label_sets for c in s})

    class Ranker:  # names each line's first code, or always a code no line has
        def __init__(self, right: bool):
            self.right, self.labels = right, labels

        def rank(self, examples, k):
            return [[(e.label if self.right else "P0000", 1.0)] for e in examples]

    data = SimpleNamespace(labels=labels, label_info={})
    row = further_external_rows("fault_codes", get_spec("fault_codes"), data,
                                Ranker(True), Ranker(False))
    assert row["external_summaries_n"] == len(ext.examples)
    assert row["teacher_external_summaries_top5"] == 1.0
    assert row["student_external_summaries_top5"] == 0.0
    assert row["external_summaries_quality_ratio"] == 0.0
    assert 0.0 <= row["baseline_external_summaries_top5"] <= 1.0
    assert "external_top5" not in " ".join(row)  # the main set's keys are its own
    table = quality_table([{"expert": "fault_codes", **row}])
    assert f"| fault_codes (summaries) | | | | | top5 ({len(ext.examples)}) | 1.000 | 0.000 |" \
        in table
    assert further_external_rows("category", get_spec("category"), data, None, None) == {}
