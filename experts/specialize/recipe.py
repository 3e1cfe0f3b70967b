"""Specialization recipes: a validated list of steps (YAML in deploy/recipes/<expert>.yaml).

Everything is checked before any work starts: unknown steps or fields, wrong types,
beta < 0, ratios that would prune everything, quantize not last — each error names the
field (`steps[1].heads: ...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from experts.core.errors import TinyExpertsError, from_validation_error

RECIPES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "recipes"


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # gate: after this step, validation quality must stay >= recipe.min_quality x teacher
    gate: bool = True


class Distill(_Step):
    """Student from the teacher's layers `layers`, trained with (constrained) KD."""
    op: Literal["distill"]
    layers: list[Annotated[int, Field(ge=0)]] | None = None
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    temperature: float = Field(2.0, gt=0.0)
    beta: float = Field(0.0, ge=0.0)
    critical_mode: Literal["logits", "weighted_ce"] = "logits"
    epochs: int = Field(2, ge=1, le=50)
    lr: float = Field(1e-4, gt=0.0, lt=1.0)


class Prune(_Step):
    """Structured pruning (fractions of units to remove), by ontology relevance (in-domain
    task impact, variance and selectivity against out-of-domain probes) or by weight
    magnitude (generic, data-free; the ablation's baseline)."""
    op: Literal["prune"]
    criterion: Literal["relevance", "magnitude"] = "relevance"
    gate: bool = False  # measured before its recovery step (freeze), so no gate by default
    heads: float = Field(0.0, ge=0.0, lt=1.0)
    ffn: float = Field(0.0, ge=0.0, lt=1.0)
    drop_layers: int = Field(0, ge=0)
    vocab: bool = False
    weights: tuple[float, float, float] = (1.0, 0.5, 0.5)  # task impact, variance, selectivity
    probes: str = "stdlib-docs"
    batches: int = Field(16, ge=1, le=1000)

    @model_validator(mode="after")
    def _something(self):
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("weights must be >= 0 and not all 0")
        return self


class Freeze(_Step):
    """Freeze embeddings and/or the least important layers, recover with KD on the rest."""
    op: Literal["freeze"]
    embeddings: bool = True
    layers: int = Field(0, ge=0)  # how many of the least important layers to freeze
    epochs: int = Field(1, ge=0, le=50)
    lr: float = Field(1e-4, gt=0.0, lt=1.0)
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    temperature: float = Field(2.0, gt=0.0)
    beta: float = Field(0.0, ge=0.0)
    critical_mode: Literal["logits", "weighted_ce"] = "logits"


class Quantize(_Step):
    op: Literal["quantize"]
    backend: Literal["onnx-int8", "torch-int8"] = "onnx-int8"
    embeddings: Literal["int8", "fp32"] = "int8"  # the word embeddings' rows


Step = Annotated[Distill | Prune | Freeze | Quantize, Field(discriminator="op")]


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expert: str
    description: str = ""
    min_quality: float = Field(0.9, ge=0.0, le=1.0)  # x the teacher's validation metric
    seed: int = 0
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self):
        for i, step in enumerate(self.steps):
            if step.op == "quantize" and i != len(self.steps) - 1:
                raise ValueError(f"steps[{i}]: quantize must be the last step "
                                 "(an int8 model is not trained further)")
        return self


def validate_against(recipe: Recipe, n_layers: int) -> None:
    """Checks that need the model: layer indices exist, something stays."""
    layers = n_layers
    for i, step in enumerate(recipe.steps):
        where = f"recipe steps[{i}]"
        if step.op == "distill" and step.layers is not None:
            bad = [j for j in step.layers if j >= layers]
            if bad or not step.layers or len(set(step.layers)) != len(step.layers):
                raise TinyExpertsError(
                    f"layers {step.layers} are not distinct layers of a {layers}-layer model",
                    where=f"{where}.layers", fix=f"pick distinct indices in 0..{layers - 1}")
            layers = len(step.layers)
        if step.op == "prune":
            if step.drop_layers >= layers:
                raise TinyExpertsError(
                    f"drop_layers={step.drop_layers} would remove all {layers} layers",
                    where=f"{where}.drop_layers", fix=f"use at most {layers - 1}")
            layers -= step.drop_layers
        if step.op == "freeze" and step.layers > layers:
            raise TinyExpertsError(f"cannot freeze {step.layers} of {layers} layers",
                                   where=f"{where}.layers", fix=f"use at most {layers}")


def load_recipe(path: Path | None, expert: str) -> Recipe:
    path = path or RECIPES_DIR / f"{expert}.yaml"
    if not path.is_file():
        raise TinyExpertsError(f"recipe {path} not found", where="--recipe",
                               fix=f"see {RECIPES_DIR} for the default recipes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise TinyExpertsError(f"recipe is not valid YAML ({str(err).splitlines()[0]})",
                               where=str(path), fix="fix the YAML syntax") from None
    if not isinstance(raw, dict):
        raise TinyExpertsError("recipe must be a mapping with 'expert' and 'steps'",
                               where=str(path), fix="see deploy/recipes/ for examples")
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as err:
        raise from_validation_error(err, where=str(path),
                                    fix="see the steps and fields in deploy/recipes/*.yaml"
                                    ) from None
    if recipe.expert != expert:
        raise TinyExpertsError(f"recipe is for expert {recipe.expert!r}, not {expert!r}",
                               where=f"{path}: expert", fix="pass the matching recipe")
    return recipe
