"""Product listings as people write them, tagged word by word, from the ontology's products.

Feeds three experts: `category` (title -> part category), `attributes` (title words -> BIO
tags) and `compatibility` (listing + vehicle or listing + listing -> compatible?).
A title is a template over slots; validation and test use templates and products that
training never sees.
"""

from __future__ import annotations

import random
import re

from experts.data.formats import (
    PairExample,
    TagExample,
    TextExample,
    split_words,
    value_words,
)
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


# Listings people write name brands the catalog does not hold, product lines ("Iridium IX",
# "Excel-G", "Night Breaker") and seller words ("Heavy Duty", "Front Left") that are no
# attribute. A share of the training titles for the tagger carries them (`title_variety`),
# so it learns a brand from where it stands (before the part number, after "by", in
# brackets) rather than from a list of names, and leaves product lines untagged.
_SYLLABLES = ["ar", "bel", "cor", "dex", "dur", "fal", "gor", "hal", "ion", "kar", "lan",
              "mar", "nov", "or", "pra", "quin", "ral", "sen", "tor", "ul", "vex", "wen",
              "xa", "yor", "zen", "tek", "tron", "lux", "ka", "mo", "ri", "sta"]
_LINE_SUFFIXES = ["", "", " Pro", " Plus", " Ultra", " II", " HD", " Max", " Elite", "-X",
                  " Series", " Select", " +", " Gold", " SE"]
SELLER_WORDS = ["Heavy Duty", "Direct Fit", "OE Replacement", "Front", "Rear", "Left",
                "Right", "Upper", "Lower", "Front Left", "Rear Right", "Driver Side",
                "Passenger Side", "Universal", "High Performance", "Professional",
                "Brand New", "Original", "Premium Quality", "Easy Install", "Fast Shipping",
                "Warranty", "Free Shipping", "Replacement", "Assembly", "Kit"]


def _pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice([2, 2, 3]))).title()


def unseen_brand(rng: random.Random) -> str:
    """A brand-like name no catalog brand has: one or two made-up words or a hyphenated or
    slashed pair, in the cases sellers use. (Acronyms and "X & Y" taught the tagger to call
    TPMS or any "&" a brand: docs/experiments.md.)"""
    shape = rng.random()
    if shape < 0.55:
        name = _pseudo_word(rng)
    elif shape < 0.8:
        name = f"{_pseudo_word(rng)} {_pseudo_word(rng)}"
    else:
        name = f"{_pseudo_word(rng)}{rng.choice(['-', '/'])}{_pseudo_word(rng)}"
    return _brand_variant(name, rng)


def product_line(rng: random.Random) -> str:
    return _pseudo_word(rng) + rng.choice(_LINE_SUFFIXES)


def title_variety(words: list[str], tags: list[str], rng: random.Random, p_brand: float = 0.2,
                  p_line: float = 0.25, p_seller: float = 0.3) -> tuple[list[str], list[str]]:
    """The same tagged title with, each at its own rate, the brand swapped for an unseen
    one, a product line after the brand and a seller phrase before an entity or at either
    end (both tagged O). Words and tags stay aligned; no entity is split."""
    words, tags = list(words), list(tags)
    if "B-BRAND" in tags:
        start = tags.index("B-BRAND")
        end = start + 1
        while end < len(tags) and tags[end] == "I-BRAND":
            end += 1
        if rng.random() < p_brand:
            new = split_words(unseen_brand(rng))
            words[start:end] = new
            tags[start:end] = ["B-BRAND"] + ["I-BRAND"] * (len(new) - 1)
            end = start + len(new)
        if rng.random() < p_line:
            line = split_words(product_line(rng))
            words[end:end] = line
            tags[end:end] = ["O"] * len(line)
    if rng.random() < p_seller:
        phrase = split_words(rng.choice(SELLER_WORDS))
        text = " ".join(words)
        if text == text.lower() or text == text.upper():
            phrase = [w.lower() if text == text.lower() else w.upper() for w in phrase]
        at = rng.choice([i for i in range(len(tags) + 1)
                         if i in (0, len(tags)) or tags[i].startswith("B-")])
        words[at:at] = phrase
        tags[at:at] = ["O"] * len(phrase)
    return words, tags


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


def vehicle_phrase(make: str, models: list[str], years: tuple[int, int],
                   engine: str | list[str] | None,
                   rng: random.Random, seller_shapes: bool = False) -> str:
    """A fitment span like '2012-2015 Honda Civic 1.8L' in one of many shapes.

    `engine` None: a fitment that names no engine; a list: one that names several
    (`engines_phrase`). `seller_shapes`: also the other ways
    sellers write year ranges and engines (`year_span`, `engine_phrase`), as most
    compatibility listings and half the titles (`render_title`) use them.
    """
    make_s = _model_variant(make, rng)
    model_s = "/".join(_model_variant(m, rng) for m in models[:3])
    y0, y1 = years
    if isinstance(engine, list):
        yrs = year_span(y0, y1, rng) if seller_shapes else f"{y0}-{y1}"
        eng = engines_phrase(engine, rng)
    elif seller_shapes:
        yrs = year_span(y0, y1, rng)
        eng = engine_phrase(engine, rng) if engine else ""
    else:
        yrs = rng.choice([f"{y0}-{y1}", f"{y0}-{y1}", f"{str(y0)[2:]}-{str(y1)[2:]}",
                          f"{y0} - {y1}", f"{y0} to {y1}"]) if y0 != y1 else str(y0)
        disp = engine.split()[0]
        eng = rng.choice([disp, engine, disp.replace("L", " L"),
                          disp.replace("L", "-liter")])
    shapes = [
        f"{yrs} {make_s} {model_s} {eng}",
        f"{make_s} {model_s} {yrs} {eng}",
        f"{model_s} {yrs} {eng}",
        f"{make_s} {model_s} {eng} {yrs}",
    ]
    return " ".join(rng.choice(shapes).split())


def year_span(y0: int, y1: int, rng: random.Random) -> str:
    """A model-year range as sellers write it: 2007-2011, 07-11, '07-'11, 2007 thru 2011,
    or the years one by one."""
    a, b = str(y0)[2:], str(y1)[2:]
    if y0 == y1:
        return rng.choice([str(y0), str(y0), f"'{a}"])
    shapes = [f"{y0}-{y1}", f"{y0}-{y1}", f"{a}-{b}", f"{y0} - {y1}", f"{y0} to {y1}",
              f"{y0} thru {y1}", f"{y0} through {y1}", f"'{a}-'{b}", f"{y0}-{b}"]
    if y1 - y0 <= 4:
        sep = rng.choice(["/", " ", ", "])
        shapes.append(sep.join(str(y) for y in range(y0, y1 + 1)))
    return rng.choice(shapes)


def cylinders(engine: str) -> str | None:
    """'2.5L I4' -> 'I4' (also V6, V8, H4, ...), or None."""
    m = re.search(r"\b([IVHW])(\d{1,2})\b", engine)
    return m.group(0) if m else None


def engine_phrase(engine: str, rng: random.Random) -> str:
    """An engine as a listing or a driver writes it: '2.5L', '2.5', '2.5-liter', '2.5L I4',
    '2.5 4cyl', 'v6 3.5' ... always with the displacement, which tells engines apart."""
    disp = engine.split()[0]
    bare = disp.removesuffix("L")
    cyl = cylinders(engine)
    forms = [disp, disp, engine, bare, f"{bare} L", f"{bare}-liter", f"{bare} liter"]
    if cyl:
        n = cyl[1:]
        cyl_s = rng.choice([cyl, cyl.lower(), f"{n} cyl", f"{n}cyl", f"{n}-cylinder"])
        forms += [f"{disp} {cyl_s}", f"{bare} {cyl_s}", f"{cyl_s} {bare}"]
    if "turbo" in engine.lower():
        forms += [f"{bare}t", f"{bare} turbo", f"{disp} Turbo"]
    return rng.choice(forms)


def engines_phrase(engines: list[str], rng: random.Random) -> str:
    """Several engines as one listing names them: '3.5L 3.7L 5.0L', '4.8/5.3/6.0',
    '2.0L, 2.4L or 3.5L V6' — one shape for all of them."""
    shape = rng.choice(["disp", "disp", "bare", "full"])
    disp = [e.split()[0] for e in engines]
    forms = {"disp": disp, "bare": [d.removesuffix("L") for d in disp], "full": engines}[shape]
    if len(forms) > 2 and rng.random() < 0.25:
        return ", ".join(forms[:-1]) + " or " + forms[-1]
    return rng.choice([" ", " ", "/", ", ", " / "]).join(forms)


_UNITS = {"mm": ["mm", " mm", "MM"], "in": ["in", " in", " inch", "-inch"],
          "cc": ["cc", " cc", "CC"], "psi": [" psi", "psi", " PSI"],
          "bar": [" bar", "bar", " Bar"], "lph": [" LPH", "LPH", " lph", " L/h"]}


def value_variant(kind: str, value: str, rng: random.Random) -> str:
    """The same attribute value in another shape sellers write it, half the time: pack
    sizes ("Pack of 4", "4 pcs", "4pk", "qty 4"), volts ("12V", "12 Volt", "12-volt"),
    numbers and units together or apart ("14mm", "14 mm", "3 inch", "3-inch"), thread pitch
    with spaces, colours and materials in any case."""
    if rng.random() < 0.5:
        return value
    if kind == "QUANTITY":
        m = re.search(r"\d+", value)
        if not m or m.group(0) == "1":
            return rng.choice(["1 pc", "single", "1 piece", "qty 1", "each"])
        n = m.group(0)
        return rng.choice([f"Pack of {n}", f"Set of {n}", f"{n} pcs", f"{n}-Pack", f"{n} pack",
                           f"x{n}", f"{n}pk", f"qty {n}", f"{n} count", f"{n}pcs", f"{n} piece"])
    if kind == "VOLTAGE":
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*-?\s*(?:V|v|Volts?|volts?)\b(.*)", value)
        if not m:
            return value
        n, rest = m.groups()
        return rng.choice([f"{n}V", f"{n}v", f"{n} Volt", f"{n}-volt", f"{n} V",
                           f"{n} Volts"]) + rest
    if kind in ("SIZE", "THREAD"):
        def unit(m: re.Match) -> str:
            return m.group(1) + rng.choice(_UNITS[m.group(2).lower()])
        out = re.sub(r"(\d)\s?(mm|in|cc|psi|bar|lph)\b", unit, value, flags=re.IGNORECASE)
        if kind == "THREAD":
            out = re.sub(r"(M\d+)x(\d)", lambda m: rng.choice(
                [f"{m.group(1)}x{m.group(2)}", f"{m.group(1)} x {m.group(2)}",
                 f"{m.group(1)}X{m.group(2)}"]), out)
        return out
    return rng.choice([value.lower(), value.title(), value.upper(), value])


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
                 typo_rate: float = 0.03, seller_shapes: bool | None = None,
                 with_noun: bool = True) -> tuple[list[str], list[str]]:
    """Fill a template; return (words, BIO tags) that round-trip through split_words.
    `seller_shapes`: the vehicle span as `vehicle_phrase(seller_shapes=True)` writes it
    (None: for half the titles). `with_noun=False` leaves the part type out: the listing
    then says only brand, part number, attributes and vehicle."""
    if seller_shapes is None:
        seller_shapes = rng.random() < 0.5
    attrs = dict(p["attrs"])
    qty = attrs.pop("QUANTITY", None) if "{QTY}" in template else None
    noun = rng.choice(nouns_for(p["category"], split))
    slots: dict[str, list[tuple[str, str]]] = {
        "BRAND": [(_brand_variant(p["brand"], rng), "BRAND")],
        "PN": [(_pn_variant(p["pn"], rng), "PART_NUMBER")],
        "NOUN": [(add_typos(noun, rng, typo_rate * 3), "O")] if with_noun else [],
        "QTY": [(qty, "QUANTITY")] if qty else [],
        "VEHICLE": [(vehicle_phrase(p["make"], p["models"], p["years"], p["engine"], rng,
                                    seller_shapes), "VEHICLE")],
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
        # "0.8 mm gap": the size is "0.8 mm"; "gap" says what it measures
        value_w = split_words(value_variant(kind, value, rng))
        n = value_words(kind, value_w)
        attr_parts += [(" ".join(value_w[:n]), kind), (" ".join(value_w[n:]), "O")]
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


def title_datasets(onto: Ontology, seed: int, per_product: dict[str, int],
                   nounless_train: int = 0
                   ) -> tuple[dict[str, list[TextExample]], dict[str, list[TagExample]]]:
    """(category examples, attribute examples) per split, from the same rendered titles.

    `nounless_train`: that many more category training titles per training product,
    rendered from the training templates with the part type left out (noun dropout), so the
    category is also learned from brand, attributes and part number, not from the noun
    alone; the attribute examples and the other splits are unchanged."""
    products = _split_products(onto, seed)
    noun_templates = split_templates(TITLE_TEMPLATES, seed, n_val=3, n_test=5)
    nounless = split_templates(NOUNLESS_TEMPLATES, seed, n_val=1, n_test=1)
    templates = {split: noun_templates[split] + nounless[split] for split in noun_templates}
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
    rng = random.Random(f"title-variety:{seed}")  # the rows above stay as they were
    tag["train"] = [TagExample(*map(tuple, title_variety(ex.tokens, ex.tags, rng)))
                    for ex in tag["train"]]
    rng = random.Random(f"titles-without-noun:{seed}")  # the rows above stay as they were
    for node in products["train"]:
        p = product_fields(node)
        for _ in range(nounless_train):
            words, _ = render_title(p, rng.choice(noun_templates["train"]), rng, "train",
                                    with_noun=False)
            cat["train"].append(TextExample(detokenize(words), p["category"]))
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


# trim levels a driver may add to the vehicle ("2013 civic lx"); they change no fitment
TRIMS = ["LX", "EX", "EX-L", "SE", "LE", "XLE", "SEL", "GT", "Sport", "Limited", "Base",
         "S", "SV", "SL", "XLT", "LT", "LS", "Touring", "Premium"]


def buyer_vehicle_text(v: Node, rng: random.Random, with_engine: bool = True) -> str:
    """One vehicle as a buyer types it: `vehicle_text`'s shapes, plus two-digit years, trim
    levels, engines as cylinders + displacement, and (`with_engine=False`) no engine."""
    a = v.attrs
    make, model, year = _model_variant(a["make"], rng), _model_variant(a["model"], rng), a["year"]
    yy = rng.choice([str(year), str(year), str(year)[2:], f"'{str(year)[2:]}"])
    trim = rng.choice(TRIMS) if rng.random() < 0.35 else ""
    maker = make if rng.random() < 0.5 else ""
    if with_engine:
        if rng.random() < 0.4:
            return vehicle_text(v, rng)
        eng = engine_phrase(str(a["engine"]), rng)
        text = rng.choice([f"{yy} {maker} {model} {trim} {eng}", f"{yy} {model} {eng} {trim}",
                           f"{maker} {model} {yy} {eng}", f"my {yy} {model} with the {eng}"])
    else:
        text = rng.choice([f"{yy} {maker} {model} {trim}", f"{maker} {model} {yy} {trim}",
                           f"my {yy} {model}", f"{yy} {model}"])
    return recase(" ".join(text.split()), rng, p_lower=0.45)


def listing_text(p: dict, rng: random.Random, seller_shapes: bool = False) -> str:
    """A listing that states its fitment in the title and, usually, a fitment field.

    `seller_shapes`: the fitment field is optional and named in several ways, years and
    engines come in `year_span`/`engine_phrase` shapes, and `p["engine"]` None gives a
    listing that names no engine (it fits every engine of its models and years)."""
    if not seller_shapes:
        words, _ = render_title(p, rng.choice(TITLE_TEMPLATES[:9]), rng, typo_rate=0.01)
        fit = vehicle_phrase(p["make"], p["models"], p["years"], p["engine"], rng)
        return f"{detokenize(words)} | Fits: {fit}"
    words, _ = render_title(p, rng.choice(TITLE_TEMPLATES[:9]), rng, typo_rate=0.01,
                            seller_shapes=True)
    title = detokenize(words)
    fit = vehicle_phrase(p["make"], p["models"], p["years"], p["engine"], rng, seller_shapes=True)
    if rng.random() < 0.5:
        return title
    field = rng.choice(["| Fits:", "| Fits", "- Fits", "| Compatible with:", "| Fitment:",
                        "; for", "| Vehicle:"])
    return f"{title} {field} {fit}"


# compatibility pairs: the share whose listing and buyer text come in seller/buyer shapes
# (`listing_text(seller_shapes=True)`, `buyer_vehicle_text`), and, of those, the share of
# listings that name no engine
SELLER_SHARE, ENGINE_FREE_SHARE = 0.6, 0.35
# of the training split's seller listings that name an engine, the share that name several
# (sellers list every engine a part fits: "for F-150 2011-2016 3.5L 3.7L 5.0L")
MULTI_ENGINE_SHARE = 0.3


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
            for _ in range(per_product[split]):
                seller = rng.random() < SELLER_SHARE
                if seller and rng.random() < ENGINE_FREE_SHARE:
                    rows.extend(engine_free_pairs(p, same_make, rng))
                else:
                    rows.extend(engine_pairs(p, [by_id[i] for i in sorted(fit_ids)],
                                              same_make, rng, seller,
                                              MULTI_ENGINE_SHARE if split == "train" else 0))
            for other in compatible.get(node.id, []):
                if other in in_split:
                    q = product_fields(by_id[other])
                    rows.append(PairExample(listing_text(p, rng), listing_text(q, rng),
                                            LABEL_COMPATIBLE))
        rows.extend(_companion_negatives(nodes, compatible, rng))
        rng.shuffle(rows)
        out[split] = rows
    return out


def in_listed_years(v: Node, p: dict) -> bool:
    return p["years"][0] <= int(v.attrs["year"]) <= p["years"][1]


def listed_vehicles(p: dict, same_make: list[Node]) -> list[Node]:
    """The vehicles of the listing's models and years, whatever their engine."""
    return [v for v in same_make if v.attrs["model"] in p["models"] and in_listed_years(v, p)]


def hard_negative(p: dict, same_make: list[Node], fit_ids: set[str], rng: random.Random
                  ) -> Node:
    """A vehicle of the listing's make that it does not fit, told apart by one cue chosen
    evenly among those the make offers: the year (a listed model outside the years, most
    often by one or two), the model (a sibling model within the listed years) or the engine
    (a listed model and year with another engine; only when the listing names one). With
    the cues spread evenly no single one (the buyer's year appearing in the listing, say)
    is enough to say that a part fits."""
    out = [v for v in same_make if v.id not in fit_ids]
    listed = [v for v in out if v.attrs["model"] in p["models"]]
    y0, y1 = p["years"]
    cues = {"year": [v for v in listed if not in_listed_years(v, p)],
            "model": [v for v in out
                      if v.attrs["model"] not in p["models"] and in_listed_years(v, p)],
            "engine": [v for v in listed if in_listed_years(v, p)] if p["engine"] else []}
    offered = sorted(c for c, pool in cues.items() if pool)
    if not offered:
        return rng.choice(out)
    cue = rng.choice(offered)
    pool = cues[cue]
    if cue == "year" and rng.random() < 0.6:
        near = [v for v in pool
                if min(abs(int(v.attrs["year"]) - y0), abs(int(v.attrs["year"]) - y1)) <= 2]
        pool = near or pool
    return rng.choice(pool)


def several_engines(p: dict, inside: list[Node], rng: random.Random) -> list[str]:
    """The product's engine and one or two others of the vehicles `inside` its models and
    years, smallest first (just the product's engine when they had no other)."""
    others = sorted({str(v.attrs["engine"]) for v in inside} - {p["engine"]})
    chosen = rng.sample(others, min(len(others), rng.choice([1, 1, 2])))
    return sorted([p["engine"], *chosen], key=lambda e: float(e.split()[0].rstrip("Ll")))


def engine_pairs(p: dict, fitting: list[Node], same_make: list[Node], rng: random.Random,
                  seller: bool, multi_engine: float = 0.0) -> list[PairExample]:
    """A listing naming its engine with a vehicle it fits and a hard negative
    (`hard_negative`). A buyer may leave the engine out only where the year or the model
    already rules the vehicle out. `multi_engine`: the share of seller listings that name
    several engines (`several_engines`); their label follows the text: a vehicle of the
    listed models and years with any listed engine fits."""
    if seller and multi_engine and rng.random() < multi_engine:
        inside = listed_vehicles(p, same_make)
        engines = several_engines(p, inside, rng)
        if len(engines) > 1:
            p = {**p, "engine": engines}
            fitting = [v for v in inside if str(v.attrs["engine"]) in engines]
    pos = rng.choice(fitting)
    neg = hard_negative(p, same_make, {v.id for v in fitting}, rng)
    if not seller:
        return [PairExample(listing_text(p, rng), vehicle_text(pos, rng), LABEL_COMPATIBLE),
                PairExample(listing_text(p, rng), vehicle_text(neg, rng), LABEL_INCOMPATIBLE)]
    ruled_out = neg.attrs["model"] not in p["models"] or not in_listed_years(neg, p)
    return [PairExample(listing_text(p, rng, True), buyer_vehicle_text(pos, rng),
                        LABEL_COMPATIBLE),
            PairExample(listing_text(p, rng, True),
                        buyer_vehicle_text(neg, rng, not (ruled_out and rng.random() < 0.4)),
                        LABEL_INCOMPATIBLE)]


def engine_free_pairs(p: dict, same_make: list[Node], rng: random.Random
                       ) -> list[PairExample]:
    """A listing that names no engine fits every engine of its models and years: a vehicle
    inside them, and one outside (`hard_negative`: the year or the model rules it out)."""
    free = {**p, "engine": None}
    inside = listed_vehicles(p, same_make)
    if not inside or len(inside) == len(same_make):
        return []
    pos = rng.choice(inside)
    neg = hard_negative(free, same_make, {v.id for v in inside}, rng)
    return [PairExample(listing_text(free, rng, True),
                        buyer_vehicle_text(pos, rng, rng.random() < 0.5), LABEL_COMPATIBLE),
            PairExample(listing_text(free, rng, True),
                        buyer_vehicle_text(neg, rng, rng.random() < 0.5), LABEL_INCOMPATIBLE)]


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
