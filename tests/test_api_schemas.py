"""Request validation shared by HTTP and gRPC: limits and types, with messages."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from experts.core.errors import TinyExpertsError
from services.grpc_codec import predict_from_proto, query_from_proto
from services.grpc_stubs import load
from services.schemas import MAX_BATCH, MAX_TEXT_CHARS, PredictRequest, QueryRequest


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
