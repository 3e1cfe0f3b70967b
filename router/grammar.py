"""Generated asks for the router's query mix: question frames x skill vocabulary.

The hand-written asks in router.data are whole sentences, ~40 per skill; a model trained on
24 of them learns those sentences more than the words that decide the skill. Here the same
frames are filled with the nouns of different skills ("tell me the {X} of {p}" with X =
"part type" is a category ask, with X = "thread size" an attributes ask, with X = "fitment
on a {vehicle}" a compatibility ask), so what decides the route is the skill's vocabulary,
not the sentence around it. "describe {O}" is a free-form question when O is a component
or a code and out of scope when O is a landmark.

Frames are what router.data holds out (a test query's frame never occurs in training);
the nouns are the skills' vocabulary and are shared by every split.
"""

from __future__ import annotations

# Frames with one slot {X}, about a product {p}.
PRODUCT_FRAMES = [
    "what is the {X} of {p}", "tell me the {X} of {p}", "I need the {X} for {p}",
    "give me the {X} of {p}", "find the {X} of {p}", "{p}: {X}?", "{X} of {p}?",
    "{X} for {p} please", "can you tell me the {X} of {p}", "look up the {X} of {p}",
    "do you know the {X} of {p}", "show the {X} for {p}", "{p} - {X}",
    "what's the {X} for {p}", "need the {X}: {p}", "could you get me the {X} of {p}",
    "I want to know the {X} of {p}", "please report the {X} of {p}", "check the {X} of {p}",
    "{X} lookup for {p}", "send me the {X} of {p}", "what would the {X} of {p} be",
    "quick {X} check on {p}", "any idea of the {X} of {p}?", "hey, {X} of {p}",
    "figure out the {X} of {p}", "confirm the {X} of {p}", "what {X} applies to {p}",
    "{p} -- {X} please", "I'd like the {X} of {p}", "returning {p}, what's its {X}",
    "customer wants the {X} of {p}", "reply with the {X} of {p}", "the {X} of {p}?",
]
# Frames with two slots {X} and {Y} (two skills in one sentence).
PAIR_FRAMES = [
    "what are the {X} and the {Y} of {p}", "tell me the {X} and {Y} of {p}",
    "{p}: {X} and {Y}?", "I need the {X} plus the {Y} for {p}", "give me {X} and {Y} for {p}",
    "{X} + {Y} of {p}", "find the {X} and also the {Y} of {p}", "both the {X} and {Y} of {p}",
    "{X} as well as {Y} for {p}", "I want the {X} of {p} and its {Y}",
    "look up {X} and {Y}: {p}", "check {p} for {X} and {Y}", "{p} - {X}, {Y}",
    "send the {X} and then the {Y} of {p}", "could you get {X} and {Y} for {p}",
]

CATEGORY_NOUNS = [
    "category", "product category", "part type", "type of part", "kind of part",
    "department", "catalog section", "product family", "product class", "classification",
    "product group", "catalog category", "part family", "item type", "store section",
    "category label", "taxonomy class", "part category",
]
ATTRIBUTE_NOUNS = [
    "specs", "specifications", "attributes", "{attr}", "brand", "part number", "dimensions",
    "technical details", "listing fields", "brand and part number", "size and color",
    "manufacturer", "product details", "spec fields", "key specs", "tech specs",
    "data sheet values", "voltage", "material", "thread", "pack quantity", "color",
]
FITMENT_NOUNS = [
    "fitment on a {vehicle}", "compatibility with my {vehicle}", "fit for a {vehicle}",
    "vehicle fit ({vehicle})", "compatibility with a {vehicle}", "fitment for my {vehicle}",
    "fit on the {vehicle}", "{vehicle} compatibility", "{vehicle} fitment",
]

# Compatibility: frame x fitting verb.
FIT_FRAMES = [
    "does {p} {V} a {vehicle}", "will {p} {V} my {vehicle}?", "can {p} {V} a {vehicle}",
    "is {p} able to {V} a {vehicle}", "{vehicle}: will {p} {V} it?",
    "would {p} {V} the {vehicle}", "I wonder if {p} will {V} my {vehicle}",
    "{p} - will it {V} a {vehicle}?", "my {vehicle}: does {p} {V} it",
    "check whether {p} can {V} a {vehicle}", "yes or no: does {p} {V} a {vehicle}",
    "is it true that {p} will {V} a {vehicle}", "tell me if {p} will {V} my {vehicle}",
    "does {p} really {V} the {vehicle}?", "can I get {p} to {V} my {vehicle}",
]
FIT_VERBS = ["fit", "work on", "go on", "suit", "match", "install on", "bolt onto",
             "work with", "go in", "be used on", "fit onto"]

# Fault codes: frame x code word; {E} is the evidence (a log line or a symptom text).
CODE_FRAMES = [
    "what {C} matches {E}", "which {C} is {E}", "{E} - {C}?", "give me the {C} for {E}",
    "look up the {C}: {E}", "I got {E}, what {C} is that", "{C} for this: {E}",
    "find the {C} behind {E}", "what {C} would log {E}", "turn {E} into a {C}",
    "the {C} for {E}, please", "decode {E} into a {C}", "{E} -> {C}",
    "which {C} did the car store: {E}", "tell me the {C}: {E}", "{C} check: {E}",
]
CODE_WORDS = ["trouble code", "DTC", "fault code", "OBD code", "OBD-II code", "error code",
              "diagnostic code", "code", "diagnostic trouble code", "engine code"]
EVIDENCE = ["{log}", "'{desc}'", "this log line: {log}", "the symptom '{desc}'",
            "this entry: {log}", "the message {desc}"]

# Free-form questions (the LLM path) and out-of-scope questions share frames; the object
# decides. {O} is the object.
QUESTION_FRAMES = [
    "describe {O}", "tell me about {O}", "explain {O}", "what do you know about {O}",
    "give me an overview of {O}", "how does {O} work", "what is {O} for",
    "I'm curious about {O}", "teach me about {O}", "what should I know about {O}",
    "summarize {O} for me", "can you explain {O} simply", "background on {O}, please",
    "why does {O} matter", "what's the story with {O}",
]
DOMAIN_OBJECTS = [
    "the {component}", "code {code}", "{code}", "trouble code {code}", "a failing {component}",
    "{code} on a {vehicle}", "the {component} in a {vehicle}", "{category} for a {vehicle}",
    "the difference between {code} and {code2}", "a bad {component}",
]
WORLD_OBJECTS = [
    "the eiffel tower", "mount everest", "the great wall of china", "the amazon river",
    "the roman empire", "shakespeare", "the internet", "bitcoin", "the olympics",
    "photosynthesis", "the stock market", "the pyramids", "black holes", "{country}",
    "{city}", "{topic}", "{sport}", "{food}", "jazz music", "the french revolution",
    "climate change", "the human heart", "volcanoes", "the solar system", "yoga",
    "the printing press", "dinosaurs", "origami", "{country}'s economy", "the moon landing",
]


FRAME_FAMILIES = {"product": PRODUCT_FRAMES, "pair": PAIR_FRAMES, "fit": FIT_FRAMES,
                  "code": CODE_FRAMES, "question": QUESTION_FRAMES}


def fill(frames: list[str], slot: str, words: list[str]) -> list[str]:
    """Every frame with every word in `slot` (other slots stay for the query)."""
    return [f.replace("{" + slot + "}", w) for f in frames for w in words]


def pairs(frames: list[str], first: list[str], second: list[str]) -> list[str]:
    return [f.replace("{X}", a).replace("{Y}", b) for f in frames for a in first
            for b in second]


def generated_asks(frames: dict[str, list[str]]) -> dict[str, list[str]]:
    """List name (as in router.data) -> asks, from one split's frames of each family."""
    return {
        "category:grammar": fill(frames["product"], "X", CATEGORY_NOUNS),
        "attributes:grammar": fill(frames["product"], "X", ATTRIBUTE_NOUNS),
        "compatibility:grammar": fill(frames["fit"], "V", FIT_VERBS)
        + fill(frames["product"], "X", FITMENT_NOUNS),
        "fault_codes:grammar": fill(fill(frames["code"], "C", CODE_WORDS), "E", EVIDENCE),
        "llm:grammar": fill(frames["question"], "O", DOMAIN_OBJECTS),
        "none:grammar": fill(frames["question"], "O", WORLD_OBJECTS),
        "index_listing:grammar": pairs(frames["pair"], CATEGORY_NOUNS, ATTRIBUTE_NOUNS),
        "fit_and_specs:grammar": pairs(frames["pair"], ATTRIBUTE_NOUNS, FITMENT_NOUNS),
    }
