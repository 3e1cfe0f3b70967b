"""Which ontology entities a piece of text names: codes, products, vehicles, brands, part
categories, and which attribute it asks about.

Exact and rule-based, so a link is either right or absent (no similarity guesses): the
answers built on it must never name a product or a fitment the ontology does not hold.
What looks like an entity but is not in the ontology is reported as unknown — a well-formed
trouble code that is not listed, a part number next to a brand that the catalog lacks — so
the answer can say so instead of guessing.

- codes: `P0301`, `p0301` (not `9723-B 2013`: a code stands on its own);
- part numbers: the catalog's numbers, compared without case, spaces or hyphens
  (`0 986 515 900` = `0986515900`); a product of the named brand wins over another brand's;
- vehicles: `<year> [make] model` or `[make] model <year>`, with an optional engine size
  (`1.8L`, `2.0 liter`, `with the 5.7`); a year may be written `2012`, `'12` or, as buyers
  type it, `12` ("my 17 grand cherokee", "outback 18"); a model that is also an English word
  (Fit, Focus, Escape) needs its year or its make beside it; a vehicle named twice (in a
  pasted listing and in the question after it) is a mention at each place;
- brands and part categories: their names and the synonyms in the category's text;
- attribute questions: "what thread", "how many", "what size/gap" … → the attribute kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from experts.ontology.catalog_tables import MODEL_ALIASES
from experts.ontology.schema import Node, Ontology

CODE_RE = re.compile(r"(?<![\w-])([PBCUpbcu])([0-9][0-9A-Fa-f]{3})\b")
YEAR = r"(?:19[89]\d|20[0-4]\d)"
VEHICLE_YEAR = r"(?:19[89]\d|20[0-4]\d|['’]\d\d)"  # "2012" or "'12"
# A bare two-digit year ("my 17 grand cherokee", "outback 18"): only beside a model, and
# not a size or a count ("civic 12 volt", "14 mm", "pack of 4").
BARE_YEAR = r"(?:[89]\d|[0-4]\d)"
NOT_A_UNIT = (r"(?![\w-])(?!\s*(?:v|volts?|mm|cm|in|inch(?:es)?|\"|ft|pcs|pieces|pack|pk|psi|"
              r"amps?|ah|w|watts?|oz|lbs?|%|x|ohms?|bar)(?![a-z]))")
ENGINE_RE = re.compile(r"\b(\d\.\d)\s?-?(?:l\b|liters?\b|litres?\b|\s?(?=v\d|i\d|h\d))", re.I)
# Right after a vehicle, a bare displacement is an engine too: "2010 f150 5.0", "civic 1.5
# turbo", "my 18 tacoma with the 4.0", "w/ 3.5", the cylinders first: "v6 3.6", "8-cylinder 5.7"
ENGINE_AFTER_RE = re.compile(r"^[\s,(]*(?:(?:with|w/)(?:\s+(?:the|a|an))?\s*)?"
                             r"(?:(?:[vih]\d{1,2}|\d{1,2}\s?-?cyl(?:inder)?s?)[\s,]+)?"
                             r"(\d\.\d)(?!\d)", re.I)
QUESTION_WORD = re.compile(r"\b(what|whats|what's|which|how|tell me|need to know)\b", re.I)
# A token that looks like a part number: digits, maybe letters, hyphens, dots or spaces
# inside, at least 4 characters of letters/digits.
PART_TOKEN_RE = re.compile(r"(?<![\w-])([A-Za-z]{0,5}-?\d[\dA-Za-z]*"
                           r"(?:[-.][\dA-Za-z]+|\s\d[\dA-Za-z]*)*)(?![\w-])")
PART_CUES = re.compile(r"(?:part\s*(?:no\.?|number|#)?|p/?n|#|sku|item)\s*[:#]?\s*$", re.I)

# Words that ask for one attribute kind (the catalog's attribute kinds). The catalog's SIZE
# holds every measure of a part: amps, pins, ribs, teeth, bore, flow, kW, watts, CCA, ...
SIZE_UNITS = ("amps", "amp", "pins", "wires", "ribs", "grooves", "teeth", "terminals",
              "watts", "cc", "psi", "kw")
ATTRIBUTE_WORDS: dict[str, tuple[str, ...]] = {
    "THREAD": ("thread", "threads", "thread size", "thread pitch"),
    "SIZE": ("size", "gap", "diameter", "length", "width", "how big", "how long", "dimensions",
             "amp hours", "cca", "wattage", "amperage", "amp rating", "output", "flow rate",
             "bore", *(f"how many {u}" for u in SIZE_UNITS)),
    "MATERIAL": ("material", "made of", "made from", "electrode", "what metal", "compound"),
    "QUANTITY": ("how many", "quantity", "pack of", "count", "pieces", "pcs", "how much in"),
    "COLOR": ("color", "colour"),
    "VOLTAGE": ("voltage", "volts", "volt", "how many v"),
    "BRAND": ("brand", "who makes", "who made", "manufacturer", "make of"),
}
# Words that do not ask when another follows: "how many" asks for a count unless a measure
# follows ("how many amps": the size); "brand new" is no question about the brand.
NOT_BEFORE = {"how many": "|".join([*SIZE_UNITS, "volts?", "v"]), "brand": "new"}
ATTRIBUTE_PATTERNS: dict[str, list[re.Pattern]] = {
    kind: [re.compile(rf"(?<!\w){re.escape(w)}(?!\w)" + (
        rf"(?!\s+(?:{NOT_BEFORE[w]})(?!\w))" if w in NOT_BEFORE else "")) for w in words]
    for kind, words in ATTRIBUTE_WORDS.items()}
ENGLISH_WORD_MODELS = {"fit", "focus", "escape", "fusion", "accord", "rogue"}


@dataclass
class VehicleMention:
    text: str  # as written, e.g. "2012 Civic"
    make: str
    model: str
    year: int | None
    engine: str | None  # displacement as written, e.g. "1.8"
    ids: list[str]  # ontology vehicles that match (all engines when none was given)
    start: int = 0  # where the mention starts in the text

    @property
    def name(self) -> str:
        parts = [str(self.year) if self.year else "", self.make, self.model,
                 f"{self.engine}L" if self.engine else ""]
        return " ".join(p for p in parts if p)


@dataclass
class Links:
    """Everything `OntologyLinker.link` found in one text."""

    codes: list[str] = field(default_factory=list)  # ontology ids, in order of mention
    unknown_codes: list[str] = field(default_factory=list)  # well-formed, not in the ontology
    products: list[str] = field(default_factory=list)  # ontology ids
    unknown_parts: list[str] = field(default_factory=list)  # part numbers the catalog lacks
    vehicles: list[VehicleMention] = field(default_factory=list)
    unknown_vehicles: list[str] = field(default_factory=list)  # year + model not listed
    brands: list[str] = field(default_factory=list)  # ontology ids
    categories: list[str] = field(default_factory=list)  # ontology ids
    attribute_kinds: list[str] = field(default_factory=list)  # e.g. ["THREAD"]
    listing: str = ""  # the words naming the part (brand, number, category), for experts

    @property
    def empty(self) -> bool:
        return not (self.codes or self.unknown_codes or self.products or self.unknown_parts
                    or self.vehicles or self.brands or self.categories)


def normalize_part_number(text: str) -> str:
    return re.sub(r"[\s\-.]", "", text).upper()


class OntologyLinker:
    """Exact entity linking over one ontology (see the module docstring)."""

    def __init__(self, ontology: Ontology) -> None:
        self.nodes: dict[str, Node] = ontology.node_index()
        self.codes = {n.name.upper(): n.id for n in ontology.by_type("code")}
        self.part_numbers: dict[str, list[str]] = {}
        for n in ontology.by_type("product"):
            pn = str(n.attrs.get("part_number", ""))
            if pn:
                self.part_numbers.setdefault(normalize_part_number(pn), []).append(n.id)
        self.brand_of = {n.id: str(n.attrs.get("brand", "")) for n in ontology.by_type("product")}
        self.brands = {n.name.lower(): n.id for n in ontology.by_type("brand")}
        self._brand_re = word_alternation(self.brands)
        self.category_words: dict[str, str] = {}
        for n in ontology.by_type("part_category"):
            self.category_words[n.name.lower()] = n.id
            synonyms = n.text.split(":", 1)[1] if ":" in n.text else ""
            for s in synonyms.split(","):
                s = s.strip().lower()
                if len(s) >= 3:  # the synonym, and its plural or singular
                    for form in (s, s[:-1] if s.endswith("s") else s + "s"):
                        self.category_words.setdefault(form, n.id)
        self._category_re = word_alternation(self.category_words)
        # (make, model) -> year -> [vehicle ids]
        self.vehicle_ids: dict[tuple[str, str], dict[int, list[str]]] = {}
        self.vehicle_engine: dict[str, str] = {}
        for n in ontology.by_type("vehicle"):
            key = (str(n.attrs["make"]), str(n.attrs["model"]))
            self.vehicle_ids.setdefault(key, {}).setdefault(int(n.attrs["year"]), []).append(n.id)
            self.vehicle_engine[n.id] = str(n.attrs.get("engine", ""))
        self.models = {model.lower(): (make, model) for make, model in self.vehicle_ids}
        self.makes = {make.lower(): make for make, _ in self.vehicle_ids}
        for name, variants in MODEL_ALIASES.items():  # "vw", "chevy", "f150", "crv", …
            for variant in variants:
                if name.lower() in self.makes:
                    self.makes.setdefault(variant.lower(), self.makes[name.lower()])
                if name.lower() in self.models:
                    self.models.setdefault(variant.lower(), self.models[name.lower()])
        model_alt = "|".join(re.escape(m) for m in sorted(self.models, key=len, reverse=True))
        make_alt = "|".join(re.escape(m) for m in sorted(self.makes, key=len, reverse=True))
        if model_alt:
            self._vehicle_res = [
                re.compile(rf"(?<![\w-])(?P<year>{VEHICLE_YEAR})\s+(?:(?P<make>{make_alt})\s+)?"
                           rf"(?P<model>{model_alt})(?![\w-])", re.I),
                re.compile(rf"(?<![\w-])(?:(?P<make>{make_alt})\s+)?(?P<model>{model_alt})"
                           rf"[\s,]+(?:\(?)(?P<year>{VEHICLE_YEAR})(?![\w-])", re.I),
                # bare two-digit years: after the 4-digit and apostrophe forms
                re.compile(rf"(?<![\w.'’-])(?P<year>{BARE_YEAR})\s+(?:(?P<make>{make_alt})\s+)?"
                           rf"(?P<model>{model_alt})(?![\w-])", re.I),
                re.compile(rf"(?<![\w-])(?:(?P<make>{make_alt})\s+)?(?P<model>{model_alt})"
                           rf"\s+(?P<year>{BARE_YEAR}){NOT_A_UNIT}", re.I),
                re.compile(rf"(?<![\w-])(?P<make>{make_alt})\s+(?P<model>{model_alt})(?![\w-])",
                           re.I),
            ]
        else:
            self._vehicle_res = []

    # ---- linking ----------------------------------------------------------------------

    def link(self, text: str, part_spans: list[str] | None = None) -> Links:
        """Link one text. `part_spans`: extra part-number mentions (e.g. the attributes
        expert's PART_NUMBER entities) checked against the catalog like the text's own."""
        out = Links()
        taken: list[tuple[int, int]] = []  # character spans already explained
        self._link_codes(text, out, taken)
        self._link_vehicles(text, out, taken)
        low = text.lower()
        if self._brand_re is not None:
            for m in self._brand_re.finditer(low):
                _add(out.brands, self.brands[m.group(0)])
        if self._category_re is not None:
            for m in self._category_re.finditer(low):
                _add(out.categories, self.category_words[m.group(0)])
        self._link_parts(text, out, taken, part_spans or [])
        for kind, patterns in ATTRIBUTE_PATTERNS.items():
            for pattern in patterns:
                m = pattern.search(low)
                if m and _asked(low, m):
                    _add(out.attribute_kinds, kind)
                    break
        out.listing = self._listing(text, out)
        return out

    def _link_codes(self, text: str, out: Links, taken: list[tuple[int, int]]) -> None:
        for m in CODE_RE.finditer(text):
            code = (m.group(1) + m.group(2)).upper()
            taken.append(m.span())
            if code in self.codes:
                _add(out.codes, self.codes[code])
            else:
                _add(out.unknown_codes, code)

    def _link_vehicles(self, text: str, out: Links, taken: list[tuple[int, int]]) -> None:
        """Every vehicle mention, each at its own place: a listing's "'20 ford escape" and
        the question's "Ford Escape '20 1.5-liter" after it are two mentions (the question's
        one carries the engine asked about). Patterns run most specific first; a later
        pattern never reads text an earlier mention took."""
        for pattern in self._vehicle_res:
            for m in pattern.finditer(text):
                if _overlaps(m.span(), taken):
                    continue
                model_text, make_text = m.group("model"), m.group("make")
                year = _year(m.group("year")) if "year" in m.groupdict() and m.group("year") \
                    else None
                year_after_model = year is not None and m.start("year") > m.start("model")
                if (year_after_model and model_text.lower() in ENGLISH_WORD_MODELS
                        and not make_text and not model_text[0].isupper()):
                    continue  # "does it fit 2012 …" is not a Honda Fit
                make, model = self.models[model_text.lower()]
                if make_text and self.makes[make_text.lower()] != make:
                    continue
                taken.append(m.span())
                after = text[m.end(): m.end() + 16]
                before = text[max(0, m.start() - 16): m.start()]
                eng = (ENGINE_AFTER_RE.search(after) or ENGINE_RE.search(after)
                       or ENGINE_RE.search(before))
                engine = eng.group(1) if eng else None
                years = self.vehicle_ids[(make, model)]
                ids = ([vid for y, vids in years.items() for vid in vids] if year is None
                       else list(years.get(year, [])))
                if engine:
                    narrowed = [v for v in ids if self.vehicle_engine[v].startswith(engine)]
                    ids = narrowed or ids
                ids = self._narrow_by_engine_words(ids, text[m.end(): m.end() + 24])
                mention = VehicleMention(m.group(0), make, model, year, engine, ids, m.start())
                if ids:
                    out.vehicles.append(mention)
                else:
                    _add(out.unknown_vehicles, mention.name)  # named twice: said once
        out.vehicles.sort(key=lambda v: v.start)

    def _narrow_by_engine_words(self, ids: list[str], after: str) -> list[str]:
        """Keep the engines that the words after the vehicle name: "v6", "turbo", "tsi"."""
        words = set(re.findall(r"[a-z0-9]+", after.lower()))
        if len(ids) < 2 or not words:
            return ids
        for word in words:
            hit = [v for v in ids if word in self.vehicle_engine[v].lower().split()]
            if hit and len(hit) < len(ids):
                ids = hit
        return ids

    def _link_parts(self, text: str, out: Links, taken: list[tuple[int, int]],
                    extra: list[str]) -> None:
        brand_names = {self.nodes[b].name for b in out.brands}
        for start, end in self._catalog_numbers(text, taken):
            self._add_products(out, self.part_numbers[normalize_part_number(text[start:end])],
                               brand_names)
            taken.append((start, end))
        candidates: list[tuple[str, bool]] = []  # (text, named as a part: brand/cue before)
        for m in PART_TOKEN_RE.finditer(text):
            token = m.group(1).strip()
            if _overlaps(m.span(1), taken) or not _part_like(token):
                continue
            before = text[max(0, m.start(1) - 24): m.start(1)].lower().rstrip()
            cued = bool(PART_CUES.search(before)) or any(
                before.endswith(b) for b in self.brands)
            candidates.append((token, cued))
        candidates += [(s, True) for s in extra if s.strip()]
        for token, cued in candidates:
            ids = self.part_numbers.get(normalize_part_number(token), [])
            if ids:
                self._add_products(out, ids, brand_names)
            elif (cued or sum(c.isdigit() for c in token) >= 5) and \
                    token not in out.unknown_parts:
                out.unknown_parts.append(token)

    def _add_products(self, out: Links, ids: list[str], brand_names: set[str]) -> None:
        """The products with one part number: those of a brand the text names, if any."""
        same_brand = [i for i in ids if self.brand_of[i] in brand_names]
        for pid in same_brand or ids:
            _add(out.products, pid)

    def _catalog_numbers(self, text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Spans of catalog part numbers, however spaced: windows of 1-4 words are compared
        without case, spaces or hyphens ("F 00H L00 546" = "F00HL00546"), longest first."""
        words = [(m.start(), m.end()) for m in re.finditer(r"[^\s,;:?!()/]+", text)]
        found: list[tuple[int, int]] = []
        i = 0
        while i < len(words):
            for size in (4, 3, 2, 1):
                if i + size > len(words):
                    continue
                start, end = words[i][0], words[i + size - 1][1]
                while end > start and text[end - 1] in ".'\"":
                    end -= 1
                key = normalize_part_number(text[start:end])
                if key in self.part_numbers and not _overlaps((start, end), taken):
                    found.append((start, end))
                    i += size
                    break
            else:
                i += 1
        return found

    def _listing(self, text: str, out: Links) -> str:
        """The words that name the part: from the first brand / part number / category word
        to the last, e.g. "Bosch 0242236541 plug"."""
        low = text.lower()
        spans = []
        for name in [self.nodes[b].name.lower() for b in out.brands] + \
                [p.lower() for p in out.unknown_parts]:
            i = low.find(name)
            if i >= 0:
                spans.append((i, i + len(name)))
        for pid in out.products:
            pn = str(self.nodes[pid].attrs.get("part_number", "")).lower()
            i = low.find(pn)
            if pn and i >= 0:
                spans.append((i, i + len(pn)))
        if self._category_re is not None:
            spans += [m.span() for m in self._category_re.finditer(low)]
        if not spans:
            return ""
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
        if end - start > 80:  # mentions far apart: keep the first one only
            end = min(spans)[1]
        return text[start:end].strip(" ,.?")


def named_codes(text: str) -> list[str]:
    """The well-formed trouble codes `text` names, upper case, in order, each once."""
    out: list[str] = []
    for letter, digits in CODE_RE.findall(text):
        if (code := (letter + digits).upper()) not in out:
            out.append(code)
    return out


def _year(text: str) -> int:
    """2012 from "2012" or "'12" (two digits: 1980-2079)."""
    digits = int(text.lstrip("'’"))
    return digits if digits >= 100 else (2000 + digits if digits < 80 else 1900 + digits)


def _asked(low: str, m: re.Match) -> bool:
    """An attribute word is asked about, not just present (a listing's "4 pieces"): a
    question word before it, or it closes the text ("NGK 1234 voltage?")."""
    before = low[max(0, m.start() - 48): m.start()]
    after = low[m.end():].strip()
    return (m.group(0).startswith(("how ", "who ")) or bool(QUESTION_WORD.search(before))
            or after in ("", "?", "??") or after[:1] == "?")


def _part_like(token: str) -> bool:
    """A part number, not a year, an engine size, a thread, a quantity or a plain count."""
    compact = normalize_part_number(token)
    digits = sum(c.isdigit() for c in compact)
    if len(compact) < 4 or digits < 2:
        return False
    pieces = [p for p in re.split(r"[\s\-]+", token.lower()) if p]
    two_then_four = any(re.fullmatch(r"\d\d", a) and re.fullmatch(YEAR, b)
                        for a, b in zip(pieces, pieces[1:], strict=False))
    if not two_then_four and all(  # "12-2045" is no year range: a part number
            re.fullmatch(rf"{YEAR}|\d\d|\d\.\d(l|liters?|litres?)?|l|liters?|litres?", p)
            for p in pieces):
        return False  # years, year ranges and engine sizes: "2010-2012", "2011 3.5", "2.0-liter"
    return not re.fullmatch(r"M\d+X\d+(\.\d+)?|\d+(MM|V|A|W|CCA|AH|PCS|IN)", compact)


def word_alternation(words: dict[str, str]) -> re.Pattern | None:
    """One regex matching any of `words` as a whole word (not inside a longer word or a
    hyphenated one), longest first; None for no words."""
    if not words:
        return None
    ordered = sorted(words, key=len, reverse=True)  # longest first: "oxygen sensors"
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in ordered) + r")(?![\w-])")


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in taken)


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)
