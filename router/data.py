"""The router's query mix, generated from the ontology (and real out-of-domain text).

Every query carries the set of experts it needs (multi-label over OUTPUTS; "llm" = the
ontology encoder + tiny LLM path, the empty set = out of scope) and an intent. Phrasings
are partitioned by template: validation and test use templates training never sees;
products are split by id like the experts' data; out-of-scope text is split by hash.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from experts.data.fault_text import WITH_CODE, WITHOUT_CODE, _timestamp, paraphrase
from experts.data.phrasing import detokenize, split_of, split_templates
from experts.data.product_text import (
    TITLE_TEMPLATES,
    product_fields,
    render_title,
    vehicle_text,
)
from experts.errors import TinyExpertsError
from experts.specialize.probes import probe_texts
from ontology_gnn.schema import Ontology

OUTPUTS = ("category", "attributes", "compatibility", "fault_codes", "llm")
SPLITS = ("train", "validation", "test")

# The raw inputs themselves (a bare listing title, a bare log line, plain prose) are not
# phrasings: they occur in every split. Held out per split are the wrappers below.
RAW_INPUTS = {"categorize": "{title}", "diagnose": "{log}", "out_of_scope": "{ood}"}
RAW_SHARE = 0.3  # of that intent's queries

# intent -> (experts it needs, phrasings). Slots: {title} a listing title, {short} brand +
# part number + noun, {vehicle}, {log} a fault log line, {code}, {desc}, {component},
# {category}, {attr}, {ood} out-of-domain text.
ROUTES: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "categorize": (("category",), [
        "what category is {title}", "categorize: {title}",
        "which section of the parts store has {title}?", "department for: {title}",
        "what do you call this part: {short}", "is {short} a brake part, a filter or what?",
        "label the product type: {title}", "category only, no specs: {title}",
        "which department sells the {short}?", "what kind of part is {short}",
        "classify this listing: {title}", "{title} - what type of part is this?",
        "category for {short} please", "where does {title} belong in the catalog",
        "product type of {short}?", "sort this into a category: {title}",
    ]),
    "extract": (("attributes",), [
        "extract the specs from {title}", "what {attr} is the {short}?",
        "list the attributes of: {title}", "part number and brand in {title}",
        "tag the fields of this listing: {title}", "what is the {attr} of {short}",
        "pull brand, part number and size out of {title}", "parse: {title}",
        "which {attr} does {short} have", "give me the specs of {title}",
        "find the part number in: {title}", "what brand makes {title}?",
        "read the specs off this listing: {title}", "which vehicle is named in {title}",
        "extract fields (brand, size, thread) from {title}", "what is the pack quantity of {short}",
        "give me the part number of {title}", "specs only please: {title}",
    ]),
    "index_listing": (("category", "attributes"), [
        "index this listing: {title}", "catalog entry {title} - category and specs?",
        "new product: {title}. what is it and what are its attributes?",
        "categorize and extract fields: {title}", "add to catalog: {title}",
        "what is {short} and what {attr} is it?", "full listing analysis for {title}",
        "file this product with its attributes: {title}",
        "category plus specs for {title}", "list it in the catalog with its fields: {title}",
        "what type of part is {short} and what is its {attr}?", "enrich this listing: {title}",
        "product card (category + attributes) for {title}",
        "classify and tag {title}", "onboard this SKU: {title}",
    ]),
    "fitment": (("compatibility",), [
        "does {title} fit a {vehicle}?", "will the {short} work on my {vehicle}",
        "is {short} compatible with {vehicle}", "fitment check: {title} on {vehicle}",
        "can I put {short} on a {vehicle}?", "{vehicle} - does {short} fit?",
        "is this right for my {vehicle}: {title}", "check compatibility {short} / {vehicle}",
        "would {title} fit {vehicle}", "{short} for {vehicle}, yes or no?",
        "does {short} go on a {vehicle}", "fits my {vehicle}? {title}",
        "compatible: {short} and {vehicle}?", "will it bolt on? {short} -> {vehicle}",
        "is the {short} the right part for {vehicle}",
    ]),
    "fit_and_specs": (("compatibility", "attributes"), [
        "does this {short} fit a {vehicle} and what {attr} is it?",
        "{title}: will it fit my {vehicle}, and what are the specs?",
        "check fit on {vehicle} and list the attributes of {title}",
        "what {attr} is {short} and does it go on a {vehicle}",
        "is {short} right for a {vehicle}? also need its {attr}",
        "specs and fitment for {title} on {vehicle}",
        "need the {attr} of {short} and whether it fits my {vehicle}",
        "fit + specs: {title} / {vehicle}",
        "does {short} fit my {vehicle}, and what {attr} does it have?",
        "{vehicle}: will {title} fit, and give me its specs",
        "compatibility with {vehicle} plus the {attr} of {short}",
        "tell me the {attr} of {short} and if it suits a {vehicle}",
        "I have a {vehicle}; is {short} compatible and what are its attributes?",
    ]),
    "diagnose": (("fault_codes",), [
        "which code is this: {log}", "decode this log line: {log}",
        "what DTC matches: {desc}", "my scanner shows {desc}", "find the trouble code for {desc}",
        "log: {log}", "identify the fault code - {log}", "lookup code for symptom {desc}",
    ]),
    "ask": (("llm",), [
        "what does {code} mean and which parts should I check?",
        "why would a {vehicle} show {code}?", "what is a {component} and what does it do?",
        "my {vehicle} shows {code} - what is wrong and which parts fit?",
        "explain trouble code {code} in plain words",
        "which {category} fit my {vehicle}?", "how serious is {code}? can I still drive?",
        "what usually causes {code} on a {vehicle}", "which components are behind {code}?",
        "tell me about {code} and how to fix it", "what parts are related to the {component}?",
        "is {code} related to the {component}?",
    ]),
    "out_of_scope": ((), [
        "what's the weather like in {city} tomorrow?",
        "write a short poem about {topic}", "how do I bake {food}?",
        "who won the {sport} game last night", "translate '{topic}' into French",
        "recommend a good book about {topic}", "what time is it in {city}",
        "how many calories are in {food}", "tell me a joke about {topic}",
        "book a table for two in {city}", "what is the capital of {country}?",
    ]),
}

CITIES = ["Paris", "Osaka", "Lima", "Nairobi", "Oslo", "Denver", "Hanoi", "Porto", "Cairo"]
TOPICS = ["the sea", "autumn", "friendship", "mountains", "coffee", "jazz", "the moon",
          "gardening", "history", "chess", "birds", "rain"]
FOODS = ["sourdough bread", "banana cake", "lasagna", "pancakes", "a bagel", "an apple pie"]
SPORTS = ["football", "basketball", "hockey", "baseball", "cricket"]
COUNTRIES = ["Peru", "Kenya", "Norway", "Vietnam", "Portugal", "Egypt", "Canada"]
ATTR_WORDS = {"THREAD": "thread size", "SIZE": "size", "COLOR": "color", "VOLTAGE": "voltage",
              "MATERIAL": "material", "QUANTITY": "pack size"}


@dataclass(frozen=True)
class Query:
    text: str
    experts: tuple[str, ...]
    intent: str

    def target(self) -> list[float]:
        return [1.0 if o in self.experts else 0.0 for o in OUTPUTS]


INTENTS = tuple(ROUTES)


def _fill(template: str, onto_parts: dict, split: str, rng: random.Random) -> str:
    products = onto_parts["products"][split]
    p = product_fields(rng.choice(products))
    code = rng.choice(onto_parts["codes"])
    slots = {}
    if "{title}" in template:
        words, _ = render_title(p, rng.choice(TITLE_TEMPLATES), rng, split)
        slots["title"] = detokenize(words)
    slots["short"] = f"{p['brand']} {p['pn']} {p['category'].rstrip('s')}"
    slots["vehicle"] = vehicle_text(rng.choice(onto_parts["vehicles"]), rng)
    attrs = [k for k in p["attrs"] if k in ATTR_WORDS]
    slots["attr"] = ATTR_WORDS[rng.choice(attrs)] if attrs else "size"
    desc = paraphrase(str(code.attrs["description"]), rng)
    use_code = rng.random() < 0.35
    log_t = rng.choice(WITH_CODE if use_code else WITHOUT_CODE)
    slots["log"] = log_t.format(ts=_timestamp(rng), code=code.name, lcode=code.name.lower(),
                                desc=desc)
    slots.update(code=code.name, desc=desc,
                 component=rng.choice(onto_parts["components"]).name,
                 category=rng.choice(onto_parts["categories"]).name,
                 city=rng.choice(CITIES), topic=rng.choice(TOPICS), food=rng.choice(FOODS),
                 sport=rng.choice(SPORTS), country=rng.choice(COUNTRIES))
    if "{ood}" in template:
        slots["ood"] = rng.choice(onto_parts["ood"][split])
    return template.format(**slots)


def router_datasets(onto: Ontology, seed: int = 0,
                    per_intent: dict[str, int] | None = None) -> dict[str, list[Query]]:
    per_intent = per_intent or {"train": 500, "validation": 120, "test": 200}
    products = {s: [] for s in SPLITS}
    for node in onto.by_type("product"):
        products[split_of(node.id, seed)].append(node)
    ood = {s: [] for s in SPLITS}
    for text in probe_texts("stdlib-docs", n=3000, seed=seed):
        ood[split_of(text, seed)].append(text[:300])
    parts = {"products": products, "ood": ood, "codes": onto.by_type("code"),
             "vehicles": onto.by_type("vehicle"), "components": onto.by_type("component"),
             "categories": onto.by_type("part_category")}
    if not all(products.values()) or not parts["codes"] or not all(ood.values()):
        raise TinyExpertsError("the ontology lacks products, codes or vehicles for the router",
                               where="ontology", fix="use an ontology built by `build`")
    out: dict[str, list[Query]] = {}
    for split in SPLITS:
        rng = random.Random(f"router:{seed}:{split}")
        rows = []
        for intent, (experts, templates) in ROUTES.items():
            chosen = split_templates(templates, seed, n_val=1, n_test=2)[split]
            for _ in range(per_intent[split]):
                raw = RAW_INPUTS.get(intent)
                template = raw if raw and rng.random() < RAW_SHARE else rng.choice(chosen)
                rows.append(Query(_fill(template, parts, split, rng), experts, intent))
        rng.shuffle(rows)
        out[split] = rows
    return out


def write_router_data(data: dict[str, list[Query]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in data.items():
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for q in rows:
                f.write(json.dumps({"text": q.text, "experts": list(q.experts),
                                    "intent": q.intent}) + "\n")


def read_router_data(folder: Path) -> dict[str, list[Query]]:
    out = {}
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if not path.is_file():
            raise TinyExpertsError(f"router data {path} is missing", where=str(folder),
                                   fix="run `tinyexperts build --experts router`")
        rows = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                obj = json.loads(line)
                bad = [e for e in obj["experts"] if e not in OUTPUTS]
                if bad or obj["intent"] not in INTENTS:
                    raise ValueError(f"unknown expert/intent {bad or obj['intent']}")
                rows.append(Query(str(obj["text"]), tuple(obj["experts"]), obj["intent"]))
            except (ValueError, KeyError, TypeError) as err:
                raise TinyExpertsError(f"bad router example ({err})", where=f"{path}:{i}",
                                       fix='each line: {"text": ..., "experts": [...], '
                                           '"intent": ...}') from None
        out[split] = rows
    return out
