"""Request validation shared by HTTP and gRPC: limits and types, with messages."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from experts.core.errors import TinyExpertsError
from services.grpc_codec import predict_from_proto, query_from_proto
from services.grpc_stubs import load
from services.schemas import (
    MAX_BATCH,
    MAX_TEXT_CHARS,
    AskRequest,
    PredictRequest,
    QueryRequest,
)


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   "},
        {"text": "x" * (MAX_TEXT_CHARS + 1)},
        {"text": "ok", "experts": ["nope"]},
        {"text": "ok", "top_k": 0},
        {"text": "ok", "top_k": 10_000},
        {"text": 5},
        {"text": "ok", "unknown_field": 1},
    ],
)
def test_bad_queries_are_refused(body):
    with pytest.raises(ValidationError):
        QueryRequest.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": []},
        {"inputs": ["x"] * (MAX_BATCH + 1)},
        {"inputs": [""]},
        {"inputs": [{"a": "x"}]},
        {"inputs": [3]},
    ],
)
def test_bad_predict_requests_are_refused(body):
    with pytest.raises(ValidationError):
        PredictRequest.model_validate(body)


@pytest.mark.parametrize(
    ("model", "raw", "field"),
    [
        (QueryRequest, '{"text": "spark \\ud800 plug"}', "text"),
        (QueryRequest, '{"text": "ok", "context": {"b": "\\udfff"}}', "context"),
        (PredictRequest, '{"inputs": ["ok", "\\ud800"]}', "inputs"),  # "inputs[1] is not ..."
        (PredictRequest, '{"inputs": [{"a": "ok", "b": "\\ud83d"}]}', "inputs.0.PairInput.b"),
        (AskRequest, '{"question": "what is \\ud800?"}', "question"),
    ],
)
def test_json_with_a_lone_surrogate_is_refused_naming_the_field(model, raw, field):
    # valid JSON syntax, but not Unicode text; the HTTP layer parses with json.loads, which
    # accepts it: the schema refuses it (422 naming the field), never a 500 later
    with pytest.raises(ValidationError) as err:
        model.model_validate(json.loads(raw))
    locs = [".".join(map(str, e["loc"])) for e in err.value.errors()]
    assert any(loc.startswith(field) for loc in locs), locs
    assert "unicode" in str(err.value).lower()
    assert model.model_validate(json.loads(raw.replace("\\ud8", "x").replace("\\udf", "x")))


def test_a_422_that_echoes_a_lone_surrogate_still_renders():
    # what the HTTP layer does with such a body: parse, validate, answer 422 (not a 500)
    import asyncio

    from fastapi.exceptions import RequestValidationError

    from services.ingress import invalid_request

    try:
        QueryRequest.model_validate(json.loads('{"text": "\\ud800"}'))
    except ValidationError as err:
        errors = err.errors()
    response = asyncio.run(invalid_request(None, RequestValidationError(errors)))
    assert response.status_code == 422
    body = json.loads(response.body)
    assert body["detail"][0]["loc"] == ["text"] and body["detail"][0]["input"] == "\\ud800"


def test_grpc_messages_go_through_the_same_validation():
    pb2, _ = load()
    ok = query_from_proto(pb2.QueryRequest(text="spark plug", experts=["category"]))
    assert ok.top_k == 5 and ok.experts == ["category"]
    with pytest.raises(TinyExpertsError, match="text"):
        query_from_proto(pb2.QueryRequest(text=""))
    with pytest.raises(TinyExpertsError, match="not both"):
        predict_from_proto(pb2.PredictRequest(expert="category", texts=["a"],
                                              pairs=[pb2.Pair(a="a", b="b")]))
    name, req = predict_from_proto(pb2.PredictRequest(expert="compatibility",
                                                      pairs=[pb2.Pair(a="a", b="b")]))
    assert name == "compatibility" and req.inputs[0].b == "b"


def test_admin_calls_without_a_configured_token_are_forbidden_not_unavailable(monkeypatch):
    # the Ingress method itself (the deployment's class), without starting Serve
    from types import SimpleNamespace

    from fastapi import HTTPException

    from services.ingress import Ingress
    from services.schemas import AppArgs

    check = Ingress.func_or_class._check_admin
    replica = SimpleNamespace(args=AppArgs())
    monkeypatch.delenv("TINYEXPERTS_ADMIN_TOKEN", raising=False)
    with pytest.raises(HTTPException) as err:
        check(replica, "Bearer anything")
    assert err.value.status_code == 403 and "admin API disabled" in err.value.detail
    monkeypatch.setenv("TINYEXPERTS_ADMIN_TOKEN", "s3cret")
    with pytest.raises(HTTPException) as err:
        check(replica, "Bearer wrong")
    assert err.value.status_code == 401
    check(replica, "Bearer s3cret")  # the right token passes
