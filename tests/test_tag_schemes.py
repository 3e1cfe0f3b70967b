"""CoNLL files in the schemes people use (IOB2, IOB1, BIOES/BILOU) are read as IOB2, with
any type name; a file no single scheme explains is refused at its line; critical types are
chosen per corpus, and with none the critical metrics are not applicable (never 0.0)."""

from __future__ import annotations

import pytest

from experts.core.errors import TinyExpertsError
from experts.data.datasets import ExpertData, critical_types
from experts.data.formats import TagExample, read_tagged
from experts.evaluate import quality


def _read(tmp_path, *sentences: str):
    path = tmp_path / "train.conll"
    path.write_text("\n\n".join("\n".join(f"w{i} {t}" for i, t in enumerate(s.split()))
                                for s in sentences) + "\n")
    rows, scheme = read_tagged(path)
    return [" ".join(r.tags) for r in rows], scheme


@pytest.mark.parametrize(("sentences", "scheme", "iob2"), [
    (["B-PER I-PER O B-LOC", "O B-LOC B-LOC"], "IOB2", ["B-PER I-PER O B-LOC", "O B-LOC B-LOC"]),
    # IOB1: I- starts an entity; B- only splits two adjacent entities of one type
    (["I-PER I-PER B-PER O I-LOC", "I-ORG O"], "IOB1",
     ["B-PER I-PER B-PER O B-LOC", "B-ORG O"]),
    # BIOES with the type names of a social-media corpus: hyphens, dots, lower case
    (["S-geo-loc O B-b.date I-b.date E-b.date", "B-person E-person"], "BIOES",
     ["B-geo-loc O B-b.date I-b.date I-b.date", "B-person I-person"]),
    (["U-PER O B-LOC L-LOC"], "BIOES", ["B-PER O B-LOC I-LOC"]),  # BILOU
])
def test_schemes_are_found_and_read_as_iob2(tmp_path, sentences, scheme, iob2):
    assert _read(tmp_path, *sentences) == (iob2, scheme)


@pytest.mark.parametrize(("sentences", "line", "words"), [
    (["B-PER O I-LOC"], 3, "mixed IOB1/IOB2"),  # B- starts one entity, I- another
    (["O I-PER", "B-LOC I-LOC"], 2, "I-PER starts an entity"),
    (["O E-PER"], 2, "E-PER continues no PER entity"),
    (["B-PER E-LOC"], 2, "E-LOC continues no LOC entity"),
])
def test_a_file_no_scheme_explains_is_refused_at_its_line(tmp_path, sentences, line, words):
    with pytest.raises(TinyExpertsError) as err:
        _read(tmp_path, *sentences)
    assert words in err.value.message and err.value.where.endswith(f"train.conll:{line}")


def _data(types: list[str], critical=None) -> ExpertData:
    labels = ["O", *[f"{p}-{t}" for t in types for p in "BI"]]
    return ExpertData("attributes", {}, labels, {}, "IOB2", critical)


def test_critical_types_are_chosen_per_corpus():
    # the project's own data has the default types; a user corpus has none unless declared
    assert critical_types("attributes", _data(["PART_NUMBER", "VEHICLE", "BRAND"])) == (
        "PART_NUMBER", "VEHICLE")
    assert critical_types("attributes", _data(["person", "geo-loc"])) == ()
    assert critical_types("attributes", _data(["person", "geo-loc"], ("geo-loc",))) == (
        "geo-loc",)
    assert critical_types("attributes", _data(["person", "geo-loc"]), ["person"]) == ("person",)
    with pytest.raises(TinyExpertsError) as err:
        critical_types("attributes", _data(["person"]), ["PERSON"])
    assert "never occur" in err.value.message and "person" in err.value.fix


def test_without_critical_types_the_critical_metrics_are_absent_not_zero(tiny_predictor):
    tagger = tiny_predictor("attributes", "tag", ["O", "B-person", "I-person"])
    rows = [TagExample(("Ann", "and", "Bo"), ("B-person", "O", "B-person"))]
    tagger.critical = ()
    assert "f1_critical" not in quality(tagger, rows) and "coverage" not in quality(tagger, rows)
    tagger.critical = ("person",)
    q = quality(tagger, rows)
    assert 0.0 <= q["f1_critical"] <= 1.0 and q["f1_critical"] == q["f1"]
    tagger.critical = None  # an old manifest: the expert's defaults, which this model lacks
    assert "f1_critical" not in quality(tagger, rows)
