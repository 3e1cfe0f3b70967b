"""Dataset formats, deterministic splits, and that test phrasings/products never reach training."""

from __future__ import annotations

import collections
import json

import pytest

from experts.core.errors import TinyExpertsError
from experts.data.datasets import PER_ITEM, load_expert_data, write_default_datasets
from experts.data.fault_text import WITH_CODE, WITHOUT_CODE
from experts.data.formats import labels_of, read_examples, split_words
from experts.data.phrasing import detokenize, split_templates
from experts.data.product_text import NOUNLESS_TEMPLATES, TITLE_TEMPLATES, title_datasets
from experts.ontology.catalog_tables import PART_CATEGORIES


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, small_ontology):
    d = tmp_path_factory.mktemp("data")
    write_default_datasets(small_ontology, d, seed=0)
    return d


def test_every_expert_gets_three_readable_splits(data_dir):
    for expert in ("category", "attributes", "compatibility", "fault_codes"):
        data = load_expert_data(expert, data_dir)
        assert all(len(rows) > 0 for rows in data.splits.values()), expert


def test_writing_twice_gives_identical_files(tmp_path, small_ontology, data_dir):
    write_default_datasets(small_ontology, tmp_path, seed=0)
    for f in ("category/train.jsonl", "attributes/test.conll", "fault_codes/test.jsonl"):
        assert (tmp_path / f).read_text() == (data_dir / f).read_text()


def test_test_products_and_templates_never_appear_in_training(small_ontology):
    cat, _ = title_datasets(small_ontology, 0, {"train": 2, "validation": 1, "test": 2})
    # products are split by id: part numbers of test products never occur in train titles
    products = {n.attrs["part_number"].lower(): n for n in small_ontology.by_type("product")}
    train_text = " ".join(e.text.lower() for e in cat["train"])
    test_pns = {pn for pn, n in products.items() if any(pn in e.text.lower() for e in cat["test"])}
    assert test_pns
    assert not [pn for pn in test_pns if len(pn) > 4 and pn in train_text]
    for templates in (TITLE_TEMPLATES, NOUNLESS_TEMPLATES, WITH_CODE, WITHOUT_CODE):
        parts = split_templates(templates, 0, n_val=1, n_test=1)
        assert not set(parts["train"]) & set(parts["test"])
        assert not set(parts["train"]) & set(parts["validation"])
        assert sorted(parts["train"] + parts["validation"] + parts["test"]) == sorted(templates)


def test_held_out_nouns_only_in_evaluation(small_ontology):
    cat, _ = title_datasets(small_ontology, 0, {"train": 3, "validation": 1, "test": 3})
    train = " ".join(e.text for e in cat["train"] if e.label == "spark plugs")
    assert "Ignition Plug" not in train  # the held-out noun of spark plugs


def test_noun_dropout_adds_category_training_titles_without_the_part_type(small_ontology):
    per = {"train": 2, "validation": 1, "test": 2}
    cat0, tag0 = title_datasets(small_ontology, 0, per)
    cat1, tag1 = title_datasets(small_ontology, 0, per, nounless_train=1)
    n_train = len(tag0["train"]) // per["train"]  # training products
    assert len(cat1["train"]) == len(cat0["train"]) + n_train
    assert cat1["train"][: len(cat0["train"])] == cat0["train"]  # the other rows unchanged
    assert cat1["validation"] == cat0["validation"] and cat1["test"] == cat0["test"]
    assert tag1 == tag0  # attributes see the same titles
    added = cat1["train"][len(cat0["train"]):]
    def names_part(e) -> bool:  # a noun of its category outside the brand ("Eastern Catalytic")
        text = e.text.lower()
        for brand in PART_CATEGORIES[e.label]["brands"]:
            text = text.replace(brand.lower(), " ")
        return any(n.lower() in text for n in PART_CATEGORIES[e.label]["nouns"])

    assert not [e.text for e in added if names_part(e)]
    # ...while the titles with nouns name their part type (the check above can fail)
    named = [e for e in cat0["train"] if names_part(e)]
    assert len(named) > len(cat0["train"]) // 2


def test_tags_align_with_words_and_round_trip(data_dir):
    rows = read_examples(data_dir / "attributes" / "train.conll", "tag")
    assert {"B-PART_NUMBER", "B-VEHICLE", "B-BRAND"} <= {t for r in rows for t in r.tags}
    for r in rows[:200]:
        assert len(r.tokens) == len(r.tags)
        assert split_words(detokenize(list(r.tokens))) == list(r.tokens)
        for prev, tag in zip(("O",) + r.tags, r.tags, strict=False):
            if tag.startswith("I-"):
                assert prev[2:] == tag[2:], r  # I- never follows another type


def test_labels_of_orders_bio_tags():
    from experts.data.formats import TagExample

    rows = [TagExample(("a", "b"), ("B-X", "I-X")), TagExample(("c",), ("B-A",))]
    assert labels_of("tag", rows) == ["O", "B-A", "I-A", "B-X", "I-X"]


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("classify", '{"text": "x", "label": "a"}\n{"text": "y"\n', ":2: not valid JSON"),
        ("classify", '{"text": "x"}\n', "field 'label'"),
        ("classify", '["x", "a"]\n', "expected a JSON object"),
        ("pair", '{"a": "x", "b": "", "label": "1"}\n', "field 'b'"),
        ("tag", "Bosch B-BRAND\nplug\n", ":2: expected 'token TAG'"),
        ("tag", "Bosch X-BRAND\n", "a tag like O, B-X"),
        ("tag", "Bosch B-\n", "a tag like O, B-X"),
        ("tag", "Bosch B-BR AND\n", "expected"),
        ("classify", "\n\n", "no examples"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, kind, content, message):
    path = tmp_path / "f.txt"
    path.write_text(content)
    with pytest.raises(TinyExpertsError) as err:
        read_examples(path, kind)
    assert message in err.value.message


def test_user_data_with_one_label_is_refused(tmp_path):
    d = tmp_path / "category"
    d.mkdir()
    for split in ("train", "validation", "test"):
        (d / f"{split}.jsonl").write_text(json.dumps({"text": "x", "label": "a"}) + "\n")
    with pytest.raises(TinyExpertsError, match="at least 2"):
        load_expert_data("category", tmp_path)


def test_symptom_lines_are_training_only_and_name_known_codes(small_ontology):
    from experts.data.fault_text import fault_code_datasets, symptom_examples
    from experts.ontology.default import build_default
    from experts.ontology.obd_symptoms import CONDITIONS

    per = {"train": 2, "validation": 1, "test": 1}
    plain = fault_code_datasets(small_ontology, 0, per, with_symptoms=False)
    rich = fault_code_datasets(small_ontology, 0, per)
    assert rich["validation"] == plain["validation"] and rich["test"] == plain["test"]
    added = len(rich["train"]) - len(plain["train"])
    assert added == len(symptom_examples(small_ontology, 0)) > 0
    codes = {n.name for n in small_ontology.by_type("code")}
    assert {ex.label for ex in rich["train"]} <= codes
    # on the full code table every condition matches codes and names a common one it has
    full = {n.name: str(n.attrs["description"]) for n in build_default().by_type("code")}
    for cond in CONDITIONS:
        matched = {c for c, d in full.items() if cond.matches(d)}
        assert matched, f"{cond.name} matches no code"
        assert set(cond.common) & set(full), f"{cond.name}: no common code in the table"
    # symptom-only lines go to the condition's common codes, most often to the first
    rows = symptom_examples(build_default(), 0)
    misfire = [r for r in rows if r.label in ("P0300", "P0301", "P0302", "P0303", "P0304")
               and "Misfire" not in r.text and "misfire" not in r.text.lower()]
    counts = {c: sum(r.label == c for r in misfire) for c in ("P0300", "P0304")}
    assert counts["P0300"] > counts["P0304"] > 0


def test_seller_year_spans_and_engines_keep_what_decides_fitment():
    """Every way of writing a year range names both ends (or lists every year), and every
    engine phrase keeps the displacement that tells engines apart."""
    import random
    import re

    from experts.data.product_text import engine_phrase, year_span

    rng = random.Random(0)
    spans = {year_span(2007, 2010, rng) for _ in range(300)}
    assert len(spans) >= 8
    for s in spans:
        years = re.findall(r"\d+", s)
        assert years[0][-2:] == "07" and years[-1][-2:] == "10", s
    engines = {engine_phrase("2.5L I4", rng) for _ in range(300)}
    assert len(engines) >= 8 and all("2.5" in e for e in engines)
    assert {"4 cyl", "I4"} & {e.split(" ", 1)[-1] for e in engines}
    assert any("turbo" in engine_phrase("1.5L I4 Turbo", rng).lower() for _ in range(50))


def test_a_listing_that_names_no_engine_fits_every_engine_of_its_models_and_years(
        small_ontology):
    """Engine-free listings: the positive is any vehicle of the listed models and years (any
    engine), the negative lies outside them; the listing names no displacement."""
    import random
    import re

    from experts.data.product_text import engine_free_pairs, product_fields

    rng = random.Random(1)
    vehicles = small_ontology.by_type("vehicle")
    checked = 0
    for node in small_ontology.by_type("product"):
        p = product_fields(node)
        same_make = [v for v in vehicles if v.attrs["make"] == p["make"]]
        pairs = engine_free_pairs(p, same_make, rng)
        if not pairs:
            continue
        checked += 1
        pos, neg = pairs
        assert (pos.label, neg.label) == ("compatible", "incompatible")
        disp = p["engine"].split()[0].removesuffix("L")
        # a thread pitch (M22 x 1.5) may share the displacement's number
        listings = re.sub(r"M\d+\s*x\s*[\d.]+", "", pos.a + " " + neg.a, flags=re.I)
        assert not re.search(rf"\b{re.escape(disp)}\b", listings), pos.a
    assert checked >= 5


def test_compatibility_pairs_come_in_both_listing_styles(data_dir):
    rows = load_expert_data("compatibility", data_dir).splits["train"]
    with_field = sum("| Fits: " in r.a for r in rows) / len(rows)
    labels = [r.label for r in rows]
    assert 0.2 < with_field < 0.9
    assert 0.4 < labels.count("compatible") / len(labels) < 0.6


def test_attribute_values_come_in_the_shapes_sellers_write_them():
    """The value keeps its number (and its words), only its shape changes."""
    import random
    import re

    from experts.data.product_text import value_variant

    rng = random.Random(0)
    cases = {("QUANTITY", "Pack of 4"): "4", ("VOLTAGE", "12V"): "12",
             ("SIZE", "350mm cable"): "350", ("THREAD", "M14x1.25"): "1.25",
             ("MATERIAL", "Double Platinum"): "platinum"}
    for (kind, value), keep in cases.items():
        shapes = {value_variant(kind, value, rng) for _ in range(200)}
        assert value in shapes and len(shapes) >= 3, (kind, shapes)
        assert all(keep in s.lower() for s in shapes), (kind, shapes)
    assert {value_variant("QUANTITY", "1 pc", rng) for _ in range(100)} >= {"single", "1 pc"}
    assert all(re.search(r"\b12", value_variant("VOLTAGE", "12 Volt", rng)) for _ in range(50))


def test_hard_negatives_spread_over_year_model_and_engine(small_ontology):
    """No single cue decides: among the negatives of listings that name an engine, some are
    ruled out by the year only, some by the model only, some by the engine only."""
    import collections
    import random

    from experts.data.product_text import hard_negative, in_listed_years, product_fields

    rng = random.Random(0)
    vehicles = small_ontology.by_type("vehicle")
    fits = small_ontology.neighbors("fits")
    cues: collections.Counter = collections.Counter()
    for node in small_ontology.by_type("product"):
        p = product_fields(node)
        fit_ids = set(fits.get(node.id, []))
        same_make = [v for v in vehicles if v.attrs["make"] == p["make"]]
        for _ in range(10):
            v = hard_negative(p, same_make, fit_ids, rng)
            assert v.id not in fit_ids and v.attrs["make"] == p["make"]
            listed, in_years = v.attrs["model"] in p["models"], in_listed_years(v, p)
            cues["year" if listed and not in_years else "model" if in_years and not listed
                  else "engine" if listed and in_years else "both"] += 1
    total = sum(cues.values())
    for cue in ("year", "model", "engine"):
        assert cues[cue] / total > 0.15, cues


def test_tagger_training_titles_carry_unseen_brands_lines_and_seller_words(small_ontology):
    from seqeval.metrics.sequence_labeling import get_entities

    from experts.data.product_text import SELLER_WORDS
    per = {"train": 6, "validation": 1, "test": 3}
    cat, tag = title_datasets(small_ontology, 0, per)
    catalog = {b.lower() for c in PART_CATEGORIES.values() for b in c["brands"]}

    def brands(rows):
        return [" ".join(r.tokens[s:e + 1]).lower() for r in rows
                for t, s, e in get_entities(list(r.tags)) if t == "BRAND"]

    train = brands(tag["train"])
    unseen = [b for b in train if b not in catalog]
    assert 0.15 < len(unseen) / len(train) < 0.45  # about 30 % of the titles
    assert all(b in catalog for b in brands(tag["test"]))  # evaluation is as it was
    assert all(b in catalog for b in brands(tag["validation"]))
    for r in tag["train"]:  # aligned, no entity broken by an insertion
        assert len(r.tokens) == len(r.tags)
        assert split_words(detokenize(list(r.tokens))) == list(r.tokens)
        for prev, t in zip(("O",) + r.tags, r.tags, strict=False):
            if t.startswith("I-"):
                assert prev[2:] == t[2:], r
    text = [" ".join(r.tokens).lower() for r in tag["train"]]
    seller = [w.lower() for w in SELLER_WORDS if " " in w]
    assert sum(any(w in t for w in seller) for t in text) > len(text) // 20
    assert not any(w in " ".join(e.text.lower() for e in cat["train"]) for w in
                   ("fast shipping", "easy install"))  # the category titles are unchanged


def test_listings_that_name_several_engines_fit_each_of_them(small_ontology, monkeypatch):
    """A training listing may name several engines ("3.5L 3.7L 5.0L"); a vehicle with any of
    them fits, one with another does not. Validation and test are as before."""
    import re

    from experts.data import product_text
    from experts.data.product_text import pair_datasets
    from experts.fitment_check import fitment_conflict

    pairs = pair_datasets(small_ontology, 0, {"train": 6, "validation": 1, "test": 2})
    disp = re.compile(r"(?<![\d.])(\d\.\d)(?!\d)")

    def several(row) -> bool:  # a listing naming more than one displacement
        return len(set(disp.findall(row.a))) > 1

    multi = [r for r in pairs["train"] if several(r)]
    monkeypatch.setattr(product_text, "MULTI_ENGINE_SHARE", 0.0)
    single = product_text.pair_datasets(small_ontology, 0, {"train": 6, "validation": 1,
                                                            "test": 2})
    assert len(multi) > 2 * sum(several(r) for r in single["train"]) + 10
    before = set(single["train"])
    multi = [r for r in multi if r not in before]
    fits = [r for r in multi if r.label == "compatible" and disp.findall(r.b)]
    assert fits and {r.label for r in multi} == {"compatible", "incompatible"}
    for r in fits:  # the buyer's engine is one the listing names, and no rule vetoes it
        assert set(disp.findall(r.b)) <= set(disp.findall(r.a)), r
        assert fitment_conflict(r.a, r.b) is None, r
    base = pair_datasets(small_ontology, 0, {"train": 1, "validation": 1, "test": 2})
    assert base["validation"] == pairs["validation"] and base["test"] == pairs["test"]



def test_written_titles_parse_into_the_words_serving_splits():
    from seqeval.metrics.sequence_labeling import get_entities

    from experts.data.written_titles import parse_title

    ex = parse_title('Brand: [BRAND Moog] | [PART_NUMBER 0 986 AF0 250] ([SIZE H4]) '
                     '[SIZE 22"] for [VEHICLE 07-12 vw jetta 2.0t]')
    assert ex.tokens == tuple(split_words('Brand: Moog | 0 986 AF0 250 (H4) 22" for '
                                          '07-12 vw jetta 2.0t'))
    spans = get_entities(list(ex.tags))
    assert [t for t, _, _ in spans] == ["BRAND", "PART_NUMBER", "SIZE", "SIZE", "VEHICLE"]
    assert [" ".join(ex.tokens[s:e + 1]) for _, s, e in spans] == [
        "Moog", "0 986 AF0 250", "H4", '22 "', "07-12 vw jetta 2.0t"]
    for bad, why in (("[COLOUR red] pads", "unknown entity type"),
                     ("pads [BRAND ACDelco", "bracket"),
                     ("[PART_NUMBER 12]34 rotor", "inside a word")):
        with pytest.raises(TinyExpertsError, match=why):
            parse_title(bad, "t.txt:1")


def test_written_titles_join_the_tagger_training_split_only(data_dir, small_ontology):
    from experts.data.written_titles import written_titles

    written = written_titles()
    assert len(written) >= 500  # the shipped file parses, every line
    data = load_expert_data("attributes", data_dir)
    as_written = {ex.tokens for ex in written}
    assert as_written <= {ex.tokens for ex in data.splits["train"]}
    for split in ("validation", "test"):
        assert not as_written & {ex.tokens for ex in data.splits[split]}
    # the rest of the training split is what the generator makes
    _, generated = title_datasets(small_ontology, 0, PER_ITEM["titles"])
    assert len(data.splits["train"]) == len(generated["train"]) + len(written)


def test_a_size_thread_or_material_is_its_value_not_what_it_measures(small_ontology):
    from seqeval.metrics.sequence_labeling import get_entities

    from experts.data.formats import MEASURED_NOUNS, value_words
    from experts.data.written_titles import written_titles

    assert value_words("SIZE", ["0.8mm", "Gap"]) == 1
    assert value_words("SIZE", ["3", "inch", "dual", "outlet"]) == 2
    assert value_words("SIZE", ["5", "wire"]) == 2  # a count of wires is the size itself
    assert value_words("SIZE", ["bore"]) == 1  # never empty
    assert value_words("THREAD", ["3/4-16", "thread"]) == 1
    assert value_words("MATERIAL", ["Aluminum", "Housing"]) == 1
    assert value_words("MATERIAL", ["iridium", "ix"]) == 1
    assert value_words("BRAND", ["Hex", "Gap"]) == 2  # other types keep their words
    _, tag = title_datasets(small_ontology, 0, {"train": 6, "validation": 1, "test": 3})
    after = collections.Counter()
    for rows in (*tag.values(), written_titles()):
        for r in rows:
            for kind, s, e in get_entities(list(r.tags)):
                if nouns := MEASURED_NOUNS.get(kind):
                    assert r.tokens[e].lower() not in nouns or s == e, r
                    if e + 1 < len(r.tokens) and r.tokens[e + 1].lower() in nouns:
                        assert r.tags[e + 1] == "O"
                        after[kind] += 1
    # the catalog's "0.044 in gap" and "aluminum housing", the writers' "2.5\" inlet"
    assert after["SIZE"] > 20 and after["MATERIAL"] > 5, after
