"""External evaluation sets: text no template of tinyexperts produced, never trained on.

One main file per expert (and the router) in `experts/data/external_sets/`, each with a `.md`
beside it that says where the text comes from; an expert may have further sets (`FURTHER`),
scored beside its main one. `tinyexperts eval EXPERT --split external` and
`bench --suite experts` score them; nothing in the build or in specialization reads them.

A fault-code text often fits more than one code (a misfire on cylinder 1 is also a random
misfire), so its lines carry `"labels": [...]` and a prediction counts when it is any of
them; the other sets have one gold label per line, in the expert's usual format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from experts.core.errors import TinyExpertsError
from experts.data.formats import Example, TextExample, read_examples
from experts.specs import TaskKind

EXTERNAL_DIR = Path(__file__).resolve().parent / "external_sets"
FILES = {"category": "category.jsonl", "attributes": "attributes.conll",
         "compatibility": "compatibility.jsonl", "fault_codes": "fault_codes.jsonl",
         "router": "router.jsonl", "fault_codes_summaries": "fault_codes_summaries.jsonl"}
ANY_LABEL = {"fault_codes", "fault_codes_summaries"}  # sets whose lines list several labels
# further sets of an expert, scored beside its main one (`eval --split external`, the bench):
# expert -> {short name: set}
FURTHER = {"fault_codes": {"summaries": "fault_codes_summaries"}}


@dataclass(frozen=True)
class ExternalSet:
    name: str
    path: Path
    examples: list[Example]  # for any-label sets: the first label of each line
    label_sets: list[tuple[str, ...]] | None = None  # every acceptable label, per line


def external_path(name: str) -> Path:
    if name not in FILES:
        raise TinyExpertsError(f"no external set for {name!r}", where="--split external",
                               fix=f"external sets exist for: {', '.join(FILES)}")
    path = EXTERNAL_DIR / FILES[name]
    if not path.is_file():
        raise TinyExpertsError("external set missing from this installation", where=str(path),
                               fix="reinstall tinyexperts (the sets ship as package data)")
    return path


def external_fits(ext: ExternalSet, labels: list[str]) -> bool:
    """Whether the external set is about this model's labels: a model trained on another
    corpus (other entity types, other categories) is not scored on the project's set."""
    if ext.label_sets is not None:
        return True  # any-label lines: a hit needs only one of them
    gold = set()
    for ex in ext.examples:
        gold.update(getattr(ex, "tags", None) or [getattr(ex, "label", "")])
    return gold <= set(labels)


def read_external(name: str, kind: TaskKind) -> ExternalSet:
    """The external set of expert `name` (malformed lines stop with file:line)."""
    path = external_path(name)
    if name not in ANY_LABEL:
        return ExternalSet(name, path, read_examples(path, kind))
    examples, sets = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise TinyExpertsError(f"not valid JSON ({err.msg})", where=f"{path}:{n}",
                                   fix="one JSON object per line") from None
        labels = row.get("labels") if isinstance(row, dict) else None
        text = row.get("text") if isinstance(row, dict) else None
        if not (isinstance(text, str) and text.strip() and isinstance(labels, list) and labels
                and all(isinstance(x, str) and x for x in labels)):
            raise TinyExpertsError("each line needs \"text\" and a non-empty \"labels\" list",
                                   where=f"{path}:{n}",
                                   fix='write {"text": "...", "labels": ["P0301", ...]}')
        examples.append(TextExample(text, labels[0]))
        sets.append(tuple(labels))
    if not examples:
        raise TinyExpertsError("external set holds no examples", where=str(path),
                               fix="add at least one line")
    return ExternalSet(name, path, examples, sets)


def any_hit(ranked: list[list[str]], label_sets: list[tuple[str, ...]]) -> dict[str, float]:
    """top-1 and top-5 where a line counts when its prediction is any of its labels."""
    n = len(label_sets)
    return {"top1": sum(bool(r) and r[0] in s for r, s in zip(ranked, label_sets, strict=True))
            / n,
            "top5": sum(any(x in s for x in r[:5]) for r, s in zip(ranked, label_sets,
                                                                  strict=True)) / n}
