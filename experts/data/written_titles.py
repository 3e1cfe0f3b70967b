"""Training-only listing titles for the tagger, written by people rather than rendered from
the catalog.

The generated titles come from the catalog's 63 brands, its part-number shapes and the
project's templates. Listings online are written by marketplace sellers, parts stores and
private sellers, with brands, part numbers, vehicles and layouts no template holds ("Item
specifics" runs, spaced maker numbers, glued units, slang). `written/attribute_titles.txt`
holds such titles, tagged, written for tinyexperts by three writers who were shown only the
nine entity types with the catalog's conventions (not the project's templates, not the
external evaluation set): marketplace sellers, parts stores and distributors, private
sellers. They join the attributes training split only; validation and test are generated as
before, so their scores stay comparable (docs/experts.md, "Data and splits").

Format: one title per line; an entity is `[TYPE words]`, every other word is O; lines
starting with `#` are comments. Each title is split into words exactly as serving splits
text (`split_words`), so the tags line up with what the tagger will be given. A SIZE,
THREAD or MATERIAL span holds the value alone (`formats.value_words`): the writers' 37
size and thread spans such as "[SIZE 87.5mm bore]" were rewritten "[SIZE 87.5mm] bore"
when tinyexperts took that convention (their materials already were).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from experts.core.errors import TinyExpertsError
from experts.data.formats import TagExample, split_words

TITLES_FILE = Path(__file__).with_name("written") / "attribute_titles.txt"
TYPES = ("BRAND", "PART_NUMBER", "VEHICLE", "SIZE", "THREAD", "VOLTAGE", "MATERIAL", "COLOR",
         "QUANTITY")
_ENTITY = re.compile(r"\[([A-Z_]+) ([^\[\]]+?)\]")


def parse_title(line: str, where: str = "") -> TagExample:
    """One bracketed title -> words and IOB2 tags. Raises TinyExpertsError on a stray
    bracket, an unknown type, or a span whose edges fall inside a word."""
    words: list[str] = []
    tags: list[str] = []
    pos = 0
    for m in [*_ENTITY.finditer(line), None]:
        outside = line[pos: m.start() if m else len(line)]
        if "[" in outside or "]" in outside:
            raise TinyExpertsError(f"{where}: a bracket outside '[TYPE words]' in {line!r}")
        plain_words = split_words(outside)
        words += plain_words
        tags += ["O"] * len(plain_words)
        if m is None:
            break
        kind, span = m.group(1), split_words(m.group(2))
        if kind not in TYPES:
            raise TinyExpertsError(f"{where}: unknown entity type {kind!r} "
                                   f"(one of {', '.join(TYPES)})")
        words += span
        tags += [("B-" if i == 0 else "I-") + kind for i in range(len(span))]
        pos = m.end()
    plain = _ENTITY.sub(lambda m: m.group(2), line)
    if split_words(plain) != words:
        raise TinyExpertsError(f"{where}: an entity edge falls inside a word in {line!r}; "
                               "put the brackets at word boundaries")
    return TagExample(tuple(words), tuple(tags))


@cache
def written_titles(path: Path = TITLES_FILE) -> tuple[TagExample, ...]:
    """Every title of `path`, parsed (see the module docstring)."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(parse_title(line, f"{path.name}:{n}"))
    return tuple(out)
