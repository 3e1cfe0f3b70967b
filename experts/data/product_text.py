"""Product listings as people write them, tagged word by word, from the ontology's products.

Feeds three experts: `category` (title -> part category), `attributes` (title words -> BIO
tags) and `compatibility` (listing + vehicle or listing + listing -> compatible?).
A title is a template over slots; validation and test use templates and products that
training never sees.
"""

from __future__ import annotations

import random
import re

from experts.data.formats import PairExample, TagExample, TextExample, split_words
from experts.data.phrasing import add_typos, detokenize, recase, split_of, split_templates
from experts.ontology.catalog_tables import COMPANION_CATEGORIES, MODEL_ALIASES, PART_CATEGORIES
from experts.ontology.schema import Node, Ontology

TITLE_TEMPLATES = [
    "{BRAND} {PN} {NOUN} {ATTRS} for {VEHICLE}",
    "{NOUN} {ATTRS} - {BRAND} {PN} | fits {VEHICLE}",
    "{QTY} {BRAND} {ATTRS} {NOUN} {PN} compatible with {VEHICLE}",
    "New {BRAND} {NOUN} {PN} ( {ATTRS} ) {VEHICLE}",
    "{VEHICLE} {NOUN} - {BRAND} {PN} , {ATTRS}",
    "Genuine {BRAND} part # {PN} : {NOUN} , {ATTRS} ; fits {VEHICLE}",
    "{ATTRS} {NOUN} by {BRAND} ( {PN} ) for {VEHICLE}",
    "{BRAND} {NOUN} {PN} replacement for {VEHICLE} {ATTRS}",
    "OEM {NOUN} {PN} {BRAND} / {ATTRS} / {VEHICLE}",
    "{PN} {BRAND} {NOUN} {ATTRS}",
    "Replacement {NOUN} for {VEHICLE} - {ATTRS} - {BRAND} {PN}",
    "{BRAND} {PN} - {ATTRS} {NOUN} - fits {VEHICLE}",
    "[ {BRAND} ] {NOUN} {PN} * {ATTRS} * {VEHICLE}",
    "{NOUN} ( {BRAND} {PN} ) {ATTRS} fitment : {VEHICLE}",
    "{BRAND} {ATTRS} {NOUN} , part no . {PN} , for {VEHICLE}",
    "Premium {NOUN} {ATTRS} {BRAND} {PN} fits {VEHICLE}",
    "{VEHICLE} : {BRAND} {PN} {NOUN} {ATTRS}",
    "{QTY} x {BRAND} {NOUN} {PN} {ATTRS} w / fitment {VEHICLE}",
    "brand new {NOUN} {BRAND} {PN} {ATTRS} for your {VEHICLE}",
    "{BRAND} {PN} {ATTRS} {NOUN}",
    "{NOUN} {BRAND} {PN} {QTY} {ATTRS} ( {VEHICLE} )",
    "Aftermarket {NOUN} , {BRAND} {PN} , {ATTRS} , {VEHICLE}",
    "{BRAND} - {NOUN} - {PN} - {ATTRS}",
    "{ATTRS} {BRAND} {PN} {NOUN} to fit {VEHICLE}",
]
# Listings that never name the part: the category must come from brand, part-number shape
# and attributes. Split on their own so every split gets one.
NOUNLESS_TEMPLATES = [
    "{BRAND} {PN} {ATTRS} for {VEHICLE}",
    "{BRAND} {PN} - {ATTRS}",
    "{ATTRS} {BRAND} {PN} ( {VEHICLE} )",
]

ATTR_PREFIXES = {
    "THREAD": ["", "", "thread", "thread size"],
    "SIZE": ["", "", "size"],
    "COLOR": ["", "", "color", "colour"],
    "VOLTAGE": ["", ""],
    "MATERIAL": ["", ""],
    "QUANTITY": ["", ""],
}
LABEL_COMPATIBLE, LABEL_INCOMPATIBLE = "compatible", "incompatible"


def _brand_variant(brand: str, rng: random.Random) -> str:
    return rng.choice([brand, brand, brand.upper(), brand.lower()])


def _pn_variant(pn: str, rng: random.Random) -> str:
    x = rng.random()
    if x < 0.2 and " " in pn:
        return pn.replace(" ", "")
    if x < 0.3:
        return pn.lower()
    return pn


def _model_variant(name: str, rng: random.Random) -> str:
    return rng.choice(MODEL_ALIASES.get(name, [name]) + [name])


def vehicle_phrase(make: str, models: list[str], years: tuple[int, int], engine: str,
                   rng: random.Random) -> str:
    """A fitment span like '2012-2015 Honda Civic 1.8L' in one of many shapes."""
    make_s = _model_variant(make, rng)
    model_s = "/".join(_model_variant(m, rng) for m in models[:3])
    y0, y1 = years
    yrs = rng.choice([f"{y0}-{y1}", f"{y0}-{y1}", f"{str(y0)[2:]}-{str(y1)[2:]}",
                      f"{y0} - {y1}", f"{y0} to {y1}"]) if y0 != y1 else str(y0)
    disp = engine.split()[0]
    eng = rng.choice([disp, engine, disp.replace("L", " L"), disp.replace("L", "-liter")])
    shapes = [
        f"{yrs} {make_s} {model_s} {eng}",
        f"{make_s} {model_s} {yrs} {eng}",
        f"{model_s} {yrs} {eng}",
        f"{make_s} {model_s} {eng} {yrs}",
    ]
    return rng.choice(shapes)


def product_fields(node: Node) -> dict:
    a = node.attrs
    return {
        "category": a["category"], "brand": a["brand"], "pn": a["part_number"],
        "make": a["make"], "engine": a["engine"], "models": list(a["models"]),
        "years": (int(a["year_from"]), int(a["year_to"])),
        "attrs": {k[5:]: v for k, v in a.items() if k.startswith("attr_")},
    }


def nouns_for(category: str, split: str) -> list[str]:
    """Each category's last noun is held out: only validation and test listings use it."""
    nouns = PART_CATEGORIES[category]["nouns"]
    return nouns[:-1] if split == "train" else nouns


def render_title(p: dict, template: str, rng: random.Random, split: str = "train",
                 typo_rate: float = 0.03) -> tuple[list[str], list[str]]:
    """Fill a template; return (words, BIO tags) that round-trip through split_words."""
    attrs = dict(p["attrs"])
    qty = attrs.pop("QUANTITY", None) if "{QTY}" in template else None
    noun = rng.choice(nouns_for(p["category"], split))
    slots: dict[str, list[tuple[str, str]]] = {
        "BRAND": [(_brand_variant(p["brand"], rng), "BRAND")],
        "PN": [(_pn_variant(p["pn"], rng), "PART_NUMBER")],
        "NOUN": [(add_typos(noun, rng, typo_rate * 3), "O")],
        "QTY": [(qty, "QUANTITY")] if qty else [],
        "VEHICLE": [(vehicle_phrase(p["make"], p["models"], p["years"], p["engine"], rng),
                     "VEHICLE")],
    }
    items = list(attrs.items())
    rng.shuffle(items)
    attr_parts: list[tuple[str, str]] = []
    sep = rng.choice([None, ","])
    for i, (kind, value) in enumerate(items):
        if i and sep:
            attr_parts.append((sep, "O"))
        prefix = rng.choice(ATTR_PREFIXES.get(kind, [""]))
        if prefix:
            attr_parts.append((prefix, "O"))
        attr_parts.append((value, kind))
    slots["ATTRS"] = attr_parts
    words: list[str] = []
    tags: list[str] = []
    for piece in template.split():
        m = re.fullmatch(r"\{(\w+)\}", piece)
        spans = slots[m.group(1)] if m else [(add_typos(piece, rng, typo_rate), "O")]
        for text, kind in spans:
            toks = split_words(text)
            words.extend(toks)
            tags.extend("O" if kind == "O" else f"{'B' if j == 0 else 'I'}-{kind}"
                        for j in range(len(toks)))
    case = rng.random()
    if case < 0.12:
        words = [w.lower() for w in words]
    elif case < 0.15:
        words = [w.upper() for w in words]
    return words, tags


def _split_products(onto: Ontology, seed: int) -> dict[str, list[Node]]:
    out: dict[str, list[Node]] = {"train": [], "validation": [], "test": []}
    for n in onto.by_type("product"):
        out[split_of(n.id, seed)].append(n)
    return out


def title_datasets(onto: Ontology, seed: int, per_product: dict[str, int]
                   ) -> tuple[dict[str, list[TextExample]], dict[str, list[TagExample]]]:
    """(category examples, attribute examples) per split, from the same rendered titles."""
    products = _split_products(onto, seed)
    templates = split_templates(TITLE_TEMPLATES, seed, n_val=3, n_test=5)
    nounless = split_templates(NOUNLESS_TEMPLATES, seed, n_val=1, n_test=1)
    for split in templates:
        templates[split] = templates[split] + nounless[split]
    cat: dict[str, list[TextExample]] = {}
    tag: dict[str, list[TagExample]] = {}
    for split, nodes in products.items():
        rng = random.Random(f"titles:{seed}:{split}")
        cat[split], tag[split] = [], []
        for node in nodes:
            p = product_fields(node)
            for _ in range(per_product[split]):
                words, tags = render_title(p, rng.choice(templates[split]), rng, split)
                cat[split].append(TextExample(detokenize(words), p["category"]))
                tag[split].append(TagExample(tuple(words), tuple(tags)))
    return cat, tag


def vehicle_text(v: Node, rng: random.Random) -> str:
    a = v.attrs
    disp = str(a["engine"]).split()[0]
    make, model, year = _model_variant(a["make"], rng), _model_variant(a["model"], rng), a["year"]
    text = rng.choice([
        f"{year} {make} {model} {a['engine']}",
        f"{make} {model} {year} {disp}",
        f"'{str(year)[2:]} {model} {disp}",
        f"my {year} {make} {model} ({disp.replace('L', ' liter')})",
        f"{model} {year}, {a['engine']} engine",
    ])
    return recase(text, rng)


def listing_text(p: dict, rng: random.Random) -> str:
    words, _ = render_title(p, rng.choice(TITLE_TEMPLATES[:9]), rng, typo_rate=0.01)
    fit = vehicle_phrase(p["make"], p["models"], p["years"], p["engine"], rng)
    return f"{detokenize(words)} | Fits: {fit}"


def pair_datasets(onto: Ontology, seed: int, per_product: dict[str, int]
                  ) -> dict[str, list[PairExample]]:
    """Listing + vehicle pairs (fits or a hard negative) and listing + listing pairs."""
    products = _split_products(onto, seed)
    vehicles = onto.by_type("vehicle")
    fits = onto.neighbors("fits")
    compatible = onto.neighbors("compatible_with")
    by_id = onto.node_index()
    out: dict[str, list[PairExample]] = {}
    for split, nodes in products.items():
        rng = random.Random(f"pairs:{seed}:{split}")
        in_split = {n.id for n in nodes}
        rows: list[PairExample] = []
        for node in nodes:
            p = product_fields(node)
            fit_ids = set(fits.get(node.id, []))
            same_make = [v for v in vehicles if v.attrs["make"] == p["make"]]
            hard = [v for v in same_make if v.id not in fit_ids]
            for _ in range(per_product[split]):
                pos = by_id[rng.choice(sorted(fit_ids))]
                rows.append(PairExample(listing_text(p, rng), vehicle_text(pos, rng),
                                        LABEL_COMPATIBLE))
                # hard negative: same make, usually the same model, wrong year or engine
                same_model = [v for v in hard if v.attrs["model"] in p["models"]]
                neg = rng.choice(same_model if same_model and rng.random() < 0.7 else hard)
                rows.append(PairExample(listing_text(p, rng), vehicle_text(neg, rng),
                                        LABEL_INCOMPATIBLE))
            for other in compatible.get(node.id, []):
                if other in in_split:
                    q = product_fields(by_id[other])
                    rows.append(PairExample(listing_text(p, rng), listing_text(q, rng),
                                            LABEL_COMPATIBLE))
        rows.extend(_companion_negatives(nodes, compatible, rng))
        rng.shuffle(rows)
        out[split] = rows
    return out


def _companion_negatives(nodes: list[Node], compatible: dict[str, list[str]],
                         rng: random.Random) -> list[PairExample]:
    """Listing pairs from companion categories that share no vehicle: as many as positives."""

    by_cat: dict[str, list[Node]] = {}
    for n in nodes:
        by_cat.setdefault(n.attrs["category"], []).append(n)
    n_pos = sum(1 for n in nodes for o in compatible.get(n.id, []) if o in {x.id for x in nodes})
    rows = []
    for _ in range(n_pos * 4):
        ca, cb = rng.choice(COMPANION_CATEGORIES)
        if not by_cat.get(ca) or not by_cat.get(cb):
            continue
        a, b = rng.choice(by_cat[ca]), rng.choice(by_cat[cb])
        if b.id in compatible.get(a.id, []):
            continue
        rows.append(PairExample(listing_text(product_fields(a), rng),
                                listing_text(product_fields(b), rng), LABEL_INCOMPATIBLE))
        if len(rows) >= n_pos:
            break
    return rows
