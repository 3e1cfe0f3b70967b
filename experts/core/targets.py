"""Every benchmark target tinyexperts names, in one table. The benches compute values, this
module judges them, and `tinyexperts bench` writes each judgement into docs/bench/summary.json
(`"targets"`: suite, name, value, goal, met) — a target is never left out because it missed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Op = Literal[">=", ">", "<=", "<", "=="]
OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt,
                                                  "<": operator.lt,
                                                  "<=": operator.le, "==": operator.eq}
SPECIALIZED_EXPERTS = ("category", "attributes", "compatibility", "fault_codes")


@dataclass(frozen=True)
class Target:
    suite: str
    name: str  # the key of the value in the suite's flat values, e.g. "category.speedup_b1"
    op: Op
    goal: float
    what: str  # one line for people: what is measured and why the goal


def _per_expert(metric: str, op: Op, goal: float, what: str,
                experts: tuple[str, ...] = SPECIALIZED_EXPERTS) -> list[Target]:
    return [Target("experts", f"{e}.{metric}", op, goal, what) for e in experts]


TARGETS: tuple[Target, ...] = (
    *_per_expert("speedup_b1", ">=", 5.0, "student p50 at batch 1 vs its fp32 teacher"),
    *_per_expert("quality_ratio", ">=", 0.97, "student main metric / teacher main metric"),
    *_per_expert("bytes_ratio", "<=", 0.15, "student artifact bytes / teacher bytes"),
    *_per_expert("external_quality_ratio", ">=", 0.97,
                 "student / teacher on the external set (hand-written text, never trained "
                 "on)"),
    Target("experts", "fault_codes.student_external_top5", ">=", 0.85,
           "served student's top-5 on hand-written symptom text (a hit = any listed code)"),
    Target("experts", "fault_codes.external_minus_baseline_pts", ">=", 20.0,
           "student's external top-5 minus a TF-IDF lookup of the code descriptions, points"),
    Target("experts", "category.test_minus_baseline_pts", ">=", 0.0,
           "student macro-F1 minus its TF-IDF + linear SVM baseline, own test split"),
    Target("experts", "category.external_minus_baseline_pts", ">=", 0.0,
           "student macro-F1 minus the same baseline, external set"),
    *_per_expert("f1_critical_ratio", ">=", 1.0,
                 "student F1 on critical types / teacher's (constrained distillation); "
                 "the student's mean over its seeds", ("attributes",)),
    *_per_expert("coverage_ratio", ">=", 1.0,
                 "student coverage of critical spans / teacher's; mean over its seeds",
                 ("attributes",)),
    *_per_expert("student_seeds", ">=", 3,
                 "students of the same recipe and teacher (seeds) behind the two ratios",
                 ("attributes",)),
    # served: an abstained query counts as routed to the free-form path alone (the chosen
    # set regardless of abstention, the earlier measure, stays in the table as exact_match)
    Target("router", "served_exact_match", ">=", 0.95,
           "expert set exactly right as served (abstained = free-form path), held-out phrasings"),
    Target("router", "out_of_scope_recall", ">=", 0.90, "off-topic queries sent to no expert"),
    Target("router", "external_served_exact_match", ">=", 0.92,
           "the same on hand-written queries no template produced"),
    Target("router", "speedup_b1", ">=", 1.5, "early exit vs full depth, mean, batch 1"),
    Target("router", "speedup_b32", ">=", 1.5, "early exit vs full depth, mean, batch 32"),
    Target("router", "early_vs_full_accuracy", ">=", 0.99,
           "early-exit exact match / full-depth exact match"),
    Target("router", "p50_b1_ms", "<=", 5.0, "router decision latency at batch 1"),
    Target("router", "params", "<=", 5_000_000, "router parameters"),
    Target("merge", "best_min_pct_of_variant", ">=", 97.0,
           "best merge keeps this % of each site variant's top-1 on its own site"),
    Target("merge", "best_pts_vs_joint", ">=", -1.0,
           "best merge vs a joint retrain on all sites, points of top-1"),
    Target("merge", "update_pct_of_joint", "<=", 40.0,
           "update one site + re-merge, % of the joint retrain's time"),
    Target("merge", "ewc_less_forgetting", "==", 1.0,
           "some EWC λ forgets less than plain fine-tuning at ≤ 1 point new-site cost"),
    Target("update", "pct_of_rebuild", "<=", 40.0,
           "`update` (adapt + re-compress + gate), % of a rebuild from scratch; worst seed"),
    Target("update", "min_pct_of_rebuilt", ">=", 97.0,
           "served student top-1 per site, % of the rebuilt student's; worst site and seed"),
    Target("update", "speedup_b1", ">=", 5.0,
           "served int8 student vs its fp32 teacher, batch 1; worst seed"),
    Target("update", "gates_passed", "==", 1.0, "every seed's update passed its gate"),
    Target("llm", "accuracy", ">=", 0.70,
           "graph path, held-out questions (entities never asked about in training); "
           "worst seed"),
    Target("llm", "min_kind_accuracy", ">=", 0.50,
           "graph path, the weakest question kind; worst seed"),
    Target("llm", "graph_minus_question_pts", ">=", 20.0,
           "graph tokens vs question only, accuracy points; worst seed"),
    Target("llm", "graph_minus_text_pts", ">=", 0.0,
           "graph tokens vs the subgraph as text (zero-shot text path, same constrained "
           "answers), accuracy points; worst seed"),
    Target("llm", "graph_minus_trained_text_pts", ">=", 0.0,
           "graph tokens vs the text path trained on the same budget (LoRA, same questions "
           "and steps), accuracy points; worst seed"),
    Target("llm", "text_over_graph_prompt_tokens", ">=", 3.0,
           "prompt tokens of the text path / of the graph path"),
    Target("llm", "invented_rate", "<=", 0.01,
           "graph path answers naming no entity of the ontology"),
    Target("llm", "unknown_said_rate", ">=", 0.95,
           "questions about codes, part numbers, vehicles not in the ontology answered "
           "'not in the ontology'"),
    Target("llm", "out_of_domain_refused_rate", ">=", 0.95,
           "hand-written questions about nothing in the ontology refused"),
    Target("llm", "ask_p50_ms", "<=", 150.0,
           "ask at batch 1 (retrieve + prefill + decode), graph path, median"),
    Target("llm", "ask_p99_ms", "<=", 400.0, "the same, 99th percentile"),
    Target("llm", "gnn_mrr_gain", ">", 0.0,
           "GNN link-prediction MRR minus the best text-only encoder's (must be positive)"),
    Target("imported", "accuracy", ">=", 0.70,
           "graph path over an imported public ontology (Brick), held-out generic "
           "questions; worst seed"),
    Target("imported", "min_kind_accuracy", ">=", 0.50,
           "the same, weakest kind (type, relation, inverse, two-hop); worst seed"),
    Target("imported", "graph_minus_question_pts", ">", 0.0,
           "graph tokens vs question only on the imported ontology, accuracy points"),
    Target("imported", "invented_rate", "<=", 0.01,
           "graph path answers naming no entity of the imported ontology"),
    Target("imported", "out_of_domain_refused_rate", ">=", 0.95,
           "hand-written out-of-domain questions refused over the imported ontology"),
    Target("answers", "generated_accuracy", ">=", 0.90,
           "routed /v1/query answers right, generated questions (held-out splits)"),
    Target("answers", "handwritten_accuracy", ">=", 0.80,
           "routed /v1/query answers right, hand-written questions"),
    Target("answers", "query_p50_ms", "<=", 30.0,
           "routed /v1/query without the LLM over HTTP, p50 (worse of 2 passes)"),
    Target("answers", "query_p99_ms", "<=", 80.0,
           "routed /v1/query without the LLM over HTTP, p99 (worse of 2 passes)"),
    Target("ablation", "experts", ">=", 4,
           "experts the pruning ablation ran on (all four specialized experts)"),
    Target("ablation", "seeds", ">=", 2, "seeds per expert and arm"),
    Target("ablation", "recipes_follow_winner", "==", 1,
           "1 when every default recipe prunes by the criterion that won the ablation "
           "(mean quality vs teacher, test and external sets, all experts and seeds)"),
    Target("serving", "overhead_ms", "<=", 5.0,
           "HTTP predict p50 minus direct in-process p50, batch 1, the default ingress"),
    Target("serving", "grpc_overhead_ms", "<=", 5.0,
           "gRPC Predict p50 minus direct in-process p50, batch 1, the default ingress"),
    Target("build", "first_answer_s", "<=", 300.0,
           "`tinyexperts run` on an empty home: seconds to the first HTTP answer of the "
           "README question (quick stage + server start), worst run"),
    Target("build", "first_grpc_answer_s", "<=", 300.0,
           "the same over gRPC, worst run"),
    Target("build", "full_build_s", "<=", 1200.0,
           "the background build to the whole compressed system (4 teachers, 4 int8 "
           "students, router, GNN encoder, graph LLM), wall seconds"),
    Target("build", "students_active", ">=", 4.0,
           "experts serving an int8 student when the build has finished"),
    Target("build", "failed_requests", "<=", 0.0,
           "failed requests of one client asking every second while versions go live"),
    Target("serving", "overhead_over_floor_ms", "<=", 2.0,
           "HTTP overhead minus Serve's own two-hop floor (no-op apps, same run)"),
    Target("serving", "routed_query_p99_ms", "<", 30.0,
           "p99 of /v1/query with the router deciding, int8 students, one at a time"),
    Target("serving", "throughput_x_teacher_c32", ">=", 3.0,
           "requests/s of the int8 student vs its fp32 teacher, 32 clients, same run"),
    Target("serving", "p99_c32_ms", "<", 100.0,
           "p99 of expert predict under 32 concurrent clients, batching on"),
    Target("serving", "failed_requests", "<=", 0.0,
           "requests that failed anywhere in the suite (one at a time and under load)"),
    Target("serving", "live_update_failed_requests", "<=", 0.0,
           "failed requests during two live version switches under 8 clients"),
)


def targets_of(suite: str) -> list[Target]:
    return [t for t in TARGETS if t.suite == suite]


def goal(suite: str, name: str) -> float:
    return next(t.goal for t in TARGETS if t.suite == suite and t.name == name)


def judge(suite: str, values: Mapping[str, float | bool | None]) -> list[dict]:
    """One entry per target of `suite`: value, goal, met. A missing value is not met."""
    out = []
    for t in targets_of(suite):
        v = values.get(t.name)
        v = float(v) if isinstance(v, bool | int | float) else None
        met = v is not None and not math.isnan(v) and OPS[t.op](v, t.goal)
        out.append({"suite": suite, "name": t.name, "value": v, "op": t.op, "goal": t.goal,
                    "met": bool(met), "what": t.what})
    return out


def all_met(judged: list[dict]) -> bool:
    return bool(judged) and all(j["met"] for j in judged)
