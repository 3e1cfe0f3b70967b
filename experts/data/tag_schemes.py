"""Tagging schemes of CoNLL files, found and converted to the one tinyexperts trains on.

Inside tinyexperts every tag sequence is IOB2 (`B-X` starts every entity, `I-X` continues
it), which is what seqeval's default mode reads. Files come in the schemes people use:

- **IOB2**: as above;
- **IOB1**: `I-X` starts an entity; `B-X` only starts one right after another `X` entity;
- **BIOES** (also IOBES, and BILOU with `L-`/`U-`): `S-X` a one-token entity, `E-X` the
  last token of a longer one.

A type name is letters, digits, `_`, `-` and `.`, in any case (`geo-loc`, `PER`, `b.date`).
The scheme is found per file: any `E-`/`S-`/`L-`/`U-` tag makes it BIOES; an `I-X` that
starts an entity makes it IOB1 — unless the same file also starts entities with `B-X`
after a non-`X` tag, which no single scheme does (mixed or broken: refused at the first
such line).
"""

from __future__ import annotations

import re

from experts.core.errors import TinyExpertsError

TAG_RE = re.compile(r"O|([BIESLU])-([A-Za-z0-9_.\-]+)")
SCHEMES = ("IOB2", "IOB1", "BIOES")
_BIOES = {"B": "B", "I": "I", "E": "I", "S": "B", "L": "I", "U": "B"}  # -> IOB2 prefix


def parse_tag(tag: str) -> tuple[str, str] | None:
    """("B", "geo-loc") for "B-geo-loc", ("O", "") for "O", None when not a tag."""
    m = TAG_RE.fullmatch(tag)
    if m is None:
        return None
    return ("O", "") if tag == "O" else (m.group(1), m.group(2))


def find_scheme(sentences: list[list[tuple[str, str]]], where: list[list[str]]) -> str:
    """The scheme of a file's parsed tags (`where[i][j]`: file:line of each tag); raises on
    a file no single scheme explains."""
    if any(p in "ESLU" for sent in sentences for p, _ in sent):
        for sent, lines in zip(sentences, where, strict=True):
            prev = ("O", "")
            for (p, t), line in zip(sent, lines, strict=True):
                if p in "IEL" and not (prev[0] in "BI" and prev[1] == t):
                    raise _bad(f"{p}-{t} continues no {t} entity (the file uses BIOES tags, "
                               f"where an entity starts with B-{t} or is one S-{t})", line)
                prev = (p, t)
        return "BIOES"
    orphan = fresh_b = None
    for sent, lines in zip(sentences, where, strict=True):
        prev = ("O", "")
        for (p, t), line in zip(sent, lines, strict=True):
            same = prev[0] in "BI" and prev[1] == t
            if p == "I" and not same and orphan is None:
                orphan = (f"I-{t}", line)
            if p == "B" and not same and fresh_b is None:
                fresh_b = line
            prev = (p, t)
    if orphan and fresh_b:
        raise _bad(f"{orphan[0]} starts an entity, but the file also starts entities with "
                   f"B- (first at {fresh_b}): mixed IOB1/IOB2, or an I- tag with no B- before "
                   "it", orphan[1])
    return "IOB1" if orphan else "IOB2"


def to_iob2(sentence: list[tuple[str, str]], scheme: str) -> tuple[str, ...]:
    """One sentence's parsed tags in IOB2."""
    out, prev = [], ("O", "")
    for p, t in sentence:
        if p == "O":
            out.append("O")
        elif scheme == "BIOES":
            out.append(f"{_BIOES[p]}-{t}")
        elif scheme == "IOB1" and p == "I" and not (prev[0] in "BI" and prev[1] == t):
            out.append(f"B-{t}")
        else:
            out.append(f"{p}-{t}")
        prev = (p, t)
    return tuple(out)


def _bad(what: str, where: str) -> TinyExpertsError:
    return TinyExpertsError(what, where=where,
                            fix="use one tagging scheme per file: IOB2 (B-X starts every "
                                "entity), IOB1 or BIOES (docs/formats.md)")
