"""Question–answer pairs generated from the default ontology, and how answers are scored.

Six kinds of question, each answered by naming one entity of the ontology:

| kind | example | answer (gold) |
|---|---|---|
| code_component | "My scanner shows P0135. Which component is involved?" | a component it affects |
| code_area | "What does P0301 mean — which area of the car?" | the code's subsystem |
| code_parts | "P0420 is on. Which parts should I look at?" | a part category for that component |
| product_category | "What kind of part is PB-4876?" | the product's part category |
| product_brand | "Who makes part PB-4876?" | the brand |
| product_fits | "Which car does PB-4876 fit?" | the model of a vehicle it fits |

Splits are by *entity*: the codes and products asked about in the test split are never asked
about in training (they are in the graph, as they would be in production). An answer is
correct when it names a gold entity (case-insensitive, whole words); whether it names
anything of the ontology at all is measured in `ontology_gnn.grounding`.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass

MAX_QUESTION_CHARS = 1000  # `ask`, `/v1/ask` and the Answerer refuse longer questions

KINDS = ("code_component", "code_area", "code_parts", "product_category", "product_brand",
         "product_fits")

TEMPLATES = {
    "code_component": ["My scanner shows {code}. Which component is involved?",
                       "{code} came up on my {vehicle}. What part of the car is affected?",
                       "Which component does trouble code {code} point to?",
                       "Check engine light with {code} — which component should I test?"],
    "code_area": ["What does {code} mean — which area of the car?",
                  "Which system area is trouble code {code} about?",
                  "My {vehicle} logged {code}. What area is that in?",
                  "{code}: what subsystem does it belong to?"],
    "code_parts": ["{code} is on. Which parts should I look at?",
                   "My {vehicle} shows {code}. What kind of part might I need to buy?",
                   "Which part category fixes {code}?",
                   "Got {code} — what replacement parts are relevant?"],
    "product_category": ["What kind of part is {pn}?", "What is part number {pn}?",
                         "Which category does {pn} belong to?",
                         "I found {pn} in a box. What type of part is it?"],
    "product_brand": ["Who makes part {pn}?", "Which brand is {pn}?",
                      "What manufacturer produces part number {pn}?",
                      "{pn} — which brand is that?"],
    "product_fits": ["Which car does {pn} fit?", "What vehicle is part {pn} made for?",
                     "Will {pn} fit my car? Which model is it for?",
                     "Which model does part number {pn} fit?"],
}


@dataclass
class QA:
    kind: str
    question: str
    answer: str  # the training target: one entity name
    gold: list[str]  # any of these names counts as correct
    anchor: str  # the entity the question is about

    def to_dict(self) -> dict:
        return asdict(self)


def _code_facts(onto):
    idx = onto.node_index()
    subsystem = {s: idx[t].name for s, ts in onto.neighbors("in_subsystem").items()
                 for t in ts[:1]}
    affects = {s: [idx[t].name for t in ts] for s, ts in onto.neighbors("affects").items()}
    cat_of_comp: dict[str, list[str]] = {}
    for cat, comps in onto.neighbors("for_component").items():
        for comp in comps:
            cat_of_comp.setdefault(idx[comp].name, []).append(idx[cat].name)
    return subsystem, affects, cat_of_comp


def generate_qa(onto, n_per_kind: int = 250, test_fraction: float = 0.2, seed: int = 0
                ) -> dict[str, list[QA]]:
    """{"train": [...], "test": [...]} — anchors of the two splits are disjoint."""
    rng = random.Random(seed)
    idx = onto.node_index()
    subsystem, affects, cat_of_comp = _code_facts(onto)
    vehicles = [n.name for n in onto.by_type("vehicle")]
    codes = sorted(n.id for n in onto.by_type("code"))
    products = sorted(n.id for n in onto.by_type("product"))
    held = set(rng.sample(codes, int(len(codes) * test_fraction)))
    held |= set(rng.sample(products, int(len(products) * test_fraction)))
    is_a, made_by = onto.neighbors("is_a"), onto.neighbors("made_by")

    def answers(kind: str, anchor: str) -> list[str]:
        node = idx[anchor]
        if kind == "code_component":
            return affects.get(anchor, [])
        if kind == "code_area":
            return [subsystem[anchor]] if anchor in subsystem else []
        if kind == "code_parts":
            return sorted({c for comp in affects.get(anchor, [])
                           for c in cat_of_comp.get(comp, [])})
        if kind == "product_category":
            return [idx[t].name for t in is_a.get(anchor, [])]
        if kind == "product_brand":
            return [idx[t].name for t in made_by.get(anchor, [])]
        if kind == "product_fits":
            return sorted({m for m in node.attrs.get("models", [])})
        raise ValueError(kind)

    out: dict[str, list[QA]] = {"train": [], "test": []}
    for kind in KINDS:
        pool = codes if kind.startswith("code") else products
        pool = [a for a in pool if answers(kind, a)]
        for split in ("train", "test"):
            cands = [a for a in pool if (a in held) == (split == "test")]
            n = n_per_kind if split == "train" else max(1, int(n_per_kind * test_fraction))
            for anchor in rng.sample(cands, min(n, len(cands))):
                gold = answers(kind, anchor)
                node = idx[anchor]
                q = rng.choice(TEMPLATES[kind]).format(
                    code=node.name, pn=node.attrs.get("part_number", node.name),
                    vehicle=rng.choice(vehicles))
                answer = gold[0] if kind != "product_fits" else \
                    f"{node.attrs.get('make', '')} {gold[0]}".strip()
                out[split].append(QA(kind, q, answer, gold, anchor))
    for split in out:
        rng.shuffle(out[split])
    return out


def is_correct(answer: str, gold: list[str]) -> bool:
    """True when the answer names a gold entity as whole words (case-insensitive): "the
    Catalytic Converter." names "catalytic converter"; "catalytic converters" (a part
    category) does not. Until 2026-12-03 this was a substring test, which counted the
    latter and scored 2.7 points higher on the llm bench (experiments.md)."""
    low = answer.lower()
    return any(re.search(r"(?<!\w)" + re.escape(g.lower()) + r"(?!\w)", low) for g in gold)
