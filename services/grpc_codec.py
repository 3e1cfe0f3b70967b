"""Translate between the gRPC messages of tinyexperts.proto and the pydantic API schemas.

Validation happens once, in the pydantic schemas: a bad gRPC request fails exactly where a
bad HTTP request fails, with the same message.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from experts.core.errors import TinyExpertsError, from_validation_error
from services.grpc_stubs import load
from services.schemas import ExpertResult, PairInput, PredictRequest, QueryRequest, QueryResponse


def _validated(model, **fields):
    try:
        return model(**fields)
    except ValidationError as err:
        raise from_validation_error(err, where="gRPC request",
                                    fix="see services/tinyexperts.proto and docs/operations.md") \
            from None


def query_from_proto(msg) -> QueryRequest:
    return _validated(QueryRequest, text=msg.text, experts=list(msg.experts) or None,
                      context=dict(msg.context) or None, top_k=msg.top_k or 5)


def predict_from_proto(msg) -> tuple[str, PredictRequest]:
    if msg.texts and msg.pairs:
        raise TinyExpertsError("send texts or pairs, not both", where="PredictRequest",
                               fix="texts for classify/tag experts, pairs for compatibility")
    inputs = list(msg.texts) or [PairInput(a=p.a, b=p.b) for p in msg.pairs] \
        if msg.texts or msg.pairs else []
    return msg.expert, _validated(PredictRequest, inputs=inputs, top_k=msg.top_k or 5)


def _result(pb2, r: ExpertResult):
    preds = []
    for p in r.predictions:
        info = {k: str(v) for k, v in p.items()
                if k not in ("label", "score", "top_k", "entities", "words", "tags")}
        preds.append(pb2.Prediction(
            label=p.get("label", ""), score=p.get("score", 0.0),
            top_k=[pb2.Candidate(label=c["label"], score=c["score"]) for c in p.get("top_k", [])],
            entities=[pb2.Entity(type=e["type"], text=e["text"], start=e["start"], end=e["end"])
                      for e in p.get("entities", [])],
            info=info,
        ))
    return pb2.ExpertResult(expert=r.expert, version=r.version or "", predictions=preds,
                            error=r.error or "", status=r.status, latency_ms=r.latency_ms or 0.0)


def query_reply(resp: QueryResponse):
    pb2, _ = load()
    return pb2.QueryReply(results=[_result(pb2, r) for r in resp.results.values()],
                          route_source=resp.route["source"], total_ms=resp.latency_ms["total"],
                          decision=resp.route.get("decision", ""), answer=resp.answer or "",
                          routed_experts=resp.route.get("experts", []),
                          facts=[pb2.Fact(kind=f.kind, text=f.text, source=f.source,
                                          confidence=f.confidence,
                                          value_json=json.dumps(f.value))
                                 for f in resp.facts])


def predict_reply(result: ExpertResult):
    pb2, _ = load()
    return pb2.PredictReply(result=_result(pb2, result))


def grpc_error(grpc_context, err: Exception, reply: str):
    """Set the gRPC status from a user error (404 -> NOT_FOUND, ...); return an empty reply."""
    import grpc  # gRPC only

    pb2, _ = load()
    status = getattr(err, "status", 400)
    code = {404: grpc.StatusCode.NOT_FOUND, 503: grpc.StatusCode.UNAVAILABLE,
            409: grpc.StatusCode.FAILED_PRECONDITION}.get(status,
                                                          grpc.StatusCode.INVALID_ARGUMENT)
    if grpc_context is not None:
        grpc_context.set_code(code)
        text = getattr(err, "message", None) or str(err)
        grpc_context.set_details(text.splitlines()[0] if text else type(err).__name__)
    return getattr(pb2, reply)()
