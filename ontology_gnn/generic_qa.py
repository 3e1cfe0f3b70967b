"""Question–answer pairs for any ontology: four generic kinds, each answered by naming an
entity, generated from the graph's own triples (an imported RDF/OWL/SKOS ontology has no
domain templates).

- **type** — "What kind of thing is Chilled Water Coil?" (Brick): its parents by a
  taxonomy relation (`subclass_of`, `broader`, `is_a`, `type`);
- **relation** — "Chilled Water Coil: has associated tag which tag?": every t of (s, r, t),
  r not a taxonomy relation;
- **inverse** — "Which class has associated tag Coil?": every s of (s, r, t), when there
  are at most `MAX_GOLD`;
- **two_hop** — "Follow subclass of from Chilled Water Coil, then has associated tag: which
  tag?": every t of s -r1-> m -r2-> t.

Relation and type names are written as words (`hasAssociatedTag` -> "has associated tag").
Only entities whose name is unique in the graph are asked about (a question about "Air"
cannot say which of two "Air"s it means), and gold lists longer than `MAX_GOLD` are skipped.
Splits are by anchor entity, as for the domain questions (`ontology_gnn.qa`); answers are
scored by the same whole-word rule (`qa.is_correct`).
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict

from ontology_gnn.graph import KnowledgeGraph
from ontology_gnn.qa import QA

GENERIC_KINDS = ("type", "relation", "inverse", "two_hop")
TAXONOMY = ("subclass_of", "broader", "is_a", "type", "instance_of", "subClassOf")
MAX_GOLD = 8

TEMPLATES = {
    "type": ["What kind of thing is {s}?", "{s} is a type of what?",
             "What is {s} a kind of?", "Which more general {st} does {s} belong to?"],
    "relation": ["{s}: {rel} which {tt}?", "Which {tt} does {s} relate to by {rel}?",
                 "In this ontology, what is {s} linked to by {rel}?", "{s} {rel} what?"],
    "inverse": ["Which {st} {rel} {t}?", "What {rel} {t}?",
                "Name a {st} that {rel} {t}.", "{t} — which {st} {rel} it?"],
    "two_hop": ["Follow {r1} from {s}, then {r2}: which {tt}?",
                "{s} {r1} something. What does that {r2}?",
                "What is reached from {s} by {r1} and then {r2}?"],
}


def words(name: str) -> str:
    """`hasAssociatedTag` / `subclass_of` / `QuantityKind` -> lower-case words."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").lower().strip()


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if not (n.lower() in seen or seen.add(n.lower()))]


def _facts(kg: KnowledgeGraph) -> dict[str, list]:
    """Candidate questions per kind: (anchor id, template fields, gold names)."""
    name = {e.id: e.name for e in kg.entities}
    typ = {e.id: e.type for e in kg.entities}
    counts = Counter(e.name.lower() for e in kg.entities)
    askable = {e.id for e in kg.entities if counts[e.name.lower()] == 1 and len(e.name) >= 3}
    out_edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    in_edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for s, r, t in kg.triples:
        if s != t:
            out_edges[s][r].append(t)
            in_edges[t][r].append(s)

    def gold(ids) -> list[str]:
        names = _unique([name[i] for i in ids])
        return names if 0 < len(names) <= MAX_GOLD else []

    facts: dict[str, list] = {k: [] for k in GENERIC_KINDS}
    for s in sorted(askable):
        for r, ts in sorted(out_edges[s].items()):
            g = gold(ts)
            if not g:
                continue
            fields = {"s": name[s], "st": words(typ[s]), "rel": words(r),
                      "tt": words(typ[ts[0]])}
            facts["type" if r in TAXONOMY else "relation"].append((s, r, fields, g))
            for r2, ts2 in sorted(out_edges[ts[0]].items()) if len(ts) == 1 else ():
                hop = gold([t2 for t2 in ts2 if t2 != s])
                if hop:
                    facts["two_hop"].append((s, f"{r}/{r2}", {
                        "s": name[s], "r1": words(r), "r2": words(r2),
                        "tt": words(typ[ts2[0]])}, hop))
    for t in sorted(askable):
        for r, ss in sorted(in_edges[t].items()):
            if g := gold(ss):
                facts["inverse"].append((t, r, {"t": name[t], "st": words(typ[ss[0]]),
                                                "rel": words(r)}, g))
    return facts


def _balanced(rows: list, n: int, rng: random.Random) -> list:
    """n rows, taking the relations in turn (a rare relation is asked about too)."""
    by_rel: dict[str, list] = defaultdict(list)
    for row in rows:
        by_rel[row[1]].append(row)
    for group in by_rel.values():
        rng.shuffle(group)
    order = sorted(by_rel)
    rng.shuffle(order)
    out: list = []
    while len(out) < n and any(by_rel.values()):
        for rel in order:
            if by_rel[rel] and len(out) < n:
                out.append(by_rel[rel].pop())
    return out


def generate_generic_qa(kg: KnowledgeGraph, n_per_kind: int = 250,
                        test_fraction: float = 0.2, seed: int = 0) -> dict[str, list[QA]]:
    """{"train": [...], "test": [...]}; the anchors of the two splits are disjoint. A kind
    the graph has no facts for is left out."""
    rng = random.Random(seed)
    facts = _facts(kg)
    anchors = sorted({row[0] for rows in facts.values() for row in rows})
    held = set(rng.sample(anchors, int(len(anchors) * test_fraction)))
    out: dict[str, list[QA]] = {"train": [], "test": []}
    for kind in GENERIC_KINDS:
        for split in ("train", "test"):
            rows = [row for row in facts[kind] if (row[0] in held) == (split == "test")]
            n = n_per_kind if split == "train" else max(1, int(n_per_kind * test_fraction))
            for anchor, _rel, fields, g in _balanced(rows, n, rng):
                q = rng.choice(TEMPLATES[kind]).format(**fields)
                out[split].append(QA(kind, q, g[0], g, anchor))
    for split in out:
        rng.shuffle(out[split])
    return out
