"""The documented dataset formats, read and written with clear errors.

- classification JSONL: one `{"text": str, "label": str}` per line (category, fault_codes);
- pair JSONL: one `{"a": str, "b": str, "label": str}` per line (compatibility);
- tagging CoNLL: one `token TAG` per line, a blank line between sentences, tags in IOB2,
  IOB1 or BIOES, read as IOB2 (attributes; `experts.data.tag_schemes`). Tokens are
  whitespace-free words as `split_words` makes them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from experts.core.errors import TinyExpertsError
from experts.data.tag_schemes import find_scheme, parse_tag, to_iob2
from experts.specs import TaskKind

# Words keep inner dots, dashes, slashes ("M14x1.25", "2012-2015", "3/8"); other punctuation
# stands alone. The same function splits training titles and user queries.
_WORD_RE = re.compile(r"[A-Za-z0-9&][A-Za-z0-9.\-/+&#']*[A-Za-z0-9#]|[A-Za-z0-9]|[^\sA-Za-z0-9]")


def split_words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


# A size is a number and its unit ("0.8mm", "2.5 in", "255 LPH"), a thread its diameter
# and pitch ("M14x1.25", "3/4-16"), a material the material ("aluminum", "iridium"). The
# words after them that say what is measured or what is made of it ("gap", "bore",
# "inlet", "long", "thread", "housing", "core") are not part of them: "0.8mm Gap" tags
# "0.8mm" alone, "3/4-16 thread" tags "3/4-16" and "aluminum housing" tags "aluminum", as
# people annotating listings do. So is a product line after a material ("Iridium IX").
MEASURED_NOUNS = {
    "SIZE": frozenset({
        "gap", "bore", "housing", "inlet", "outlet", "cable", "harness", "hex", "reach",
        "length", "long", "tall", "height", "thick", "thickness", "diameter", "dia", "od",
        "id", "wide", "width", "deep", "depth", "high", "dual", "center", "centre", "pipe",
        "tube", "tank"}),
    "THREAD": frozenset({"thread", "threads", "threaded"}),
    "MATERIAL": frozenset({"housing", "core", "body", "case", "ix"}),
}


def value_words(kind: str, words: list[str]) -> int:
    """How many of an entity's words are its value: for a size, a thread or a material the
    trailing words that name what is measured or made of it (`MEASURED_NOUNS`) are not; the
    first word always is."""
    nouns = MEASURED_NOUNS.get(kind, frozenset())
    n = len(words)
    while n > 1 and words[n - 1].lower() in nouns:
        n -= 1
    return n


# Typographic punctuation as the ASCII the models are trained on. Phone keyboards type
# curly quotes by default and web pages set dashes and non-breaking spaces; MiniLM reads
# "’" and "'" as different tokens, and a student whose pruned vocabulary never met "’"
# reads it as [UNK]. One character for one, so words and offsets stay where they were.
_PLAIN = str.maketrans({
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u00a0\u2007\u2009\u202f", " "),
    "\u00d7": "x", "\u2044": "/",
})


def plain_punctuation(text: str) -> str:
    """`text` with curly quotes, primes, dashes, the multiplication sign, the fraction
    slash and non-breaking spaces written as ASCII (one character each)."""
    return text.translate(_PLAIN)


@dataclass(frozen=True)
class TextExample:
    text: str
    label: str


@dataclass(frozen=True)
class PairExample:
    a: str
    b: str
    label: str


@dataclass(frozen=True)
class TagExample:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]


Example = TextExample | PairExample | TagExample


def example_length(ex: Example) -> int:
    """Characters of text an example holds (a cheap proxy for its token count)."""
    if isinstance(ex, TagExample):
        return sum(len(t) for t in ex.tokens)
    return len(ex.a) + len(ex.b) if isinstance(ex, PairExample) else len(ex.text)

FILE_SUFFIX: dict[str, str] = {"classify": ".jsonl", "pair": ".jsonl", "tag": ".conll"}


def write_examples(path: Path, kind: TaskKind, examples: list[Example]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for ex in examples:
            if kind == "tag":
                for tok, tag in zip(ex.tokens, ex.tags, strict=True):
                    f.write(f"{tok} {tag}\n")
                f.write("\n")
            elif kind == "pair":
                f.write(json.dumps({"a": ex.a, "b": ex.b, "label": ex.label}) + "\n")
            else:
                f.write(json.dumps({"text": ex.text, "label": ex.label}) + "\n")
    tmp.replace(path)


def read_examples(path: Path, kind: TaskKind) -> list[Example]:
    """Read one split; any malformed line stops with its file and line number."""
    if not path.is_file():
        raise TinyExpertsError(
            "dataset file not found", where=str(path),
            fix=f"create it in the {kind} format described in docs/formats.md",
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise TinyExpertsError("file is not UTF-8 text", where=str(path),
                               fix="save the file as UTF-8") from None
    examples = _read_conll(path, lines) if kind == "tag" else _read_jsonl(path, lines, kind)
    if not examples:
        raise TinyExpertsError("dataset file holds no examples", where=str(path),
                               fix="add at least one example")
    return examples


def _read_jsonl(path: Path, lines: list[str], kind: TaskKind) -> list[Example]:
    fields = ("a", "b", "label") if kind == "pair" else ("text", "label")
    out: list[Example] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise TinyExpertsError(f"not valid JSON ({err.msg})", where=where,
                                   fix="one JSON object per line") from None
        if not isinstance(row, dict):
            raise TinyExpertsError("expected a JSON object", where=where,
                                   fix=f"write {{{', '.join(repr(f) for f in fields)}}}")
        for f in fields:
            value = row.get(f)
            if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
                raise TinyExpertsError(
                    f"field {f!r} is missing or not a non-empty string", where=where,
                    fix=f"every line needs {', '.join(repr(x) for x in fields)} as strings",
                )
        if kind == "pair":
            out.append(PairExample(str(row["a"]), str(row["b"]), str(row["label"])))
        else:
            out.append(TextExample(str(row["text"]), str(row["label"])))
    return out


def _read_conll(path: Path, lines: list[str]) -> list[Example]:
    return read_tagged(path, lines)[0]


def read_tagged(path: Path, lines: list[str] | None = None) -> tuple[list[TagExample], str]:
    """A CoNLL file's sentences with IOB2 tags, and the scheme the file was written in
    (IOB2, IOB1 or BIOES; `experts.data.tag_schemes`)."""
    if lines is None:
        lines = path.read_text(encoding="utf-8").splitlines()
    sentences: list[list[tuple[str, str]]] = []
    tokens: list[list[str]] = []
    where: list[list[str]] = []
    sent: list[tuple[str, str]] = []
    for n, line in enumerate([*lines, ""], 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if sent:
                sentences.append(sent)
                sent = []
            continue
        parts = line.split()
        parsed = parse_tag(parts[-1]) if len(parts) >= 2 else None
        if parsed is None:
            raise TinyExpertsError(
                f"expected 'token TAG' with a tag like O, B-X, I-X (or E-X, S-X), got "
                f"{line!r}", where=f"{path}:{n}",
                fix="one token and its tag per line, blank line between sentences; the tag "
                    "is the last column; a type is letters, digits, _ - or .")
        if not sent:
            tokens.append([])
            where.append([])
        sent.append(parsed)
        tokens[-1].append(parts[0])
        where[-1].append(f"{path}:{n}")
    scheme = find_scheme(sentences, where)
    return [TagExample(tuple(toks), to_iob2(s, scheme))
            for toks, s in zip(tokens, sentences, strict=True)], scheme


def labels_of(kind: TaskKind, examples: list[Example]) -> list[str]:
    """The sorted label set; for tagging, the BIO tags with 'O' first."""
    if kind == "tag":
        tags = {t for ex in examples for t in ex.tags} - {"O"}
        types = sorted({t[2:] for t in tags})
        return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    return sorted({ex.label for ex in examples})
