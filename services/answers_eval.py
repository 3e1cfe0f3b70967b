"""Questions with gold final answers, and the grader: what `bench --suite answers` asks.

Two sets:
- **generated** (`generated_set`): built from the ontology and the experts' held-out test
  splits, in phrasings of this module's own (not the router's training grammar): fitment
  yes/no for a named vehicle, an attribute value, a category (catalog part or a held-out
  listing), a code's meaning, the part category for a code, symptoms → code (the
  fault_codes test split), a pasted listing (a catalog product in the shapes sellers
  write) against a vehicle named as buyers type it, two skills in one question, and
  unknown part numbers. Every fitment gold is what the catalog says for every vehicle the
  text could mean; a question whose vehicle could be one the part fits or one it does not
  (no engine given, the part fits some) is left out;
- **hand-written** (`services/eval/answers_handwritten.jsonl`): written by the tinyexperts
  team in the style people type (typos, shorthand, lower case), before the composer was
  tuned on anything, with gold answers looked up in the default ontology (seed 0).

A gold answer is a list of checks on the response's `facts`; a question is right when every
check holds (`grade`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from experts.data.product_text import (
    buyer_vehicle_text,
    engine_phrase,
    listing_text,
    product_fields,
)
from experts.ontology.catalog import singular
from experts.ontology.schema import Ontology

HANDWRITTEN = Path(__file__).resolve().parent / "eval" / "answers_handwritten.jsonl"
ATTRIBUTE_WORDS = {"THREAD": "thread", "SIZE": "size", "MATERIAL": "material",
                   "QUANTITY": "pack quantity", "COLOR": "color", "VOLTAGE": "voltage"}

FITS_PHRASES = (
    "does {brand} {pn} fit a {vehicle}?",
    "will the {pn} work on my {vehicle}",
    "{pn} compatible with {vehicle}?",
    "is {brand} {pn} the right {item} for a {vehicle}",
    "need to know if {pn} goes on a {vehicle}",
    "{vehicle} - does the {brand} {pn} fit",
)
ATTRIBUTE_PHRASES = (
    "what {word} is the {brand} {pn}?",
    "{pn} {word}?",
    "whats the {word} on {brand} {pn}",
    "tell me the {word} of part {pn}",
)
CATEGORY_PHRASES = (
    "what kind of part is {brand} {pn}?",
    "what category is {pn} in",
    "what type of part is this: {listing}",
)
CODE_PHRASES = (
    "what does {code} mean?",
    "{code} meaning",
    "got code {code} on my {vehicle}, what is it",
    "my scanner shows {code}. what does that mean",
)
PARTS_PHRASES = (
    "{code} what part should I buy",
    "scanner says {code}, what do I need to replace",
    "check engine light, code {code}. which part do I need for my {vehicle}?",
)
PASTED_PHRASES = (
    "{a}. will it fit my {b}?",
    "{a} | does this fit a {b}?",
)
MULTI_PHRASES = (
    "does {brand} {pn} fit a {vehicle} and what {word} is it?",
    "{pn}: will it fit my {vehicle}? also what's the {word}",
)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def handwritten_set(path: Path = HANDWRITTEN) -> list[dict]:
    return [{**row, "set": "handwritten"} for row in read_jsonl(path)]


def generated_set(ontology: Ontology, data_dir: Path, per_kind: int = 40,
                  seed: int = 0) -> list[dict]:
    """≥ 300 questions (9 kinds × `per_kind`), each {"text", "context"?, "kind", "gold"}."""
    rng = random.Random(seed)
    nodes = ontology.node_index()
    fits = {p: set(v) for p, v in ontology.neighbors("fits").items()}
    products = ontology.by_type("product")
    vehicles = ontology.by_type("vehicle")
    by_make: dict[str, list] = {}
    for v in vehicles:
        by_make.setdefault(str(v.attrs["make"]), []).append(v)
    rows: list[dict] = []

    def vehicle_named(v) -> tuple[str, str | None]:
        """How a person names the vehicle, and the engine size it gives (if any)."""
        a = v.attrs
        engine = str(a["engine"])[:4]  # "1.8L"
        return rng.choice([(f"{a['year']} {a['model']}", None),
                           (f"{a['year']} {a['make']} {a['model']}", None),
                           (f"{a['year']} {a['make']} {a['model']} {engine}", engine)])

    def vehicle_text(v) -> str:
        return vehicle_named(v)[0]

    def buyer_named(v) -> tuple[str, str | None]:
        """The vehicle as a buyer types it ("my 17 grand cherokee", "outback 18"), with its
        engine size after it half the time."""
        text = buyer_vehicle_text(v, rng, with_engine=False)
        if rng.random() < 0.5:
            return text, None
        engine = str(v.attrs["engine"])
        return f"{text} {engine_phrase(engine, rng)}", engine.split()[0].removesuffix("L")

    def ask_vehicle(p, named=vehicle_named) -> tuple:
        """A vehicle of the product's make and a gold fits value: half fit, half do not
        (the same make, so the question is not trivially no)."""
        fitting = sorted(fits.get(p.id, ()))
        if fitting and rng.random() < 0.5:
            v = nodes[rng.choice(fitting)]
        else:
            v = rng.choice(by_make[str(p.attrs["make"])])
        text, engine = named(v)
        # the gold is what the catalog says for every vehicle the text could mean
        same = [u.id for u in vehicles if u.attrs["make"] == v.attrs["make"]
                and u.attrs["model"] == v.attrs["model"] and u.attrs["year"] == v.attrs["year"]
                and (engine is None or str(u.attrs["engine"]).startswith(engine))]
        hits = [u for u in same if u in fits.get(p.id, ())]
        return text, (bool(hits) if len(hits) in (0, len(same)) else None)

    def product_words(p) -> dict:
        return {"brand": p.attrs["brand"], "pn": p.attrs["part_number"],
                "item": singular(str(p.attrs["category"]))}

    n = 0
    while n < per_kind:
        p = rng.choice(products)
        text_v, gold = ask_vehicle(p)
        if gold is None:  # fits only some engines of that year: asked in the hand-written set
            continue
        rows.append({"kind": "fits", "text": rng.choice(FITS_PHRASES).format(
            vehicle=text_v, **product_words(p)), "gold": [{"kind": "fits", "value": gold}]})
        n += 1
    with_attrs = [p for p in products if any(k.startswith("attr_") for k in p.attrs)]
    for p in rng.sample(with_attrs, per_kind):
        kind = rng.choice(sorted(k[5:] for k in p.attrs if k.startswith("attr_")))
        rows.append({"kind": "attribute", "text": rng.choice(ATTRIBUTE_PHRASES).format(
            word=ATTRIBUTE_WORDS[kind], **product_words(p)),
            "gold": [{"kind": "attribute", "value": {kind: p.attrs[f"attr_{kind}"]}}]})
    listings = read_jsonl(data_dir / "category" / "test.jsonl")
    for i in range(per_kind):
        if i % 2:
            row = rng.choice(listings)
            text = CATEGORY_PHRASES[2].format(listing=row["text"])
            gold = row["label"]
        else:
            p = rng.choice(products)
            text = rng.choice(CATEGORY_PHRASES[:2]).format(**product_words(p))
            gold = p.attrs["category"]
        rows.append({"kind": "category", "text": text,
                     "gold": [{"kind": "category", "value": gold}]})
    codes = ontology.by_type("code")
    for c in rng.sample(codes, per_kind):
        rows.append({"kind": "code", "text": rng.choice(CODE_PHRASES).format(
            code=c.name, vehicle=vehicle_text(rng.choice(vehicles))),
            "gold": [{"kind": "code", "value": c.name}]})
    affects = ontology.neighbors("affects")
    category_of = {}
    for cat, comps in ontology.neighbors("for_component").items():
        for comp in comps:
            category_of.setdefault(comp, []).append(nodes[cat].name)
    with_parts = [c for c in codes if any(category_of.get(x) for x in affects.get(c.id, []))]
    for c in rng.sample(with_parts, per_kind):
        cats = sorted({n for x in affects[c.id] for n in category_of.get(x, [])})
        rows.append({"kind": "parts", "text": rng.choice(PARTS_PHRASES).format(
            code=c.name, vehicle=vehicle_text(rng.choice(vehicles))),
            "gold": [{"kind": "part_category", "value": cats[0]}]})
    symptoms = read_jsonl(data_dir / "fault_codes" / "test.jsonl")
    for row in rng.sample(symptoms, per_kind):
        rows.append({"kind": "symptoms", "text": row["text"],
                     "gold": [{"kind": "symptom_code", "value": row["label"]}]})
    n = 0
    while n < per_kind:
        p = rng.choice(products)
        text_v, gold = ask_vehicle(p, buyer_named)
        if gold is None:
            continue
        listing = listing_text(product_fields(p), rng, seller_shapes=True).split(" | ")[0]
        rows.append({"kind": "pasted_listing", "text": rng.choice(PASTED_PHRASES).format(
            a=listing, b=text_v), "gold": [{"kind": "fits", "value": gold}]})
        n += 1
    n = 0
    while n < per_kind:
        p = rng.choice(with_attrs)
        text_v, gold = ask_vehicle(p)
        if gold is None:
            continue
        kind = rng.choice(sorted(k[5:] for k in p.attrs if k.startswith("attr_")))
        rows.append({"kind": "multi", "text": rng.choice(MULTI_PHRASES).format(
            vehicle=text_v, word=ATTRIBUTE_WORDS[kind], **product_words(p)),
            "gold": [{"kind": "fits", "value": gold},
                     {"kind": "attribute", "value": {kind: p.attrs[f"attr_{kind}"]}}]})
        n += 1
    known = {str(p.attrs["part_number"]).replace(" ", "").replace("-", "") for p in products}
    n = 0
    while n < per_kind:
        p = rng.choice(products)
        fake = f"{rng.randint(10, 99)}-{rng.randint(1000, 99999)}"
        if fake.replace("-", "") in known:
            continue
        v = rng.choice(vehicles)
        rows.append({"kind": "unknown_part", "text": rng.choice(FITS_PHRASES[:4]).format(
            brand=p.attrs["brand"], pn=fake, item=singular(str(p.attrs["category"])),
            vehicle=vehicle_text(v)), "gold": [{"kind": "unknown", "value": fake}]})
        n += 1
    return [{**r, "set": "generated"} for r in rows]


# ---- grading ----------------------------------------------------------------------------

def grade(response: dict, gold: list[dict]) -> bool:
    """Every gold check holds on the response's facts."""
    facts = response.get("facts") or []
    return all(_check(facts, response, g) for g in gold)


def _values(facts: list[dict], *kinds: str) -> list:
    return [f["value"] for f in facts if f["kind"] in kinds]


def _check(facts: list[dict], response: dict, gold: dict) -> bool:
    kind, want = gold["kind"], gold.get("value")
    if kind == "fits":  # the first fitment verdict (catalog, or the expert's on a listing)
        got = _values(facts, "fits")
        return bool(got) and got[0] == want
    if kind == "attribute":
        (attr, value), = want.items()
        return any(isinstance(v, dict) and str(v.get(attr, "")).lower() == str(value).lower()
                   for v in _values(facts, "attribute"))
    if kind == "category":
        got = _values(facts, "category")
        return bool(got) and got[0] == want
    if kind == "code":
        return want in _values(facts, "code")
    if kind == "part_category":
        return any(want in v for v in _values(facts, "part_categories"))
    if kind == "symptom_code":  # among the codes the answer names (at most 3)
        return want in _values(facts, "symptom_code", "code")
    if kind == "unknown":  # says the catalog lacks it, and invents no catalog fact about it
        invented = [f for f in facts if f["kind"] in ("fits", "attribute", "vehicles")
                    and f["source"].startswith("ontology:")]
        return want in _values(facts, "unknown") and not invented
    if kind == "vehicles":  # the listed fitment includes this vehicle
        return any(want in v for v in _values(facts, "vehicles"))
    if kind == "out_of_scope":
        return not facts and response.get("route", {}).get("decision") in (
            "no_expert", "abstain", "llm")
    raise ValueError(f"unknown gold kind {kind!r}")
