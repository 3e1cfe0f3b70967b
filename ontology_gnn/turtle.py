"""RDF/OWL/SKOS Turtle in and out, through rdflib.

Export (`write_turtle`): each entity is an individual `te:<id>` typed with the class
`te:<Type>` (declared `owl:Class`), `rdfs:label` = name, `rdfs:comment` = text; each relation
is an `owl:ObjectProperty`. Import (`read_turtle`) reads that back exactly, and reads
other ontologies this way:

- an individual typed with a non-built-in class -> an entity of that class's local name;
- a class that takes part in `rdfs:subClassOf`, or a `skos:Concept` -> an entity of type
  `class` / `concept`;
- `rdfs:subClassOf` -> relation `subclass_of`, `skos:broader` -> `broader`,
  `skos:narrower` -> `broader` reversed, `skos:related` -> `related`;
- any other triple whose object is an entity -> a relation named by the predicate's local
  name (object properties);
- names from `rdfs:label` / `skos:prefLabel` (else the local name), text from
  `rdfs:comment` / `skos:definition` / `skos:scopeNote`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

from experts.core.errors import TinyExpertsError
from ontology_gnn.graph import Entity, KnowledgeGraph

TE = "urn:tinyexperts:"
TE_CLASS = "urn:tinyexperts:class:"
TE_REL = "urn:tinyexperts:rel:"


def _local(iri: str) -> str:
    for prefix in (TE_CLASS, TE_REL, TE):
        if iri.startswith(prefix):
            return unquote(iri[len(prefix):])
    return re.split(r"[#/:]", iri.rstrip("/#"))[-1] or iri


def write_turtle(kg: KnowledgeGraph, path: str | Path) -> Path:
    """Write the graph as Turtle (atomically: temp file + rename)."""
    from rdflib import OWL, RDF, RDFS, Graph, Literal, URIRef  # Turtle files only

    g = Graph()
    g.bind("owl", OWL)
    g.bind("rel", TE_REL)
    node = {e.id: URIRef(TE + quote(e.id, safe="")) for e in kg.entities}
    for t in kg.types():
        g.add((URIRef(TE_CLASS + quote(t, safe="")), RDF.type, OWL.Class))
    for r in sorted({r for _, r, _ in kg.triples}):
        g.add((URIRef(TE_REL + quote(r, safe="")), RDF.type, OWL.ObjectProperty))
    for e in kg.entities:
        g.add((node[e.id], RDF.type, URIRef(TE_CLASS + quote(e.type, safe=""))))
        g.add((node[e.id], RDFS.label, Literal(e.name)))
        if e.text and e.text != e.name:
            g.add((node[e.id], RDFS.comment, Literal(e.text)))
    for s, r, t in kg.triples:
        g.add((node[s], URIRef(TE_REL + quote(r, safe="")), node[t]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    g.serialize(destination=str(tmp), format="turtle")
    tmp.replace(path)
    return path


def read_turtle(path: str | Path, name: str | None = None) -> KnowledgeGraph:
    """Read an RDF/OWL/SKOS Turtle file into a KnowledgeGraph; clear error if it is bad."""
    from rdflib import OWL, RDF, RDFS, SKOS, Graph, Literal, URIRef  # Turtle files only

    path = Path(path)
    if not path.is_file():
        raise TinyExpertsError("Turtle file not found", where=str(path),
                               fix="pass the path of a .ttl file")
    g = Graph()
    try:
        g.parse(str(path), format="turtle")
    except Exception as err:  # rdflib raises many parser types; all mean "bad file"
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise TinyExpertsError(f"not valid Turtle ({first})", where=str(path),
                               fix="fix the syntax (e.g. check prefixes and final dots)"
                               ) from None

    builtin_ns = (str(RDF), str(RDFS), str(OWL), str(SKOS), "http://www.w3.org/2001/XMLSchema#")
    kinds: dict[URIRef, str] = {}
    for s, o in g.subject_objects(RDF.type):
        if isinstance(s, URIRef) and isinstance(o, URIRef) and not str(o).startswith(builtin_ns):
            kinds.setdefault(s, _local(str(o)))
    for s in g.subjects(RDF.type, SKOS.Concept):
        if isinstance(s, URIRef):
            kinds.setdefault(s, "concept")
    for s, o in g.subject_objects(RDFS.subClassOf):
        for c in (s, o):
            if isinstance(c, URIRef) and not str(c).startswith(builtin_ns):
                kinds.setdefault(c, "class")

    special = {RDFS.subClassOf: ("subclass_of", False), SKOS.broader: ("broader", False),
               SKOS.narrower: ("broader", True), SKOS.related: ("related", False)}
    skip = {RDF.type, RDFS.label, RDFS.comment, SKOS.prefLabel, SKOS.altLabel,
            SKOS.definition, SKOS.scopeNote, SKOS.inScheme, SKOS.topConceptOf}

    def text_of(s, preds) -> str | None:
        for p in preds:
            for o in g.objects(s, p):
                if isinstance(o, Literal):
                    return str(o)
        return None

    entities, ids = [], {}
    for s in sorted(kinds, key=str):
        eid = _local(str(s)) if str(s).startswith(TE) else str(s)
        ids[s] = eid
        label = text_of(s, (RDFS.label, SKOS.prefLabel)) or _local(str(s))
        text = text_of(s, (RDFS.comment, SKOS.definition, SKOS.scopeNote)) or label
        entities.append(Entity(eid, kinds[s], label, text))
    triples = set()
    for s, p, o in g:
        if s not in ids or o not in ids or p in skip:
            continue
        if p in special:
            rel, flip = special[p]
            triples.add((ids[o], rel, ids[s]) if flip else (ids[s], rel, ids[o]))
        else:
            triples.add((ids[s], _local(str(p)), ids[o]))
    if not entities:
        raise TinyExpertsError("no entities found (no typed individuals, classes or SKOS "
                               "concepts)", where=str(path),
                               fix="type your individuals (rdf:type) or use skos:Concept")
    return KnowledgeGraph(name=name or path.stem, entities=entities, triples=sorted(triples))
