"""The ontology as a graph for learning: a plain typed graph, and its torch-geometric form.

`KnowledgeGraph` is what the GNN side reads. It comes from the project's ontology JSON
(`from_ontology`) or from any RDF/OWL/SKOS Turtle file (`ontology_gnn.turtle`), so node and
relation types are free strings here, not the automotive schema's fixed lists.

`to_hetero_data` builds a `HeteroData`: one node store per node type (features `x` = the
MiniLM vectors of the nodes' text), one edge store per (source type, relation, target type)
plus its reverse (`rev_<relation>`) so messages flow both ways.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import torch

from experts.core.errors import TinyExpertsError


@dataclass(frozen=True)
class Entity:
    id: str
    type: str
    name: str
    text: str


@dataclass
class KnowledgeGraph:
    name: str
    entities: list[Entity]
    triples: list[tuple[str, str, str]]  # (source id, relation, target id)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {}
        for i, e in enumerate(self.entities):
            if e.id in self.index:
                raise TinyExpertsError(f"entity id {e.id!r} appears twice", where=self.name,
                                       fix="make entity ids unique")
            self.index[e.id] = i
        for s, r, t in self.triples:
            for end in (s, t):
                if end not in self.index:
                    raise TinyExpertsError(f"triple ({s}, {r}, {t}) names unknown entity "
                                           f"{end!r}", where=self.name,
                                           fix="add the entity or drop the triple")

    def entity(self, entity_id: str) -> Entity:
        return self.entities[self.index[entity_id]]

    def types(self) -> list[str]:
        return sorted({e.type for e in self.entities})

    def relations(self) -> list[tuple[str, str, str]]:
        """The typed relations present: (source type, relation, target type), sorted."""
        return sorted({(self.entity(s).type, r, self.entity(t).type) for s, r, t in self.triples})

    def neighbours(self) -> dict[str, list[tuple[str, str, str]]]:
        """entity id -> [(relation, direction '>' or '<', other id)], in triple order."""
        out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for s, r, t in self.triples:
            out[s].append((r, ">", t))
            out[t].append((r, "<", s))
        return out


def from_ontology(onto) -> KnowledgeGraph:
    """The project's typed ontology (experts.ontology.schema.Ontology) as a KnowledgeGraph."""
    return KnowledgeGraph(
        name=onto.name,
        entities=[Entity(n.id, n.type, n.name, n.text or n.name) for n in onto.nodes],
        triples=[(e.source, e.relation, e.target) for e in onto.edges])


# ---- torch-geometric -------------------------------------------------------------------

@dataclass
class GraphIndex:
    """Where each entity sits in the HeteroData: node type and row."""

    types: list[str]
    ids: dict[str, list[str]]  # node type -> entity ids in row order

    def locate(self, kg: KnowledgeGraph) -> dict[str, tuple[str, int]]:
        return {eid: (t, i) for t in self.types for i, eid in enumerate(self.ids[t])}


def graph_index(kg: KnowledgeGraph) -> GraphIndex:
    ids: dict[str, list[str]] = defaultdict(list)
    for e in kg.entities:
        ids[e.type].append(e.id)
    return GraphIndex(types=sorted(ids), ids=dict(ids))


def edge_tensors(kg: KnowledgeGraph, gi: GraphIndex, triples=None
                 ) -> dict[tuple[str, str, str], torch.Tensor]:
    """(source type, relation, target type) -> LongTensor (2, E) of row indices."""
    where = gi.locate(kg)
    cols: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for s, r, t in kg.triples if triples is None else triples:
        (st, si), (tt, ti) = where[s], where[t]
        cols[(st, r, tt)].append((si, ti))
    return {k: torch.tensor(v, dtype=torch.long).t().contiguous() for k, v in cols.items()}


def to_hetero_data(kg: KnowledgeGraph, features: torch.Tensor, triples=None):
    """HeteroData with `x` per node type (rows of `features`, entity order) and typed edges.

    `triples` limits the edges (e.g. the training edges of a link-prediction split); every
    relation also gets its reverse so that both ends of an edge receive messages.
    """
    from torch_geometric.data import (
        HeteroData,  # the GNN side only; torch-geometric is slow to import
    )

    if features.shape[0] != len(kg.entities):
        raise ValueError(f"{features.shape[0]} feature rows for {len(kg.entities)} entities")
    gi = graph_index(kg)
    data = HeteroData()
    for t in gi.types:
        rows = torch.tensor([kg.index[eid] for eid in gi.ids[t]], dtype=torch.long)
        data[t].x = features[rows]
        data[t].num_nodes = len(rows)
    for (st, r, tt), ei in edge_tensors(kg, gi, triples).items():
        data[st, r, tt].edge_index = ei
        data[tt, f"rev_{r}", st].edge_index = ei.flip(0)
    return data, gi


def split_triples(kg: KnowledgeGraph, fraction: float = 0.1, seed: int = 0,
                  relations: set[str] | None = None):
    """Hold out `fraction` of each relation's triples twice (validation, test), seeded.

    A triple is only held out if both its ends keep at least one other edge, so no entity
    is cut off from the training graph.
    """
    rng = random.Random(seed)
    degree: dict[str, int] = defaultdict(int)
    for s, _, t in kg.triples:
        degree[s] += 1
        degree[t] += 1
    by_rel: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for tr in kg.triples:
        by_rel[tr[1]].append(tr)
    train, val, test = [], [], []
    for rel in sorted(by_rel):
        items = by_rel[rel][:]
        rng.shuffle(items)
        if relations is not None and rel not in relations:
            train.extend(items)
            continue
        n_hold = int(len(items) * fraction)
        held_v, held_t = [], []
        for tr in items:
            s, _, t = tr
            if len(held_v) + len(held_t) < 2 * n_hold and degree[s] > 1 and degree[t] > 1:
                degree[s] -= 1
                degree[t] -= 1
                (held_v if len(held_v) <= len(held_t) else held_t).append(tr)
            else:
                train.append(tr)
        val.extend(held_v)
        test.extend(held_t)
    return train, val, test
