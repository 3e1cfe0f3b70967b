"""Pydantic schemas of the HTTP API and the app's arguments: validated once, at the edge.

Limits live here (text length, batch size, top-k) so HTTP, gRPC and the CLI refuse the same
inputs with the same messages.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from experts.core.paths import ONTOLOGY_NAME_PATTERN
from experts.specs import EXPERTS
from ontology_gnn.qa import MAX_QUESTION_CHARS

MAX_TEXT_CHARS = 2000
MAX_BATCH = 64
MAX_TOP_K = 20

ExpertName = Literal["category", "attributes", "compatibility", "fault_codes"]


def not_blank(v: str, what: str) -> str:
    if not v.strip():
        raise ValueError(f"{what} is blank")
    return v


def utf8(v: str, what: str) -> str:
    """Valid JSON can still hold text that is not Unicode (a lone surrogate, "\\ud800").
    pydantic refuses it in plain `str` fields; dict entries and the strings of a
    `str | PairInput` list are checked here."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{what} is not valid Unicode text (character {err.start}: a lone "
                         "surrogate); send UTF-8 text") from None
    return v


class AppArgs(BaseModel):
    """Arguments of `services.app:app_builder` (the `args:` block of deploy/serve_*.yaml)."""

    model_config = ConfigDict(extra="forbid")

    home: str | None = Field(None, description="$TINYEXPERTS_HOME; None = the environment's")
    experts: list[ExpertName] = Field(default_factory=lambda: list(EXPERTS))
    admin_token_env: str = Field("TINYEXPERTS_ADMIN_TOKEN",
                                 description="name of the env var holding the admin token")
    torch_threads: int = Field(1, ge=1, le=64, description="intra-op threads per replica")
    max_batch_size: int = Field(32, ge=1, le=256, description="@serve.batch size per expert")
    batch_wait_timeout_s: float = Field(0.0, ge=0.0, le=1.0, description="0 = batch only "
                                        "the requests already waiting")
    llm: bool = Field(True, description="serve the ontology encoder + tiny LLM (GraphLLM "
                                        "deployment; loads on the first question)")
    llm_threads: int = Field(2, ge=1, le=64, description="intra-op threads of GraphLLM")

    @field_validator("experts")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or not v:
            raise ValueError("list each expert once, at least one")
        return v


class PairInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    b: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[str | PairInput] = Field(min_length=1, max_length=MAX_BATCH)
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)

    @field_validator("inputs")
    @classmethod
    def _texts(cls, v: list) -> list:
        for i, x in enumerate(v):
            if isinstance(x, str) and not (0 < len(x.strip()) and len(x) <= MAX_TEXT_CHARS):
                raise ValueError(f"inputs[{i}] must be 1..{MAX_TEXT_CHARS} characters of text")
            if isinstance(x, str):  # a str inside the union is not checked for Unicode
                utf8(x, f"inputs[{i}]")
        return v


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    context: dict[str, str] | None = Field(
        None, description='extra inputs, e.g. {"b": "2013 Honda Civic"} for compatibility')
    experts: list[ExpertName] | None = Field(
        None, description="call these experts; omitted = the router decides")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        return not_blank(v, "text")

    @field_validator("context")
    @classmethod
    def _context_utf8(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for key, value in (v or {}).items():
            utf8(key, "context key")
            utf8(value, f"context.{key}")
        return v


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    mode: Literal["graph", "text", "question"] = "graph"
    decode: Literal["choose", "free"] = "choose"
    max_new_tokens: int = Field(24, ge=1, le=128)
    # an imported ontology (`build --experts ontology --ontology NAME.ttl`); None: the product
    ontology: str | None = Field(None, pattern=ONTOLOGY_NAME_PATTERN)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        return not_blank(v, "question")


class ExpertResult(BaseModel):
    expert: str
    version: str | None = None
    status: int = 200
    error: str | None = None
    predictions: list[dict[str, Any]] = Field(default_factory=list)
    latency_ms: float | None = None


class Fact(BaseModel):
    kind: str
    text: str
    source: str = Field(description='"ontology:<entity id>" or "expert:<name>@<version>"')
    confidence: float
    value: Any = None


class QueryResponse(BaseModel):
    route: dict[str, Any]
    results: dict[str, ExpertResult]
    answer: str | None = Field(None, description="one or two plain sentences, from `facts`")
    facts: list[Fact] = Field(default_factory=list)
    versions: dict[str, str | None]
    latency_ms: dict[str, float]


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=r"^v[0-9]{1,6}$")
