"""`tinyexperts build` (ontology part) and `tinyexperts ask`.

Two registered artifacts per source (the product ontology, or an imported Turtle ontology:
`ontology_gnn.sources`), versioned and hash-checked like the experts:

- `ontology_encoder`: text features (MiniLM) -> R-GCN trained by link prediction; stores the
  entity vectors [GNN ; text] of every entity, the entity order, and link-prediction
  metrics against the text-only baselines on the same held-out edges.
- `graph_llm`: the graph-token projector for the frozen SmolLM2-135M-Instruct, with the
  three-way evaluation (question only / subgraph as text / graph tokens) on held-out
  questions.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from experts.core.environment import environment
from experts.core.errors import NotFoundError, TinyExpertsError
from experts.core.registry import Registry
from ontology_gnn.answer_choice import (
    RoleDetector,
    candidate_names,
    fit_role_detector,
    masked_question,
)
from ontology_gnn.encoder import (
    EncoderConfig,
    cosine_scorer,
    model_scorer,
    rank_metrics,
    train_link_model,
)
from ontology_gnn.features import load_text_encoder, text_vectors
from ontology_gnn.graph import KnowledgeGraph, split_triples
from ontology_gnn.graph_llm import (
    MODES,
    SYSTEM,
    GraphLLM,
    GraphTokenProjector,
    ProjectorConfig,
    ProjectorTrainConfig,
    load_llm,
    train_projector,
)
from ontology_gnn.grounding import OUT_OF_DOMAIN, invented, is_refusal
from ontology_gnn.qa import MAX_QUESTION_CHARS, is_correct
from ontology_gnn.retrieve import EntityIndex, role_vocabulary
from ontology_gnn.sources import GraphSource, load_source

ENCODER = "ontology_encoder"
GRAPH_LLM = "graph_llm"


# ---- ontology encoder ------------------------------------------------------------------

def link_prediction_study(kg: KnowledgeGraph, features: torch.Tensor, kinds, seed: int = 0,
                          epochs: int | None = None, progress: bool = False, log=print):
    """Train each encoder kind on one split; (results by kind, trained models by kind)."""
    train, _val, test = split_triples(kg, 0.1, seed)
    results = {"text-cosine": rank_metrics(kg, features, cosine_scorer, test, kg.triples)}
    models = {}
    for kind in kinds:
        cfg = EncoderConfig(kind=kind, seed=seed, **({"epochs": epochs} if epochs else {}))
        t0 = time.perf_counter()
        model = train_link_model(kg, features, train, cfg, progress=progress, log=log)
        z = model.embed(kg, features, train)
        results[kind] = rank_metrics(kg, z, model_scorer(model), test, kg.triples)
        results[kind]["seconds"] = round(time.perf_counter() - t0, 1)
        models[kind] = model
    return results, models


def build_encoder(paths, *, quick: bool = False, force: bool = False, seed: int = 0,
                  progress: bool = True, log: Callable = print, text_encoder=None,
                  source: GraphSource | None = None) -> dict:

    source = source or load_source(paths, build=True, log=log)
    registry = Registry(source.registry)
    if (done := registry.built(ENCODER, quick=quick)) and not force:
        log(f"{ENCODER}: already built ({done}); --force rebuilds")
        return {}
    t0 = time.perf_counter()
    kg = source.kg
    model, tok = text_encoder or load_text_encoder()
    features = text_vectors([e.text for e in kg.entities], model, tok, progress=progress)
    kind = EncoderConfig().kind
    results, models = link_prediction_study(
        kg, features, [kind, "text-mlp"], seed, epochs=60 if quick else None,
        progress=progress, log=log)
    z = models[kind].embed(kg, features)  # the served vectors: messages over every edge
    vectors = torch.cat([z, features], 1).contiguous()

    def write(folder: Path) -> None:
        save_file({"vectors": vectors}, str(folder / "vectors.safetensors"))
        (folder / "entities.json").write_text(json.dumps(
            {"ids": [e.id for e in kg.entities], "types": [e.type for e in kg.entities],
             "gnn_dim": z.shape[1], "text_dim": features.shape[1]}), encoding="utf-8")
        (folder / "config.json").write_text(json.dumps(asdict(models[kind].config)),
                                            encoding="utf-8")

    summary = {k: {m: v[m] for m in ("mrr", "hits@10", "n")} for k, v in results.items()}
    manifest = registry.register(
        ENCODER, write, task="graph_encode",
        base_model=f"all-MiniLM-L6-v2 text features + {kind.upper()} (link prediction)",
        labels=[], params=sum(p.numel() for p in models[kind].encoder.parameters()),
        metrics={"link_prediction": results, "environment": environment(),
                 "seconds": round(time.perf_counter() - t0, 1)},
        data={"ontology": source.name, "file": source.origin, "sha256": source.sha256,
              "entities": len(kg.entities),
              "triples": len(kg.triples), "seed": seed, "quick": quick})
    registry.activate(ENCODER, manifest.version)
    log(f"{ENCODER}: registered {manifest.version} — link prediction MRR "
        + ", ".join(f"{k} {v['mrr']:.3f}" for k, v in summary.items()))
    return {"expert": ENCODER, "version": manifest.version, "link_prediction": summary}


def load_encoder_vectors(registry: Registry, kg: KnowledgeGraph, version: str | None = None):
    """(vectors (N, D) in kg's entity order, entity info, manifest); refuses a mismatch."""
    if not registry.versions(ENCODER):
        raise NotFoundError("the ontology encoder is not built", where=str(registry.root),
                            fix="run `tinyexperts build --experts ontology`")
    version = version or registry.active(ENCODER)
    manifest = registry.verify(ENCODER, version)
    folder = registry.path(ENCODER, version)
    info = json.loads((folder / "entities.json").read_text(encoding="utf-8"))
    vectors = load_file(str(folder / "vectors.safetensors"))["vectors"]
    if info["ids"] != [e.id for e in kg.entities]:
        raise TinyExpertsError("the ontology changed since the encoder was built",
                               where=str(folder),
                               fix="rebuild: `tinyexperts build --experts ontology --force`")
    return vectors, info, manifest


# ---- graph-token LLM -------------------------------------------------------------------

def entity_types(kg: KnowledgeGraph) -> tuple[list[str], torch.Tensor]:
    types = kg.types()
    pos = {t: i for i, t in enumerate(types)}
    return types, torch.tensor([pos[e.type] for e in kg.entities], dtype=torch.long)


# (mode, decoding) pairs evaluated by default: the question alone can only be answered
# freely; the text and graph paths choose among the subgraph's entity names
VARIANTS = (("question", "free"), ("text", "choose"), ("graph", "choose"))
# what the build evaluates: the graph path against the question alone. The text path (a
# ~300-token prompt, most of the evaluation's time) is compared by `bench --suite llm`.
BUILD_VARIANTS = (("question", "free"), ("graph", "choose"))
DECODINGS = ("choose", "free")


def variant_name(mode: str, decode: str) -> str:
    return mode if (mode, decode) in VARIANTS else f"{mode}-{decode}"


def answer_one(gllm: GraphLLM, question: str, sub, mode: str, decode: str,
               max_new_tokens: int = 16, detector: RoleDetector | None = None) -> dict:
    """One answer at batch 1; `choose` falls back to free generation when the subgraph has
    nothing to choose from (or in the question-only mode). With a `detector`, `choose` picks
    among the candidates of the roles the question asks for (`detect_s`: its time)."""
    prompt = gllm.prompt(question, sub, mode)
    cands = candidate_names(gllm.kg, sub) if mode != "question" else []
    if decode == "choose" and cands:
        t0 = time.perf_counter()
        kept = detector.narrow(gllm.kg, question, sub, cands) if detector else cands
        detect_s = time.perf_counter() - t0
        r = gllm.choose(prompt, [n for _, n in kept])
        return {**r, "entity": kept[r["choice"]][0], "decode": "choose",
                "candidates": len(cands), "narrowed_to": len(kept), "detect_s": detect_s}
    r = gllm.generate([prompt], max_new_tokens)[0]
    return {**r, "decode": "free", "candidates": 0}


def evaluate_modes(gllm: GraphLLM, index: EntityIndex, qa, variants=VARIANTS, batch: int = 16,
                   names=None, progress: bool = False, detector: RoleDetector | None = None
                   ) -> dict:
    """Accuracy (overall and per kind), invented-entity rate, prompt tokens per variant
    (mode, decoding) on the same questions; free decoding runs batched; chosen answers are
    narrowed by `detector` when given."""

    subgraphs = [index.retrieve(q.question) for q in qa]
    out = {}
    for mode, decode in variants:
        rows = []
        if decode == "free":
            for i in tqdm(range(0, len(qa), batch), desc=f"eval {mode} ({decode})",
                          disable=not progress, leave=False):
                prompts = [gllm.prompt(q.question, s, mode) for q, s in
                           zip(qa[i : i + batch], subgraphs[i : i + batch], strict=True)]
                rows.extend(gllm.generate(prompts))
        else:
            for q, s in tqdm(list(zip(qa, subgraphs, strict=True)), desc=f"eval {mode} "
                             f"({decode})", disable=not progress, leave=False):
                rows.append(answer_one(gllm, q.question, s, mode, decode,
                                       detector=detector))
        per_kind: dict[str, list[bool]] = defaultdict(list)
        for q, r in zip(qa, rows, strict=True):
            r["correct"] = is_correct(r["answer"], q.gold)
            per_kind[q.kind].append(r["correct"])
        n = max(1, len(rows))
        out[variant_name(mode, decode)] = {
            "mode": mode, "decode": decode,
            "accuracy": round(sum(r["correct"] for r in rows) / n, 4),
            "invented": round(sum(invented(r["answer"], names) for r in rows) / n, 4)
            if names else None,
            "prompt_tokens_mean": round(sum(r["prompt_tokens"] for r in rows) / n, 1),
            "per_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(per_kind.items())},
            "examples": [{"question": q.question, "gold": q.gold, "answer": r["answer"]}
                         for q, r in list(zip(qa, rows, strict=True))[:6]],
        }
    anchors_found = sum(q.anchor in s.entities for q, s in zip(qa, subgraphs, strict=True))
    gold_in_candidates = sum(
        any(is_correct(name, q.gold) for _, name in candidate_names(index.kg, s))
        for q, s in zip(qa, subgraphs, strict=True))
    out["retrieval"] = {"anchor_linked": round(anchors_found / max(1, len(qa)), 4),
                        "gold_in_candidates": round(gold_in_candidates / max(1, len(qa)), 4),
                        "entities_mean": round(sum(len(s.entities) for s in subgraphs)
                                               / max(1, len(qa)), 2)}
    return out


def evaluate_grounding(answerer: Answerer, seed: int = 0, n_unknown: int = 60,
                       decode: str = "choose", modes=("graph",)) -> dict:
    """Per mode: the share of questions about unknown entities and of out-of-domain
    questions that get the "not in the ontology" answer (an imported ontology has no
    unknown-entity questions: `unknown_said` is None)."""
    unknown = answerer.source.unknown_questions(n_unknown, seed)
    out = {}
    for mode in modes:
        said = [is_refusal(answerer.ask(u["question"], mode, decode=decode)["answer"])
                for u in unknown]
        refused = [is_refusal(answerer.ask(q, mode, decode=decode)["answer"])
                   for q in OUT_OF_DOMAIN]
        by_kind: dict[str, list[bool]] = defaultdict(list)
        for u, ok in zip(unknown, said, strict=True):
            by_kind[u["kind"]].append(ok)
        out[mode] = {"unknown_said": round(sum(said) / len(said), 4) if said else None,
                     "unknown_by_kind": {k: round(sum(v) / len(v), 4)
                                         for k, v in sorted(by_kind.items())},
                     "out_of_domain_refused": round(sum(refused) / len(refused), 4),
                     "n_unknown": len(said), "n_out_of_domain": len(refused)}
    return out


def training_examples(gllm: GraphLLM, index: EntityIndex, qa, mode: str = "graph"
                      ) -> list[tuple]:
    """(prompt of `mode`, answer, candidate names) per question. The answer is the first
    candidate of the retrieved subgraph that is a gold answer, so training teaches what
    decoding does: pick the right entity among those retrieved (the generated answer
    otherwise, when retrieval missed every gold entity)."""
    out = []
    for q in qa:
        sub = index.retrieve(q.question)
        names = [n for _, n in candidate_names(index.kg, sub)]
        answer = next((n for n in names if is_correct(n, q.gold)), q.answer)
        out.append((gllm.prompt(q.question, sub, mode), answer, names))
    return out


def fit_roles(index: EntityIndex, qa, text_encoder, seed: int = 0) -> RoleDetector:
    """The role detector fitted on the training questions: each question (anchors masked)
    with the role of the first retrieved candidate that is a gold answer (the one training
    teaches the LLM to choose); questions whose retrieval missed every gold answer are left
    out."""
    model, tok = text_encoder
    texts, roles = [], []
    for q in qa:
        sub = index.retrieve(q.question)
        role_of = dict(zip(sub.entities, sub.roles, strict=False))
        gold = next((eid for eid, n in candidate_names(index.kg, sub)
                     if is_correct(n, q.gold)), None)
        if gold is not None and role_of.get(gold):
            texts.append(masked_question(index.kg, q.question, sub))
            roles.append(role_of[gold])
    return fit_role_detector(texts, roles, lambda t: text_vectors(t, model, tok), seed=seed)


def fit_projector(gllm: GraphLLM, index: EntityIndex, source: GraphSource, *, seed: int = 0,
                  quick: bool = False, n_per_kind: int | None = None, progress: bool = True,
                  log: Callable = print) -> tuple[dict, dict]:
    """Train gllm's projector on the generated questions of `seed`: (qa splits, report).
    One pass: with the role detector narrowing the candidates, a second pass left the
    held-out accuracy where it was (product 0.9833 / 0.9867, Brick 0.8667 / 0.8542 with two
    passes against 0.9833 / 0.9867 and 0.8583 / 0.8542 with one; seeds 0 / 1) for half the
    projector's training time (docs/experiments.md)."""
    qa = source.questions(n_per_kind or (40 if quick else None), seed)
    examples = training_examples(gllm, index, qa["train"])
    tcfg = ProjectorTrainConfig(seed=seed)
    return qa, train_projector(gllm, examples, tcfg, progress=progress, log=log)


def build_graph_llm(paths, *, quick: bool = False, force: bool = False, seed: int = 0,
                    progress: bool = True, log: Callable = print, llm=None,
                    n_per_kind: int | None = None, eval_per_kind: int | None = None,
                    source: GraphSource | None = None, text_encoder=None) -> dict:
    """Train the projector and fit the role detector on generated QA; evaluate them
    against the question alone (`BUILD_VARIANTS`); register."""

    source = source or load_source(paths, build=True, log=log)
    registry = Registry(source.registry)
    if (done := registry.built(GRAPH_LLM, quick=quick)) and not force:
        log(f"{GRAPH_LLM}: already built ({done}); --force rebuilds")
        return {}
    t0 = time.perf_counter()
    kg = source.kg
    vectors, info, enc_manifest = load_encoder_vectors(registry, kg)
    model, tok = llm or load_llm(training=True)
    types, type_ids = entity_types(kg)
    torch.manual_seed(seed)
    cfg = ProjectorConfig(in_dim=vectors.shape[1], out_dim=model.config.hidden_size,
                          types=types, roles=role_vocabulary(kg) if source.roles else [])
    gllm = GraphLLM(model, tok, GraphTokenProjector(cfg), kg, vectors, type_ids,
                    source.system_prompt)
    index = source.index(vectors, info["text_dim"])
    qa, report = fit_projector(gllm, index, source, seed=seed, quick=quick,
                               n_per_kind=n_per_kind, progress=progress, log=log)
    detector = fit_roles(index, qa["train"], text_encoder or load_text_encoder(), seed)
    log(f"{GRAPH_LLM}: role detector over {len(detector.roles)} roles")
    kinds = len({q.kind for q in qa["test"]})
    test = qa["test"][: (eval_per_kind or (5 if quick else 40)) * kinds]
    evaluation = evaluate_modes(gllm, index, test, variants=BUILD_VARIANTS,
                                names=source.names(), progress=progress, detector=detector)
    roles_tensors, roles_config = detector.state()

    def write(folder: Path) -> None:
        save_file(gllm.projector.state_dict(), str(folder / "projector.safetensors"))
        save_file(roles_tensors, str(folder / "roles.safetensors"))
        (folder / "config.json").write_text(json.dumps(
            {"projector": asdict(cfg), "system": gllm.system, "role_detector": roles_config,
             "encoder_version": enc_manifest.version,
             "encoder_vectors_sha256": enc_manifest.files["vectors.safetensors"]}),
            encoding="utf-8")

    manifest = registry.register(
        GRAPH_LLM, write, task="graph_answer",
        base_model="SmolLM2-135M-Instruct (frozen) + graph-token projector",
        labels=[], params=gllm.projector.num_params(), parent_version=enc_manifest.version,
        metrics={"test": evaluation, "train": report, "environment": environment(),
                 "seconds": round(time.perf_counter() - t0, 1)},
        data={"ontology": source.name, "qa": {k: len(v) for k, v in qa.items()},
              "evaluated": len(test), "seed": seed, "quick": quick})
    registry.activate(GRAPH_LLM, manifest.version)
    log(f"{GRAPH_LLM}: registered {manifest.version} — answer accuracy "
        + ", ".join(f"{m} {evaluation[m]['accuracy']:.3f} "
                    f"({evaluation[m]['prompt_tokens_mean']:.0f} prompt tokens)"
                    for m in (variant_name(*v) for v in BUILD_VARIANTS)))
    return {"expert": GRAPH_LLM, "version": manifest.version, "test": evaluation}


# ---- asking ----------------------------------------------------------------------------

class Answerer:
    """Everything `tinyexperts ask` needs, loaded once (the server keeps one)."""

    def __init__(self, gllm: GraphLLM, index: EntityIndex, versions: dict,
                 source: GraphSource | None = None, text_encoder=None,
                 detector: RoleDetector | None = None) -> None:
        self.gllm, self.index, self.versions = gllm, index, versions
        self.source = source
        self.text_encoder = text_encoder  # (model, tokenizer), shared with other answerers
        self.detector = detector  # None: an artifact from before role detection

    @classmethod
    def load(cls, paths, llm=None, text_encoder=None, ontology: str | None = None
             ) -> Answerer:
        """The answerer of the product ontology, or of the imported one named `ontology`;
        `llm` and `text_encoder` ((model, tokenizer) pairs) are loaded when not given."""

        source = load_source(paths, ontology)
        registry = Registry(source.registry)
        kg = source.kg
        vectors, info, enc = load_encoder_vectors(registry, kg)
        if not registry.versions(GRAPH_LLM):
            how = "" if not source.imported else f" --ontology FILE.ttl (for {source.name})"
            raise NotFoundError("the graph-token LLM is not built", where=str(registry.root),
                                fix=f"run `tinyexperts build --experts ontology{how}`")
        version = registry.active(GRAPH_LLM)
        registry.verify(GRAPH_LLM, version)
        folder = registry.path(GRAPH_LLM, version)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config["encoder_vectors_sha256"] != enc.files["vectors.safetensors"]:
            raise TinyExpertsError(
                f"graph_llm {version} was trained on other entity vectors than "
                f"ontology_encoder {enc.version}", where=str(folder),
                fix="activate the matching encoder version or rebuild graph_llm")
        projector = GraphTokenProjector(ProjectorConfig(**config["projector"]))
        projector.load_state_dict(load_file(str(folder / "projector.safetensors")))
        projector.eval()
        model, tok = llm or load_llm()
        text_encoder = text_encoder or load_text_encoder()
        enc_model, enc_tok = text_encoder

        def encode_query(text: str) -> torch.Tensor:
            return text_vectors([text], enc_model, enc_tok)[0]

        _, type_ids = entity_types(kg)
        gllm = GraphLLM(model, tok, projector, kg, vectors, type_ids,
                        config.get("system", SYSTEM))  # the prompt it was trained with
        index = source.index(vectors, info["text_dim"], encode_query)
        detector = None
        if "role_detector" in config:
            detector = RoleDetector.from_state(
                load_file(str(folder / "roles.safetensors")), config["role_detector"],
                lambda texts: text_vectors(texts, enc_model, enc_tok))
        return cls(gllm, index, {ENCODER: enc.version, GRAPH_LLM: version}, source,
                   text_encoder, detector)

    def warm_up(self) -> None:
        """One question through every stage, so the first real one is not slower."""
        e = self.index.kg.entities[0]
        self.ask(f"What is {e.name}?")

    def ask(self, question: str, mode: str = "graph", max_new_tokens: int = 24,
            decode: str = "choose") -> dict:
        if not isinstance(question, str) or not question.strip():
            raise TinyExpertsError("the question is empty", where="question",
                                   fix="ask something, e.g. \"What does P0171 mean?\"")
        if len(question) > MAX_QUESTION_CHARS:
            raise TinyExpertsError(f"the question has {len(question)} characters (limit "
                                   f"{MAX_QUESTION_CHARS})", where="question",
                                   fix="shorten it to the part about the ontology")
        if mode not in MODES:
            raise TinyExpertsError(f"unknown mode {mode!r}", where="mode",
                                   fix=f"one of {', '.join(MODES)}")
        if decode not in DECODINGS:
            raise TinyExpertsError(f"unknown decoding {decode!r}", where="decode",
                                   fix=f"one of {', '.join(DECODINGS)}")
        t0 = time.perf_counter()
        sub = self.index.retrieve(question)
        retrieve_ms = (time.perf_counter() - t0) * 1000
        entities = [{"id": e, "name": self.index.kg.entity(e).name,
                     "type": self.index.kg.entity(e).type} for e in sub.entities]
        related = [{"id": lk.entity_id, "name": self.index.kg.entity(lk.entity_id).name,
                    "similarity": round(lk.score, 3)}
                   for lk in (self.index.similar(sub.anchors[0]) if sub.anchors else [])]
        base = {"question": question, "ontology": self.source.name if self.source else None,
                "mode": mode,
                "entities": entities, "related": related,
                "unknown": sub.unknown, "versions": self.versions}
        if not sub.entities:
            what = (f"{', '.join(sub.unknown)} {'is' if len(sub.unknown) == 1 else 'are'} not "
                    "in the ontology" if sub.unknown else
                    f"the question uses {', '.join(sub.off_topic)} but is not about the "
                    "ontology" if sub.off_topic else
                    "nothing in the question matches an entity of the ontology")
            return {**base, "answer": f"Not in the ontology: {what}.", "grounded": False,
                    "decode": None, "answer_entity": None, "candidates": 0,
                    "latency_ms": {"retrieve": round(retrieve_ms, 1), "detect": None,
                                   "prefill": None, "decode": None, "generate": 0.0},
                    "prompt_tokens": 0, "new_tokens": 0, "tokens_per_s": None}
        r = answer_one(self.gllm, question, sub, mode, decode, max_new_tokens,
                       detector=self.detector)
        answer = r["answer"]
        if sub.unknown:
            answer += f" (not in the ontology: {', '.join(sub.unknown)})"
        prefill_ms = r.get("prefill_s", 0.0) * 1000
        return {**base, "answer": answer, "grounded": True, "decode": r["decode"],
                "answer_entity": r.get("entity"), "candidates": r["candidates"],
                "chosen_among": r.get("narrowed_to"),
                "latency_ms": {"retrieve": round(retrieve_ms, 1),
                               "detect": round(r["detect_s"] * 1000, 1)
                               if "detect_s" in r else None,
                               "prefill": round(prefill_ms, 1) if "prefill_s" in r else None,
                               "decode": round(r["decode_s"] * 1000, 1)
                               if "decode_s" in r else None,
                               "generate": round(r["seconds"] * 1000, 1)},
                "prompt_tokens": r["prompt_tokens"], "new_tokens": r["new_tokens"],
                "tokens_per_s": round(r["new_tokens"] / r["seconds"], 1)
                if r["seconds"] and r["new_tokens"] else None}
