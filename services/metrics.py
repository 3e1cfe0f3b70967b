"""The metrics tinyexperts exports, through Ray's metrics system (`ray.util.metrics`).

Ray exports them, with Serve's own (`ray_serve_*`: requests, errors, processing latency,
replicas, batch queue), in Prometheus format on each node's metrics port (`tinyexperts
serve --metrics-port`, default 8080); every name gets Ray's `ray_` prefix. The metrics are
created lazily, in the process that records them (an Expert or Ingress replica), since Ray
metrics exist only inside a connected worker.

| metric | kind | tags |
|---|---|---|
| tinyexperts_expert_requests | counter | expert, version, status |
| tinyexperts_expert_latency_ms | histogram | expert |
| tinyexperts_expert_batch_size | histogram | expert |
| tinyexperts_expert_serving | gauge (1 = serving) | expert, version, backend |
| tinyexperts_query_requests | counter | source (router/request), status |
| tinyexperts_query_latency_ms | histogram | source |
| tinyexperts_router_decisions | counter | decision (experts/llm/no_expert/abstain) |
| tinyexperts_router_exit_layer | histogram | — |
| tinyexperts_llm_answer_latency_ms | histogram | — |
| tinyexperts_llm_tokens_per_s | histogram | — |
"""

from __future__ import annotations

from functools import cache

LATENCY_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
BATCH = [1, 2, 4, 8, 16, 32, 64, 128]
# layers run; Ray takes only positive bucket bounds, so the embedding exit (0 layers run)
# counts in the bucket up to 0.5
LAYERS = [0.5, 1, 2, 3, 4, 5, 6, 8, 12]
TOKENS_PER_S = [1, 2, 5, 10, 20, 50, 100, 200]


@cache
def _metrics() -> dict:
    from ray.util.metrics import Counter, Gauge, Histogram  # only inside Ray workers

    return {
        "expert_requests": Counter("tinyexperts_expert_requests",
                                   "requests an expert answered, by status",
                                   ("expert", "version", "status")),
        "expert_latency": Histogram("tinyexperts_expert_latency_ms",
                                    "time in the expert replica per request (queue + "
                                    "forward)", LATENCY_MS, ("expert",)),
        "expert_batch": Histogram("tinyexperts_expert_batch_size",
                                  "inputs per forward pass (@serve.batch)", BATCH,
                                  ("expert",)),
        "expert_serving": Gauge("tinyexperts_expert_serving",
                                "1 for the version each replica serves",
                                ("expert", "version", "backend")),
        "query_requests": Counter("tinyexperts_query_requests",
                                  "/v1/query and gRPC Query requests, by status",
                                  ("source", "status")),
        "query_latency": Histogram("tinyexperts_query_latency_ms",
                                   "a query inside the Ingress, routed to answered",
                                   LATENCY_MS, ("source",)),
        "router_decisions": Counter("tinyexperts_router_decisions",
                                    "the router's decisions", ("decision",)),
        "router_exit_layer": Histogram("tinyexperts_router_exit_layer",
                                       "layers the router ran before deciding (early exit)",
                                       LAYERS),
        "llm_latency": Histogram("tinyexperts_llm_answer_latency_ms",
                                 "a free-form answer of the graph LLM", LATENCY_MS),
        "llm_tokens": Histogram("tinyexperts_llm_tokens_per_s",
                                "generation speed of the graph LLM", TOKENS_PER_S),
    }


def _safe(record) -> None:
    """Metrics never fail a request: outside Ray (unit tests) or on a metrics error, skip."""
    try:
        record(_metrics())
    except Exception:  # noqa: BLE001 - observability must not take serving down
        pass


def expert_request(expert: str, version: str | None, status: int, ms: float | None) -> None:
    def record(m):
        m["expert_requests"].inc(1, {"expert": expert, "version": version or "none",
                                     "status": str(status)})
        if ms is not None:
            m["expert_latency"].observe(ms, {"expert": expert})
    _safe(record)


def expert_batch(expert: str, size: int) -> None:
    _safe(lambda m: m["expert_batch"].observe(size, {"expert": expert}))


def expert_serving(expert: str, version: str, backend: str, previous: tuple | None) -> None:
    """The version a replica now serves = 1, the one it served before = 0."""
    def record(m):
        if previous:
            m["expert_serving"].set(0, {"expert": expert, "version": previous[0],
                                        "backend": previous[1]})
        m["expert_serving"].set(1, {"expert": expert, "version": version, "backend": backend})
    _safe(record)


def query(source: str, status: int, ms: float) -> None:
    def record(m):
        m["query_requests"].inc(1, {"source": source, "status": str(status)})
        m["query_latency"].observe(ms, {"source": source})
    _safe(record)


def router_decision(decision: str, exit_layer: int) -> None:
    def record(m):
        m["router_decisions"].inc(1, {"decision": decision})
        m["router_exit_layer"].observe(exit_layer)
    _safe(record)


def llm_answer(ms: float, tokens_per_s: float | None) -> None:
    def record(m):
        m["llm_latency"].observe(ms)
        if tokens_per_s:
            m["llm_tokens"].observe(tokens_per_s)
    _safe(record)
