"""What the ontology encoder and the graph LLM are built over and answer about.

Two kinds of source, one interface (`GraphSource`):

- the home's **product ontology** (`automotive`, the default): the domain question kinds
  (`ontology_gnn.qa`), part numbers for entity linking, and questions about unknown codes,
  part numbers and vehicles for the grounding check; its artifacts live in the home's
  registry;
- an **imported** RDF/OWL/SKOS ontology (`tinyexperts build --experts ontology --ontology
  FILE.ttl`): a copy of the file and a registry of its own under
  `<home>/ontologies/<name>/`, the generic question kinds (`ontology_gnn.generic_qa`), and
  linking by the names of every entity.

`ask --ontology NAME` and `POST /v1/ask {"ontology": NAME}` answer over an imported one.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from experts.core.errors import NotFoundError, TinyExpertsError
from experts.core.paths import ONTOLOGY_NAME_PATTERN
from experts.ontology.default import ensure_ontology
from experts.ontology.schema import Ontology
from ontology_gnn.generic_qa import generate_generic_qa
from ontology_gnn.graph import KnowledgeGraph, from_ontology
from ontology_gnn.graph_llm import SYSTEM
from ontology_gnn.grounding import entity_names, unknown_questions
from ontology_gnn.qa import generate_qa
from ontology_gnn.retrieve import EntityIndex
from ontology_gnn.turtle import read_turtle

DEFAULT = "automotive"
NAME_RE = re.compile(ONTOLOGY_NAME_PATTERN)
GRAPH_FILE = "graph.ttl"


@dataclass
class GraphSource:
    name: str
    kg: KnowledgeGraph
    registry: Path
    origin: str  # the file the graph was read from
    sha256: str  # of that file
    onto: Ontology | None = None  # the product ontology; None for an imported one

    @property
    def imported(self) -> bool:
        return self.onto is None

    @property
    def roles(self) -> bool:
        """Whether graph tokens carry roles (how each entity was reached). Measured on the
        same held-out questions (docs/experiments.md, 2026-12-03): Brick 0.575 -> 0.608 with
        roles (its classes share one type), the product ontology 0.85 -> 0.807 (its types
        already say what an entity is to the anchor)."""
        return self.onto is None

    @property
    def system_prompt(self) -> str:
        if self.onto is not None:
            return SYSTEM
        return (f"You answer questions about the {self.name} ontology. "
                "Reply with the name only.")

    def questions(self, n_per_kind: int | None = None, seed: int = 0) -> dict:
        """Generated questions, split by anchor; `n_per_kind` training questions per kind
        (default 250 for the six product kinds; 300 for the four generic ones: on Brick,
        seed 0, 150 per kind for 2 epochs scored 0.633 on the held-out questions, 300 per
        kind for 1 epoch (the same 75 steps) 0.642 and for 2 epochs 0.700, all before the
        role detector; with it, one pass over 300 per kind scores as two did, and the
        projector trains in about a minute and a half). The held-out questions are a fifth
        as many as the training questions per kind, so this number sets the test set's
        size too."""
        if self.onto is not None:
            return generate_qa(self.onto, n_per_kind=n_per_kind or 250, seed=seed)
        return generate_generic_qa(self.kg, n_per_kind=n_per_kind or 300, seed=seed)

    def names(self) -> list[str]:
        """Lower-case names an answer may contain to count as naming the ontology."""
        if self.onto is not None:
            return entity_names(self.onto)
        return sorted({e.name.lower() for e in self.kg.entities})

    def unknown_questions(self, n: int = 60, seed: int = 0) -> list[dict]:
        """Questions about entities of the ontology's own formats that it lacks (the
        product ontology's codes, part numbers, vehicles); none for an imported one."""
        return unknown_questions(self.onto, n, seed) if self.onto is not None else []

    def index(self, vectors: torch.Tensor, text_dim: int, encode_query=None) -> EntityIndex:
        """faiss over the text part (linking) and the GNN part (similar entities) of
        `vectors`; an imported ontology's entities are all linked by name, and its questions
        are checked for being about it (`EntityIndex.on_topic`; the product ontology's pass
        the router first, which refuses what is out of scope)."""
        pn = ({n.attrs["part_number"]: n.id for n in self.onto.by_type("product")
               if "part_number" in n.attrs} if self.onto is not None else {})
        gnn = vectors[:, :-text_dim] if vectors.shape[1] > text_dim else None
        return EntityIndex(self.kg, vectors[:, -text_dim:], encode_query=encode_query,
                           part_numbers=pn, graph_vectors=gnn,
                           name_types_max=None if self.imported else 500,
                           check_topic=self.imported)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or name == DEFAULT:
        raise TinyExpertsError(f"bad ontology name {name!r}", where="--ontology",
                               fix="lower-case letters, digits, '-' and '_' (at most 40), "
                                   f"not {DEFAULT!r}")
    return name


def imported_root(paths, name: str) -> Path:
    return paths.ontologies / check_name(name)


def name_for(ttl: Path) -> str:
    """The name an imported file goes by: its stem, in lower case, other characters '-'
    (`automotive.ttl`, the product ontology exported, comes back as `automotive-imported`)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", ttl.stem.lower()).strip("-")[:40] or "imported"
    return f"{name}-imported" if name == DEFAULT else name


def imported_names(paths) -> list[str]:
    """The imported ontologies of this home (a graph file is in place)."""
    root = paths.ontologies
    return sorted(p.name for p in root.iterdir()
                  if NAME_RE.match(p.name) and (p / GRAPH_FILE).is_file()) \
        if root.is_dir() else []


def import_file(paths, ttl: Path, log: Callable = print) -> tuple[GraphSource, bool]:
    """Read `ttl` (refused with the reason when bad, or when no question can be made from
    it), keep a copy in the home; (source, whether the graph is new or changed since the
    last import)."""
    kg = read_turtle(ttl)  # refuses a bad file before anything is written
    if not generate_generic_qa(kg, n_per_kind=5)["train"]:
        raise TinyExpertsError(
            f"no questions can be made from its {len(kg.triples)} relations (a question "
            "needs a relation from a uniquely named entity)", where=str(ttl),
            fix="the graph LLM learns from relations: add object properties, "
                "rdfs:subClassOf or skos:broader between named entities")
    name = name_for(Path(ttl))
    root = imported_root(paths, name)
    kept = root / GRAPH_FILE
    changed = not kept.is_file() or _sha256(kept) != _sha256(Path(ttl))
    if changed:
        root.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_suffix(".tmp")
        shutil.copyfile(ttl, tmp)
        tmp.replace(kept)
        log(f"ontology {name}: {len(kg.entities)} entities, {len(kg.triples)} triples "
            f"from {ttl}")
    return GraphSource(name, kg, root / "registry", str(ttl), _sha256(kept)), changed


def load_source(paths, name: str | None = None, *, build: bool = False,
                log: Callable = print) -> GraphSource:
    """The product ontology (`name` None or "automotive"; built first when `build`), or the
    imported ontology `name`."""
    if name in (None, DEFAULT):
        onto = ensure_ontology(paths, log=log) if build else Ontology.load(paths.ontology)
        return GraphSource(DEFAULT, from_ontology(onto), paths.registry, str(paths.ontology),
                           _sha256(paths.ontology), onto)
    root = imported_root(paths, name)
    if not (root / GRAPH_FILE).is_file():
        have = ", ".join(imported_names(paths)) or "none"
        raise NotFoundError(f"no imported ontology named {name!r} (imported: {have})",
                            where="ontology",
                            fix="build it: `tinyexperts build --experts ontology --ontology "
                                "FILE.ttl` (the name is the file's stem)")
    kg = read_turtle(root / GRAPH_FILE, name=name)
    return GraphSource(name, kg, root / "registry", str(root / GRAPH_FILE),
                       _sha256(root / GRAPH_FILE))
