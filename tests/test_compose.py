"""Entity linking and answer composition on a hand-made ontology whose every fact is known:
a linked product gives catalog answers (fitment, attributes, category), an unknown part
gives no invented product or fitment, a code gives its meaning and the parts to check."""

import os
import re

import pytest

from experts.ontology.linker import OntologyLinker, normalize_part_number
from experts.ontology.schema import Edge, Node, Ontology
from services.compose import Composer

PLUG = "product:plug_1"
COIL = "product:coil_1"


def _ontology() -> Ontology:
    n = Node
    nodes = [
        n(id="system:pt", type="system", name="Powertrain"),
        n(id="sub:ign", type="subsystem", name="Ignition system or misfire"),
        n(id="sub:fuel", type="subsystem", name="Fuel and air metering"),
        n(id="code:P0301", type="code", name="P0301", text="P0301: Cylinder 1 Misfire Detected",
          attrs={"description": "Cylinder 1 Misfire Detected"}),
        n(id="code:P0171", type="code", name="P0171", text="P0171: System Too Lean",
          attrs={"description": "System Too Lean"}),
        n(id="code:P0131", type="code", name="P0131", text="P0131: O2 Sensor Circuit Low",
          attrs={"description": "O2 Sensor Circuit Low Voltage"}),
        n(id="component:spark_plug", type="component", name="spark plug"),
        n(id="component:o2", type="component", name="oxygen sensor"),
        n(id="category:spark_plugs", type="part_category", name="spark plugs",
          text="spark plugs: Spark Plug, Sparkplug, Plug"),
        n(id="category:o2", type="part_category", name="oxygen sensors",
          text="oxygen sensors: O2 Sensor, Lambda Sensor"),
        n(id="category:coils", type="part_category", name="ignition coils",
          text="ignition coils: Coil Pack"),
        n(id="brand:ngk", type="brand", name="NGK"),
        n(id="brand:bosch", type="brand", name="Bosch"),
        n(id="vehicle:civic_2012_18", type="vehicle", name="2012 Honda Civic 1.8L I4",
          attrs={"make": "Honda", "model": "Civic", "year": 2012, "engine": "1.8L I4"}),
        n(id="vehicle:civic_2012_24", type="vehicle", name="2012 Honda Civic 2.4L I4",
          attrs={"make": "Honda", "model": "Civic", "year": 2012, "engine": "2.4L I4"}),
        n(id="vehicle:civic_2013_18", type="vehicle", name="2013 Honda Civic 1.8L I4",
          attrs={"make": "Honda", "model": "Civic", "year": 2013, "engine": "1.8L I4"}),
        n(id="vehicle:fit_2012_15", type="vehicle", name="2012 Honda Fit 1.5L I4",
          attrs={"make": "Honda", "model": "Fit", "year": 2012, "engine": "1.5L I4"}),
        n(id=PLUG, type="product", name="NGK 9723-B spark plug",
          text="NGK 9723-B spark plug, Iridium, M14x1.25, fits 2012-2013 Honda Civic 1.8L I4",
          attrs={"category": "spark plugs", "brand": "NGK", "part_number": "9723-B",
                 "make": "Honda", "engine": "1.8L I4", "models": ["Civic"], "year_from": 2012,
                 "year_to": 2013, "attr_THREAD": "M14x1.25", "attr_MATERIAL": "Iridium"}),
        n(id=COIL, type="product", name="Bosch 0 221 504 470 ignition coil",
          text="Bosch 0 221 504 470 ignition coil, fits 2012 Honda Fit 1.5L I4",
          attrs={"category": "ignition coils", "brand": "Bosch", "part_number": "0 221 504 470",
                 "make": "Honda", "engine": "1.5L I4", "models": ["Fit"], "year_from": 2012,
                 "year_to": 2012}),
    ]
    e = Edge
    edges = [
        e(source="sub:ign", relation="part_of", target="system:pt"),
        e(source="sub:fuel", relation="part_of", target="system:pt"),
        e(source="code:P0301", relation="in_subsystem", target="sub:ign"),
        e(source="code:P0171", relation="in_subsystem", target="sub:fuel"),
        e(source="code:P0131", relation="in_subsystem", target="sub:fuel"),
        e(source="code:P0301", relation="affects", target="component:spark_plug"),
        e(source="code:P0131", relation="affects", target="component:o2"),
        e(source="category:spark_plugs", relation="for_component", target="component:spark_plug"),
        e(source="category:o2", relation="for_component", target="component:o2"),
        e(source=PLUG, relation="is_a", target="category:spark_plugs"),
        e(source=COIL, relation="is_a", target="category:coils"),
        e(source=PLUG, relation="made_by", target="brand:ngk"),
        e(source=COIL, relation="made_by", target="brand:bosch"),
        e(source=PLUG, relation="fits", target="vehicle:civic_2012_18"),
        e(source=PLUG, relation="fits", target="vehicle:civic_2013_18"),
        e(source=COIL, relation="fits", target="vehicle:fit_2012_15"),
    ]
    return Ontology(name="tiny", nodes=nodes, edges=edges)


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(_ontology())


def _expert(name: str, predictions: list[dict], version: str = "v7") -> dict:
    return {"expert": name, "version": version, "status": 200, "predictions": predictions}


def _answer(composer, text, experts=(), results=None, context=None):
    plan = composer.plan(text, list(experts), context)
    answer, facts = composer.compose(plan, results or {})
    return plan, answer, facts


# ---- linking ----------------------------------------------------------------------------

def test_linker_finds_part_numbers_whatever_their_spacing_and_vehicles_with_engines():
    linker = OntologyLinker(_ontology())
    links = linker.link("will the bosch 0221504470 coil fit my 2012 honda fit?")
    assert links.products == [COIL] and links.brands == ["brand:bosch"]
    assert [v.ids for v in links.vehicles] == [["vehicle:fit_2012_15"]]
    links = linker.link("ngk 9723B for a 2012 Civic 2.4L")
    assert links.products == [PLUG]
    assert links.vehicles[0].ids == ["vehicle:civic_2012_24"]  # the engine narrows it
    assert links.vehicles[0].name == "2012 Honda Civic 2.4L"
    assert normalize_part_number("0 221-504.470") == "0221504470"


def test_linker_does_not_read_fit_the_verb_as_the_honda_fit():
    links = OntologyLinker(_ontology()).link("does it fit 2013 models of the civic")
    assert links.vehicles == []  # "fit 2013" is a verb and a year, "civic" has no year


def test_linker_reads_years_and_engines_as_buyers_type_them():
    linker = OntologyLinker(_ontology())

    def vehicles(text):
        return [(v.year, v.engine, v.ids) for v in linker.link(text).vehicles]

    assert vehicles("will it fit my 12 civic?") == [
        (2012, None, ["vehicle:civic_2012_18", "vehicle:civic_2012_24"])]
    assert vehicles("ok on a civic 13") == [(2013, None, ["vehicle:civic_2013_18"])]
    # the engine after "with the", or after the cylinders
    assert vehicles("my 12 civic with the 2.4?") == [(2012, "2.4", ["vehicle:civic_2012_24"])]
    assert vehicles("2012 civic 4-cylinder 1.8") == [(2012, "1.8", ["vehicle:civic_2012_18"])]
    assert vehicles("civic i4 2.4, 2012") == []  # no year beside the model: not a vehicle
    # sizes and counts beside a model are not years
    assert vehicles("NGK plug 14 mm for civic 12 volt, pack of 4") == []
    assert vehicles("does it fit 12 models of the civic") == []


@pytest.mark.parametrize(("text", "kinds"), [
    ("NGK 9723-B how many amps", ["SIZE"]),  # a measure after "how many" is not a count
    ("how many wires does the NGK 9723-B have", ["SIZE"]),
    ("what's the amperage of the NGK 9723-B", ["SIZE"]),
    ("how many volts is NGK 9723-B", ["VOLTAGE"]),
    ("how many come in the box, NGK 9723-B?", ["QUANTITY"]),
    ("who makes 9723-B", ["BRAND"]),
    ("what category is this: brand new NGK 9723-B plug", []),  # "brand new": no brand asked
    ("NGK 9723-B, 4 pieces, 12 volt, for a 2012 civic", []),  # a listing's words: not asked
])
def test_linker_reads_which_attribute_a_question_asks_for(text, kinds):
    assert OntologyLinker(_ontology()).link(text).attribute_kinds == kinds


def test_a_vehicle_named_in_a_pasted_listing_and_again_in_the_question_is_asked_as_asked(
        composer):
    """The listing's "2012 Civic" and the question's "Civic '12 2.4L" are two mentions: the
    question's one, with its engine, is the vehicle asked about."""
    text = "NGK 9723-B plug for 2012 Civic, 2012-2013. will it fit my Civic '12 2.4L?"
    links = OntologyLinker(_ontology()).link(text)
    assert [(v.year, v.engine) for v in links.vehicles] == [(2012, None), (2012, "2.4")]
    plan, answer, facts = _answer(composer, text, ["compatibility"])
    assert [v.name for v in composer.asked_vehicles(plan)] == ["2012 Honda Civic 2.4L"]
    assert answer.startswith("No: ")  # the plug fits the 1.8L only
    assert [f.value for f in facts if f.kind == "fits"] == [False]


def test_linker_reports_unknown_codes_parts_and_vehicles():
    links = OntologyLinker(_ontology()).link("Bosch 0242236541 plug for a 1999 Civic, P1234?")
    assert links.unknown_parts == ["0242236541"] and links.products == []
    assert links.unknown_codes == ["P1234"] and links.codes == []
    assert links.unknown_vehicles == ["1999 Honda Civic"] and links.vehicles == []
    # a two-digit number before a year-like one is a part number, not a year range
    other = OntologyLinker(_ontology()).link("will the 12-2045 work on my 2012-2013 civic")
    assert other.unknown_parts == ["12-2045"]
    twice = OntologyLinker(_ontology()).link("fits 1999 Civic? my 1999 civic, I mean")
    assert twice.unknown_vehicles == ["1999 Honda Civic"]
    assert links.listing == "Bosch 0242236541 plug"
    assert links.categories == ["category:spark_plugs"]


# ---- composition ------------------------------------------------------------------------

def test_a_listed_product_gets_its_fitment_and_thread_from_the_catalog(composer):
    compat = _expert("compatibility", [{"label": "incompatible", "score": 0.9}])
    plan, answer, facts = _answer(
        composer, "does the NGK 9723-B fit a 2013 Civic and what thread is it?",
        ["compatibility", "attributes"], {"compatibility": compat})
    assert plan.inputs["compatibility"] == [{"a": _ontology().node_index()[PLUG].text,
                                             "b": "2013 Honda Civic"}]
    fits = [f for f in facts if f.kind == "fits"]
    assert [(f.value, f.source) for f in fits] == [(True, f"ontology:{PLUG}")]
    # the model disagreed; the catalog wins, and the model's view is kept as a fact
    assert [f.value for f in facts if f.kind == "fits_model"] == [False]
    assert answer.startswith("Yes: NGK 9723-B spark plug fits the 2013 Honda Civic")
    assert "M14x1.25" in answer
    assert [f.value for f in facts if f.kind == "attribute"] == [{"THREAD": "M14x1.25"}]


def test_a_part_number_and_year_typed_with_typographic_punctuation_still_link(composer):
    compat = _expert("compatibility", [{"label": "compatible", "score": 0.9}])
    text = "does the \u201cNGK 9723\u2013B\u201d fit my \u201913 Civic\u00a01.8?"
    plan, answer, facts = _answer(composer, text, ["compatibility"], {"compatibility": compat})
    assert plan.text == text and plan.links.products == [PLUG]
    assert [v.ids for v in plan.links.vehicles] == [["vehicle:civic_2013_18"]]
    assert answer.startswith("Yes: NGK 9723-B spark plug fits the 2013 Honda Civic")


def test_fitment_for_some_engines_only_and_for_none(composer):
    _, answer, facts = _answer(composer, "NGK 9723-B fits 2012 Civic?", ["compatibility"])
    assert answer.startswith("Only some") and "1.8L I4" in answer
    _, answer, facts = _answer(composer, "NGK 9723-B fits 2012 Honda Fit?", ["compatibility"])
    assert answer.startswith("No: ") and [f.value for f in facts if f.kind == "fits"] == [False]


def test_the_brand_of_a_catalog_product_is_its_own(composer):
    _, answer, facts = _answer(composer, "what brand is 9723-B?", ["attributes"])
    assert answer == "Its brand is NGK."
    assert [f.value for f in facts if f.kind == "attribute"] == [{"BRAND": "NGK"}]


def test_an_attribute_the_catalog_does_not_list_is_said_to_be_missing(composer):
    _, answer, facts = _answer(composer, "what voltage is ngk 9723-B", ["attributes"])
    assert "lists no voltage" in answer
    assert [f.value for f in facts if f.kind == "attribute"] == [None]


def test_an_unknown_part_gets_no_invented_product_or_fitment(composer):
    compat = _expert("compatibility", [{"label": "compatible", "score": 0.97}])
    attrs = _expert("attributes", [{"entities": [{"type": "BRAND", "text": "Bosch"}]}])
    plan, answer, facts = _answer(
        composer, "does this Bosch 0242236541 plug fit a 2012 Civic and what thread is it?",
        ["attributes", "compatibility"], {"compatibility": compat, "attributes": attrs})
    assert plan.inputs["compatibility"][0]["a"] == "Bosch 0242236541 plug"
    assert "no part numbered 0242236541" in answer
    assert "cannot be told" in answer and "not stated" in answer
    assert not [f for f in facts if f.kind in ("fits", "product", "attribute")]
    # the catalog's parts of that type for that vehicle are offered instead, as such
    assert answer.endswith("Instead, the catalog lists one spark plug for the 2012 Honda "
                           "Civic: NGK 9723-B spark plug (1.8L I4).")
    assert [(f.kind, f.value) for f in facts if f.source.startswith("ontology:product")] == [
        ("products", "NGK 9723-B spark plug")]
    _, answer, facts = _answer(composer, "does this Bosch 0242236541 plug fit a 2012 Fit?")
    assert not [f for f in facts if f.source.startswith("ontology:product")]  # none fits
    _, answer, _ = _answer(composer, "Which vehicles does the Bosch 0242236541 fit?")
    assert "cannot list" in answer


def test_a_pasted_listing_is_judged_by_the_compatibility_expert(composer):
    compat = _expert("compatibility", [{"label": "compatible", "score": 0.83}], version="v3")
    text = "Denso 234-9000 O2 sensor, fits 2011-2014 Honda Civic 1.8L. Will it fit my 2012 Civic?"
    plan, answer, facts = _answer(composer, text, ["compatibility"], {"compatibility": compat})
    assert plan.inputs["compatibility"] == [{"a": text.split(" Will")[0],
                                             "b": "2012 Honda Civic"}]
    fits = [f for f in facts if f.kind == "fits"]
    assert [(f.value, f.source, f.confidence) for f in fits] == [
        (True, "expert:compatibility@v3", 0.83)]
    assert "83% sure" in answer


def test_a_listing_ruled_out_by_its_own_text_says_why(composer):
    reason = "the listing's years (2015-2018) do not include 2012"
    compat = _expert("compatibility", [{"label": "incompatible", "score": 1.0,
                                        "reason": reason}])
    text = "Denso 234-9000 O2 sensor, fits 2015-2018 Honda Civic 1.8L. Will it fit my 2012 Civic?"
    _, answer, facts = _answer(composer, text, ["compatibility"], {"compatibility": compat})
    assert f"The listing does not fit the 2012 Honda Civic: {reason}." in answer
    assert "sure" not in answer
    assert [f.value for f in facts if f.kind == "fits"] == [False]


def test_context_b_is_the_vehicle_when_given(composer):
    plan, _, _ = _answer(composer, "NGK 9723-B", ["compatibility"],
                         context={"b": "2012 Honda Fit"})
    assert plan.inputs["compatibility"] == [{"a": "NGK 9723-B", "b": "2012 Honda Fit"}]
    plan, answer, facts = _answer(composer, "NGK 9723-B", ["compatibility"],
                                  context={"b": "2012 Honda Fit"})
    assert [f.value for f in facts if f.kind == "fits"] == [False]  # catalog: Civic only
    # a listing sent with its vehicle as context.b is judged, even when its own text names
    # a part type and a year: no catalog search
    compat = _expert("compatibility", [{"label": "compatible", "score": 0.8}])
    text = "Bosch spark plug for 2012 civic, laser iridium, 4 pcs"
    plan, answer, facts = _answer(composer, text, ["compatibility"], {"compatibility": compat},
                                  context={"b": "2012 Honda Fit"})
    assert "shop" not in plan.asks and plan.inputs["compatibility"] == [
        {"a": text, "b": "2012 Honda Fit"}]
    assert [(f.kind, f.value) for f in facts] == [("fits", True)]
    assert "judged from the text" in answer


def test_without_a_vehicle_compatibility_asks_for_one(composer):
    plan, answer, _ = _answer(composer, "does the NGK 9723-B fit?", ["compatibility"])
    assert "compatibility" not in plan.inputs
    assert "which vehicle" in plan.missing["compatibility"]
    assert "which vehicle" in answer


def test_a_code_gets_its_meaning_and_the_parts_to_check(composer):
    _, answer, facts = _answer(composer, "What does trouble code P0301 mean?")
    assert answer == ('P0301 means "Cylinder 1 Misfire Detected" (ignition system or misfire)'
                      '; it affects the spark plug.')
    assert [(f.kind, f.source, f.value) for f in facts] == [
        ("code", "ontology:code:P0301", "P0301"),
        ("components", "ontology:code:P0301", ["spark plug"])]
    _, answer, _ = _answer(composer, "what is P0171")  # a code that names no component
    assert answer == 'P0171 means "System Too Lean" (fuel and air metering).'

    _, answer, facts = _answer(composer, "p0301 on my 2013 civic, what part should I buy")
    assert [f.value for f in facts if f.kind == "part_categories"] == [["spark plugs"]]
    assert [f.value for f in facts if f.kind == "products"] == ["NGK 9723-B spark plug"]
    # P0171 affects no component: the categories its subsystem's codes point at
    _, answer, facts = _answer(composer, "scanner says P0171, what part should I buy")
    assert [f.value for f in facts if f.kind == "part_categories"] == [["oxygen sensors"]]
    assert "fuel and air metering" in answer
    # "what should I check" and "what causes it" ask for the parts too; "what does it mean"
    # does not
    for text in ("P0301 2013 civic what should i check", "what causes p0301?"):
        _, _, facts = _answer(composer, text)
        assert [f.value for f in facts if f.kind == "part_categories"] == [["spark plugs"]]
    _, _, facts = _answer(composer, "what does P0301 mean?")
    assert [f.kind for f in facts] == ["code", "components"]


def test_symptoms_go_through_the_fault_codes_experts_top_k(composer):
    fc = _expert("fault_codes", [{"label": "P0301", "score": 0.6, "top_k": [
        {"label": "P0301", "score": 0.6}, {"label": "P9999", "score": 0.2},
        {"label": "P0171", "score": 0.1}]}])
    _, answer, facts = _answer(composer, "engine shakes at idle and the light flashes",
                               ["fault_codes"], {"fault_codes": fc})
    assert [f.value for f in facts if f.kind == "symptom_code"] == ["P0301", "P0171"]
    assert "P9999" not in answer  # a label the ontology does not hold is not named


def test_category_comes_from_the_catalog_or_says_it_is_a_prediction(composer):
    cat = _expert("category", [{"label": "oxygen sensors", "score": 0.77}])
    _, answer, facts = _answer(composer, "what kind of part is ngk 9723-B", ["category"],
                               {"category": cat})
    assert [f.value for f in facts if f.kind == "category"] == ["spark plugs"]
    _, answer, facts = _answer(composer, "Walker 250-24036 sensor 4 wire", ["category"],
                               {"category": cat})
    assert [(f.value, f.source) for f in facts if f.kind == "category"] == [
        ("oxygen sensors", "expert:category@v7")]
    assert "77% sure" in answer


@pytest.mark.parametrize("text", [
    "does the NGK 9723-B fit a 2013 Civic and what thread is it?",
    "p0301 on my 2013 civic, what part should I buy",
    "will the bosch 0221504470 coil fit my 2012 honda fit?",
])
def test_every_product_or_vehicle_the_answer_names_is_in_its_facts(composer, text):
    _, answer, facts = _answer(composer, text, ["compatibility"])
    onto = _ontology()
    named = [n.name for n in onto.nodes if n.type == "product" and n.name in answer]
    assert named, answer
    for name in named:
        assert any(name in f.text for f in facts), (name, facts)
    for vehicle in re.findall(r"\b20\d\d Honda \w+", answer):
        assert any(vehicle in f.text for f in facts)


def test_a_part_number_and_a_vehicle_alone_ask_whether_it_fits(composer):
    """Whatever the router chose: "<part number> <vehicle>" is a fitment question."""
    plan, answer, facts = _answer(composer, "ngk 9723-B 2013 civic 1.8L", ["category"])
    assert "fits" in plan.asks
    assert [f.value for f in facts if f.kind == "fits"] == [True]
    plan, _, _ = _answer(composer, "p0301 on my 2013 civic, what part should I buy",
                         ["category"])
    assert "fits" not in plan.asks  # a code and a vehicle: the parts to check, not fitment


@pytest.mark.parametrize("text", [
    "which vehicles does the NGK 9723-B fit?", "compatible vehicles for ngk 9723-B",
    "what does the 9723-B fit", "fitment for 9723-B?"])
def test_a_part_without_a_vehicle_gets_the_vehicles_it_fits(composer, text):
    plan, answer, facts = _answer(composer, text, ["compatibility"])
    assert plan.asks == {"vehicles"}
    assert answer == ("NGK 9723-B spark plug fits the 2012-2013 Honda Civic 1.8L I4 "
                      "(2 vehicles in the catalog).")
    assert [f.value for f in facts if f.kind == "vehicles"] == [
        ["vehicle:civic_2012_18", "vehicle:civic_2013_18"]]


def test_what_does_it_fit_with_a_vehicle_named_is_a_fitment_question(composer):
    plan, answer, _ = _answer(composer, "what does 9723-B fit, a 2013 civic?", ["compatibility"])
    assert "fits" in plan.asks and answer.startswith("Yes: NGK 9723-B spark plug fits")


def test_two_parts_in_one_question_each_get_their_answer(composer):
    _, answer, facts = _answer(
        composer, "do NGK 9723-B and Bosch 0 221 504 470 fit a 2012 honda fit?",
        ["compatibility"])
    fits = {f.source: f.value for f in facts if f.kind == "fits"}
    assert fits == {f"ontology:{PLUG}": False, f"ontology:{COIL}": True}
    assert "No: NGK 9723-B spark plug" in answer and "Yes: Bosch 0 221 504 470" in answer


@pytest.mark.parametrize("experts", [["llm"], ["compatibility"], ["category"]])
def test_a_part_type_and_a_vehicle_get_the_catalogs_parts_that_fit(composer, experts):
    """ "which spark plugs fit a 2012 civic": whatever the router chose, the catalog lists
    its products of that type for the vehicle, naming the engine when it fits only some."""
    plan, answer, facts = _answer(composer, "which spark plugs fit a 2012 civic?", experts)
    assert "shop" in plan.asks and "fits" not in plan.asks
    assert answer == ("The catalog lists one spark plug for the 2012 Honda Civic: "
                      "NGK 9723-B spark plug (1.8L I4).")
    assert [(f.kind, f.source, f.value) for f in facts] == [
        ("products", f"ontology:{PLUG}", "NGK 9723-B spark plug")]
    # with the engine named, it fits the whole vehicle asked about: no engine is added
    _, answer, _ = _answer(composer, "spark plugs for my 2013 civic 1.8", experts)
    assert answer.endswith(": NGK 9723-B spark plug.")
    # the attribute asked is given for each product listed
    _, answer, facts = _answer(composer, "what thread are the spark plugs for a 2012 civic",
                               experts)
    assert answer.endswith(": NGK 9723-B spark plug (1.8L I4, thread M14x1.25).")
    assert [f.value for f in facts if f.kind == "attribute"] == [{"THREAD": "M14x1.25"}]
    # none of that type fits
    _, answer, facts = _answer(composer, "coil pack for a 2012 civic", experts)
    assert answer == "The catalog lists no ignition coils for the 2012 Honda Civic."
    assert [f.value for f in facts] == [[]]


def test_a_named_brand_narrows_the_catalogs_list_and_says_when_it_has_none(composer):
    _, answer, facts = _answer(composer, "ngk plugs for a 2013 civic", ["category"])
    assert answer.startswith("The catalog lists one NGK spark plug for the 2013 Honda Civic")
    _, answer, facts = _answer(composer, "bosch spark plugs for a 2013 civic", ["category"])
    assert answer.startswith("The catalog lists no Bosch spark plugs for the 2013 Honda Civic."
                             " The catalog lists one spark plug of another brand")
    assert [f.value for f in facts] == [[], "NGK 9723-B spark plug"]


def test_a_part_number_a_pasted_listing_or_a_code_is_not_a_catalog_search(composer):
    for text in ("does the NGK 9723-B spark plug fit a 2012 civic?",  # a product: fitment
                 "spark plug fits 2012-2013 Civic, will it fit my 2013 civic?",  # a listing
                 "iridium spark plug for 2013 Civic - fits my 2013 civic?",  # named twice
                 "p0301 on my 2013 civic, which spark plugs should I buy"):  # a code
        plan, _, _ = _answer(composer, text, ["compatibility"])
        assert "shop" not in plan.asks, text


def test_the_ingress_builds_its_composer_once_and_retries_a_broken_ontology_only_when_it_changes(
        tmp_path):
    """No ontology: no composed answers, and /healthz says why. A broken file is read once,
    not on every query; once it is fixed, the next query builds the composer."""
    from experts.core.paths import Paths
    from services.ingress import Ingress  # imports Ray: only this test needs it

    ingress = object.__new__(Ingress.func_or_class)  # the logic, without Ray Serve
    ingress.paths = Paths(tmp_path)
    ingress.composer, ingress.composer_error, ingress._composer_tried = None, None, None
    assert ingress._composer() is None and "no ontology" in ingress.composer_error
    path = ingress.paths.ontology
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert ingress._composer() is None and "does not load" in ingress.composer_error
    tried = ingress._composer_tried
    assert ingress._composer() is None and ingress._composer_tried == tried  # not re-read
    _ontology().save(path)
    os.utime(path, (tried + 5, tried + 5))
    assert isinstance(ingress._composer(), Composer) and ingress.composer_error is None


def test_what_the_ontology_says_of_an_entity_the_llm_names(composer):
    said, facts = composer.describe("category:spark_plugs")
    assert said == ("The catalog lists one spark plug (from NGK). One trouble code points at "
                    "the spark plug (P0301).")
    assert [(f.kind, f.source) for f in facts] == [
        ("catalog", "ontology:category:spark_plugs"), ("codes", "ontology:component:spark_plug")]
    said, _ = composer.describe("component:o2")  # a component the catalog does not sell
    assert said == "One trouble code points at the oxygen sensor (P0131)."
    said, _ = composer.describe("vehicle:civic_2012_18")
    assert said == "The catalog lists one part that fits the 2012 Honda Civic 1.8L I4."
    assert composer.describe("code:P0301")[0].startswith('P0301 means "Cylinder 1 Misfire')
    assert composer.describe("brand:ngk") == (None, [])
    assert composer.describe("no:such") == (None, [])


def test_a_routed_llm_answer_says_what_the_ontology_holds_of_the_entity_it_names():
    import asyncio

    from services.ingress import Ingress  # imports Ray: only these tests need it
    from services.schemas import QueryRequest

    class Ask:
        async def remote(self, text):
            return {"answer": "spark plugs", "answer_entity": "category:spark_plugs",
                    "entities": [{"name": "spark plugs"}], "versions": {}, "prompt_tokens": 9}

    ingress = object.__new__(Ingress.func_or_class)  # the logic, without Ray Serve
    ingress.composer, ingress.experts, ingress.llm = Composer(_ontology()), {}, type(
        "LLM", (), {"ask": Ask()})()

    async def route(text):
        return {"decision": "llm", "experts": [], "latency_ms": 0.1}

    ingress._route = route
    out = asyncio.run(ingress._query(QueryRequest(text="what do plugs do?")))
    assert out.answer == ("spark plugs. The catalog lists one spark plug (from NGK). One "
                          "trouble code points at the spark plug (P0301).")
    assert [f.source for f in out.facts] == ["ontology:category:spark_plugs",
                                              "ontology:component:spark_plug"]
    assert out.route["llm"]["answer_entity"] == "category:spark_plugs"
