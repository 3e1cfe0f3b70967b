"""Which entities a question is about, and the small subgraph around them.

Linking, in order: exact codes (`P0171`), exact part numbers, exact names of the
low-cardinality entity types (components, part categories, brands, subsystems… any type
with a short name), vehicles written as "<year> <model>"; if nothing matched exactly, the
question's MiniLM vector is searched in a faiss index of entity text vectors and kept above
a similarity floor. A well-formed code that is not in the ontology is reported as unknown,
so the answer can say so instead of guessing. A question whose only links are one-word
names ("What's the weather like in Lisbon?" names Brick's tag "Weather") is about an
imported ontology only when at least half of its content words are the ontology's own terms
(words of entity names, types and relations; `on_topic`); else nothing is linked and the
answer is "not in the ontology". (The product ontology's names are its domain's jargon —
NGK, alternator — while people ask with words it does not hold, "gap", "wattage": there the
check dropped 14 of 287 hand-written shopper and mechanic queries, so it is off, and the
router refuses what is out of scope.)

Subgraph: the anchors, their neighbours, and the neighbours' neighbours, the most specific
relations first (fewest members); a relation with more than `hub_degree` members (a
subsystem's 400 codes, a vehicle's products) is not expanded, each relation contributes at
most `per_relation` entities per node, and the whole subgraph is capped at `max_entities`.
The same entity list feeds the graph tokens and the text rendering, so the two are compared
on equal information.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import faiss
import numpy as np
import torch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from experts.data.formats import plain_punctuation
from experts.ontology.linker import word_alternation
from ontology_gnn.generic_qa import words
from ontology_gnn.graph import KnowledgeGraph

CODE_RE = re.compile(r"\b([PBCU][0-9A-F]{4})\b")
# what looks like a part number: letters, digits and inner hyphens, >= 5 characters, with
# 4+ digits, or with letters and 2+ digits in 6+ characters ("0242236541", "PB-4876",
# "WX38SRT"); years, "1.8L", "5W-30" do not
_PN_TOKEN = re.compile(r"(?<![\w.-])([A-Za-z0-9]+(?:-[A-Za-z0-9]+)+|[A-Za-z0-9]{5,})(?![\w-])")
NAME_TYPES_MAX_WORDS = 8
SPECIFIC_LINKS = ("code", "part_number", "vehicle")  # links that name one thing exactly
# a question linked only by one-word names needs this share of its content words (English
# stop words aside) to be the ontology's own terms
ON_TOPIC_SHARE = 0.5
_WORD = re.compile(r"[a-z0-9]+")
# not content words: scikit-learn's English stop words and the auxiliaries it lacks
NOT_CONTENT = ENGLISH_STOP_WORDS | {"does", "did", "doing", "done", "tell", "please"}
# the words of asking about any ontology's structure count as its terms
ONTOLOGY_WORDS = frozenset({"kind", "kinds", "type", "types", "class", "classes", "subclass",
                            "category", "instance", "general", "specific", "belong",
                            "belongs", "related", "relation", "linked", "entity", "ontology"})


def term_words(text: str) -> set[str]:
    """Lower-case words of a name, type or relation, camel case split and whole
    (`hasAssociatedTag` -> has, associated, tag, hasassociatedtag; `part_category`)."""
    return set(_WORD.findall(words(text))) | set(_WORD.findall(text.lower()))


@dataclass
class Link:
    entity_id: str
    score: float
    how: str  # code | part_number | name | vehicle | dense


ANCHOR = "anchor"


def role_name(hop: int, relation: str, direction: str) -> str:
    """How an entity was reached from the anchors: hop 1 or 2, over `relation`, forward
    ('>') or backward ('<'); e.g. "1>subclass_of", "2<affects"."""
    return f"{hop}{direction}{relation}"


def role_vocabulary(kg: KnowledgeGraph) -> list[str]:
    """Every role an entity of `kg`'s subgraphs can have (the graph tokens' role table)."""
    rels = sorted({r for _, r, _ in kg.triples})
    return [ANCHOR] + [role_name(h, r, d) for h in (1, 2) for r in rels for d in "><"]


@dataclass
class Subgraph:
    entities: list[str]  # anchors first, then hop 1, then hop 2
    triples: list[tuple[str, str, str]]
    anchors: list[str]
    unknown: list[str] = field(default_factory=list)  # mentions not in the ontology
    roles: list[str] = field(default_factory=list)  # per entity: ANCHOR or role_name(...)
    off_topic: list[str] = field(default_factory=list)  # names dropped: question not about them


class EntityIndex:
    """Entity linking and subgraph retrieval over one KnowledgeGraph.

    Args:
        text_vectors: (N, H) MiniLM vectors of the entities' text (entity order).
        encode_query: text -> (H,) vector in the same space (for the dense fallback).
        name_types_max: entities are linked by exact name when their type has at most this
            many members (None: every type, as for an imported ontology).
        check_topic: drop the links of a question that only uses one-word names in passing
            (`on_topic`).
    """

    def __init__(self, kg: KnowledgeGraph, text_vectors: torch.Tensor, encode_query=None,
                 part_numbers: dict[str, str] | None = None, dense_floor: float = 0.55,
                 hub_degree: int = 40, per_relation: int = 3, max_entities: int = 8,
                 graph_vectors: torch.Tensor | None = None,
                 name_types_max: int | None = 500, check_topic: bool = False) -> None:

        self.kg = kg
        self.encode_query = encode_query
        self.check_topic = check_topic
        self.dense_floor = dense_floor
        self.hub_degree, self.per_relation, self.max_entities = (hub_degree, per_relation,
                                                                 max_entities)
        self.adj = kg.neighbours()
        vecs = np.ascontiguousarray(text_vectors.float().numpy())
        faiss.normalize_L2(vecs)
        self.faiss = faiss.IndexFlatIP(vecs.shape[1])
        self.faiss.add(vecs)
        self.graph_faiss = None  # GNN vectors: entities that play the same role in the graph
        if graph_vectors is not None:
            gv = np.ascontiguousarray(graph_vectors.float().numpy())
            faiss.normalize_L2(gv)
            self.graph_faiss = faiss.IndexFlatIP(gv.shape[1])
            self.graph_faiss.add(gv)
            self._graph_vectors = gv
        self.codes = {e.name.upper(): e.id for e in kg.entities if e.type == "code"}
        self.part_numbers = {k.lower(): v for k, v in (part_numbers or {}).items()}
        self._pn_re = word_alternation(self.part_numbers)
        counts: dict[str, int] = {}
        for e in kg.entities:
            counts[e.type] = counts.get(e.type, 0) + 1
        named = {}
        for e in kg.entities:
            short = len(e.name.split()) <= NAME_TYPES_MAX_WORDS and len(e.name) >= 3
            if short and e.type not in ("code", "product", "vehicle") and (
                    name_types_max is None or counts[e.type] <= name_types_max):
                named.setdefault(e.name.lower(), e.id)
        self.names = named
        self._name_re = word_alternation(named)
        self.terms: set[str] = set()  # the ontology's own words (names, types, relations)
        for e in kg.entities:
            self.terms |= term_words(e.name) | term_words(e.type)
        for _, rel, _ in kg.triples:
            self.terms |= term_words(rel)
        self.vehicles: dict[tuple[int, str], list[str]] = {}
        makes: set[str] = set()
        for e in kg.entities:
            m = re.match(r"^(\d{4}) (\S+) (.+?) \d\.\dL", e.name) if e.type == "vehicle" else None
            if m:
                self.vehicles.setdefault((int(m.group(1)), m.group(3).lower()), []).append(e.id)
                makes.add(m.group(2))
        models = sorted({k[1] for k in self.vehicles}, key=len, reverse=True)
        self._vehicle_re = (re.compile(r"\b((?:19|20)\d\d)\s+(?:\w+\s+)?(" +
                                       "|".join(re.escape(m) for m in models) + r")\b", re.I)
                            if models else None)
        # "<year> <make> <word>": a vehicle named the way the ontology names them
        by_length = sorted(makes, key=len, reverse=True)
        self._make_re = (re.compile(r"\b((?:19|20)\d\d)\s+(" + "|".join(map(re.escape, by_length))
                                    + r")\s+([A-Za-z][\w-]*)", re.I) if makes else None)

    # ---- linking ----------------------------------------------------------------------

    def link(self, question: str) -> tuple[list[Link], list[str]]:
        """(links, unknown mentions) for one question, read with ASCII punctuation."""
        question = plain_punctuation(question)
        links: list[Link] = []
        unknown: list[str] = []
        for code in CODE_RE.findall(question.upper()):
            if code in self.codes:
                links.append(Link(self.codes[code], 1.0, "code"))
            elif code not in unknown:
                unknown.append(code)
        low = question.lower()
        if self._pn_re is not None:
            for m in self._pn_re.finditer(low):
                links.append(Link(self.part_numbers[m.group(0)], 1.0, "part_number"))
        if self._name_re is not None:
            for m in self._name_re.finditer(low):
                links.append(Link(self.names[m.group(0)], 1.0, "name"))
        if self._vehicle_re is not None:
            for m in self._vehicle_re.finditer(question):
                ids = self.vehicles.get((int(m.group(1)), m.group(2).lower()), [])
                links.extend(Link(v, 1.0, "vehicle") for v in ids[:1])
        unknown += [u for u in self.unknown_mentions(question) if u not in unknown]
        if not links and not unknown and self.encode_query is not None:
            links = self.dense(question)  # a question about something unknown is not guessed
        seen, out = set(), []
        for link in links:
            if link.entity_id not in seen:
                seen.add(link.entity_id)
                out.append(link)
        return out, unknown

    def on_topic(self, question: str, links: list[Link]) -> bool:
        """False when every link is an exact one-word name and fewer than `ON_TOPIC_SHARE`
        of the question's content words are the ontology's terms: the name is a common word
        the question uses about something else."""
        if not links or any(lk.how != "name" or len(self.kg.entity(lk.entity_id).name.split())
                            > 1 for lk in links):
            return True
        words = [w for w in _WORD.findall(question.lower())
                 if len(w) > 1 and w not in NOT_CONTENT]
        ours = sum(w in self.terms or w in ONTOLOGY_WORDS for w in words)
        return not words or ours >= ON_TOPIC_SHARE * len(words)

    def unknown_mentions(self, question: str) -> list[str]:
        """Part numbers and vehicles the question names that the ontology does not hold."""
        out = []
        if self.part_numbers:
            for m in _PN_TOKEN.finditer(question):
                tok = m.group(1)
                digits = sum(c.isdigit() for c in tok)
                letters = sum(c.isalpha() for c in tok)
                shaped = digits >= 4 or (letters and digits >= 2 and len(tok) >= 6)
                if (shaped and len(tok) >= 5 and tok.lower() not in self.part_numbers
                        and not CODE_RE.fullmatch(tok.upper())
                        and not re.fullmatch(r"(19|20)\d\ds?", tok)):
                    out.append(tok)
        if self._make_re is not None:
            for m in self._make_re.finditer(question):
                year, model = int(m.group(1)), m.group(3).lower()
                if (year, model) not in self.vehicles and not any(
                        k[0] == year and k[1].split()[0] == model for k in self.vehicles):
                    out.append(f"{m.group(1)} {m.group(2)} {m.group(3)}")
        return out

    def dense(self, question: str, k: int = 3) -> list[Link]:
        q = np.ascontiguousarray(self.encode_query(question).float().numpy()[None])

        faiss.normalize_L2(q)
        scores, rows = self.faiss.search(q, k)
        return [Link(self.kg.entities[r].id, float(s), "dense")
                for s, r in zip(scores[0], rows[0], strict=True)
                if r >= 0 and s >= self.dense_floor]

    def similar(self, entity_id: str, k: int = 3) -> list[Link]:
        """The k entities of the same type nearest by GNN vector (cosine), without itself."""
        if self.graph_faiss is None:
            return []
        row = self.kg.index[entity_id]
        want = self.kg.entities[row].type
        scores, rows = self.graph_faiss.search(self._graph_vectors[row : row + 1], 8 * k + 1)
        out = [Link(self.kg.entities[r].id, float(sc), "graph")
               for sc, r in zip(scores[0], rows[0], strict=True)
               if r >= 0 and r != row and self.kg.entities[r].type == want]
        return out[:k]

    # ---- subgraph ---------------------------------------------------------------------

    def subgraph(self, anchors: list[str], unknown: list[str] | None = None) -> Subgraph:
        chosen: list[str] = []
        roles: list[str] = []
        for a in anchors:
            if a not in chosen and len(chosen) < self.max_entities:
                chosen.append(a)
                roles.append(ANCHOR)
        frontier = list(chosen)
        for hop in (1, 2):
            nxt = []
            for node in frontier:
                groups: dict[tuple[str, str], list[str]] = {}
                for rel, direction, other in self.adj.get(node, ()):
                    groups.setdefault((rel, direction), []).append(other)
                # the most specific relations first; a relation with more than hub_degree
                # members (a subsystem's codes, a vehicle's products) is not expanded
                for key, others in sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0])):
                    if len(others) > self.hub_degree:
                        continue
                    for other in [o for o in others if o not in chosen][: self.per_relation]:
                        if len(chosen) < self.max_entities:
                            chosen.append(other)
                            roles.append(role_name(hop, *key))
                            nxt.append(other)
            frontier = nxt
        inside = set(chosen)
        triples = [(s, r, t) for s, r, t in self.kg.triples if s in inside and t in inside]
        return Subgraph(chosen, triples, list(anchors), list(unknown or []), roles)

    def retrieve(self, question: str) -> Subgraph:
        """The subgraph around what the question names. A question about an unknown code,
        part number or vehicle with nothing specific known beside it (only a category or
        brand name) gets an empty subgraph: its subject is not in the ontology."""
        links, unknown = self.link(question)
        if unknown and not any(lk.how in SPECIFIC_LINKS for lk in links):
            links = []
        off_topic = []
        if self.check_topic and not self.on_topic(question, links):
            off_topic = [self.kg.entity(lk.entity_id).name for lk in links]
            links = []
        sub = self.subgraph([lk.entity_id for lk in links], unknown)
        sub.off_topic = off_topic
        return sub


def describe(kg: KnowledgeGraph, sub: Subgraph) -> str:
    """The subgraph written out as text facts (the text baseline's context)."""
    lines = []
    for eid in sub.entities:
        e = kg.entity(eid)
        lines.append(f"{e.name} ({e.type.replace('_', ' ')})" +
                     (f": {e.text}" if e.text and e.text != e.name and eid in sub.anchors
                      else ""))
    for s, r, t in sub.triples:
        lines.append(f"{kg.entity(s).name} {r.replace('_', ' ')} {kg.entity(t).name}")
    return "\n".join(lines)
