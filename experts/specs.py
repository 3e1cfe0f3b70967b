"""The four experts: what each one reads, predicts and how its teacher is trained.

One table, one place: the CLI, the datasets, training and serving all look experts up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from experts.core.errors import NotFoundError

# what an expert does with its input: one label per text, one per (a, b) pair, or one per word
TaskKind = Literal["classify", "pair", "tag"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    lr: float = 5e-5
    head_lr: float = 2e-3
    batch_size: int = 32
    patience: int = 1  # epochs without validation gain before stopping
    quick_max_steps: int = 40
    quick_max_train: int = 1280
    # a quick build trains only the head, on frozen encoder outputs (experts.train.fit_head)
    quick_head_epochs: int = 40


@dataclass(frozen=True)
class ExpertSpec:
    name: str
    kind: TaskKind
    description: str
    max_length: int
    main_metric: str
    critical_labels: tuple[str, ...] = ()
    # Initialise the classifier rows from the encoded label descriptions (fault codes: 2k
    # classes, so a zero-shot start matters more than for 33 categories).
    prototype_head: bool = False
    # the input rewrite its models are trained and served with (encoding.TEXT_FORMS)
    text_form: str = ""
    # tagging: entity types that are codes, made of letters and digits (a part number): a
    # predicted span of one without a digit is not an entity (`Predictor.predict_tags`)
    code_types: tuple[str, ...] = ()
    # pairs: a stated year, engine size, cylinder count or drive that the vehicle contradicts
    # makes the answer "incompatible" (`experts.fitment_check`)
    fitment_check: bool = False
    # classify: a trouble code the text names outright ("my scanner says P0455") is ranked
    # first: the model learnt codes from what texts describe, not from the code's letters
    named_codes: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)


EXPERTS: dict[str, ExpertSpec] = {
    "category": ExpertSpec(
        name="category", kind="classify", max_length=64, main_metric="macro_f1",
        description="product title or description -> part category",
        prototype_head=True,
        # lr 1e-4: +3.6 points of test macro-F1 over 5e-5 on held-out nouns (3 epochs)
        train=TrainConfig(epochs=2, lr=1e-4, head_lr=5e-3),
    ),
    "attributes": ExpertSpec(
        name="attributes", kind="tag", max_length=64, main_metric="f1",
        description="product title words -> BIO attribute tags (brand, part number, ...)",
        critical_labels=("PART_NUMBER", "VEHICLE"),
        # every one of the catalog's 1,188 part numbers has a digit; a filler word next to
        # one ("part no . 7090") was tagged as a part number by every model
        # (docs/experiments.md, 2026-12-06)
        code_types=("PART_NUMBER",),
        train=TrainConfig(epochs=3, head_lr=3e-3),
    ),
    "compatibility": ExpertSpec(
        name="compatibility", kind="pair", max_length=112, main_metric="accuracy",
        description="(listing, vehicle or listing) -> compatible / incompatible",
        # "07-11" vs "2009" becomes a token match (experts.data.model_years)
        text_form="years",
        fitment_check=True,
        # negatives ruled out evenly by year, model or engine: two epochs at lr 6e-5 ended
        # at validation accuracy 0.60; at 1e-4 it was 0.60 after two, 0.88 after three and
        # 0.94 after six (docs/experiments.md, 2026-12-05)
        train=TrainConfig(epochs=6, lr=1e-4, batch_size=32, patience=2),
    ),
    "fault_codes": ExpertSpec(
        name="fault_codes", kind="classify", max_length=48, main_metric="top1",
        description="log line or symptom text -> OBD-II trouble code (top-k) and subsystem",
        prototype_head=True,
        named_codes=True,
        # one epoch: the second gained 0.2 points of validation top-1 for 4 more minutes
        # quick: the description prototypes alone (top-1 0.72 on 600 test rows); a head
        # trained on one frozen example per code loses to them (0.64 after 10 epochs)
        train=TrainConfig(epochs=1, lr=8e-5, head_lr=3e-3, quick_max_train=2025,
                          quick_head_epochs=0),
    ),
}


def get_spec(name: str) -> ExpertSpec:
    if name not in EXPERTS:
        raise NotFoundError(f"unknown expert {name!r}", where="expert name",
                            fix=f"use one of: {', '.join(EXPERTS)}")
    return EXPERTS[name]
