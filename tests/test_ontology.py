"""The ontology file format, its validation errors, and the default build from the OBD table."""

from __future__ import annotations

import json

import pytest

from experts.core.errors import TinyExpertsError
from experts.ontology.catalog import singular
from experts.ontology.catalog_tables import PART_CATEGORIES
from experts.ontology.default import build_default
from experts.ontology.obd_codes import components_of, subsystem_of, trouble_codes
from experts.ontology.schema import Ontology
from tests.conftest import SMALL_DTC


def _write(tmp_path, obj) -> str:
    path = tmp_path / "onto.json"
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(path)


GOOD = {
    "name": "t",
    "nodes": [
        {"id": "code:P0171", "type": "code", "name": "P0171"},
        {"id": "sub:fuel", "type": "subsystem", "name": "Fuel"},
    ],
    "edges": [{"source": "code:P0171", "relation": "in_subsystem", "target": "sub:fuel"}],
}


def test_load_accepts_a_valid_file(tmp_path):
    onto = Ontology.load(_write(tmp_path, GOOD))
    assert onto.stats() == {"nodes": {"code": 1, "subsystem": 1}, "edges": {"in_subsystem": 1}}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda o: o["edges"][0].update(target="sub:nope"), "edges[0].target 'sub:nope'"),
        (lambda o: o["nodes"].append(dict(o["nodes"][0])), "used twice"),
        (lambda o: o["edges"][0].update(relation="fits"), "must link product -> vehicle"),
        (lambda o: o["nodes"][0].update(type="planet"), "nodes.0.type"),
        (lambda o: o.pop("nodes"), "nodes"),
        (lambda o: o["nodes"][0].update(colour="red"), "colour"),
    ],
)
def test_load_names_the_bad_field(tmp_path, mutate, expected):
    bad = json.loads(json.dumps(GOOD))
    mutate(bad)
    with pytest.raises(TinyExpertsError) as err:
        Ontology.load(_write(tmp_path, bad))
    assert expected in err.value.message
    assert "fix:" in err.value.message


def test_load_refuses_broken_json_and_missing_files(tmp_path):
    with pytest.raises(TinyExpertsError, match="not valid JSON"):
        Ontology.load(_write(tmp_path, '{"name": "t", "nodes": ['))
    with pytest.raises(TinyExpertsError, match="not found"):
        Ontology.load(tmp_path / "missing.json")


def test_subsystems_follow_the_standard_ranges():
    assert subsystem_of("P0171") == "Fuel and air metering"
    assert subsystem_of("P0301") == "Ignition system or misfire"
    assert subsystem_of("P0420") == "Auxiliary emission controls"
    assert subsystem_of("P0700") == "Transmission"
    assert subsystem_of("P3401") == "Cylinder deactivation"
    assert subsystem_of("U0100") == "Network communication"


def test_lexicon_folds_synonyms_into_one_component():
    for desc in ("HO2S Heater Control Circuit", "O2 Sensor Circuit Low Voltage"):
        assert "oxygen sensor" in components_of(desc)
    assert "catalytic converter" in components_of("Catalyst System Efficiency Below Threshold")
    assert "ecm/pcm" not in components_of("Lost Communication With ECM/PCM 'A'")
    assert "engine control module" in components_of("Lost Communication With ECM/PCM 'A'")


def test_reserved_codes_are_left_out():
    codes = {tc.code for tc in trouble_codes(SMALL_DTC)}
    assert "U0075" not in codes and "P0171" in codes


def test_the_real_table_gives_the_expected_size():
    codes = trouble_codes()
    assert len(codes) == 2025  # 2,066 codes in python-OBD minus 41 reserved ones
    with_component = sum(1 for c in codes if c.components)
    assert with_component / len(codes) > 0.8


def test_default_build_is_deterministic_and_seeded(small_ontology):
    again = build_default(seed=0, products_per_category=6, dtc_table=SMALL_DTC)
    other = build_default(seed=1, products_per_category=6, dtc_table=SMALL_DTC)
    assert again.model_dump_json() == small_ontology.model_dump_json()
    assert other.model_dump_json() != small_ontology.model_dump_json()


def test_default_build_covers_the_catalog(small_ontology):
    stats = small_ontology.stats()
    assert stats["nodes"]["part_category"] >= 20
    assert stats["nodes"]["code"] == 8
    for rel in ("fits", "is_a", "made_by", "has_attribute", "affects", "in_subsystem"):
        assert stats["edges"][rel] > 0
    fits = small_ontology.neighbors("fits")
    index = small_ontology.node_index()
    for product in small_ontology.by_type("product"):
        # every fitted vehicle matches the product's make, engine and year span
        for vid in fits[product.id]:
            v = index[vid].attrs
            assert v["make"] == product.attrs["make"] and v["engine"] == product.attrs["engine"]
            assert product.attrs["year_from"] <= v["year"] <= product.attrs["year_to"]


def test_product_names_use_the_category_in_the_singular(small_ontology):
    """A product is named as a listing names one item: "battery", not "batterie"."""
    assert singular("spark plugs") == "spark plug"
    assert singular("batteries") == "battery"
    assert singular("throttle bodies") == "throttle body"
    assert singular("brake switches") == "brake switch"
    assert singular("glass") == "glass"  # already singular
    named = {p.attrs["category"]: p.name for p in small_ontology.by_type("product")}
    for category, name in named.items():
        noun = singular(category)
        assert name.endswith(" " + noun), (category, name)
        # the head noun is one the category's own listings use
        assert noun.split()[-1] in " ".join(PART_CATEGORIES[category]["nouns"]).lower().split()


def test_save_load_round_trip(tmp_path, small_ontology):
    path = tmp_path / "o.json"
    small_ontology.save(path)
    assert Ontology.load(path) == small_ontology
