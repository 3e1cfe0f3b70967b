"""Each expert's train/validation/test files: derived from the ontology, or the user's own.

Layout: `<data_dir>/<expert>/{train,validation,test}.{jsonl|conll}` plus an optional
`labels.json` ({label: {description: ...}}) that gives label texts for prototype heads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.data.fault_text import code_descriptions, fault_code_datasets
from experts.data.formats import FILE_SUFFIX, Example, labels_of, read_examples, write_examples
from experts.data.phrasing import SPLITS
from experts.data.product_text import nouns_for, pair_datasets, title_datasets
from experts.ontology.default import ensure_ontology
from experts.ontology.schema import Ontology
from experts.specs import EXPERTS, get_spec

# examples per product (titles, pairs) or per code (faults), by split
PER_ITEM = {
    "titles": {"train": 3, "validation": 1, "test": 3},
    "pairs": {"train": 2, "validation": 1, "test": 2},
    "faults": {"train": 5, "validation": 1, "test": 2},
}


@dataclass
class ExpertData:
    expert: str
    splits: dict[str, list[Example]]
    labels: list[str]
    label_info: dict[str, dict[str, str]]  # label -> {description, ...}


def split_path(data_dir: Path, expert: str, split: str) -> Path:
    return data_dir / expert / f"{split}{FILE_SUFFIX[get_spec(expert).kind]}"


def write_default_datasets(onto: Ontology, data_dir: Path, seed: int = 0) -> dict[str, dict]:
    """Derive all four experts' splits from the ontology; returns example counts."""
    cat, tags = title_datasets(onto, seed, PER_ITEM["titles"])
    built: dict[str, dict[str, list[Example]]] = {
        "category": cat,
        "attributes": tags,
        "compatibility": pair_datasets(onto, seed, PER_ITEM["pairs"]),
        "fault_codes": fault_code_datasets(onto, seed, PER_ITEM["faults"]),
    }
    infos = {
        # label texts for the prototype head: only the nouns training may see
        "category": {c: {"description": f"{c}: " + ", ".join(nouns_for(c, "train"))}
                     for c in sorted({e.label for e in cat["train"]})},
        "fault_codes": {k: {"description": v["description"], **v}
                        for k, v in code_descriptions(onto).items()},
    }
    counts = {}
    for expert, splits in built.items():
        kind = get_spec(expert).kind
        for split, rows in splits.items():
            write_examples(split_path(data_dir, expert, split), kind, rows)
        if expert in infos:
            _write_json(data_dir / expert / "labels.json", infos[expert])
        counts[expert] = {s: len(r) for s, r in splits.items()}
    return counts


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    tmp.replace(path)


def load_expert_data(expert: str, data_dir: Path) -> ExpertData:
    """Read one expert's three splits from `<data_dir>/<expert>/`."""
    return load_split_folder(expert, data_dir / expert)


def load_split_folder(expert: str, folder: Path) -> ExpertData:
    """Read `folder/{train,validation,test}` in the expert's format (+ optional labels.json)."""
    spec = get_spec(expert)
    suffix = FILE_SUFFIX[spec.kind]
    splits = {s: read_examples(folder / f"{s}{suffix}", spec.kind) for s in SPLITS}
    labels = labels_of(spec.kind, splits["train"])
    if len(labels) < 2:
        raise TinyExpertsError(
            f"training data has {len(labels)} label(s); a classifier needs at least 2",
            where=str(folder / f"train{suffix}"), fix="add examples of other labels")
    label_info: dict[str, dict[str, str]] = {}
    info_path = folder / "labels.json"
    if info_path.is_file():
        try:
            label_info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise TinyExpertsError(f"not valid JSON ({err.msg})", where=str(info_path),
                                   fix="write {label: {\"description\": ...}} or delete it") \
                from None
    return ExpertData(expert, splits, labels, label_info)


def default_data_ready(data_dir: Path) -> bool:
    return all(split_path(data_dir, e, s).is_file() for e in EXPERTS for s in SPLITS)


def ensure_datasets(paths: Paths, force: bool = False, log: Callable = print) -> None:
    """The home's default datasets, written from its ontology if missing (or with `force`)."""
    if default_data_ready(paths.data) and not force:
        return
    counts = write_default_datasets(ensure_ontology(paths, force, log), paths.data)
    log(f"datasets: {paths.data} {counts}")
