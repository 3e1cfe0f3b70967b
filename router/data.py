"""The router's query mix, generated from the ontology (and real out-of-domain text).

Every query carries the set of experts it needs (multi-label over OUTPUTS; "llm" = the
ontology encoder + tiny LLM path, the empty set = out of scope) and an intent.

Queries are composed, not drawn from a short list of whole sentences:
    [opener] + ask + [closer]
where an ask is one of ~30 phrasings of a single skill (category, attributes, fitment, fault
code, free-form question, out of scope). Multi-expert intents join two skills — the first
with the product named, the second referring back to it ("... and what thread size is
it?") — or use a fused phrasing ("specs and fitment for {p} on {vehicle}").

Half of the asks are generated (router.grammar): question frames filled with the words of
each skill, so that the skill's vocabulary decides the route, not the sentence around it.

Held out: every ask list, fused list, opener list, closer list and frame family is
partitioned; validation and test queries are built only from phrasings (and frames) training
never sees (an empty opener or closer is shared; the skill words are shared vocabulary).
Products are split by id like the experts' data; out-of-scope text by hash. The
training-only asks of `router.train_phrasings` join the training lists alone.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from experts.core.errors import TinyExpertsError
from experts.data.fault_text import (
    SYMPTOM_TEMPLATES,
    WITH_CODE,
    WITHOUT_CODE,
    log_timestamp,
    paraphrase,
    symptom_line,
)
from experts.data.phrasing import add_typos, detokenize, recase, split_of, split_templates
from experts.data.product_text import (
    TITLE_TEMPLATES,
    buyer_vehicle_text,
    product_fields,
    render_title,
    vehicle_text,
)
from experts.ontology.catalog import singular
from experts.ontology.obd_symptoms import CONDITIONS
from experts.ontology.schema import Ontology
from experts.specialize.probes import probe_texts
from router.grammar import FRAME_FAMILIES, generated_asks
from router.train_phrasings import TRAIN_ONLY

OUTPUTS = ("category", "attributes", "compatibility", "fault_codes", "llm")
SPLITS = ("train", "validation", "test")
HELD_OUT = {"validation": 0.15, "test": 0.25}  # share of each phrasing list

# Slots: {p} a product (`product_mention`: a listing title, brand + part number (+ noun) or
# the bare part number), {pn} its bare part number, {vehicle} (as a catalog or a buyer writes
# it), {attr} an attribute name, {log} a fault log line or a driver's/mechanic's symptom
# report, {desc} a fault description, {code} ({lcode} lower case), {code2}, {component},
# {component2}, {category} (plural), {cat} and {cat2} (two categories, singular),
# {appliance} and {ecode} (another machine and its error code), {city}, {city2}, {topic},
# {food}, {sport}, {country}.
# skill -> (asks naming the product, asks referring back to it with "it"/"its").
SKILLS: dict[str, tuple[list[str], list[str]]] = {
    "category": ([
        "what category is {p}", "categorize: {p}", "which section of the parts store has {p}?",
        "department for: {p}", "what do you call this part: {p}",
        "is {p} a brake part, a filter or what?", "label the product type: {p}",
        "which department sells {p}?", "what kind of part is {p}", "classify this listing: {p}",
        "{p} - what type of part is this?", "category for {p} please",
        "where does {p} belong in the catalog", "product type of {p}?",
        "sort this into a category: {p}", "what sort of part is {p}",
        "which product family is {p} in", "which aisle would {p} be in",
        "what part type is {p}", "name the category of {p}",
        "under which category should {p} go", "what group of parts does {p} belong to",
        "assign a category to {p}", "which shelf does {p} go on",
        "category of this item: {p}", "put {p} in the right category",
        "what would you file {p} under", "type of product: {p}?",
        "identify what kind of product {p} is", "which catalog section fits {p}",
        "what type of item is {p}", "category only, no specs: {p}",
        "what is {p} called in the catalog", "help me find the right category for {p}",
        "{p}: which category?", "which kind of auto part is {p}", "taxonomy node for {p}",
        "which part category matches {p}",
        "is {p} a sensor, a filter, a pump or something else?",
        "what would a parts store call {p}", "the product category of {p}, please",
        "map {p} to a category", "{p} -> category?", "which catalog category is {p}",
        # shorthand and either-or questions, as shoppers type them
        "is {p} a {cat} or a {cat2}?", "{p}: {cat} or {cat2}?", "{cat} or {cat2}? {p}",
        "which one is {p}, a {cat} or a {cat2}", "{p} type?", "{p} what is it",
        "{pn} is what kind of part", "what is {pn}", "what's a {pn} exactly",
        "{p} = what part?", "cat for {pn}?", "{pn} - {cat}? or something else",
        "is the {pn} a {cat}", "what part is {pn} even", "{p} which dept",
    ], [
        "what category is it", "what kind of part is it", "which department sells it",
        "what type of part is this", "which category does it go in",
        "what product type is it", "where does it belong in the catalog",
        "what sort of part is it", "classify it", "which section is it in",
        "its category", "what part type is it", "file it under the right category",
        "which aisle is it in",
    ]),
    "attributes": ([
        "extract the specs from {p}", "what {attr} is {p}?", "list the attributes of: {p}",
        "part number and brand in {p}", "tag the fields of this listing: {p}",
        "what is the {attr} of {p}", "pull brand, part number and size out of {p}",
        "parse: {p}", "which {attr} does {p} have", "give me the specs of {p}",
        "find the part number in: {p}", "what brand makes {p}?",
        "read the specs off this listing: {p}", "which vehicle is named in {p}",
        "extract fields (brand, size, thread) from {p}", "what is the pack quantity of {p}",
        "give me the part number of {p}", "specs only please: {p}",
        "what are the dimensions of {p}", "tell me the {attr} of {p}",
        "get the {attr} from {p}", "what {attr} does {p} come in", "spec sheet for {p}",
        "what are the technical details of {p}", "who manufactures {p}",
        "which {attr} is listed for {p}", "break down the fields in {p}",
        "annotate the attributes in {p}", "what's the {attr} on {p}",
        "details (brand, size, color) of {p}", "identify brand and part number: {p}",
        "mark up the specs in {p}",
        "what is the part number on {p}", "{p}: brand and size?", "which color is {p}",
        "how many come in a pack of {p}", "what voltage does {p} run on",
        "list every field you can find in {p}", "what thread does {p} use",
        "extract brand / part number / {attr} from {p}", "which attributes are in {p}",
        "what are the key specs of {p}", "{p} -> specs?", "fill in the spec fields for {p}",
        # shorthand: the attribute first, the product after, little else
        "{attr} {p}", "{attr} on {p}?", "{attr} for {p}", "{p} {attr}?", "{attr}? {p}",
        "{attr} of {pn}", "{p} - {attr} pls", "need {attr}: {pn}", "what {attr} {p}",
        "{attr} on the {pn}", "{pn} {attr}", "{attr} spec for {p}", "mfr and part # on {p}",
        "brand + pn from {p}", "{pn}: {attr} and brand?", "is {p} {attr} listed",
        "how many in a pack, {p}", "{attr} rating of the {pn}?",
    ], [
        "what {attr} is it", "what are its specs", "give me its attributes",
        "list its {attr}", "what {attr} does it have", "tell me its {attr}",
        "what are its dimensions", "who makes it", "its part number and brand",
        "the specs too", "what's its {attr}", "list the specs", "what are the attributes",
        "which {attr} is it",
    ]),
    "compatibility": ([
        "does {p} fit a {vehicle}?", "will {p} work on my {vehicle}",
        "is {p} compatible with {vehicle}", "fitment check: {p} on {vehicle}",
        "can I put {p} on a {vehicle}?", "{vehicle} - does {p} fit?",
        "is this right for my {vehicle}: {p}", "check compatibility {p} / {vehicle}",
        "would {p} fit {vehicle}", "{p} for {vehicle}, yes or no?",
        "does {p} go on a {vehicle}", "fits my {vehicle}? {p}",
        "compatible: {p} and {vehicle}?", "will it bolt on? {p} -> {vehicle}",
        "is {p} the right part for {vehicle}", "can {p} be installed on a {vehicle}",
        "will {p} match my {vehicle}", "does {p} suit a {vehicle}",
        "is {p} made for the {vehicle}", "{p} on a {vehicle}: fits or not?",
        "would {p} work with my {vehicle}", "I drive a {vehicle}, will {p} fit?",
        "is {p} a direct fit for {vehicle}", "my car is a {vehicle}; is {p} compatible",
        "confirm fitment of {p} for {vehicle}", "can my {vehicle} take {p}",
        "{vehicle} owner here - does {p} work for me", "does {p} match {vehicle}",
        "compatibility of {p} with a {vehicle}", "is {p} usable on a {vehicle}",
        "will {p} fit on a {vehicle} or not", "{p} on my {vehicle}, will that work?",
        "does {p} fit the {vehicle}", "check if {p} fits a {vehicle}",
        "is {p} ok for my {vehicle}", "need to know if {p} fits {vehicle}",
        "can {p} go in a {vehicle}", "{vehicle}: is {p} the correct part?",
        "{p} goes on {vehicle}?", "{pn} fits {vehicle}?", "{pn} goes on a {vehicle}?",
        "{p} ok on a {vehicle}?", "{vehicle} - {pn} ok?", "{pn} on {vehicle}??",
        "{p} for my {vehicle}?", "will {pn} fit {vehicle}", "{pn} -> {vehicle}, fits?",
        "{vehicle}? {pn}", "{pn} good for {vehicle}?", "{p}, {vehicle}, fit?",
        "{p} {vehicle}", "{p} for {vehicle}?", "{p} right for {vehicle}?",
        "{p} compat w/ {vehicle}?", "{pn} -> {vehicle}, y/n", "{vehicle} {p} fit?",
        "{p} ok w/ {vehicle}", "{p} fit {vehicle}?", "{p} fitment {vehicle}",
        "{pn} {vehicle} fitment?", "{p} / {vehicle} - fits?", "{p} correct for {vehicle}?",
        "fit check {pn} {vehicle}", "{vehicle} - {p} compatible?", "{p} w/ {vehicle} ok?",
        "does a {vehicle} take {p}", "{vehicle} use {p}?", "same {cat} for {vehicle}? {pn}",
    ], [
        "does it fit a {vehicle}", "will it work on my {vehicle}",
        "is it compatible with {vehicle}", "can I put it on a {vehicle}",
        "would it fit my {vehicle}", "is it right for a {vehicle}",
        "does it go on a {vehicle}", "will it fit {vehicle}", "is it a direct fit for {vehicle}",
        "can my {vehicle} take it", "does it suit a {vehicle}", "will it match my {vehicle}",
    ]),
    "fault_codes": ([
        "which code is this: {log}", "decode this log line: {log}", "what DTC matches: {desc}",
        "my scanner shows {desc}", "find the trouble code for {desc}", "log: {log}",
        "identify the fault code - {log}", "lookup code for symptom {desc}",
        "what code is logged here: {log}", "map this to a DTC: {log}",
        "trouble code for this entry: {log}", "diagnose this log: {log}",
        "which OBD code is '{desc}'", "code lookup: {desc}", "what fault is this: {log}",
        "ECU reported: {log} - which code?", "match this message to a code: {desc}",
        "which DTC is '{desc}'?", "interpret this diagnostic line: {log}",
        "the logger printed {log}; code?", "classify this fault entry: {log}",
        "find the DTC: {log}", "tell me the code for: {desc}", "what OBD-II code says {desc}",
        "error log {log}, which code", "get the code from {log}",
        "what's the code for {desc}", "fault code of this line please: {log}",
        "which code fits this symptom: {desc}", "scan tool says {desc} - which DTC",
        "convert this log to a trouble code: {log}", "what is the DTC in {log}",
        "code for the message '{desc}'", "name the OBD code behind: {log}",
        "which fault code was stored: {log}", "this came from the ECU: {log}. code?",
    ], []),
    "llm": ([
        "what does {code} mean and which parts should I check?",
        "why would a {vehicle} show {code}?", "what is a {component} and what does it do?",
        "my {vehicle} shows {code} - what is wrong and which parts fit?",
        "explain trouble code {code} in plain words", "which {category} fit my {vehicle}?",
        "how serious is {code}? can I still drive?", "what usually causes {code} on a {vehicle}",
        "which components are behind {code}?", "tell me about {code} and how to fix it",
        "what parts are related to the {component}?", "is {code} related to the {component}?",
        "how do I fix {code}", "what should I replace for {code}",
        "can a bad {component} cause {code}?", "what does the {component} connect to",
        "is it safe to drive with {code}", "how much work is fixing {code}",
        "why does {code} keep coming back on my {vehicle}",
        "what's the difference between {code} and {code2}?",
        "which systems does the {component} belong to", "give me an overview of {code}",
        "does {code} mean I need a new {component}?", "what are common fixes for {code}",
        "what {category} do I need for a {vehicle}", "describe the {component}",
        "what could trigger {code} after an oil change", "help me understand {code}",
        "how does the {component} fail", "which codes point at the {component}?",
        "should I worry about {code}?", "what does code {code} tell me",
        "{code} came on, what now?", "can {code} damage the engine",
        "what would a mechanic check first for {code}", "what parts fail with {code}",
        "why is {code} set and how do I clear it", "what's {code} about",
        "explain how the {component} works", "what is connected to the {component}",
        "which parts fit my {vehicle}", "what does a faulty {component} do to a {vehicle}",
        "{component} vs {component2}, what's the difference",
        "is a {component} the same thing as a {component2}", "what does a {component} actually do",
        "how do I know if my {component} is bad", "why do {category} wear out",
        "how often should {category} be replaced", "{code} vs {code2}?",
        "difference between a {component} and a {component2}?",
        "are aftermarket {category} as good as OEM", "what is the job of the {component}",
        "where is the {component} usually located", "can I drive with a bad {component}",
        "{component} - how does it work?", "why would the {component} fail",
        "do I need to replace both {category} at once", "{lcode} what does it mean",
        "is {code} serious or can it wait", "what's the point of a {component}",
    ], []),
    "none": ([
        "what's the weather like in {city} tomorrow?", "write a short poem about {topic}",
        "how do I bake {food}?", "who won the {sport} game last night",
        "translate '{topic}' into French", "recommend a good book about {topic}",
        "what time is it in {city}", "how many calories are in {food}",
        "tell me a joke about {topic}", "book a table for two in {city}",
        "what is the capital of {country}?", "plan a weekend trip to {city}",
        "summarize the history of {country}", "what's a good name for a cat",
        "how do I learn to play {sport}", "convert 30 euros to dollars",
        "what's in the news today", "set an alarm for 7am",
        "help me write an email to my landlord", "what is the population of {country}",
        "sing me a song about {topic}", "find flights from {city} to {city2}",
        "what's the best recipe for {food}", "is {food} healthy",
        "explain quantum physics simply", "how tall is the eiffel tower",
        "who painted the mona lisa", "give me a workout plan for {sport}",
        "what movies are playing in {city}", "how do I reset my email password",
        "what rhymes with {topic}", "draw me a picture of {topic}",
        # other machines' troubles: near the fault and parts vocabulary, not about cars
        "my {appliance} shows error {ecode}", "{appliance} error {ecode}, how to fix",
        "{appliance} won't turn on", "my {appliance} keeps shutting off",
        "how do I reset my {appliance}", "{appliance} making a grinding noise",
        "what does code {ecode} mean on a {appliance}", "{appliance} battery drains fast",
        "best {appliance} to buy this year", "is it worth repairing a {appliance}",
        "replacement part for my {appliance}", "{appliance} fault code {ecode}",
        "does this charger fit my {appliance}", "{appliance} keeps beeping, why",
    ], []),
}

# Clauses that rule a skill out ("..., I don't need the specs"): the skill's own words
# appear, negated, so the router learns that naming a skill is not asking for it.
# skill -> (after the ask, before the ask)
NEGATIONS: dict[str, tuple[list[str], list[str]]] = {
    "category": ([
        " - not asking what category it is", ", I don't need the category",
        ", no need to classify it", " (I already know what type of part it is)",
        ", skip the category", ", the category doesn't matter", ". not looking for the part type",
        ", don't categorize it", " - the department is not the question",
        ", not asking what kind of part it is",
    ], [
        "not asking what category it is - ", "I know what kind of part it is; ",
        "no need to classify this. ", "forget the category: ", "not a category question: ",
        "I don't need the part type, ", "don't need to know what it is, ",
        "whatever the part type is, ", "never mind what it's called - ",
        "skip the classification, ", "the category is not my question; ",
    ]),
    "attributes": ([
        ", I don't need the specs", " - not asking about the specs", ", never mind the size",
        ", skip the attributes", " (I have the spec sheet already)", ", no specs needed",
        ", not interested in brand or part number", " - the thread size is not the question",
        ", don't list the fields", ", specs are irrelevant",
    ], [
        "not asking about specs - ", "I have the specs already; ", "no attributes needed: ",
        "forget the size and thread, ", "not a spec question: ", "skip the specs. ",
        "don't care about the specs, ", "never mind brand or size - ", "no need for dimensions, ",
        "brand and size aside, ", "not worried about the specs; ", "no spec sheet needed, ",
    ]),
    "compatibility": ([
        ", not asking whether it fits", " - fitment is not the question",
        ", I don't care about fitment", ", not for any particular car",
        " (it's not about compatibility)", ", no fitment check needed",
        ", whatever car it goes on", ", not asking if it suits my car",
        " - not a fitment question", ", compatibility doesn't matter",
    ], [
        "not asking if it fits - ", "no fitment question here: ",
        "I don't need a compatibility check; ", "forget fitment, ",
        "not about my car, just ", "fitment aside, ", "skip the fitment check, ",
        "no need to tell me whether it fits - ", "don't care what it fits, ",
        "never mind fitment; ", "not a does-it-fit question: ", "leave compatibility out, ",
    ]),
}
NEGATION_SHARE = 0.25  # of the queries of an intent that leaves a negatable skill out

# intent -> (experts it needs, the skills it combines, fused phrasings)
INTENT_PLAN: dict[str, tuple[tuple[str, ...], tuple[str, ...], list[str]]] = {
    "categorize": (("category",), ("category",), []),
    "extract": (("attributes",), ("attributes",), []),
    "index_listing": (("category", "attributes"), ("category", "attributes"), [
        "index this listing: {p}", "catalog entry {p} - category and specs?",
        "new product: {p}. what is it and what are its attributes?",
        "categorize and extract fields: {p}", "add to catalog: {p}",
        "full listing analysis for {p}", "file this product with its attributes: {p}",
        "category plus specs for {p}", "list it in the catalog with its fields: {p}",
        "enrich this listing: {p}", "product card (category + attributes) for {p}",
        "classify and tag {p}", "onboard this SKU: {p}", "type and specs of {p}",
        "category, brand and size of {p}", "catalog {p} with type and attributes",
    ]),
    "fitment": (("compatibility",), ("compatibility",), []),
    "fit_and_specs": (("compatibility", "attributes"), ("compatibility", "attributes"), [
        "specs and fitment for {p} on {vehicle}", "fit + specs: {p} / {vehicle}",
        "compatibility with {vehicle} plus the {attr} of {p}",
        "I have a {vehicle}; is {p} compatible and what are its attributes?",
        "check fit on {vehicle} and list the attributes of {p}",
        "need the {attr} of {p} and whether it fits my {vehicle}",
        "tell me the {attr} of {p} and if it suits a {vehicle}",
        "{vehicle}: will {p} fit, and give me its specs",
        "fitment on a {vehicle} and full specs of {p}", "{p}: fits {vehicle}? what {attr}?",
        "is {p} ok for a {vehicle}, and its {attr}?", "spec and fit check, {p}, {vehicle}",
    ]),
    "diagnose": (("fault_codes",), ("fault_codes",), []),
    "ask": (("llm",), ("llm",), []),
    "out_of_scope": ((), ("none",), []),
}
INTENTS = tuple(INTENT_PLAN)

# The raw inputs themselves (a bare listing title, a bare log line, plain prose) are not
# phrasings: they occur in every split.
RAW_INPUTS = {"categorize": "{title}", "diagnose": "{log}", "out_of_scope": "{ood}"}
RAW_SHARE = 0.25  # of that intent's queries
# a bare trouble code is a diagnose input too ("P0301", "p0420?")
BARE_CODES = ["{code}", "{code}?", "{lcode}", "{code} ??", "got {code}", "{code} help",
              "{lcode} on my {vehicle}"]
BARE_CODE_SHARE = 0.2  # of the raw diagnose inputs
SYMPTOM_SHARE = 0.35  # of the {log} slots: a driver's or mechanic's report, not a log line
FUSED_SHARE = 0.35  # of a multi-expert intent's queries

OPENERS = ["hi, ", "hey - ", "quick question: ", "hello! ", "please help: ", "urgent: ",
           "question - ", "ok so ", "one more: ", "customer asks: ", "hi team, ",
           "good morning. ", "sorry to bother, ", "q: ", "pls: ", "need help - ",
           "hey there, ", "from a customer: ", "help: ", "so, "]
CLOSERS = [" thanks", " thx", " please", " asap", " - thanks in advance", " :)", " cheers",
           " (urgent)", " ty", ". thank you!", " thanks a lot", " pls", " !!",
           " - much appreciated", " for a customer", " right now"]
JOINERS = [" and ", ", and ", ". also, ", "; ", " - also ", ", plus ", ". and ", " + ",
           ", also ", ". oh and ", " & ", "? and "]
PLAIN_SHARE = 0.5  # queries with neither opener nor closer
HEAVY_TYPO_SHARE, HEAVY_TYPO_RATE = 0.15, 0.08  # of the queries: a slip in 1 word of 12
GRAMMAR_SHARE = 0.5  # asks drawn from router.grammar (frames x skill words), not hand-written

CITIES = ["Paris", "Osaka", "Lima", "Nairobi", "Oslo", "Denver", "Hanoi", "Porto", "Cairo"]
TOPICS = ["the sea", "autumn", "friendship", "mountains", "coffee", "jazz", "the moon",
          "gardening", "history", "chess", "birds", "rain"]
FOODS = ["sourdough bread", "banana cake", "lasagna", "pancakes", "a bagel", "an apple pie"]
SPORTS = ["football", "basketball", "hockey", "baseball", "cricket"]
COUNTRIES = ["Peru", "Kenya", "Norway", "Vietnam", "Portugal", "Egypt", "Canada"]
# each attribute type a product has, as people name it
ATTR_WORDS = {"THREAD": ["thread size", "thread pitch", "thread"],
              "SIZE": ["size", "dimensions", "length", "width"],
              "COLOR": ["color", "colour", "finish"],
              "VOLTAGE": ["voltage", "volts", "amperage", "wattage"],
              "MATERIAL": ["material", "construction"],
              "QUANTITY": ["pack size", "quantity", "qty", "count per box"]}
# other machines, for out-of-scope asks that sound like a fault or a part question
APPLIANCES = ["dishwasher", "washing machine", "laptop", "phone", "printer", "bicycle",
              "e-bike", "game controller", "furnace", "air conditioner", "smart tv",
              "coffee maker", "fridge", "wifi router", "dryer", "vacuum cleaner"]
APPLIANCE_CODES = ["E24", "F21", "0x80070005", "E4", "error 5", "code 12", "H20", "E:01",
                   "F5 E2", "LE", "404"]


@dataclass(frozen=True)
class Query:
    text: str
    experts: tuple[str, ...]
    intent: str
    phrasing: str = ""  # "hand" (written asks), "generated" (router.grammar), "raw" input

    def target(self) -> list[float]:
        return [1.0 if o in self.experts else 0.0 for o in OUTPUTS]


def phrasing_splits(seed: int) -> dict[str, dict[str, list[str]]]:
    """list name -> split -> phrasings; no phrasing is in two splits."""
    lists: dict[str, list[str]] = {"openers": OPENERS, "closers": CLOSERS, "joiners": JOINERS,
                                   "symptoms": SYMPTOM_TEMPLATES}
    for skill, (after, before) in NEGATIONS.items():
        lists[f"not:{skill}:after"] = after
        lists[f"not:{skill}:before"] = before
    for skill, (named, back) in SKILLS.items():
        lists[f"{skill}:named"] = named
        if back:
            lists[f"{skill}:back"] = back
    for intent, (_, _, fused) in INTENT_PLAN.items():
        if fused:
            lists[f"{intent}:fused"] = fused
    out = {name: split_three_ways(items, seed) for name, items in lists.items()}
    frames = {fam: split_three_ways(items, seed) for fam, items in FRAME_FAMILIES.items()}
    for split in SPLITS:
        for name, asks in generated_asks({f: s[split] for f, s in frames.items()}).items():
            out.setdefault(name, {})[split] = asks
    # a generated ask that equals a hand-written phrasing of another split is dropped, so
    # no held-out sentence reaches training through the grammar (or the other way round)
    key = lambda t: t.lower().rstrip("?. ")  # noqa: E731
    hand = {split: {key(t) for name in lists for t in out[name][split]} for split in SPLITS}
    for name in out:
        if name in lists:
            continue
        for split in SPLITS:
            others = set().union(*(hand[s] for s in SPLITS if s != split))
            out[name][split] = [t for t in out[name][split] if key(t) not in others]
    # training-only phrasings (router.train_phrasings) join their list's training part; one
    # that repeats a held-out phrasing is dropped, so validation and test stay unseen
    held_out = {key(t) for parts in out.values() for s in ("validation", "test")
                for t in parts[s]}
    for name, extra in TRAIN_ONLY.items():
        train = out[name]["train"]
        seen = held_out | {key(t) for t in train}
        for t in extra:
            if key(t) not in seen:
                train.append(t)
                seen.add(key(t))
    return out


def split_three_ways(items: list[str], seed: int) -> dict[str, list[str]]:
    n_test = max(1, round(len(items) * HELD_OUT["test"]))
    n_val = max(1, round(len(items) * HELD_OUT["validation"]))
    return split_templates(items, seed, n_val=n_val, n_test=n_test)


def _symptom_report(parts: dict, phr: dict, split: str, rng: random.Random) -> str:
    """What a driver or mechanic writes about a fault, from the symptom table."""
    cond = rng.choice(CONDITIONS)
    return symptom_line(rng.choice(phr["symptoms"][split]), cond, rng)


def product_mention(p: dict, title: str, rng: random.Random) -> str:
    """How a query names a product: its listing title, brand + part number + noun, brand +
    part number, or the bare part number (people who know the part type less)."""
    r = rng.random()
    if r < 0.5:
        return title
    if r < 0.75:
        return f"{p['brand']} {p['pn']} {singular(p['category'])}"
    return f"{p['brand']} {p['pn']}" if r < 0.92 else p["pn"]


def _slots(parts: dict, phr: dict, split: str, rng: random.Random) -> dict[str, str]:
    p = product_fields(rng.choice(parts["products"][split]))
    code, code2 = rng.sample(parts["codes"], 2)
    words, _ = render_title(p, rng.choice(TITLE_TEMPLATES), rng, split)
    title = detokenize(words)
    attrs = [k for k in p["attrs"] if k in ATTR_WORDS]
    cat, cat2 = rng.sample(parts["categories"], 2)
    component, component2 = rng.sample(parts["components"], 2)
    vehicle = rng.choice(parts["vehicles"])
    desc = paraphrase(str(code.attrs["description"]), rng)
    log_t = rng.choice(WITH_CODE if rng.random() < 0.35 else WITHOUT_CODE)
    return {
        "title": title, "p": product_mention(p, title, rng),
        "vehicle": vehicle_text(vehicle, rng) if rng.random() < 0.5
        else buyer_vehicle_text(vehicle, rng, with_engine=rng.random() < 0.6),
        "attr": rng.choice(ATTR_WORDS[rng.choice(attrs)] if attrs else ATTR_WORDS["SIZE"]),
        "log": _symptom_report(parts, phr, split, rng) if rng.random() < SYMPTOM_SHARE
        else log_t.format(ts=log_timestamp(rng), code=code.name, lcode=code.name.lower(),
                          desc=desc),
        "lcode": code.name.lower(), "pn": p["pn"],
        "desc": desc, "code": code.name, "code2": code2.name,
        "component": component.name, "component2": component2.name,
        "category": cat.name, "cat": singular(cat.name), "cat2": singular(cat2.name),
        "appliance": rng.choice(APPLIANCES), "ecode": rng.choice(APPLIANCE_CODES),
        "city": rng.choice(CITIES), "city2": rng.choice(CITIES), "topic": rng.choice(TOPICS),
        "food": rng.choice(FOODS), "sport": rng.choice(SPORTS),
        "country": rng.choice(COUNTRIES), "ood": rng.choice(parts["ood"][split]),
    }


def _compose(intent: str, phr: dict, split: str, rng: random.Random) -> tuple[str, str]:
    """(template, phrasing kind) of one query."""
    _, skills, fused = INTENT_PLAN[intent]
    pick = lambda name: rng.choice(phr[name][split])  # noqa: E731
    raw = RAW_INPUTS.get(intent)
    if raw and rng.random() < RAW_SHARE:
        if intent == "diagnose" and rng.random() < BARE_CODE_SHARE:
            return rng.choice(BARE_CODES), "raw"
        return raw, "raw"
    generated = rng.random() < GRAMMAR_SHARE
    kind = "generated" if generated else "hand"
    if len(skills) == 1:
        body = pick(f"{skills[0]}:{'grammar' if generated else 'named'}")
    elif fused and rng.random() < FUSED_SHARE:
        body = pick(f"{intent}:{'grammar' if generated else 'fused'}")
    else:
        first, second = rng.sample(skills, 2)
        body = (pick(f"{first}:{'grammar' if generated else 'named'}").rstrip("?")
                + pick("joiners") + pick(f"{second}:back"))
    ruled_out = [k for k in NEGATIONS if k not in skills]
    if ruled_out and set(skills) <= set(NEGATIONS) and rng.random() < NEGATION_SHARE:
        other = rng.choice(ruled_out)
        if rng.random() < 0.5:
            body = body.rstrip("?. ") + pick(f"not:{other}:after")
        else:
            body = pick(f"not:{other}:before") + body
    if rng.random() < PLAIN_SHARE:
        return body, kind
    opener = pick("openers") if rng.random() < 0.6 else ""
    closer = pick("closers") if rng.random() < 0.6 else ""
    return opener + body + closer, kind


_DOUBLED = re.compile(r"\b(?:a|an|the|my|your)\s+(my)\b", re.IGNORECASE)


def one_determiner(text: str) -> str:
    """A buyer's vehicle ("my 09 civic") in a slot after "a" / "my" / "the" reads "on a my
    09 civic" or "fits my my 2020 mazda3"; keep the buyer's own "my"."""
    return _DOUBLED.sub(r"\1", text)


def router_datasets(onto: Ontology, seed: int = 0,
                    per_intent: dict[str, int] | None = None) -> dict[str, list[Query]]:
    per_intent = per_intent or {"train": 1400, "validation": 150, "test": 200}
    products = {s: [] for s in SPLITS}
    for node in onto.by_type("product"):
        products[split_of(node.id, seed)].append(node)
    ood = {s: [] for s in SPLITS}
    for text in probe_texts("stdlib-docs", n=3000, seed=seed):
        ood[split_of(text, seed)].append(text[:300])
    parts = {"products": products, "ood": ood, "codes": onto.by_type("code"),
             "vehicles": onto.by_type("vehicle"), "components": onto.by_type("component"),
             "categories": onto.by_type("part_category")}
    if not all(products.values()) or len(parts["codes"]) < 2 or not all(ood.values()):
        raise TinyExpertsError("the ontology lacks products, codes or vehicles for the router",
                               where="ontology", fix="use an ontology built by `build`")
    phr = phrasing_splits(seed)
    out: dict[str, list[Query]] = {}
    for split in SPLITS:
        rng = random.Random(f"router:{seed}:{split}")
        rows = []
        for intent, (experts, _, _) in INTENT_PLAN.items():
            for _ in range(per_intent[split]):
                template, kind = _compose(intent, phr, split, rng)
                text = one_determiner(template.format(**_slots(parts, phr, split, rng)))
                if kind != "raw":  # some people type carefully, some do not
                    rate = HEAVY_TYPO_RATE if rng.random() < HEAVY_TYPO_SHARE else 0.02
                    text = add_typos(recase(text, rng), rng, rate=rate)
                rows.append(Query(text, experts, intent, kind))
        rng.shuffle(rows)
        out[split] = rows
    return out


def write_router_data(data: dict[str, list[Query]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in data.items():
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for q in rows:
                f.write(json.dumps({"text": q.text, "experts": list(q.experts),
                                    "intent": q.intent, "phrasing": q.phrasing}) + "\n")


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
                rows.append(Query(str(obj["text"]), tuple(obj["experts"]), obj["intent"],
                                  str(obj.get("phrasing", ""))))
            except (ValueError, KeyError, TypeError) as err:
                raise TinyExpertsError(f"bad router example ({err})", where=f"{path}:{i}",
                                       fix='each line: {"text": ..., "experts": [...], '
                                           '"intent": ...}') from None
        out[split] = rows
    return out


def read_external_router(path: Path | None = None) -> list[Query]:
    """The router's external set (experts/data/external_sets/router.jsonl): hand-written queries
    no template here produced, never trained on. Each line names the experts it needs; the
    intent is the one with exactly that set, and the line's `kind` (typo, negation, bare
    code, ...) becomes its phrasing, so exact match is also reported per kind."""
    from experts.data.external import external_path

    path = path or external_path("router")
    by_set = {frozenset(plan[0]): intent for intent, plan in INTENT_PLAN.items()}
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            experts = tuple(obj["experts"])
            intent = by_set[frozenset(experts)]
            rows.append(Query(str(obj["text"]), experts, intent, str(obj.get("kind", ""))))
        except (ValueError, KeyError, TypeError) as err:
            raise TinyExpertsError(f"bad router example ({err!r})", where=f"{path}:{i}",
                                   fix='each line: {"text": ..., "experts": [...] (a set the '
                                       'router knows), "kind": ...}') from None
    return rows
