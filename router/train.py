"""Build the router: MiniLM teacher -> student of the teacher's layers, distilled at full
width with a head after every layer -> pruned with the toolkit (heads, FFN, vocabulary) ->
distilled again -> calibration -> evaluation -> registry ("router").

The student is made with the specialization toolkit (experts.specialize): layer selection
(`student_from_teacher`), ontology-relevance scores (`unit_scores`, here with the router's
own loss and out-of-domain probe text), head/FFN pruning (`prune_by_scores`) and vocabulary
pruning (`keep_vocab`); save/reload with per-layer sizes is ExpertModel's.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from experts import structure as st
from experts.core.assets import minilm_dir
from experts.data.formats import plain_punctuation
from experts.model import ExpertModel
from experts.specialize.distill import student_from_teacher
from experts.specialize.importance import UnitScores, unit_scores
from experts.specialize.steps import (
    frequent_wordpieces,
    ood_batches,
    prune_by_scores,
    vocabulary_to_keep,
)
from experts.train import (
    adamw_with_warmup,
    fit_on_cached,
    mixed_precision,
    optimizer_step,
    seed_everything,
)
from router.calibrate import calibrate
from router.data import INTENTS, OUTPUTS, Query
from router.model import RouterModel, router_loss

MAX_LENGTH = 64


@dataclass
class RouterTrainConfig:
    teacher_epochs: float = 1.0  # passes over the training queries (1,400 per intent)
    # KD passes of the student at the teacher's width, before it is pruned: pruning a
    # student that has not learnt the task yet (0 here; the router until 2026-12-06) cost
    # 1.6 points of exact match on hand-written queries and 0.55 on validation (mean of two
    # seeds) and the exits were taken later (docs/experiments.md)
    full_width_epochs: float = 1.0
    # KD passes of the pruned student. (In total 3 passes, not 1.5: the early exits were
    # undertrained: test exact match 0.951 -> 0.959, mean exit layer 2.43 -> 2.10.)
    student_epochs: float = 2.0
    layers: tuple[int, ...] = (0, 1, 3, 5)  # four exits: finer early-exit steps than three
    heads: float = 0.6  # share of the kept layers' heads / FFN units pruned
    ffn: float = 0.6
    lr: float = 1e-4
    head_lr: float = 2e-3
    batch_size: int = 32
    quick_steps: int = 40
    common_vocab: int = 2000  # most frequent English wordpieces the student may keep
    # the student's size limit: after the heads and FFN are pruned, the vocabulary keeps
    # every wordpiece of the training text and as many of the commonest English ones as fit
    max_params: int = 5_000_000
    # exit-cost-aware pruning: a unit's relevance is divided by reach ** exit_cost, where
    # reach is the share of validation queries that get to its layer's exit (the full-width
    # student's calibrated exits, one per layer at that point): a unit of the first layer
    # costs every query, one of the last only the queries still there. 0 (the default)
    # ranks units by relevance alone; 0.5 pruned the first layer harder and lost 1.6 points
    # of test and 6 of external exact match (docs/experiments.md, "exit-cost pruning").
    exit_cost: float = 0.0
    # an exit on the mean-pooled embeddings, before any layer (RouterModel.embedding_exit),
    # fitted on the trained student for this many passes over cached features
    embedding_exit: bool = True
    embedding_exit_epochs: int = 40
    # the student's exits in its loss: "depth" weighs exit k (1-based) by k, so the last
    # layer, which sets what the early exits must agree with, gets 4 of 10 shares, not 1 of
    # 4; "uniform" is the mean over exits (the router until 2026-12-07)
    exit_weighting: str = "depth"


def exit_weights(n_exits: int, how: str) -> list[float]:
    """Each exit's share of the student's loss, first exit first; the shares sum to 1."""
    if how not in ("depth", "uniform"):
        raise ValueError(f"exit_weighting {how!r}: choose 'depth' or 'uniform'")
    raw = [float(k + 1) if how == "depth" else 1.0 for k in range(n_exits)]
    return [w / sum(raw) for w in raw]


def encode_queries(tokenizer, queries: list[Query], with_labels: bool = True) -> dict:
    batch = dict(tokenizer([plain_punctuation(q.text) for q in queries], padding=True,
                           truncation=True, max_length=MAX_LENGTH, return_tensors="pt"))
    if with_labels:
        batch["targets"] = torch.tensor([q.target() for q in queries])
        batch["intents"] = torch.tensor([INTENTS.index(q.intent) for q in queries])
    return batch


def inputs_of(batch: dict) -> dict:
    return {k: batch[k] for k in ("input_ids", "attention_mask")}


def _train(model: RouterModel, tokenizer, rows: list[Query], cfg: RouterTrainConfig, *,
           epochs: float, quick: bool, all_exits: bool, soft: dict[str, torch.Tensor] | None,
           seed: int, progress: bool, desc: str) -> dict:
    """`soft`: distil from these teacher logits per query text (`teacher_logits`, computed
    once, up front: the 6-layer teacher's forward was more than half of each 4-layer
    student step); None trains on the labels alone."""
    seed_everything(seed)
    rng = random.Random(seed)
    steps_per_epoch = (len(rows) + cfg.batch_size - 1) // cfg.batch_size
    total = min(cfg.quick_steps, steps_per_epoch) if quick else round(steps_per_epoch * epochs)
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    heads = [p for h in model.heads() for p in h.parameters()]
    head_ids = {id(p) for p in heads}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    opt, sched = adamw_with_warmup([{"params": body, "lr": cfg.lr},
                                    {"params": heads, "lr": cfg.head_lr}], total)
    t0, step, losses = time.perf_counter(), 0, []
    bar = tqdm(total=total, desc=desc, disable=not progress, unit="step")
    model.train()
    while step < total:
        order = list(rows)
        rng.shuffle(order)
        for i in range(0, len(order), cfg.batch_size):
            if step >= total:
                break
            chunk = order[i: i + cfg.batch_size]
            batch = encode_queries(tokenizer, chunk)
            t_logits = None if soft is None else torch.stack([soft[q.text] for q in chunk])
            with mixed_precision():
                outs = model.all_exits(**inputs_of(batch))
            outs = [o.float() for o in (outs if all_exits else outs[-1:])]
            weights = exit_weights(len(outs), cfg.exit_weighting)
            loss = sum(w * router_loss(o, batch["targets"], batch["intents"], t_logits)
                       for w, o in zip(weights, outs, strict=True))
            losses.append(optimizer_step(loss, opt, sched, body + heads))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    bar.close()
    model.eval()
    return {"seconds": round(time.perf_counter() - t0, 1), "steps": step,
            "final_loss": float(np.mean(losses[-20:]))}


def teacher_logits(teacher: RouterModel, tokenizer, rows: list[Query]
                   ) -> dict[str, torch.Tensor]:
    """The teacher's (last-layer) logits for each query text, in batches of 128."""
    unique = list({q.text: q for q in rows}.values())
    last = exit_logits(teacher, tokenizer, unique)[-1]
    return {q.text: row.clone() for q, row in zip(unique, last, strict=True)}


@torch.inference_mode()
def exit_logits(model: RouterModel, tokenizer, rows: list[Query], batch_size: int = 128
                ) -> list[torch.Tensor]:
    model.eval()
    chunks = [model.all_exits(**inputs_of(encode_queries(tokenizer, rows[i: i + batch_size],
                                                         with_labels=False)))
              for i in range(0, len(rows), batch_size)]
    return [torch.cat([c[k] for c in chunks]) for k in range(len(chunks[0]))]


def targets_of(rows: list[Query]) -> torch.Tensor:
    return torch.tensor([q.target() for q in rows])


def layer_student(teacher: RouterModel, cfg: RouterTrainConfig) -> RouterModel:
    """A copy of the teacher's `cfg.layers`, with a fresh exit head after every layer."""
    student = student_from_teacher(teacher, list(cfg.layers))
    student.reset_exits()
    return student


def prune_student(student: RouterModel, tokenizer, data: dict[str, list[Query]],
                  cfg: RouterTrainConfig, domain_text: list[str], seed: int) -> dict:
    """In place: prune heads/FFN by ontology relevance (the router's own loss against
    out-of-domain probes), then the vocabulary down to `cfg.max_params`."""
    rows = list(data["train"])
    random.Random(seed).shuffle(rows)
    batches = [encode_queries(tokenizer, rows[i: i + 32])  # up to 12 batches of 32
               for i in range(0, min(len(rows), 32 * 12), 32)]

    def loss_fn(model, batch):
        return router_loss(model(**inputs_of(batch)), batch["targets"], batch["intents"])

    scores = unit_scores(student, batches, ood_batches(tokenizer, "stdlib-docs", 8, seed),
                         loss_fn=loss_fn)
    reach = None
    if cfg.exit_cost:
        val = data["validation"]
        reach = calibrate(exit_logits(student, tokenizer, val), targets_of(val))["reach"]
        scores = per_expected_cost(scores, reach, cfg.exit_cost)
    details = prune_by_scores(student, scores, heads=cfg.heads, ffn=cfg.ffn, drop_layers=0)
    details["reach_before_pruning"] = reach
    texts = [q.text for s in ("train", "validation") for q in data[s]] + domain_text
    emb = student.encoder.embeddings.word_embeddings
    # the embedding exit, fitted later, counts against the same budget
    later = (emb.embedding_dim + 1) * student.head_config.num_labels if cfg.embedding_exit else 0
    rows_allowed = ((cfg.max_params - student.num_params() - later) // emb.embedding_dim
                    + emb.num_embeddings)
    # the data's pieces first, its commonest where they alone would pass the budget
    keep = vocabulary_to_keep(tokenizer, texts, limit=rows_allowed)
    for piece in sorted(frequent_wordpieces(tokenizer, cfg.common_vocab)):  # commonest first
        if len(keep) >= rows_allowed:
            break
        keep.add(piece)
    st.keep_vocab(student, sorted(keep), tokenizer.unk_token_id)
    details["structure"] = st.structure(student)
    details["vocab"] = student.encoder.embeddings.word_embeddings.num_embeddings
    return details


def per_expected_cost(scores: UnitScores, reach: list[float], power: float) -> UnitScores:
    """Each layer's unit scores divided by reach[layer] ** power: relevance per expected
    cost, when a layer's units cost in proportion to the share of queries that run it."""
    w = torch.tensor(reach, dtype=torch.float32).clamp(min=1e-3) ** power
    return dataclasses.replace(scores, heads=scores.heads / w[:, None],
                               ffn=[f / wk for f, wk in zip(scores.ffn, w, strict=True)])


def train_router(data: dict[str, list[Query]], tokenizer, *, quick: bool = False,
                 seed: int = 0, progress: bool = True, domain_text: list[str] | None = None,
                 encoder_config=None, cfg: RouterTrainConfig | None = None,
                 log: Callable = print) -> tuple[RouterModel, dict, dict]:
    """Returns (student, calibration, training report)."""
    cfg = cfg or RouterTrainConfig()
    seed_everything(seed)
    head = RouterModel.head_config(MAX_LENGTH)
    if encoder_config is not None:
        teacher = RouterModel(encoder_config, head)
    else:
        teacher = RouterModel.from_expert(ExpertModel.from_encoder(minilm_dir(), head))
    layers = [i for i in cfg.layers if i < len(teacher.encoder.encoder.layer)]
    cfg.layers = tuple(layers) if len(layers) >= 2 else tuple(range(
        len(teacher.encoder.encoder.layer)))
    report: dict = {"teacher_params": teacher.num_params()}
    if quick:
        student, report["student_train"] = quick_router(teacher, tokenizer, data["train"],
                                                        cfg, seed=seed, progress=progress)
        report["student_params"] = student.num_params()
        return student, _calibrate(student, tokenizer, data["validation"], log), report
    report["teacher_train"] = _train(teacher, tokenizer, data["train"], cfg,
                                     epochs=cfg.teacher_epochs, quick=quick, all_exits=False,
                                     soft=None, seed=seed, progress=progress,
                                     desc="router teacher")
    soft = teacher_logits(teacher, tokenizer, data["train"])
    student = layer_student(teacher, cfg)
    if cfg.full_width_epochs > 0:
        report["student_full_width_train"] = _train(
            student, tokenizer, data["train"], cfg, epochs=cfg.full_width_epochs, quick=quick,
            all_exits=True, soft=soft, seed=seed, progress=progress,
            desc="router student (KD, full width)")
    report["student_structure"] = prune_student(student, tokenizer, data, cfg,
                                                domain_text or [], seed)
    report["student_train"] = _train(student, tokenizer, data["train"], cfg,
                                     epochs=cfg.student_epochs, quick=quick, all_exits=True,
                                     soft=soft, seed=seed, progress=progress,
                                     desc="router student (KD, pruned)")
    if cfg.embedding_exit:
        report["embedding_exit"] = fit_embedding_exit(student, tokenizer, data["train"], cfg,
                                                      seed=seed, progress=progress)
    report["student_params"] = student.num_params()
    return student, _calibrate(student, tokenizer, data["validation"], log), report


def fit_embedding_exit(student: RouterModel, tokenizer, rows: list[Query],
                       cfg: RouterTrainConfig, *, seed: int, progress: bool) -> dict:
    """Add the embedding exit to a trained student and fit it alone: the mean-pooled token
    embeddings -> the labels and the student's own last-layer logits (what the exit must
    agree with to be taken), on features computed once. The encoder and the other heads
    do not change."""
    t0 = time.perf_counter()
    student.eval()
    cached = []
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            batch = encode_queries(tokenizer, rows[i: i + 64])
            x = inputs_of(batch)
            cached.append(((student.pooled_embeddings(**x), student(**x)), batch))
    head = student.add_embedding_exit()

    def loss_of(feats: tuple[torch.Tensor, torch.Tensor], batch: dict) -> torch.Tensor:
        pooled, last = feats
        return router_loss(head(student.dropout(pooled)), batch["targets"], batch["intents"],
                           last)

    losses = fit_on_cached(list(head.parameters()), cached, loss_of, dropout=student.dropout,
                           epochs=cfg.embedding_exit_epochs, lr=1e-2, seed=seed,
                           desc="router embedding exit", progress=progress)
    student.eval()
    return {"seconds": round(time.perf_counter() - t0, 1), "steps": len(losses),
            "final_loss": float(np.mean(losses[-20:])) if losses else None}


def _calibrate(student: RouterModel, tokenizer, val: list[Query], log: Callable) -> dict:
    calib = calibrate(exit_logits(student, tokenizer, val), targets_of(val))
    log(f"router: {student.num_params():,} params, validation full-depth exact match "
        f"{calib['validation_full_depth_accuracy']:.4f}, thresholds "
        f"{[round(t, 3) for t in calib['thresholds']]}")
    return calib


def quick_router(base: RouterModel, tokenizer, rows: list[Query], cfg: RouterTrainConfig, *,
                 seed: int, progress: bool, n_rows: int = 2400, epochs: int = 40,
                 lr: float = 1e-2) -> tuple[RouterModel, dict]:
    """The quick stage's router: `cfg.layers` of the untrained base, frozen, with only the
    exit heads trained on the pooled layer outputs, computed once for `n_rows` queries.
    Not pruned (the full build's router is): seconds instead of minutes, a weaker router
    that serves until the full one replaces it."""
    seed_everything(seed)
    t0 = time.perf_counter()
    student = student_from_teacher(base, list(cfg.layers))
    student.reset_exits()
    student.eval()
    sample = random.Random(seed).sample(list(rows), min(n_rows, len(rows)))
    cached = []
    with torch.no_grad():
        for i in range(0, len(sample), 64):
            batch = encode_queries(tokenizer, sample[i: i + 64])
            cached.append((student.exit_features(**inputs_of(batch)), batch))
    heads = [p for h in student.heads() for p in h.parameters()]

    def loss_of(feats: list[torch.Tensor], batch: dict) -> torch.Tensor:
        return sum(router_loss(head(student.dropout(f)), batch["targets"], batch["intents"])
                   for f, head in zip(feats, student.heads(), strict=True)) / len(feats)

    losses = fit_on_cached(heads, cached, loss_of, dropout=student.dropout, epochs=epochs,
                           lr=lr, seed=seed, desc="router heads (frozen encoder)",
                           progress=progress)
    student.eval()
    return student, {"seconds": round(time.perf_counter() - t0, 1), "steps": len(losses),
                     "final_loss": float(np.mean(losses[-20:])) if losses else None,
                     "frozen_encoder": True,
                     "rows": len(sample)}


def save_router(model: RouterModel, calib: dict, tokenizer, folder: Path) -> None:
    model.save(folder)
    tokenizer.save_pretrained(str(folder))
    (folder / "calibration.json").write_text(json.dumps(calib, indent=1), encoding="utf-8")
    (folder / "labels.json").write_text(json.dumps({"outputs": list(OUTPUTS),
                                                    "intents": list(INTENTS)}),
                                        encoding="utf-8")
