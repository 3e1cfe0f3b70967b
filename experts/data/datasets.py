"""Each expert's train/validation/test files: derived from the ontology, or the user's own.

Layout: `<data_dir>/<expert>/{train,validation,test}.{jsonl|conll}` plus an optional
`labels.json` ({label: {description: ...}}) that gives label texts for prototype heads.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from experts.core.assets import sha256_file
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.data.fault_text import code_descriptions, fault_code_datasets
from experts.data.formats import (
    FILE_SUFFIX,
    Example,
    labels_of,
    read_examples,
    read_tagged,
    write_examples,
)
from experts.data.phrasing import SPLITS
from experts.data.product_text import nouns_for, pair_datasets, title_datasets
from experts.data.written_titles import written_titles
from experts.ontology.default import ensure_ontology
from experts.ontology.schema import Ontology
from experts.specs import EXPERTS, get_spec

# examples per product (titles, pairs) or per code (faults), by split
PER_ITEM = {
    "titles": {"train": 3, "validation": 1, "test": 3},
    "pairs": {"train": 2, "validation": 1, "test": 2},
    "faults": {"train": 5, "validation": 1, "test": 2},
}
# category: five more training titles per training product with the part type left out
# (docs/experiments.md, "listings that do not name the part": 0-5 copies, chosen on validation)
NOUNLESS_TRAIN = 5


@dataclass
class ExpertData:
    expert: str
    splits: dict[str, list[Example]]
    labels: list[str]
    label_info: dict[str, dict[str, str]]  # label -> {description, ...}
    scheme: str | None = None  # tagging: the scheme the training file was written in
    critical: tuple[str, ...] | None = None  # tagging: types labels.json declares critical


def split_path(data_dir: Path, expert: str, split: str) -> Path:
    return data_dir / expert / f"{split}{FILE_SUFFIX[get_spec(expert).kind]}"


def write_default_datasets(onto: Ontology, data_dir: Path, seed: int = 0) -> dict[str, dict]:
    """Derive all four experts' splits from the ontology; returns example counts."""
    cat, tags = title_datasets(onto, seed, PER_ITEM["titles"], NOUNLESS_TRAIN)
    # the tagger's training split also gets the titles people wrote (training only)
    tags["train"] = tags["train"] + list(written_titles())
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
    scheme = read_tagged(folder / f"train{suffix}")[1] if spec.kind == "tag" else None
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
    critical = None
    if spec.kind == "tag" and "critical" in label_info:  # {"critical": ["TYPE", ...]}
        critical = label_info.pop("critical")
        if not isinstance(critical, list) or not all(isinstance(t, str) for t in critical):
            raise TinyExpertsError('"critical" must be a list of entity types',
                                   where=f"{info_path}: critical",
                                   fix='e.g. {"critical": ["PART_NUMBER", "VEHICLE"]}')
        critical = tuple(critical)
    return ExpertData(expert, splits, labels, label_info, scheme, critical)


def critical_types(expert: str, data: ExpertData, declared: list[str] | None = None,
                   where: str = "--critical") -> tuple[str, ...]:
    """The entity types a tagger's F1_critical and coverage are about: `declared` (e.g.
    `--critical`), else the data's labels.json, else the expert's default types when the data
    has them (the project's own data); else none — the metrics are then not applicable."""
    spec = get_spec(expert)
    if spec.kind != "tag":
        return tuple(spec.critical_labels)
    types = sorted({lab[2:] for lab in data.labels if lab != "O"})
    chosen = declared if declared is not None else data.critical
    if chosen is None:
        return tuple(spec.critical_labels) if set(spec.critical_labels) <= set(types) else ()
    unknown = [t for t in chosen if t not in types]
    if unknown:
        raise TinyExpertsError(f"critical type(s) {unknown} never occur in the training data",
                               where=where if declared is not None else "labels.json: critical",
                               fix=f"choose among: {', '.join(types)}")
    return tuple(chosen)


def default_data_ready(data_dir: Path) -> bool:
    return all(split_path(data_dir, e, s).is_file() for e in EXPERTS for s in SPLITS)


def ensure_datasets(paths: Paths, force: bool = False, log: Callable = print) -> None:
    """The home's default datasets, written from its ontology if missing (or with `force`)."""
    if default_data_ready(paths.data) and not force:
        return
    counts = write_default_datasets(ensure_ontology(paths, force, log), paths.data)
    log(f"datasets: {paths.data} {counts}")


# ---- data given by path, and the data a registered version recorded ------------------------

def load_data_path(expert: str, path: Path, seed: int = 0) -> ExpertData:
    """A folder with train/validation/test files, or one file split 80/10/10 (seeded)."""
    path = Path(path)
    if path.is_dir():
        return load_split_folder(expert, path)
    spec = get_spec(expert)
    rows = read_examples(path, spec.kind)
    if len(rows) < 20:
        raise TinyExpertsError(f"{len(rows)} examples are too few to adapt on", where=str(path),
                               fix="give at least 20 examples (10 % of them become the test)")
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    n_val = n_test = max(2, len(rows) // 10)
    splits = {"validation": rows[:n_val], "test": rows[n_val:n_val + n_test],
              "train": rows[n_val + n_test:]}
    labels = labels_of(spec.kind, splits["train"])
    return ExpertData(expert, splits, labels, {})


def data_digest(path: Path) -> str:
    """sha256 over a data file, or over a folder's files (names and contents)."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def data_record(path: Path, seed: int = 0) -> dict:
    """What a version records about the data it was trained on (`manifest.data`)."""
    return {"dir": str(Path(path).resolve()), "sha256": data_digest(path), "seed": seed}


def recorded_data(manifest, expert: str) -> ExpertData:
    """The data a registered version was made from: its own folder or file (teachers,
    adapted versions, their students), the union of its variants' data (merged versions),
    plus the replayed share of its parent's data (updates with replay). Refuses, never
    substitutes, when any of that data is gone or has changed."""
    return data_of_record(manifest.data, expert, f"{expert} {manifest.version}")


def data_of_record(record: dict, expert: str, where: str) -> ExpertData:
    if record.get("dir"):
        data = _load_recorded(expert, record, where)
    elif record.get("variant_data") or record.get("variant_dirs"):
        variants = record.get("variant_data") or [{"dir": d} for d in record["variant_dirs"]
                                                  if d]
        data = union([_load_recorded(expert, v, where) for v in variants])
    else:
        raise TinyExpertsError(f"{where} records no training data", where=where,
                               fix="start from a version made by build, adapt or merge, or "
                                   "give the data yourself")
    replay = record.get("replay")
    if replay:
        old = data_of_record(replay["data"], expert, where)
        data = with_replay(data, old, replay["fraction"], replay["seed"])
    return data


def union(parts: list[ExpertData]) -> ExpertData:
    """Every split of every part, in order; the label set of all their training rows."""
    splits = {s: [ex for p in parts for ex in p.splits[s]] for s in SPLITS}
    info = {k: v for p in parts for k, v in p.label_info.items()}
    return ExpertData(parts[0].expert, splits,
                      labels_of(get_spec(parts[0].expert).kind, splits["train"]), info,
                      parts[0].scheme, parts[0].critical)


def replay_sample(old: ExpertData, fraction: float, seed: int) -> list[Example]:
    """The share of the old training rows an update trains on again (seeded, so the data a
    version recorded can be rebuilt row for row)."""
    rows = list(old.splits["train"])
    return random.Random(seed).sample(rows, round(fraction * len(rows)))


def with_replay(new: ExpertData, old: ExpertData, fraction: float, seed: int) -> ExpertData:
    """New data plus replay: train = new train + a `fraction` of the old train rows;
    validation and test = new + all of the old (the model serves both)."""
    splits = {"train": [*new.splits["train"], *replay_sample(old, fraction, seed)],
              "validation": [*new.splits["validation"], *old.splits["validation"]],
              "test": [*new.splits["test"], *old.splits["test"]]}
    info = {**old.label_info, **new.label_info}
    return ExpertData(new.expert, splits, labels_of(get_spec(new.expert).kind, splits["train"]),
                      info, new.scheme, new.critical if new.critical is not None
                      else old.critical)


def _load_recorded(expert: str, record: dict, where: str) -> ExpertData:
    path = Path(record["dir"])
    if not path.exists():
        raise TinyExpertsError(f"the data {where} was made from is gone", where=str(path),
                               fix="restore that folder, or start from another version")
    digest = record.get("sha256")
    if digest and data_digest(path) != digest:
        raise TinyExpertsError(f"the data {where} was made from has changed since (sha256 "
                               "differs)", where=str(path),
                               fix="restore the original files; new data is a new `adapt` or "
                                   "`update`")
    return load_data_path(expert, path, record.get("seed", 0))
