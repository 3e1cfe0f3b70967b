"""One answer from the experts and the ontology: plan each chosen expert's inputs from the
query, then compose the experts' results and the ontology's records into `answer` + `facts`.

Pure logic (no Ray, no I/O): the Ingress calls `plan()`, runs the planned expert calls in
parallel, and calls `compose()` with their results.

Rules (what the ontology holds wins over a model's guess, and the answer says which it used):
- a product the catalog holds (linked by its part number): its category, attributes and
  fitment come from the catalog; the compatibility expert still judges the (listing,
  vehicle) pair and is reported as a second opinion;
- a part the catalog does not hold: the answer says so and uses only what the text gives —
  the category expert's label for the text, the attributes expert's spans, the
  compatibility expert's judgement of the text against the vehicle — never a catalog value;
- a part type and one vehicle, no particular part: the catalog's products of that type
  that fit the vehicle (of the named brand, when one is named);
- a trouble code: its ontology record (meaning, subsystem); "what part should I buy" → the
  part categories of the components it affects (or, when it names none, of its subsystem's
  components), and products of those categories that fit the named vehicle;
- symptoms without a code: the fault_codes expert's top codes, each with its record;
- nothing structured found: the LLM (when the router chose it), else a clear question back.
Every entity the answer names is in `facts`, each fact with its source and confidence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from experts.data.formats import plain_punctuation
from experts.ontology.catalog import singular
from experts.ontology.linker import Links, OntologyLinker, VehicleMention
from experts.ontology.schema import Node, Ontology

FIT_CUE = re.compile(r"\b(fits?|fitting|fitment|compatible|compatibility|work (?:on|with|in)|"
                     r"go(?:es)? (?:on|in)|right (?:\w+ ){0,4}for|will it|install|"
                     r"for (?:a|an|my|the|(?:19|20)\d\d))\b", re.I)
WHICH_VEHICLES_CUE = re.compile(r"\b(which|what)\s+(vehicles?|cars?|models?|trucks?)\b", re.I)
# asking for a part's fitment list without naming a vehicle: "compatible vehicles for
# 057S", "what does the 057S fit", "fitment for 057S"
FITMENT_LIST_CUE = re.compile(
    r"\b(compatible|fitting|applicable|matching)\s+(vehicles?|cars?|models?|trucks?)\b|"
    r"\bwhat\s+(?:does|do|will|would)\b.{0,40}\bfit\b|\bfitment\s+(?:list|for|of)\b", re.I)
CATEGORY_CUE = re.compile(r"\b(what|which)\s+(kind|type|sort|category)\b|\bcategory\b", re.I)
BUY_CUE = re.compile(r"\b(buy|replace|replacement|order|need|part|parts|fix|repair|check|"
                     r"inspect|look at|causes?|culprit)\b", re.I)
MEANING_CUE = re.compile(r"\b(mean|means|meaning|what is|what's|stand for|definition)\b", re.I)
YEAR_RANGE = re.compile(r"\b(?:19|20)\d\d\s*(?:-|–|to)\s*(?:(?:19|20)\d\d|\d\d)\b")
COMPATIBLE = "compatible"
MAX_LISTED = 3  # vehicles, products or codes named in one sentence
MAX_PRODUCTS = 2  # two parts in one question: each gets its answer
MAX_SHOWN = 5  # products named when the catalog lists what fits a vehicle


@dataclass
class Fact:
    kind: str  # product | fits | attribute | category | code | part_categories | products |
    #            symptom_code | unknown
    text: str
    source: str  # "ontology:<entity id>" or "expert:<name>@<version>"
    confidence: float = 1.0
    value: Any = None  # the machine-checkable value (True/False, "M12x1.25", "P0301", …)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "source": self.source,
                "confidence": round(self.confidence, 4), "value": self.value}


@dataclass
class Plan:
    """What the query asks, what it names, and each expert's inputs (or why it has none)."""

    text: str
    links: Links
    experts: list[str]
    inputs: dict[str, list] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # expert -> what is missing
    asks: set[str] = field(default_factory=set)  # fits | vehicles | attribute | category |
    #                                              code | parts | symptoms
    judged_vehicles: list[str] = field(default_factory=list)  # the compatibility pairs' b
    context_b: str | None = None


class Composer:
    """Plans expert inputs and composes answers over one ontology."""

    def __init__(self, ontology: Ontology) -> None:
        self.linker = OntologyLinker(ontology)
        self.nodes: dict[str, Node] = ontology.node_index()
        self.fits = {p: set(v) for p, v in ontology.neighbors("fits").items()}
        self.is_a = {p: v[0] for p, v in ontology.neighbors("is_a").items()}
        self.affects = ontology.neighbors("affects")
        self.subsystem_of = {c: v[0] for c, v in ontology.neighbors("in_subsystem").items()}
        self.codes_in: dict[str, list[str]] = {}
        for code, sub in self.subsystem_of.items():
            self.codes_in.setdefault(sub, []).append(code)
        self.categories_for: dict[str, list[str]] = {}
        for cat, comps in ontology.neighbors("for_component").items():
            for comp in comps:
                self.categories_for.setdefault(comp, []).append(cat)
        self.products_in: dict[str, list[str]] = {}
        for prod, cat in self.is_a.items():
            self.products_in.setdefault(cat, []).append(prod)
        self.components_of = ontology.neighbors("for_component")  # category -> components
        self.codes_at: dict[str, list[str]] = {}  # component -> the codes that affect it
        for code, comps in self.affects.items():
            for comp in comps:
                self.codes_at.setdefault(comp, []).append(code)
        self.fitting: dict[str, int] = Counter(v for vs in self.fits.values() for v in vs)

    # ---- plan -------------------------------------------------------------------------

    def plan(self, text: str, experts: list[str], context: dict[str, str] | None = None,
             part_spans: list[str] | None = None) -> Plan:
        """Link the text, decide what it asks, and build each expert's inputs.
        `part_spans`: PART_NUMBER/VEHICLE-free extra part mentions (the attributes expert's).
        Linking reads the text with ASCII punctuation (`plain_punctuation`: "9723\u2013B" is
        the part 9723-B); one character for one, so its offsets are the text's."""
        plain = plain_punctuation(text)
        links = self.linker.link(plain, [plain_punctuation(p) for p in part_spans or []])
        plan = Plan(text, links, list(experts), context_b=(context or {}).get("b"))
        if plan.context_b and links.products:  # a listed product against context.b
            for v in self.linker.link(plain_punctuation(plan.context_b)).vehicles:
                links.vehicles.append(v)
        plan.asks = self._asks(plain, links, experts, paired=bool(plan.context_b))
        for name in experts:
            if name == "compatibility":
                pairs = self.pairs(plan, context)
                if pairs:
                    plan.inputs[name] = pairs
                else:
                    plan.missing[name] = self._missing_for_fit(links)
            else:
                plan.inputs[name] = [text]
        return plan

    def _asks(self, text: str, links: Links, experts: list[str], paired: bool = False
              ) -> set[str]:
        """What the query asks. `paired`: the caller sent the second item (`context.b`), so
        the text is one item to judge against it, never a catalog search."""
        asks: set[str] = set()
        part_named = bool(links.products or links.unknown_parts or links.listing)
        shop = not paired and self._shops(text, links)
        if shop:
            asks.add("shop")  # "which spark plugs fit a 2016 altima": the catalog's list
        elif part_named and (WHICH_VEHICLES_CUE.search(text) or (
                not links.vehicles and FITMENT_LIST_CUE.search(text))):
            asks.add("vehicles")
        elif "compatibility" in experts or (links.vehicles and (
                (FIT_CUE.search(text) and part_named) or links.products or links.unknown_parts)):
            asks.add("fits")  # a part number and a vehicle in one question: does it fit?
        if links.unknown_parts and not paired and self._shops(text, links, unknown_ok=True):
            asks.add("alternatives")  # the catalog's parts of that type for that vehicle
        if links.attribute_kinds and not shop and (part_named or "attributes" in experts):
            asks.add("attribute")
        if ("category" in experts and not shop) or CATEGORY_CUE.search(text):
            asks.add("category")
        if not asks and links.products:  # "what is part number 452-7505": what it is
            asks.add("category")
        if links.codes or links.unknown_codes:
            asks.add("code")
            if BUY_CUE.search(text) and not MEANING_CUE.search(text):
                asks.add("parts")
        elif "fault_codes" in experts:
            asks.add("symptoms")
            if BUY_CUE.search(text):
                asks.add("parts")
        return asks

    def _shops(self, text: str, links: Links, unknown_ok: bool = False) -> bool:
        """A part category and a vehicle, no particular part ("brake pads for my 2014
        malibu", "which spark plugs fit a 2016 altima"): the catalog can list what fits.
        Not for a pasted listing (a year range or a second vehicle mention, as
        `_pasted_listing` reads it: the listing is judged) or a trouble code.
        `unknown_ok`: a part number the catalog lacks may be named too."""
        return bool(links.categories and links.vehicles and not links.products
                    and (unknown_ok or not links.unknown_parts) and not links.codes
                    and not YEAR_RANGE.search(text) and len(links.vehicles) == 1)

    def pairs(self, plan: Plan, context: dict[str, str] | None) -> list[dict]:
        """(listing, vehicle) pairs for the compatibility expert: (text, context.b) when b is
        given, else each listing the query names against each vehicle it names."""
        other = (context or {}).get("b")
        if other:
            plan.judged_vehicles = [other]
            return [{"a": plan.text, "b": other}]
        links = plan.links
        if not links.vehicles:
            return []
        pasted = self._pasted_listing(plan)
        listings = [self.nodes[p].text for p in links.products] or [
            _without_last_sentence(plan.text) if pasted else links.listing or plan.text]
        asked = self.asked_vehicles(plan)
        plan.judged_vehicles = [v.name for v in asked]
        return [{"a": a, "b": v.name} for a in listings for v in asked]

    def asked_vehicles(self, plan: Plan) -> list[VehicleMention]:
        """The vehicles the question asks about. In a pasted listing followed by a question,
        the listing's own fitment is not asked: only the vehicles of the last sentence."""
        vehicles = plan.links.vehicles
        if not self._pasted_listing(plan) or plan.context_b:
            return _distinct(vehicles)
        last = len(_without_last_sentence(plan.text))
        asked = [v for v in vehicles if v.start >= last] if last < len(plan.text) else []
        return _distinct(asked or vehicles[-1:])

    @staticmethod
    def _pasted_listing(plan: Plan) -> bool:
        """The text is a listing with its own fitment (a year range, or a second vehicle)
        followed by the question: the model can judge it; a bare part number cannot be."""
        return bool(YEAR_RANGE.search(plan.text)) or len(plan.links.vehicles) >= 2

    @staticmethod
    def _missing_for_fit(links: Links) -> str:
        if links.unknown_vehicles:
            return (f"the catalog lists no {links.unknown_vehicles[0]}: name a listed vehicle "
                    'or send it as "context": {"b": "<vehicle>"}')
        if not links.vehicles:
            return ('which vehicle? Name it in the question (e.g. "2012 Honda Civic 1.8L") or '
                    'send "context": {"b": "2012 Honda Civic 1.8L"}')
        return "which part? Name its part number or paste its listing"

    # ---- compose ----------------------------------------------------------------------

    def compose(self, plan: Plan, results: dict[str, dict]) -> tuple[str | None, list[Fact]]:
        """(answer, facts) from the plan and the experts' results (`ExpertResult` dicts:
        status, version, predictions)."""
        facts: list[Fact] = []
        sentences: list[str] = []
        links = plan.links
        for pid in links.products[:MAX_PRODUCTS]:
            facts.append(self._product_fact(pid))
        for part in links.unknown_parts[:1]:
            sentences.append(f"The catalog has no part numbered {part}, so only what the "
                             "text says is used.")
            facts.append(Fact("unknown", f"no catalog product has part number {part}",
                              "ontology:catalog", 1.0, part))
        for code in links.unknown_codes:
            sentences.append(f"{code} is not in the ontology (it lists the standard codes).")
            facts.append(Fact("unknown", f"{code} is not a listed trouble code",
                              "ontology:codes", 1.0, code))
        if "shop" in plan.asks:
            sentences += self._shop(links, facts)
        tail = self._alternatives(links, facts) if "alternatives" in plan.asks else []
        if "vehicles" in plan.asks:
            sentences += self._vehicles(links, facts)
        if "fits" in plan.asks:
            sentences += self._fits(plan, results.get("compatibility"), facts)
        if "attribute" in plan.asks:
            sentences += self._attributes(links, results.get("attributes"), facts)
        if "category" in plan.asks:
            sentences += self._category(links, results.get("category"), facts)
        codes = list(links.codes)
        if "symptoms" in plan.asks:
            s, codes = self._symptoms(results.get("fault_codes"), facts)
            sentences += s
        elif "code" in plan.asks:
            sentences += [self._code_sentence(c, facts) for c in codes[:MAX_LISTED]]
        if "parts" in plan.asks and codes:
            sentences += self._parts(codes[0], _distinct(links.vehicles), facts)
        sentences += tail
        return (" ".join(sentences) if sentences else None), facts

    def describe(self, entity_id: str) -> tuple[str | None, list[Fact]]:
        """What the ontology holds about one entity, in a sentence with its facts: the graph
        LLM names an entity ("knock sensors"), this says what the records link it to (None
        for an entity it does not know or has nothing to say of)."""
        node = self.nodes.get(entity_id)
        facts: list[Fact] = []
        if node is None:
            return None, facts
        if node.type == "code":
            return self._code_sentence(entity_id, facts), facts
        if node.type == "product":
            facts.append(self._product_fact(entity_id))
            return f"The catalog lists it as {node.text}.", facts
        if node.type in ("component", "part_category"):
            cats = (self.categories_for.get(entity_id, []) if node.type == "component"
                    else [entity_id])
            comps = ([entity_id] if node.type == "component"
                     else self.components_of.get(entity_id, []))
            out = [self._sold_as(c, facts) for c in cats[:MAX_LISTED]]
            out += [self._codes_at(c, facts) for c in comps[:1]]
            out = [s for s in out if s]
            return (" ".join(out) or None), facts
        if node.type == "vehicle":
            n = self.fitting.get(entity_id, 0)
            facts.append(Fact("vehicle", f"{n} catalog products fit the {node.name}",
                              f"ontology:{entity_id}", 1.0, n))
            parts = "one part" if n == 1 else f"{n} parts"
            fit = "fits" if n == 1 else "fit"
            return f"The catalog lists {parts} that {fit} the {node.name}.", facts
        return None, facts

    def _sold_as(self, cat: str, facts: list[Fact]) -> str:
        products = self.products_in.get(cat, [])
        if not products:
            return ""
        name = self.nodes[cat].name
        by_brand = Counter(str(self.nodes[p].attrs.get("brand")) for p in products)
        brands = [b for b, _ in by_brand.most_common(MAX_LISTED)]
        facts.append(Fact("catalog", f"{name}: {len(products)} catalog products",
                          f"ontology:{cat}", 1.0, name))
        count = f"one {singular(name)}" if len(products) == 1 else f"{len(products)} {name}"
        others = " and others" if len(by_brand) > len(brands) else ""
        return f"The catalog lists {count} (from {', '.join(brands)}{others})."

    def _codes_at(self, comp: str, facts: list[Fact]) -> str:
        codes = sorted(self.codes_at.get(comp, []), key=lambda c: self.nodes[c].name)
        if not codes:
            return ""
        name = self.nodes[comp].name
        shown = [self.nodes[c].name for c in codes[:MAX_LISTED]]
        facts.append(Fact("codes", f"{len(codes)} trouble codes affect the {name}",
                          f"ontology:{comp}", 1.0, shown))
        more = ", …" if len(codes) > MAX_LISTED else ""
        count = "One trouble code points" if len(codes) == 1 else \
            f"{len(codes)} trouble codes point"
        return f"{count} at the {name} ({', '.join(shown)}{more})."

    # ---- the pieces -------------------------------------------------------------------

    def _product_fact(self, pid: str) -> Fact:
        node = self.nodes[pid]
        return Fact("product", f"{node.name}: {node.text}", f"ontology:{pid}", 1.0, node.name)

    def _fits(self, plan: Plan, result: dict | None, facts: list[Fact]) -> list[str]:
        links = plan.links
        expert = _predictions(result)
        if links.products and links.vehicles:
            out = [self._catalog_fit(p, v, facts) for p in links.products[:MAX_PRODUCTS]
                   for v in self.asked_vehicles(plan)[:MAX_LISTED]]
            if expert:  # the model's second opinion, for the record
                facts.append(Fact("fits_model", f"compatibility expert: {expert[0].get('label')}",
                                  _source(result), float(expert[0].get("score", 0.0)),
                                  expert[0].get("label") == COMPATIBLE))
            return out
        if not (links.vehicles or plan.context_b):
            return [f"To check fitment: {plan.missing.get('compatibility') or 'which vehicle?'}"]
        if not (plan.context_b or self._pasted_listing(plan)) or not expert:
            what = links.unknown_parts[0] if links.unknown_parts else "this part"
            vehicle = (plan.judged_vehicles or [v.name for v in links.vehicles])[0]
            return [f"Whether {what} fits the {vehicle} cannot be told: the "
                    "catalog does not hold it and the text gives no fitment."]
        out = []
        what = "the listing"
        judged = plan.judged_vehicles or [v.name for v in links.vehicles]
        for vehicle, pred in zip(judged, expert, strict=False):
            fits = pred.get("label") == COMPATIBLE
            conf = float(pred.get("score", 0.0))
            verb = "fits" if fits else "does not fit"
            facts.append(Fact("fits", f"{what} {verb} {vehicle} (judged from the text)",
                              _source(result), conf, fits))
            if pred.get("reason"):  # the texts' own years, engines or drive rule it out
                out.append(f"{what.capitalize()} does not fit the {vehicle}: "
                           f"{pred['reason']}.")
                continue
            out.append(f"The compatibility expert judges that {what} {verb} the {vehicle} "
                       f"({conf:.0%} sure, judged from the text).")
        return out

    def _catalog_fit(self, pid: str, vehicle: VehicleMention, facts: list[Fact]) -> str:
        product = self.nodes[pid]
        fits = self.fits.get(pid, set())
        yes = [v for v in vehicle.ids if v in fits]
        if yes and len(yes) == len(vehicle.ids):
            value, verdict = True, f"Yes: {product.name} fits the {vehicle.name}"
        elif yes:
            engines = sorted({str(self.nodes[v].attrs.get("engine")) for v in yes})
            value = "some"
            verdict = (f"Only some: {product.name} fits the {vehicle.name} with the "
                       f"{' or '.join(engines)} engine, not the others")
        else:
            value = False
            verdict = f"No: {product.name} does not fit the {vehicle.name}"
        fit_text = self._fitment(product)
        facts.append(Fact("fits", f"{verdict} (catalog fitment: {fit_text})",
                          f"ontology:{pid}", 1.0, value))
        return f"{verdict} (the catalog lists it for {fit_text})."

    @staticmethod
    def _fitment(product: Node) -> str:
        a = product.attrs
        models = "/".join(a.get("models", [])) if isinstance(a.get("models"), list) else ""
        years = f"{a.get('year_from')}-{a.get('year_to')}"
        return f"{years} {a.get('make', '')} {models} {a.get('engine', '')}".strip()

    def _vehicles(self, links: Links, facts: list[Fact]) -> list[str]:
        if not links.products:
            what = links.unknown_parts[0] if links.unknown_parts else "that part"
            return [f"I cannot list the vehicles {what} fits: the catalog does not hold it."]
        pid = links.products[0]
        product = self.nodes[pid]
        n = len(self.fits.get(pid, ()))
        text = self._fitment(product)
        facts.append(Fact("vehicles", f"{product.name} fits {text} ({n} vehicles)",
                          f"ontology:{pid}", 1.0, sorted(self.fits.get(pid, ()))))
        return [f"{product.name} fits the {text} ({n} vehicles in the catalog)."]

    def _shop(self, links: Links, facts: list[Fact]) -> list[str]:
        """The catalog's products of each named category that fit the named vehicle (of the
        named brand, when one is named and the catalog has it), engines said when the
        vehicle's engines differ."""
        vehicle = links.vehicles[0]
        wanted = set(vehicle.ids)
        named_brands = {self.nodes[b].name for b in links.brands}
        brands = " or ".join(sorted(named_brands))
        out = []
        for cat in links.categories[:MAX_LISTED]:
            cname = self.nodes[cat].name
            fitting = self._fitting(cat, wanted)
            of_brand = [p for p in fitting if self.nodes[p].attrs.get("brand") in named_brands]
            if brands and not of_brand:
                out.append(f"The catalog lists no {brands} {cname} for the {vehicle.name}.")
                facts.append(Fact("products", f"no {brands} {cname} fit the {vehicle.name}",
                                  f"ontology:{cat}", 1.0, []))
                if fitting:
                    out.append(self._listed(fitting, cname, links, facts, other=True))
                continue
            if not fitting:
                out.append(f"The catalog lists no {cname} for the {vehicle.name}.")
                facts.append(Fact("products", f"no {cname} fit the {vehicle.name}",
                                  f"ontology:{cat}", 1.0, []))
                continue
            out.append(self._listed(of_brand or fitting, cname, links, facts, brands))
        return out

    def _fitting(self, category: str, vehicle_ids: set[str]) -> list[str]:
        """The catalog's products of one category that fit any of these vehicles."""
        return [p for p in self.products_in.get(category, [])
                if self.fits.get(p, set()) & vehicle_ids]

    def _alternatives(self, links: Links, facts: list[Fact]) -> list[str]:
        """A part number the catalog lacks, with its type and a vehicle: what the catalog
        has of that type for the vehicle (products only: nothing is said of the unknown
        part itself)."""
        vehicle = links.vehicles[0]
        out = []
        for cat in links.categories[:1]:
            fitting = self._fitting(cat, set(vehicle.ids))
            if fitting:
                out.append(self._listed(fitting, self.nodes[cat].name, links, facts,
                                        attributes=False, lead="Instead, the catalog lists"))
        return out

    def _listed(self, products: list[str], category: str, links: Links, facts: list[Fact],
                brand: str = "", other: bool = False, attributes: bool = True,
                lead: str = "The catalog lists") -> str:
        """"The catalog lists 2 brake pads for the 2014 Chevrolet Malibu: A (2.4L I4); B",
        each product a fact; the engine is named when the product fits only some of the
        vehicle's, and the attributes the question asks for ("what thread") are given."""
        vehicle = links.vehicles[0]
        wanted = set(vehicle.ids)
        engines_of = {v: str(self.nodes[v].attrs.get("engine")) for v in wanted}
        named = []
        for pid in products[:MAX_SHOWN]:
            product = self.nodes[pid]
            engines = sorted({engines_of[v] for v in self.fits.get(pid, set()) & wanted})
            some = len(engines) < len(set(engines_of.values()))
            with_engine = f" with the {' or '.join(engines)}" if some else ""
            facts.append(Fact("products", f"{product.name} fits the {vehicle.name}{with_engine}"
                              f" (catalog fitment: {self._fitment(product)})",
                              f"ontology:{pid}", 1.0, product.name))
            notes = [" or ".join(engines)] if some else []
            for kind in links.attribute_kinds if attributes else []:
                value = _attribute(product, kind)
                notes.append(f"{kind.lower()} {value or 'not listed'}")
                facts.append(Fact("attribute", f"{product.name} {kind.lower()}: "
                                  f"{value or 'not listed'}", f"ontology:{pid}", 1.0,
                                  {kind: value} if value else None))
            named.append(product.name + (f" ({', '.join(notes)})" if notes else ""))
        more = f"; and {len(products) - MAX_SHOWN} more" if len(products) > MAX_SHOWN else ""
        brand = f"{brand} " if brand else ""
        count = (f"one {brand}{singular(category)}" + (" of another brand" if other else "")
                 if len(products) == 1 else
                 f"{len(products)} {brand}{category}" + (" of other brands" if other else ""))
        return f"{lead} {count} for the {vehicle.name}: {'; '.join(named)}{more}."

    def _attributes(self, links: Links, result: dict | None, facts: list[Fact]) -> list[str]:
        out = []
        products = [self.nodes[p] for p in links.products[:MAX_PRODUCTS]]
        for product in products:
            its = "Its" if len(products) == 1 else f"{product.name}:"
            for kind in links.attribute_kinds:
                value = _attribute(product, kind)
                word = kind.lower()
                if value is None:
                    out.append(f"The catalog lists no {word} for {product.name}.")
                    facts.append(Fact("attribute", f"{product.name}: no {word} listed",
                                      f"ontology:{product.id}", 1.0, None))
                else:
                    out.append(f"{its} {word} is {value}.")
                    facts.append(Fact("attribute", f"{product.name} {word}: {value}",
                                      f"ontology:{product.id}", 1.0, {kind: value}))
        if products:
            return out
        spans = [e for p in _predictions(result) for e in p.get("entities", [])]
        for kind in links.attribute_kinds:
            found = [e["text"] for e in spans if e.get("type") == kind]
            if found:
                out.append(f"The text gives its {kind.lower()} as {found[0]}.")
                facts.append(Fact("attribute", f"{kind.lower()}: {found[0]} (from the text)",
                                  _source(result), 1.0, {kind: found[0]}))
            else:
                out.append(f"Its {kind.lower()} is not stated in the text"
                           + (" and the part is not in the catalog." if links.unknown_parts
                              else "."))
        return out

    def _category(self, links: Links, result: dict | None, facts: list[Fact]) -> list[str]:
        if links.products:
            out = []
            for pid in links.products[:MAX_PRODUCTS]:
                cat = self.nodes[self.is_a[pid]].name
                facts.append(Fact("category", f"{self.nodes[pid].name} is in {cat}",
                                  f"ontology:{self.is_a[pid]}", 1.0, cat))
                it = "it" if len(links.products) == 1 else self.nodes[pid].name
                out.append(f"In the catalog {it} is listed under {cat}.")
            return out
        preds = _predictions(result)
        if not preds:
            return []
        label, conf = preds[0].get("label"), float(preds[0].get("score", 0.0))
        facts.append(Fact("category", f"category: {label} (predicted from the text)",
                          _source(result), conf, label))
        return [f"The category expert reads it as {label} ({conf:.0%} sure)."]

    def _code_sentence(self, code_id: str, facts: list[Fact]) -> str:
        node = self.nodes[code_id]
        meaning = str(node.attrs.get("description", node.text))
        sub = self.subsystem_of.get(code_id)
        area = f" ({self.nodes[sub].name.lower()})" if sub else ""
        facts.append(Fact("code", f"{node.name}: {meaning}{area}", f"ontology:{code_id}", 1.0,
                          node.name))
        parts = [self.nodes[c].name for c in self.affects.get(code_id, [])][:MAX_LISTED]
        if not parts:
            return f"{node.name} means \"{meaning}\"{area}."
        facts.append(Fact("components", f"{node.name} affects the {' and the '.join(parts)}",
                          f"ontology:{code_id}", 1.0, parts))
        return f"{node.name} means \"{meaning}\"{area}; it affects the {' and the '.join(parts)}."

    def _symptoms(self, result: dict | None, facts: list[Fact]) -> tuple[list[str], list[str]]:
        preds = _predictions(result)
        if not preds:
            return [], []
        ranked = preds[0].get("top_k") or [preds[0]]
        codes, parts = [], []
        for r in ranked[:MAX_LISTED]:
            cid = f"code:{r['label']}"
            if cid not in self.nodes:
                continue
            codes.append(cid)
            node = self.nodes[cid]
            meaning = node.attrs.get("description", node.text)
            facts.append(Fact("symptom_code", f"{node.name}: {meaning}", _source(result),
                              float(r.get("score", 0.0)), node.name))
            parts.append(f"{node.name} ({meaning}, {float(r.get('score', 0.0)):.0%})")
        if not parts:
            return [], []
        return [f"The symptoms point to {'; '.join(parts)}."], codes

    def _parts(self, code_id: str, vehicles: list[VehicleMention],
               facts: list[Fact]) -> list[str]:
        code = self.nodes[code_id].name
        cats = [c for comp in self.affects.get(code_id, []) for c in
                self.categories_for.get(comp, [])]
        how = "the components it affects"
        if not cats:  # the code names no component: what its subsystem's codes point at
            sub = self.subsystem_of.get(code_id)
            counts = Counter(c for other in self.codes_in.get(sub, [])
                             for comp in self.affects.get(other, [])
                             for c in self.categories_for.get(comp, []))
            cats = [c for c, _ in counts.most_common(MAX_LISTED)]
            how = f"its area, {self.nodes[sub].name.lower()}" if sub else how
        cats = list(dict.fromkeys(cats))[:MAX_LISTED]
        if not cats:
            return [f"The ontology links no part category to {code}."]
        names = [self.nodes[c].name for c in cats]
        facts.append(Fact("part_categories", f"{code} -> {', '.join(names)} (via {how})",
                          f"ontology:{code_id}", 1.0, names))
        out = [f"Parts to check for {code}, from {how}: {', '.join(names)}."]
        for vehicle in vehicles[:1]:
            wanted = set(vehicle.ids)
            fitting = [p for c in cats for p in self._fitting(c, wanted)][:MAX_LISTED]
            if fitting:
                pnames = [self.nodes[p].name for p in fitting]
                facts += [Fact("products", f"{self.nodes[p].name} fits the {vehicle.name}",
                               f"ontology:{p}", 1.0, self.nodes[p].name) for p in fitting]
                out.append(f"For the {vehicle.name} the catalog has {', '.join(pnames)}.")
            else:
                out.append(f"The catalog has none of these for the {vehicle.name}.")
        return out


def _attribute(product: Node, kind: str) -> str | None:
    """A catalog product's value of one attribute kind ("THREAD" -> "M14x1.25"); the brand is
    the product's own field."""
    value = product.attrs.get("brand" if kind == "BRAND" else f"attr_{kind}")
    return str(value) if value else None


def _distinct(vehicles: list[VehicleMention]) -> list[VehicleMention]:
    """One mention per vehicle as named ("2012 Honda Civic" said twice is asked once)."""
    seen: set[str] = set()
    return [v for v in vehicles if not (v.name in seen or seen.add(v.name))]


def _without_last_sentence(text: str) -> str:
    """A pasted listing followed by its question: the listing (everything before the last
    sentence), or the whole text when it is one sentence."""
    parts = re.split(r"(?<=[.!?|])\s+", text.strip())
    return " ".join(parts[:-1]).strip() if len(parts) > 1 else text


def _predictions(result: dict | None) -> list[dict]:
    if not result or result.get("status", 200) != 200:
        return []
    return list(result.get("predictions") or [])


def _source(result: dict | None) -> str:
    r = result or {}
    return f"expert:{r.get('expert', '?')}@{r.get('version') or '?'}"
