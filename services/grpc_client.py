"""A small gRPC client for the tinyexperts service (used by `tinyexperts query --grpc`)."""

from __future__ import annotations

import grpc
from google.protobuf.json_format import MessageToDict

from experts.core.errors import TinyExpertsError
from services.grpc_stubs import load

APP_METADATA = (("application", "tinyexperts"),)


def query(target: str, text: str, experts: list[str] | None = None,
          context: dict[str, str] | None = None, top_k: int = 5,
          timeout_s: float = 60.0) -> dict:
    pb2, pb2_grpc = load()
    with grpc.insecure_channel(target) as channel:
        stub = pb2_grpc.TinyExpertsStub(channel)
        request = pb2.QueryRequest(text=text, experts=experts or [], context=context or {},
                                   top_k=top_k)
        try:
            reply = stub.Query(request, metadata=APP_METADATA, timeout=timeout_s)
        except grpc.RpcError as err:
            raise TinyExpertsError(f"gRPC {err.code().name}: {err.details()}", where=target,
                                   fix="see the message; is `tinyexperts serve` running?") \
                from None
    return MessageToDict(reply, preserving_proto_field_name=True)
