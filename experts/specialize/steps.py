"""The specialization steps, registered by name in STEPS. Each is a small function

    step(model, cfg, ctx) -> (new model, report details)

that never changes its input model (it works on a copy) and leaves evaluation to the
pipeline, which measures every step the same way.
"""

from __future__ import annotations

import collections
import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from experts import structure as st
from experts.artifact import save_quantized
from experts.data.datasets import ExpertData
from experts.data.formats import TextExample
from experts.encoding import TEXT_FORMS, encode
from experts.evaluate import critical_of
from experts.model import ExpertModel
from experts.predictor import Predictor
from experts.specialize.distill import (
    TeacherLogits,
    critical_ids,
    kd_loss,
    student_from_teacher,
)
from experts.specialize.importance import magnitude_scores, unit_scores
from experts.specialize.probes import probe_texts
from experts.specialize.recipe import Distill, Freeze, Prune, Quantize
from experts.specs import ExpertSpec
from experts.train import fine_tune


@dataclass
class StepContext:
    spec: ExpertSpec
    tokenizer: object
    labels: list[str]
    teacher: ExpertModel  # the version specialized from (fp32), teacher for every KD
    data: ExpertData
    workdir: Path
    extra_domain_text: list[str] = field(default_factory=list)  # ontology names, descriptions
    quick: bool = False
    seed: int = 0
    progress: bool = True
    critical: tuple[str, ...] | None = None  # the teacher's critical types (manifest)
    # the teacher's logits per training row, shared by every KD step of the recipe
    teacher_logits: TeacherLogits | None = None
    steps: int | None = None  # a fixed budget of optimizer steps per training step (ablation)

    def __post_init__(self) -> None:
        if self.teacher_logits is None:
            self.teacher_logits = TeacherLogits(self.teacher)

    def predictor(self, model) -> Predictor:
        return Predictor(self.spec.name, model, self.tokenizer, self.labels,
                         critical=self.critical)

    def kd(self, cfg) -> Callable:
        return kd_loss(self.teacher, alpha=cfg.alpha, temperature=cfg.temperature,
                       beta=cfg.beta, mode=cfg.critical_mode, cache=self.teacher_logits,
                       critical=critical_ids(self.labels, critical_of(self.predictor(
                           self.teacher))))

    def train(self, model, cfg, desc: str, extra: Callable | None = None) -> dict:
        """Distil `model` from the teacher with `cfg`'s settings (+ `extra`(logits, batch))."""
        kd = self.kd(cfg)
        loss = kd if extra is None else (lambda logits, batch: kd(logits, batch)
                                         + extra(logits, batch))
        res = fine_tune(self.predictor(model), self.spec, self.data.splits["train"],
                        self.data.splits["validation"], quick=self.quick, seed=self.seed,
                        progress=self.progress, loss_fn=loss, epochs=cfg.epochs,
                        lr=cfg.lr, desc=desc, steps=self.steps)
        return {"train_seconds": round(res.seconds, 1), "train_steps": res.steps,
                "history": res.history}

    def labelled_batches(self, n: int, batch_size: int = 32) -> list[dict]:
        rows = list(self.data.splits["train"])
        random.Random(self.seed).shuffle(rows)
        label_to_id = {lab: i for i, lab in enumerate(self.labels)}
        return [encode(self.tokenizer, self.spec.kind, rows[i : i + batch_size],
                       self.spec.max_length, label_to_id, self.teacher.head_config.text_form)
                for i in range(0, min(len(rows), n * batch_size), batch_size)]

    def domain_token_ids(self) -> set[int]:
        """Token ids to keep: the domain corpus (train + validation text, ontology text)."""
        texts = list(self.extra_domain_text)
        form = TEXT_FORMS[self.teacher.head_config.text_form]  # the words the model reads
        for split in ("train", "validation"):
            for ex in self.data.splits[split]:
                if hasattr(ex, "tokens"):
                    texts.append(" ".join(ex.tokens))
                elif hasattr(ex, "a"):
                    texts.extend([form(ex.a), form(ex.b)])
                else:
                    texts.append(form(ex.text))
        return vocabulary_to_keep(self.tokenizer, texts)


def vocabulary_to_keep(tokenizer, texts: list[str], limit: int | None = None) -> set[int]:
    """Special tokens, every single ASCII character (alone and as a "##" continuation), and
    every token the texts use; with `limit`, at most that many ids: the texts' tokens used
    most often first (special tokens and characters are kept even past it).

    Characters are never domain knowledge: without them an unseen part number or a bracket
    in a new listing template becomes [UNK] (this cost the attributes expert 2 points of
    test F1 before the rule).
    """
    ids: set[int] = set(tokenizer.all_special_ids)
    vocab = tokenizer.get_vocab()
    for c in map(chr, range(33, 127)):
        for piece in (c, f"##{c}"):
            if piece in vocab:
                ids.add(vocab[piece])
    used: collections.Counter[int] = collections.Counter()
    for i in range(0, len(texts), 1024):
        for row in tokenizer(texts[i : i + 1024], add_special_tokens=False)["input_ids"]:
            used.update(row)
    for piece, _ in used.most_common():
        if limit is not None and len(ids) >= limit:
            break
        ids.add(piece)
    return ids


def frequent_wordpieces(tokenizer, n: int) -> set[int]:
    """The n most frequent multi-character wordpieces of a BERT-style vocabulary.

    BERT's vocab.txt lists, after the special, unused and single-character entries, its
    wordpieces in frequency order ("the", "of", "and", ...), so the first n of them are the
    commonest English. A student whose input is open-ended text (the router) keeps them, so
    a phrasing it never saw in training is not read as a row of [UNK].
    """
    special = set(tokenizer.all_special_ids)
    pieces = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    out: set[int] = set()
    for piece, i in pieces:
        if len(out) >= n:
            break
        if i in special or piece.startswith("[") or len(piece.removeprefix("##")) < 2:
            continue
        out.add(i)
    return out


def distill(model: ExpertModel, cfg: Distill, ctx: StepContext):
    student = student_from_teacher(model, cfg.layers)
    details = {"layers": cfg.layers, "alpha": cfg.alpha, "temperature": cfg.temperature,
               "beta": cfg.beta, "critical_mode": cfg.critical_mode}
    details.update(ctx.train(student, cfg, "distill"))
    return student, details


def _lowest(scores: list[tuple[float, int, int]], n: int, per_layer_total: dict[int, int],
            min_keep: int) -> dict[int, set[int]]:
    """The n lowest-scored (layer, unit) pairs, never leaving a layer under min_keep."""
    removed: dict[int, set[int]] = {}
    for _score, layer, unit in sorted(scores):
        if n <= 0:
            break
        if per_layer_total[layer] - len(removed.get(layer, ())) <= min_keep:
            continue
        removed.setdefault(layer, set()).add(unit)
        n -= 1
    return removed


def prune_by_scores(model, scores, *, heads: float, ffn: float, drop_layers: int) -> dict:
    """Remove the lowest-scored layers, heads and FFN neurons in place; returns what went."""
    details: dict = {}
    n_layers = len(st.layers(model))
    keep = list(range(n_layers))
    if drop_layers:
        keep = sorted(scores.layers.argsort(descending=True)[: n_layers - drop_layers].tolist())
        details["dropped_layers"] = sorted(set(range(n_layers)) - set(keep))
        st.keep_layers(model, keep)
    heads_n = st.heads_per_layer(model)
    if heads:
        flat = [(float(scores.heads[old, h]), new, h)
                for new, old in enumerate(keep) for h in range(heads_n[new])]
        gone = _lowest(flat, round(heads * len(flat)), dict(enumerate(heads_n)), 1)
        for layer, units in gone.items():
            st.keep_heads(model, layer, [h for h in range(heads_n[layer]) if h not in units])
    ffn_n = st.ffn_per_layer(model)
    if ffn:
        flat = [(float(scores.ffn[old][j]), new, j)
                for new, old in enumerate(keep) for j in range(ffn_n[new])]
        gone = _lowest(flat, round(ffn * len(flat)), dict(enumerate(ffn_n)), 16)
        for layer, units in gone.items():
            st.keep_neurons(model, layer, [j for j in range(ffn_n[layer]) if j not in units])
    details["kept_layers"] = keep
    return details


def ood_batches(tokenizer, source: str, n_batches: int, seed: int) -> list[dict]:
    texts = probe_texts(source, n=32 * n_batches, seed=seed)
    return [encode(tokenizer, "classify", [TextExample(t, "") for t in chunk], 64)
            for chunk in _chunks(texts, 32)]


def prune(model: ExpertModel, cfg: Prune, ctx: StepContext):
    model = copy.deepcopy(model)
    details: dict = {"criterion": cfg.criterion, "before": st.structure(model)}
    if cfg.heads or cfg.ffn or cfg.drop_layers:
        if cfg.criterion == "magnitude":
            scores = magnitude_scores(model)
        else:
            scores = unit_scores(model, ctx.labelled_batches(cfg.batches),
                                 ood_batches(ctx.tokenizer, cfg.probes, cfg.batches, ctx.seed),
                                 cfg.weights)
        details["signals"] = scores.signals
        details.update(prune_by_scores(model, scores, heads=cfg.heads, ffn=cfg.ffn,
                                       drop_layers=cfg.drop_layers))
    if cfg.vocab:
        before = model.encoder.embeddings.word_embeddings.num_embeddings
        st.keep_vocab(model, sorted(ctx.domain_token_ids()), ctx.tokenizer.unk_token_id)
        details["vocab"] = {"before": before,
                            "after": model.encoder.embeddings.word_embeddings.num_embeddings}
    details["after"] = st.structure(model)
    return model, details


def freeze(model: ExpertModel, cfg: Freeze, ctx: StepContext):
    model = copy.deepcopy(model)
    frozen: list[str] = []
    if cfg.embeddings:
        frozen.append("encoder.embeddings")
    if cfg.layers:
        scores = unit_scores(model, ctx.labelled_batches(8), [], (1.0, 0.0, 0.0))
        least = scores.layers.argsort()[: cfg.layers].tolist()
        frozen += [f"encoder.encoder.layer.{i}" for i in sorted(least)]
    for name, p in model.named_parameters():
        p.requires_grad_(not any(name.startswith(f + ".") for f in frozen))
    model.frozen = frozen
    n_frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    details = {"frozen": frozen, "frozen_params": n_frozen,
               "trainable_params": model.num_params() - n_frozen}
    if cfg.epochs:
        details.update(ctx.train(model, cfg, "recover"))
    for p in model.parameters():
        p.requires_grad_(True)
    return model, details


def quantize(model: ExpertModel, cfg: Quantize, ctx: StepContext):
    folder = ctx.workdir / f"quantized-{cfg.backend}"
    return save_quantized(model, cfg.backend, folder, cfg.embeddings), {
        "backend": cfg.backend, "embeddings": cfg.embeddings, "files": str(folder)}


STEPS: dict[str, Callable] = {"distill": distill, "prune": prune, "freeze": freeze,
                              "quantize": quantize}


def _chunks(items: list, size: int):
    return [items[i : i + size] for i in range(0, len(items), size)]

