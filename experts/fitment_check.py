"""What a listing's text rules out for one vehicle: years, engine size, cylinders, drive,
model.

The compatibility expert reads a listing and a vehicle and says compatible or not. Where
the two texts state the same kind of fact and the facts disagree, no reading of the rest
changes the answer: a part listed for 2003-2008 does not fit a 2009, a part for the 2.0L
does not fit the 2.3L, a "2WD only" part does not fit a 4x4, a part listed for the Camry and
the Corolla does not fit an Avalon. A small encoder compares such numbers and names badly
(a CX-3 against a listing for the Mazda 3, an F250 against the F-150), so
`fitment_conflict` finds these conflicts in the text itself and the expert's answer
becomes "incompatible" with the conflict as its reason (`Predictor.rank`). It never makes
a pair compatible: when a side is silent, or names several values, the model decides.

The vehicle side must name one vehicle: at most one model year (a second listing with a
year range is left to the model) and, for the model rule, one model family. Model names
come from a table of the makes and models sold in North America and Europe
(`experts.data.vehicle_models`). A listing's model counts only when the listing names its
make too (a "Cooper" tire or a "Viper" remote start names no fitment), and a name that is
also an everyday word ("Fit", "Spark", "Escape") only right after its make or a model year.
"""

from __future__ import annotations

import re

from experts.data.model_years import spell_out_years
from experts.data.vehicle_models import (
    MODEL_NAMES,
    ModelName,
    name_words,
    umbrellas,
)

INCOMPATIBLE = "incompatible"

_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
_YEAR_RANGE = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)-(19[5-9]\d|20[0-4]\d)(?!\d)")
# an engine size: "2.5L", "2.5 l", "1.8-liter", "3.5 EcoBoost", "2.0T", "3.0 v6"; not a part
# of a number ("43.5 psi", "M10x1.0") or a size with a unit ("4.5 inch", "2.5 mm", "5.0 V").
# The "v" of "3.0 v6" is the cylinder layout, not volts.
_DISPLACEMENT = re.compile(
    r"(?<![\w.])([0-8]\.\d)(?!\d)(?!\s*-?\s*(?:mm|cm|in|inch|inches|ft|oz|qt|gal|v(?!\d)|volt|volts|"
    r"psi|bar|ohm|ohms|a|amp|amps|ah|w|kw|lb|lbs|kg|\"|'')(?![a-z]))", re.IGNORECASE)
_CYLINDERS = re.compile(
    r"\b(?:[vil](4|5|6|8|10|12)|(3|4|5|6|8|10|12)\s*-?\s*cyl(?:inder)?s?)\b", re.IGNORECASE)
_DRIVE = {"2wd": "two", "4x2": "two", "rwd": "two", "fwd": "two",
          "4wd": "all", "4x4": "all", "awd": "all"}
_DRIVE_RE = re.compile(r"\b(2wd|4x2|rwd|fwd|4wd|4x4|awd)\b", re.IGNORECASE)


def _years(text: str) -> set[int]:
    spelled = spell_out_years(text)
    years = {int(y) for y in _YEAR.findall(spelled)}
    for a, b in _YEAR_RANGE.findall(spelled):  # a range too long to spell out
        years.update(range(int(a), int(b) + 1))
    return years


def _displacements(text: str) -> set[str]:
    return {d for d in _DISPLACEMENT.findall(text) if float(d) >= 0.6}


def _cylinders(text: str) -> set[str]:
    return {a or b for a, b in _CYLINDERS.findall(text)}


def _drives(text: str) -> set[str]:
    return {_DRIVE[d.lower()] for d in _DRIVE_RE.findall(text)}


def fitment_conflict(listing: str, vehicle: str) -> str | None:
    """Why `vehicle` cannot be one the listing fits, or None when the texts do not say."""
    years = _years(vehicle)
    if len(years) > 1:
        return None  # not one vehicle
    listed = _years(listing)
    if years and listed and not years & listed:
        return (f"the listing's years ({_span(listed)}) do not include {next(iter(years))}")
    for what, read in (("engine", _displacements), ("cylinders", _cylinders)):
        own, stated = read(vehicle), read(listing)
        if len(own) == 1 and stated and not own & stated:
            unit = "L" if what == "engine" else " cylinders"
            return (f"the listing names {', '.join(sorted(stated))}{unit}, "
                    f"not {next(iter(own))}{unit}")
    own, stated = _drives(vehicle), _drives(listing)
    if len(own) == 1 and len(stated) == 1 and own != stated:
        return "the listing is for " + ("two-wheel" if stated == {"two"} else "all-wheel") + \
            " drive only"
    own_models, stated_models = _families(_vehicle_models(vehicle)), _listed_models(listing)
    if len(own_models) == 1 and stated_models and not any(
            _same_family(own_models[0], m) for m in stated_models):
        names = sorted({m.name for m in stated_models})
        return f"the listing names {', '.join(names)}, not {own_models[0].name}"
    return None


_YEAR_TOKEN = re.compile(r"(?:19|20)\d\d")
_DECIMAL = re.compile(r"\d+\.\d+")  # "5.7" is an engine size, not the models "5" and "7"
_LONGEST = max(len(name_words(m.name)) for m in MODEL_NAMES.values()) + 1
# a negation and what it rules out, up to the next punctuation: "(not for Civic Hybrid)",
# "except Tundra", "will not fit Silverado HD"
_NEGATED = re.compile(r"\b(?:not|except|excluding|excludes|exc|without|w/o|won'?t|cannot|"
                      r"can'?t)\b[^,;|()\n]*", re.IGNORECASE)


def _listed_models(listing: str) -> list[ModelName]:
    """The models a listing says it fits (`_models` with names in a list, "Escape/Fusion"),
    counting only models of a make the listing names or whose name carries it ("Mazda3"):
    a brand or a word that is some make's model elsewhere ("Cooper" tires, a "Viper" remote
    start, "Yukon" gears) is not the listing's fitment. Names after a negation ("not for
    Civic Hybrid") are left out."""
    words = _model_words(_NEGATED.sub(" ", listing))
    named = set(words) | {a + b for a, b in zip(words, words[1:], strict=False)}
    return [m for m in _models(words, in_a_list=True) if m.make_in_key or m.makes & named]


def _vehicle_models(vehicle: str) -> list[ModelName]:
    return _models(_model_words(vehicle))


def _model_words(text: str) -> list[str]:
    """`name_words` of `text` with its years spelled out and its decimals dropped."""
    return name_words(_DECIMAL.sub(" ", spell_out_years(text)))


def _models(words: list[str], in_a_list: bool = False) -> list[ModelName]:
    """The model names among `words` (`name_words`), longest first at each place: "grand
    cherokee" is the Grand Cherokee, not the Cherokee; "f 150", "f-150" and "F150" are one
    name (the words are compared with their separators removed). A name that is also an
    everyday word ("Fit", "Escape") counts right after its make or a model year, a short
    name, code or body style ("LS", "X4", "I4", "Wagon") only after its make
    (`_stands_as_model`); with `in_a_list` (a listing's "Escape/Fusion", "Golf/Passat",
    "328i/X3") an everyday word also counts next to another name, a short one next to
    another of its make. A bare number after a name ending in one is that name's sibling
    ("Silverado 1500 2500", "Ram 1500/2500")."""
    spans: list[tuple[int, int, ModelName]] = []
    i = 0
    while i < len(words):
        model, n = _name_at(words, i, spans[-1] if spans and spans[-1][1] == i else None)
        if model is None:
            i += 1
            continue
        spans.append((i, i + n, model))
        i += n
    kept = [_stands_as_model(m, words, a) for a, _, m in spans]
    if in_a_list:  # a run of adjacent names: left to right, then right to left
        order = list(range(1, len(spans)))
        for j, k in [(j, j - 1) for j in order] + [(j - 1, j) for j in reversed(order)]:
            if not kept[j] and kept[k] and _adjacent(spans[j], spans[k]):
                kept[j] = True
    return [m for k, (_, _, m) in zip(kept, spans, strict=True) if k]


def _adjacent(one: tuple[int, int, ModelName], other: tuple[int, int, ModelName]) -> bool:
    """Names side by side in a list; a short name only beside one of its own make."""
    touching = one[1] == other[0] or other[1] == one[0]
    return touching and (not one[2].make_first or bool(one[2].makes & other[2].makes))


def _name_at(words: list[str], i: int, before: tuple[int, int, ModelName] | None
             ) -> tuple[ModelName | None, int]:
    """The longest model name starting at words[i] and its length in words."""
    for n in range(min(_LONGEST, len(words) - i), 0, -1):
        if model := MODEL_NAMES.get("".join(words[i: i + n])):
            return model, n
    base = re.fullmatch(r"([a-z]+)\d+", before[2].key) if before else None
    if base and words[i].isdigit() and (model := MODEL_NAMES.get(base.group(1) + words[i])):
        return model, 1
    return None, 0


def _stands_as_model(model: ModelName, words: list[str], a: int) -> bool:
    """Whether the words from words[a] on, which spell `model`, are the model: always,
    unless the name is an everyday word (then right after its make or a model year) or a
    short name, code or body style (then right after its make)."""
    if not model.everyday_word:
        return True
    before = words[max(0, a - 2): a]
    after_make = bool(before) and (before[-1] in model.makes or "".join(before) in model.makes)
    if model.make_first:
        return after_make
    return after_make or (bool(before) and _YEAR_TOKEN.fullmatch(before[-1]) is not None)


def _same_family(a: ModelName, b: ModelName) -> bool:
    """Whether a listing for one may fit the other as far as the names tell: one name is
    the other or extends it ("Silverado" and "Silverado 1500"; "Camry Solara" and "Solara",
    whose head, Camry, is a model name itself, but not the Cherokee and the Grand
    Cherokee), they name one vehicle ("Caravan" and "Grand Caravan", "Miata" and "MX-5"),
    or one covers the other ("3 Series" and "328i", "Super Duty" and "F-250")."""
    short, long = sorted((a.family, b.family), key=len)
    if long.startswith(short) or (long.endswith(short) and long[: -len(short)] in MODEL_NAMES):
        return True
    over_a, over_b = umbrellas(a.key), umbrellas(b.key)
    return (b.family in over_a or a.family in over_b
            or (bool(over_a & over_b) and _base(a.key) == _base(b.key)))


def _base(key: str) -> str:
    """A badge without its drive or body letters: "328" for "328i", "328xi", "328ci"."""
    return re.sub(r"(?<=\d)[a-z]+$", "", key)


def _families(models: list[ModelName]) -> list[ModelName]:
    """`models` with the names of one family merged (the longest kept)."""
    out: list[ModelName] = []
    for m in sorted(models, key=lambda m: -len(m.key)):
        if not any(_same_family(m, o) for o in out):
            out.append(m)
    return out


def _span(years: set[int]) -> str:
    """Years as runs: {2003, 2004, 2005, 2010} -> "2003-2005, 2010"."""
    runs: list[list[int]] = []
    for y in sorted(years):
        if runs and y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
