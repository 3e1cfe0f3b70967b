"""What a listing's text rules out for one vehicle: years, engine size, cylinders, drive.

The compatibility expert reads a listing and a vehicle and says compatible or not. Where
the two texts state the same kind of fact and the facts disagree, no reading of the rest
changes the answer: a part listed for 2003-2008 does not fit a 2009, a part for the 2.0L
does not fit the 2.3L, a "2WD only" part does not fit a 4x4. A small encoder compares such
numbers badly, so `fitment_conflict` finds these conflicts in the text itself and the
expert's answer becomes "incompatible" with the conflict as its reason
(`Predictor.rank`). It never makes a pair compatible: when a side is silent, or names
several values, the model decides.

The vehicle side must name one vehicle: at most one model year (a second listing with a
year range is left to the model).
"""

from __future__ import annotations

import re

from experts.data.model_years import spell_out_years

INCOMPATIBLE = "incompatible"

_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
_YEAR_RANGE = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)-(19[5-9]\d|20[0-4]\d)(?!\d)")
# an engine size: "2.5L", "2.5 l", "1.8-liter", "3.5 EcoBoost", "2.0T", "3.0 v6"; not a part
# of a number ("43.5 psi", "M10x1.0") or a size with a unit ("4.5 inch", "2.5 mm", "5.0 V").
# A unit is a word of its own: the "v" of "3.0 v6" is the cylinder layout, not volts.
_DISPLACEMENT = re.compile(
    r"(?<![\w.])([0-8]\.\d)(?!\d)(?!\s*-?\s*(?:mm|cm|in|inch|inches|ft|oz|qt|gal|v|volt|volts|"
    r"psi|bar|ohm|ohms|a|amp|amps|ah|w|kw|lb|lbs|kg|\"|'')(?![a-z0-9]))", re.IGNORECASE)
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
    return None


def _span(years: set[int]) -> str:
    """Years as runs: {2003, 2004, 2005, 2010} -> "2003-2005, 2010"."""
    runs: list[list[int]] = []
    for y in sorted(years):
        if runs and y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
