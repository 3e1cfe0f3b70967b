"""Answers benchmark: end-to-end answer accuracy and latency of routed `/v1/query`.

Starts real Ray Serve with the four experts (the active versions: the int8 students after a
full build) and no LLM, asks every question of the generated and hand-written sets
(`services.answers_eval`) through HTTP without naming experts — the router decides, the
composer answers — and grades each answer against its gold. Latency is measured over two
passes of all questions, one client, keep-alive on (an application's connection pool);
each stage (route, link, experts, compose) comes from the response's `latency_ms`.

Writes answers.json, answers.csv (one row per question), answers.md and answers.png.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import httpx
import yaml

from experts.core.paths import Paths
from experts.core.report import markdown_table, write_csv
from experts.core.stats import latency_summary
from experts.core.targets import judge
from experts.ontology.schema import Ontology
from services.answers_eval import generated_set, grade, handwritten_set
from services.http_client import wait_healthy
from services.runner import (
    default_config_on_free_ports,
    http_url,
    load_serve_config,
    start,
    stop,
)

STAGES = ("router", "link", "experts", "compose")
PASSES = 2


def _config(folder: Path):
    raw = default_config_on_free_ports()
    app = raw["applications"][0]
    app["args"]["llm"] = False
    app["deployments"] = [d for d in app["deployments"] if d["name"] != "GraphLLM"]
    path = folder / "serve_answers.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_serve_config(path)


def run(paths: Paths, out: Path, per_kind: int = 40, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    questions = generated_set(Ontology.load(paths.ontology), paths.data, per_kind=per_kind)
    questions += handwritten_set()
    config = _config(out)
    start(config, home=paths.home)
    url = http_url(config)
    rows: list[dict] = []
    passes: list[list[float]] = []
    try:
        wait_healthy(url)
        with httpx.Client(timeout=60) as client:
            for q in questions[:5]:  # warm-up: load the router and the composer
                client.post(f"{url}/v1/query", json={"text": q["text"]})
            for p in range(PASSES):
                times = []
                t0 = time.perf_counter()
                for q in questions:
                    body = {"text": q["text"], **({"context": q["context"]}
                                                  if q.get("context") else {})}
                    s = time.perf_counter()
                    r = client.post(f"{url}/v1/query", json=body)
                    ms = (time.perf_counter() - s) * 1000
                    times.append(ms)
                    if p == 0:
                        rows.append(_row(q, r, ms))
                passes.append(times)
                log(f"answers: pass {p + 1}/{PASSES}: {len(questions)} questions in "
                    f"{time.perf_counter() - t0:.0f}s")
    finally:
        stop()
    result = _summarize(rows, passes)
    _write(out, result, rows)
    return result


def _row(q: dict, r: httpx.Response, ms: float) -> dict:
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    ok = r.status_code == 200 and grade(body, q["gold"])
    lat = body.get("latency_ms", {})
    return {"set": q["set"], "kind": q["kind"], "text": q["text"], "status": r.status_code,
            "correct": ok, "answer": body.get("answer"),
            "decision": body.get("route", {}).get("decision"),
            "experts": ",".join(body.get("route", {}).get("experts", [])),
            "gold": json.dumps(q["gold"]), "ms": round(ms, 2),
            **{f"{s}_ms": lat.get(s) for s in STAGES}}


def _summarize(rows: list[dict], passes: list[list[float]]) -> dict:
    by: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in rows:
        by[(r["set"], r["kind"])].append(r["correct"])
        by[(r["set"], "all")].append(r["correct"])
    accuracy = [{"set": s, "kind": k, "n": len(v), "correct": sum(v),
                 "accuracy": round(sum(v) / len(v), 4)} for (s, k), v in sorted(by.items())]
    per_pass = [latency_summary(t) for t in passes]
    stages = {s: latency_summary([r[f"{s}_ms"] for r in rows if r.get(f"{s}_ms") is not None])
              for s in STAGES}
    values = {
        "generated_accuracy": _acc(by, "generated"),
        "handwritten_accuracy": _acc(by, "handwritten"),
        # the worse pass: a target met on one pass and missed on the other is not met
        "query_p50_ms": max(p["p50_ms"] for p in per_pass),
        "query_p99_ms": max(p["p99_ms"] for p in per_pass),
    }
    return {"accuracy": accuracy, "latency_passes": per_pass, "stages_ms": stages,
            "values": values, "targets": judge("answers", values),
            "errors": sum(r["status"] != 200 for r in rows)}


def _acc(by: dict, name: str) -> float | None:
    v = by.get((name, "all"))
    return round(sum(v) / len(v), 4) if v else None


def _write(out: Path, result: dict, rows: list[dict]) -> None:
    import matplotlib  # plots only; matplotlib is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "answers.json").write_text(json.dumps(result, indent=1))
    write_csv(rows, out / "answers.csv")
    result["table"] = format_table(result)
    (out / "answers.md").write_text(result["table"] + "\n")
    acc = [a for a in result["accuracy"] if a["kind"] != "all"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    for i, name in enumerate(("generated", "handwritten")):
        part = [a for a in acc if a["set"] == name]
        left.barh([f"{a['kind']} ({name[0]})" for a in part], [a["accuracy"] for a in part],
                  color="tab:blue" if i == 0 else "tab:orange", label=name)
    left.set_xlim(0, 1)
    left.set_xlabel("answer accuracy")
    left.legend()
    stages = result["stages_ms"]
    right.bar(list(stages), [s["p50_ms"] for s in stages.values()], label="p50")
    right.bar(list(stages), [s["p99_ms"] - s["p50_ms"] for s in stages.values()],
              bottom=[s["p50_ms"] for s in stages.values()], alpha=0.4, label="p99")
    right.set_ylabel("ms")
    right.set_title("per stage, routed /v1/query")
    right.legend()
    fig.tight_layout()
    fig.savefig(out / "answers.png", dpi=110)


def format_table(result: dict) -> str:
    rows = [{"set": a["set"], "kind": a["kind"], "n": a["n"], "accuracy": a["accuracy"]}
            for a in result["accuracy"]]
    lines = [markdown_table(rows), ""]
    stage_rows = [{"stage": s, **v} for s, v in result["stages_ms"].items()]
    stage_rows += [{"stage": f"end to end, pass {i + 1}", **p}
                   for i, p in enumerate(result["latency_passes"])]
    lines.append(markdown_table(stage_rows))
    return "\n".join(lines)
