"""Build the default automotive ontology: real OBD-II codes plus a generated parts catalog."""

from __future__ import annotations

import random
from collections.abc import Callable

from experts.core.paths import Paths
from experts.ontology.catalog import compatible_pairs, make_products, make_vehicles, slug
from experts.ontology.catalog_tables import PART_CATEGORIES
from experts.ontology.obd_codes import trouble_codes
from experts.ontology.schema import Edge, Node, Ontology

DEFAULT_NAME = "automotive"


def build_default(seed: int = 0, products_per_category: int = 36,
                  dtc_table: dict[str, str] | None = None) -> Ontology:
    """The default ontology; the same seed always gives the same file.

    Args:
        seed: seeds the parts catalog (the code table is real data, not generated).
        products_per_category: catalog size; 36 x 33 categories ~ 1.2k products.
        dtc_table: code -> description, defaults to the table shipped by the `obd` package.
    """
    rng = random.Random(seed)
    nodes: list[Node] = []
    edges: list[Edge] = []

    def node(id_: str, type_: str, name: str, text: str = "", **attrs) -> str:
        nodes.append(Node(id=id_, type=type_, name=name, text=text or name, attrs=attrs))
        return id_

    def edge(src: str, rel: str, dst: str) -> None:
        edges.append(Edge(source=src, relation=rel, target=dst))

    # ---- trouble codes -> subsystems -> systems; codes -> components -------------------
    systems: dict[str, str] = {}
    subsystems: dict[tuple[str, str], str] = {}
    components: dict[str, str] = {}

    def component(name: str) -> str:
        if name not in components:
            components[name] = node(f"component:{slug(name)}", "component", name)
        return components[name]

    for tc in trouble_codes(dtc_table):
        if tc.system not in systems:
            systems[tc.system] = node(f"system:{slug(tc.system)}", "system", tc.system)
        key = (tc.system, tc.subsystem)
        if key not in subsystems:
            sid = node(f"subsystem:{slug(tc.system)}_{slug(tc.subsystem)}", "subsystem",
                       tc.subsystem, f"{tc.system}: {tc.subsystem}")
            subsystems[key] = sid
            edge(sid, "part_of", systems[tc.system])
        cid = node(f"code:{tc.code}", "code", tc.code, f"{tc.code}: {tc.description}",
                   description=tc.description, system=tc.system, subsystem=tc.subsystem)
        edge(cid, "in_subsystem", subsystems[key])
        for comp in tc.components:
            edge(cid, "affects", component(comp))

    # ---- parts catalog ----------------------------------------------------------------
    categories: dict[str, str] = {}
    for cat, spec in PART_CATEGORIES.items():
        categories[cat] = node(f"category:{slug(cat)}", "part_category", cat,
                               f"{cat}: " + ", ".join(spec["nouns"]))
        if spec["component"]:
            edge(categories[cat], "for_component", component(spec["component"]))

    vehicles = make_vehicles()
    for v in vehicles:
        node(v.id, "vehicle", v.name, make=v.make, model=v.model, year=v.year, engine=v.engine)

    brands: dict[str, str] = {}
    attr_nodes: dict[tuple[str, str], str] = {}
    products = make_products(vehicles, products_per_category, rng)
    for p in products:
        fit_text = f"fits {p.years[0]}-{p.years[1]} {p.make} {'/'.join(p.models)} {p.engine}"
        attr_text = ", ".join(p.attrs.values())
        node(p.id, "product", p.name, f"{p.name}, {attr_text}, {fit_text}",
             category=p.category, brand=p.brand, part_number=p.part_number, make=p.make,
             engine=p.engine, models=p.models, year_from=p.years[0], year_to=p.years[1],
             **{f"attr_{k}": v for k, v in p.attrs.items()})
        edge(p.id, "is_a", categories[p.category])
        if p.brand not in brands:
            brands[p.brand] = node(f"brand:{slug(p.brand)}", "brand", p.brand)
        edge(p.id, "made_by", brands[p.brand])
        for kind, value in p.attrs.items():
            key = (kind, slug(value))  # "12 Volt" and "12-volt" are one value
            if key not in attr_nodes:
                attr_nodes[key] = node(f"attribute:{slug(kind)}_{key[1]}", "attribute", value,
                                       f"{kind.lower()}: {value}", kind=kind)
            edge(p.id, "has_attribute", attr_nodes[key])
        for vid in p.fits:
            edge(p.id, "fits", vid)
    for a, b in compatible_pairs(products):
        edge(a, "compatible_with", b)

    return Ontology(name=DEFAULT_NAME, version=f"seed{seed}", nodes=nodes, edges=edges)


def ensure_ontology(paths: Paths, force: bool = False, log: Callable = print) -> Ontology:
    """The home's ontology: loaded if present, built and saved otherwise (or with `force`)."""
    if paths.ontology.is_file() and not force:
        return Ontology.load(paths.ontology)
    onto = build_default()
    onto.save(paths.ontology)
    log(f"ontology: {paths.ontology} {onto.stats()['nodes']}")
    return onto
