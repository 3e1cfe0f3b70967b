"""A seeded, deterministic parts catalog around the trouble-code ontology.

Vehicles come from real makes/models/engines; each product gets a brand, a part number in
that brand's shape, attribute values for its category, and a fitment: one (make, engine)
platform over a span of years, fitting every vehicle of that platform in those years.
Companion products (plugs and coils, pads and rotors, ...) are compatible when they fit a
common vehicle.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from experts.ontology.catalog_tables import (
    COMPANION_CATEGORIES,
    PART_CATEGORIES,
    PART_NUMBER_SHAPES,
    VEHICLES,
)


def singular(category: str) -> str:
    """One item of a part category, as a listing names it: "spark plugs" -> "spark plug",
    "batteries" -> "battery", "brake switches" -> "brake switch"."""
    if category.endswith("ies"):
        return category[:-3] + "y"
    if category.endswith(("ches", "shes", "sses", "xes")):
        return category[:-2]
    return category[:-1] if category.endswith("s") and not category.endswith("ss") else category


@dataclass(frozen=True)
class Vehicle:
    id: str
    make: str
    model: str
    year: int
    engine: str

    @property
    def name(self) -> str:
        return f"{self.year} {self.make} {self.model} {self.engine}"


@dataclass
class Product:
    id: str
    category: str
    brand: str
    part_number: str
    attrs: dict[str, str]  # tag type -> value, e.g. {"MATERIAL": "Iridium"}
    make: str
    engine: str
    models: list[str]
    years: tuple[int, int]
    fits: list[str] = field(default_factory=list)  # vehicle ids

    @property
    def name(self) -> str:
        return f"{self.brand} {self.part_number} {singular(self.category)}"


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def make_vehicles() -> list[Vehicle]:
    out = []
    for make, models in VEHICLES.items():
        for model, (first, last, engines) in models.items():
            for year in range(first, last + 1):
                for engine in engines:
                    vid = f"vehicle:{slug(make)}_{slug(model)}_{year}_{slug(engine)}"
                    out.append(Vehicle(vid, make, model, year, engine))
    return out


def make_part_number(shape: str, rng: random.Random) -> str:
    digits, letters = "0123456789", "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(
        rng.choice(digits) if c == "#" else rng.choice(letters) if c == "A" else c for c in shape
    )


def _platforms(vehicles: list[Vehicle]) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """(make, engine) -> model -> (first year, last year) of vehicles with that engine."""
    plats: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for v in vehicles:
        span = plats.setdefault((v.make, v.engine), {}).get(v.model, (v.year, v.year))
        plats[(v.make, v.engine)][v.model] = (min(span[0], v.year), max(span[1], v.year))
    return plats


def make_products(
    vehicles: list[Vehicle], per_category: int, rng: random.Random
) -> list[Product]:
    plats = _platforms(vehicles)
    plat_keys = sorted(plats)
    by_platform: dict[tuple[str, str], list[Vehicle]] = {}
    for v in vehicles:
        by_platform.setdefault((v.make, v.engine), []).append(v)
    products: list[Product] = []
    used_numbers: set[tuple[str, str]] = set()
    for category, spec in PART_CATEGORIES.items():
        for i in range(per_category):
            brand = rng.choice(spec["brands"])
            while True:
                pn = make_part_number(rng.choice(PART_NUMBER_SHAPES[brand]), rng)
                if (brand, pn) not in used_numbers:
                    used_numbers.add((brand, pn))
                    break
            kinds = sorted(spec["attrs"])
            chosen = rng.sample(kinds, k=rng.randint(1, len(kinds)))
            attrs = {k: rng.choice(spec["attrs"][k]) for k in sorted(chosen)}
            make, engine = rng.choice(plat_keys)
            models = plats[(make, engine)]
            lo = min(a for a, _ in models.values())
            hi = max(b for _, b in models.values())
            start = rng.randint(lo, hi)
            end = min(hi, start + rng.randint(1, 6))
            fits = [v.id for v in by_platform[(make, engine)] if start <= v.year <= end]
            fit_models = sorted({v.model for v in by_platform[(make, engine)]
                                 if start <= v.year <= end})
            products.append(
                Product(
                    id=f"product:{slug(category)}_{i:03d}",
                    category=category,
                    brand=brand,
                    part_number=pn,
                    attrs=attrs,
                    make=make,
                    engine=engine,
                    models=fit_models,
                    years=(start, end),
                    fits=fits,
                )
            )
    return products


def compatible_pairs(products: list[Product]) -> list[tuple[str, str]]:
    """Companion products that fit at least one common vehicle."""
    by_cat: dict[str, list[Product]] = {}
    for p in products:
        by_cat.setdefault(p.category, []).append(p)
    pairs = []
    for cat_a, cat_b in COMPANION_CATEGORIES:
        for a in by_cat.get(cat_a, []):
            fits_a = set(a.fits)
            for b in by_cat.get(cat_b, []):
                if fits_a.intersection(b.fits):
                    pairs.append((a.id, b.id))
    return pairs
