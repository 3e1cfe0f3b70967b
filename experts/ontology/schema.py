"""The ontology file format: typed nodes with text, typed edges, validated with pydantic.

One JSON file holds a whole ontology. `Ontology.load(path)` refuses a malformed file with a
message that names the field and the fix, e.g.
`ontology.json: edges[12].target 'P9999' is not a node id — fix: add the node or drop the edge`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from experts.core.errors import TinyExpertsError, from_validation_error

NodeType = Literal[
    "system",  # Powertrain, Network, ...
    "subsystem",  # a standard DTC range, e.g. "Ignition system or misfire"
    "code",  # a diagnostic trouble code, e.g. P0171
    "component",  # a physical component named by code descriptions, e.g. oxygen sensor
    "part_category",  # what a shop sells, e.g. spark plugs
    "brand",
    "product",  # one sellable part with a part number
    "vehicle",  # make, model, year, engine
    "attribute",  # a categorical attribute value, e.g. material=iridium
]

Relation = Literal[
    "part_of",  # subsystem -> system
    "in_subsystem",  # code -> subsystem
    "affects",  # code -> component
    "for_component",  # part_category -> component
    "is_a",  # product -> part_category
    "made_by",  # product -> brand
    "has_attribute",  # product -> attribute
    "fits",  # product -> vehicle
    "compatible_with",  # product -> product
]

# Which node types each relation may connect: checked on load.
RELATION_TYPES: dict[str, tuple[str, str]] = {
    "part_of": ("subsystem", "system"),
    "in_subsystem": ("code", "subsystem"),
    "affects": ("code", "component"),
    "for_component": ("part_category", "component"),
    "is_a": ("product", "part_category"),
    "made_by": ("product", "brand"),
    "has_attribute": ("product", "attribute"),
    "fits": ("product", "vehicle"),
    "compatible_with": ("product", "product"),
}

AttrValue = str | int | float | list[str]


class Node(BaseModel):
    """One entity. `text` is what encoders read; `attrs` holds structured facts."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    type: NodeType
    name: str = Field(min_length=1)
    text: str = ""
    attrs: dict[str, AttrValue] = Field(default_factory=dict)


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    relation: Relation
    target: str


class Ontology(BaseModel):
    """A typed graph of one domain. Build the default with `ontology_gnn.build_default`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "1"
    nodes: list[Node]
    edges: list[Edge]

    @model_validator(mode="after")
    def _check_graph(self) -> Ontology:
        seen: set[str] = set()
        for i, node in enumerate(self.nodes):
            if node.id in seen:
                raise ValueError(
                    f"nodes[{i}].id {node.id!r} is used twice; node ids must be unique"
                )
            seen.add(node.id)
        types = {n.id: n.type for n in self.nodes}
        for i, edge in enumerate(self.edges):
            for end in ("source", "target"):
                ref = getattr(edge, end)
                if ref not in types:
                    raise ValueError(
                        f"edges[{i}].{end} {ref!r} is not a node id; add the node or drop the edge"
                    )
            want = RELATION_TYPES[edge.relation]
            got = (types[edge.source], types[edge.target])
            if got != want:
                raise ValueError(
                    f"edges[{i}] {edge.relation!r} must link {want[0]} -> {want[1]}, "
                    f"got {got[0]} -> {got[1]}"
                )
        return self

    # ---- loading and saving -------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Ontology:
        """Read and validate an ontology JSON file; raise TinyExpertsError on any problem."""
        path = Path(path)
        if not path.is_file():
            raise TinyExpertsError(
                "ontology file not found",
                where=str(path),
                fix="run `tinyexperts build` or pass the path of an ontology JSON file",
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TinyExpertsError(
                f"not valid JSON ({err})", where=str(path), fix="fix the JSON syntax"
            ) from None
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            raise from_validation_error(
                err, where=str(path),
                fix="see the ontology format in docs/formats.md (nodes, edges, relation types)",
            ) from None

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename) so a reader never sees half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=None), encoding="utf-8")
        tmp.replace(path)

    # ---- queries ------------------------------------------------------------------------

    def by_type(self, node_type: str) -> list[Node]:
        return [n for n in self.nodes if n.type == node_type]

    def node_index(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    def neighbors(self, relation: str) -> dict[str, list[str]]:
        """source id -> target ids for one relation."""
        out: dict[str, list[str]] = defaultdict(list)
        for e in self.edges:
            if e.relation == relation:
                out[e.source].append(e.target)
        return out

    def domain_text(self) -> list[str]:
        """Entity names and descriptions: domain words a listing may use that training lacks."""
        out = []
        for node in self.nodes:
            out.append(node.name)
            if node.text:
                out.append(node.text)
        return out

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            "nodes": dict(Counter(n.type for n in self.nodes)),
            "edges": dict(Counter(e.relation for e in self.edges)),
        }


def domain_text_at(path: Path) -> list[str]:
    """`Ontology.domain_text()` of the ontology file at `path`; [] when there is none."""
    return Ontology.load(path).domain_text() if path.is_file() else []
