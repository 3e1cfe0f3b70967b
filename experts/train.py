"""Fine-tune an expert: AdamW, warm-up + linear decay, early stopping on validation.

Word embeddings stay frozen (a third of MiniLM's weights, and the domain uses few of them):
it halves the step time on CPU and the vocabulary is pruned later anyway.

Training steps run their forward pass in bfloat16 (autocast; weights, gradients, optimizer
state and the loss stay float32) where the CPU computes bf16 natively: about 1.55x faster
steps for MiniLM on this project's 2-core CPU (docs/experiments.md).
TINYEXPERTS_TRAIN_DTYPE=float32 turns it off.

`fit_head` is the quick alternative: the encoder frozen, its outputs computed once, only the
task head trained on them (the staged start's first experts).
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from experts.core.environment import native_bf16
from experts.core.errors import TinyExpertsError
from experts.data.formats import Example, example_length
from experts.encoding import IGNORE, encode, model_inputs
from experts.evaluate import quality
from experts.model import ExpertModel
from experts.predictor import Predictor
from experts.specs import ExpertSpec


def train_dtype() -> torch.dtype:
    """The dtype of training forward passes: TINYEXPERTS_TRAIN_DTYPE (float32 | bfloat16),
    by default bfloat16 where the CPU computes it natively, else float32."""
    name = os.environ.get("TINYEXPERTS_TRAIN_DTYPE", "auto")
    if name == "auto":
        return torch.bfloat16 if native_bf16() else torch.float32
    if name not in ("float32", "bfloat16"):
        raise TinyExpertsError(f"unknown training dtype {name!r}", where="TINYEXPERTS_TRAIN_DTYPE",
                               fix="set it to float32, bfloat16 or auto (the default)")
    return getattr(torch, name)


def mixed_precision():
    """Context for a training step's forward pass: autocast to `train_dtype()` (a no-op
    when that is float32). Backward and the optimizer step run outside it."""
    dtype = train_dtype()
    return torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def quick_subset(train: list[Example], spec: ExpertSpec, seed: int) -> list[Example]:
    """The seeded sample `--quick` trains on (teacher and baseline alike)."""
    if len(train) <= spec.train.quick_max_train:
        return list(train)
    return random.Random(seed).sample(list(train), spec.train.quick_max_train)


def length_bucketed(examples: list[Example], batch_size: int, rng: random.Random,
                    pool: int = 8) -> list[list[Example]]:
    """Shuffled batches of similar length: less padding, same examples per epoch.

    Shuffle, sort each pool of `pool` batches by text length, cut into batches, shuffle the
    batches. On CPU this saves ~30 % of step time on the pair expert (median 56 tokens,
    max 104).
    """
    order = list(examples)
    rng.shuffle(order)
    span = batch_size * pool
    batches = []
    for i in range(0, len(order), span):
        group = sorted(order[i : i + span], key=example_length)
        batches.extend(group[j : j + batch_size] for j in range(0, len(group), batch_size))
    rng.shuffle(batches)
    return batches


@dataclass
class TrainResult:
    model: ExpertModel
    history: list[dict]
    best_metric: float
    seconds: float
    steps: int


LossFn = Callable[[torch.Tensor, dict], torch.Tensor]  # (logits, encoded batch) -> loss


def cross_entropy(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                           ignore_index=IGNORE)


def adamw_with_warmup(groups: list[dict], total: int):
    """AdamW over parameter groups; linear warm-up over 10 % of `total` steps, then decay."""
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    warmup = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    return opt, sched


def optimizer_step(loss: torch.Tensor, opt, sched, params: list) -> float:
    """Backward, clip the gradient norm to 1, step; returns the loss value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()
    return loss.item()


def fine_tune(predictor: Predictor, spec: ExpertSpec, train: list[Example],
              validation: list[Example], *, quick: bool = False, seed: int = 0,
              progress: bool = True, loss_fn: LossFn = cross_entropy,
              epochs: int | None = None, lr: float | None = None,
              desc: str = "train", steps: int | None = None) -> TrainResult:
    """Train `predictor.model` in place; keeps the best validation state.

    Parameters with `requires_grad=False` stay as they are (frozen modules); word
    embeddings are always frozen. `loss_fn` replaces the cross-entropy (distillation).
    `steps` fixes the budget in optimizer steps instead of epochs (as many epochs as that
    takes, the last one cut short; validation and early stopping still run per epoch).
    """
    cfg = spec.train
    seed_everything(seed)
    model = predictor.model
    rng = random.Random(seed)
    train = quick_subset(train, spec, seed) if quick else list(train)
    epochs = 1 if quick else (epochs or cfg.epochs)
    steps_per_epoch = (len(train) + cfg.batch_size - 1) // cfg.batch_size
    total = min(cfg.quick_max_steps, steps_per_epoch) if quick else steps_per_epoch * epochs
    if steps is not None:
        total = steps
        epochs = -(-steps // steps_per_epoch)
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    head = [p for p in model.classifier.parameters() if p.requires_grad]
    body = [p for n, p in model.named_parameters()
            if p.requires_grad and not n.startswith("classifier.")]
    groups = [g for g in ({"params": body, "lr": lr or cfg.lr},
                          {"params": head, "lr": cfg.head_lr}) if g["params"]]
    opt, sched = adamw_with_warmup(groups, total)
    params = [p for g in groups for p in g["params"]]
    label_to_id = {lab: i for i, lab in enumerate(predictor.labels)}
    history: list[dict] = []
    best_metric, best_state, bad_epochs, step = -1.0, None, 0, 0
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc=f"{desc} {spec.name}", disable=not progress, unit="step")
    for epoch in range(epochs):
        model.train()
        losses = []
        for chunk in length_bucketed(train, cfg.batch_size, rng):
            if step >= total:
                break
            batch = encode(predictor.tokenizer, spec.kind, chunk, spec.max_length, label_to_id,
                           model.head_config.text_form)
            with mixed_precision():
                logits = model(**model_inputs(batch))
            loss = loss_fn(logits.float(), batch)
            losses.append(optimizer_step(loss, opt, sched, params))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        metric = quality(predictor, validation)[spec.main_metric]
        history.append({"epoch": epoch + 1, "steps": step, "train_loss": float(np.mean(losses)),
                        f"val_{spec.main_metric}": metric})
        if metric > best_metric:
            best_metric, best_state, bad_epochs = metric, copy.deepcopy(model.state_dict()), 0
        else:
            bad_epochs += 1
            if bad_epochs > cfg.patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, history, best_metric, time.perf_counter() - t0, step)


@torch.no_grad()  # not inference mode: the head's backward reads these tensors
def frozen_features(predictor: Predictor, spec: ExpertSpec, examples: list[Example],
                    batch_size: int = 64) -> list[tuple[torch.Tensor, dict]]:
    """(head input, encoded batch) per batch of `examples`, from the encoder as it is."""
    model = predictor.model
    model.eval()
    label_to_id = {lab: i for i, lab in enumerate(predictor.labels)}
    out = []
    for chunk in length_bucketed(examples, batch_size, random.Random(0)):
        batch = encode(predictor.tokenizer, spec.kind, chunk, spec.max_length, label_to_id,
                       model.head_config.text_form)
        out.append((model.embed(**model_inputs(batch)), batch))
    return out


def fit_head(predictor: Predictor, spec: ExpertSpec, train: list[Example], *, seed: int = 0,
             epochs: int = 40, lr: float = 1e-2, progress: bool = True,
             desc: str = "head") -> TrainResult:
    """The quick way to a working expert: the encoder stays as it is (frozen), its outputs
    for `train` are computed once, and only the task head is trained on them, for many
    cheap epochs. On 2 cores this gives a servable expert in seconds where fine-tuning the
    encoder for the same wall time takes ~40 steps (see docs/experiments.md)."""
    seed_everything(seed)
    model = predictor.model
    t0 = time.perf_counter()
    if epochs == 0:  # the head as initialised (e.g. label-description prototypes)
        model.eval()
        return TrainResult(model, [], float("nan"), 0.0, 0)
    cached = frozen_features(predictor, spec, train)
    head = model.classifier
    losses = fit_on_cached(list(head.parameters()), cached,
                           lambda feats, batch: cross_entropy(head(model.dropout(feats)), batch),
                           dropout=model.dropout, epochs=epochs, lr=lr, seed=seed,
                           desc=f"{desc} {spec.name}", progress=progress)
    model.eval()
    history = [{"epoch": epochs, "steps": len(losses), "train_loss": float(np.mean(losses[-20:])),
                "frozen_encoder": True}]
    return TrainResult(model, history, float("nan"), time.perf_counter() - t0, len(losses))


def fit_on_cached(params: list, cached: list[tuple], loss_of: Callable, *,
                  dropout: torch.nn.Module, epochs: int, lr: float, seed: int, desc: str,
                  progress: bool) -> list[float]:
    """Train `params` for `epochs` passes over precomputed (features, batch) pairs, in a
    seeded order, `dropout` active; `loss_of(features, batch)` -> loss. The losses."""
    opt, sched = adamw_with_warmup([{"params": params, "lr": lr}], epochs * len(cached))
    rng = random.Random(seed)
    losses: list[float] = []
    for _ in tqdm(range(epochs), desc=desc, disable=not progress, unit="epoch"):
        dropout.train()
        for i in rng.sample(range(len(cached)), len(cached)):
            losses.append(optimizer_step(loss_of(*cached[i]), opt, sched, params))
    dropout.eval()
    return losses
