"""The serving bench's arithmetic on synthetic measurements: worse round, failures, targets."""

from __future__ import annotations

from services.bench_serving import SINGLE_REQUEST_CASES, format_table, summarise, worst_round


def _round(p50: float, failed: int = 0) -> dict:
    return {"n": 200 - failed, "failed": failed, "p50_ms": p50, "p99_ms": p50 * 2}


def _mode(grpc_second_round_failed: bool = False) -> dict:
    p50 = {"noop_1hop": 2.0, "noop_2hop": 6.0, "handle_expert": 7.0, "http_predict": 12.0,
           "http_query_1": 12.5, "http_query_routed": 19.0, "grpc_predict": 9.0,
           "grpc_query_1": 11.0}
    rounds = {k: [_round(v), _round(v + 1)] for k, v in p50.items()}
    if grpc_second_round_failed:
        rounds["grpc_predict"][1] = {"n": 0, "failed": 200, "p50_ms": None, "p99_ms": None}
    load = [{"case": c, "clients": n, "rps": 100.0 + n, "errors": 0, "p50_ms": 50.0,
             "p99_ms": 90.0} for c in ("http batching", "http no batching", "grpc batching")
            for n in (1, 8, 32, 128)]
    load.append({"case": "http batching, fp32 teacher", "clients": 32, "rps": 33.0,
                 "errors": 0, "p50_ms": 800.0, "p99_ms": 900.0})
    return {"mode": "haproxy", "teacher_version": "v1", "rounds": rounds, "load": load,
            "live_update": {"failed_requests": 0, "switches": ["v2->v1", "v1->v2"],
                            "requests": 500, "worst_ms": 900.0}}


def test_the_worse_round_is_judged_and_a_failed_round_gives_no_figure():
    assert worst_round([_round(10.0), _round(12.5)])["p50_ms"] == 12.5
    failed = worst_round([_round(10.0), _round(9.0, failed=3)])
    assert failed["p50_ms"] is None and failed["failed"] == 3


def test_overheads_and_targets_come_from_the_default_mode():
    r = {"expert": "category", "default_mode": "haproxy", "direct": {"p50_ms": 1.0,
                                                                     "p99_ms": 2.0},
         "modes": {"haproxy": _mode()}}
    summarise(r)
    m = r["modes"]["haproxy"]
    assert m["overhead_ms"] == 12.0  # worse round 13.0 - direct 1.0
    assert m["grpc_overhead_ms"] == 9.0
    assert m["floor_ms"] == 7.0 and m["overhead_over_floor_ms"] == 5.0
    assert m["hop_ms"] == 4.0 and m["router_ms"] == 6.5
    assert m["throughput_x_teacher_c32"] == round(132.0 / 33.0, 2)
    assert m["failed_requests"] == 0
    by = {t["name"]: t for t in r["targets"]}
    assert by["throughput_x_teacher_c32"]["met"] and by["failed_requests"]["met"]
    assert not by["overhead_ms"]["met"] and by["overhead_ms"]["value"] == 12.0
    table = format_table(r)
    assert all(case in table for case, _ in SINGLE_REQUEST_CASES)


def test_a_failed_grpc_round_misses_its_target_instead_of_hiding():
    r = {"expert": "category", "default_mode": "haproxy", "direct": {"p50_ms": 1.0,
                                                                     "p99_ms": 2.0},
         "modes": {"haproxy": _mode(grpc_second_round_failed=True)}}
    summarise(r)
    by = {t["name"]: t for t in r["targets"]}
    assert by["grpc_overhead_ms"]["value"] is None and not by["grpc_overhead_ms"]["met"]
    assert by["failed_requests"]["value"] == 200 and not by["failed_requests"]["met"]
    assert "200 failed" in format_table(r)
