"""Model years as people write them -> every year spelled out, for the compatibility expert.

Whether a buyer's 2009 Camry fits a listing for "07-11 Camry" is a comparison of numbers,
which a small encoder learns badly from a few thousand pairs; whether the token "2009"
appears on both sides is a match it learns at once. So before the pair is tokenised, each
year range a seller writes ("2007-2011", "07-11", "'07-'11", "2007 thru 2011", "2018+") is
replaced by its years one by one ("2007 2008 2009 2010 2011"), and each two-digit year
("'09", "my 09 civic", "Wrangler 19") by its four digits. Everything else is left as it is.

A two-digit number counts as a year only where it cannot be a size, a count or part of a
code: it stands alone (no unit, decimal point, hyphenated word or letter attached), lies in
00-27 or 80-99, and does not follow a word like "group" or "size".
"""

from __future__ import annotations

import re

# "2018+" / "2018 and up" fit every model year from 2018 to this one
LAST_MODEL_YEAR = 2027
# a range longer than this stays a range (four-digit ends), not a list of years
MAX_SPELLED_YEARS = 20

_YEAR4 = r"(?:19[5-9]\d|20[0-4]\d)"
_YEAR2 = r"(?:\d\d)"
_END = r"'?(?:" + _YEAR4 + "|" + _YEAR2 + ")"
# what may follow a number that is not a year: units, counts and sizes
_UNIT = (r"(?:mm|cm|in|inch|inches|ft|v|volt|volts|a|amp|amps|ah|w|watt|watts|psi|bar|pk|pc|"
         r"pcs|pack|count|ct|tooth|teeth|groove|rib|pin|pins|oz|lb|lbs|gal|qt|l|liter|litre|"
         r"cc|x|mph|kph|k|cyl|cylinder|valve|speed|%)")
_NOT_AFTER = r"(?!\s*" + _UNIT + r"\b)(?![\w.%/]|-\w)"
_NOT_BEFORE = r"(?<![\w.#/$-])"
_RANGE = re.compile(
    _NOT_BEFORE + r"(?P<a>" + _END + r")\s*(?:-|–|~|\bto\b|\bthru\b|\bthrough\b)\s*"
    r"(?P<b>" + _END + r")" + _NOT_AFTER, re.IGNORECASE)
_OPEN = re.compile(
    _NOT_BEFORE + r"(?P<a>'?" + _YEAR4 + r")\s*(?:\+|-\s*up\b|and\s+up\b|-\s*on\b|"
    r"-\s*present\b|and\s+newer\b|-\s*newer\b)", re.IGNORECASE)
_SHORT = re.compile(r"(?<![\w.#/$-])(?P<q>')?(?P<y>\d\d)" + _NOT_AFTER, re.IGNORECASE)
# words after which a bare two-digit number is a size, a count or a name, not a year
_NOT_A_YEAR_AFTER = {"group", "size", "pack", "qty", "no", "number", "part", "sku", "item",
                     "series", "model", "type", "class", "gen", "generation", "of", "x",
                     "grade", "sae", "dot", "ply", "load", "gauge", "awg", "set"}


def _full_year(text: str) -> int | None:
    digits = text.lstrip("'")
    if len(digits) == 4:
        return int(digits)
    yy = int(digits)
    if yy <= LAST_MODEL_YEAR % 100:
        return 2000 + yy
    if yy >= 80:
        return 1900 + yy
    return None


def _spelled(y0: int, y1: int) -> str:
    if y1 - y0 + 1 > MAX_SPELLED_YEARS:
        return f"{y0}-{y1}"
    return " ".join(str(y) for y in range(y0, y1 + 1))


def _range(m: re.Match) -> str:
    a, b = m.group("a"), m.group("b")
    y0 = _full_year(a)
    # "2007-11": the second end written with two digits keeps the first one's century
    if len(a.lstrip("'")) == 4 and len(b.lstrip("'")) == 2 and y0 is not None:
        y1: int | None = y0 // 100 * 100 + int(b.lstrip("'"))
    else:
        y1 = _full_year(b)
    if y0 is None or y1 is None or not 0 < y1 - y0 < 40:
        return m.group(0)
    return _spelled(y0, y1)


def _open_range(m: re.Match) -> str:
    y0 = int(m.group("a").lstrip("'"))
    return _spelled(y0, max(y0, LAST_MODEL_YEAR)) if y0 <= LAST_MODEL_YEAR else m.group(0)


def _short_year(m: re.Match, text: str) -> str:
    before = text[: m.start()].split()
    previous = re.sub(r"\W", "", before[-1]).lower() if before else ""
    if not m.group("q") and previous in _NOT_A_YEAR_AFTER:
        return m.group(0)
    year = _full_year(m.group("y"))
    return str(year) if year is not None else m.group(0)


def spell_out_years(text: str) -> str:
    """`text` with every model-year range written year by year and two-digit years in four
    digits (see the module's docstring)."""
    text = _RANGE.sub(_range, text)
    text = _OPEN.sub(_open_range, text)
    return _SHORT.sub(lambda m: _short_year(m, text), text)
