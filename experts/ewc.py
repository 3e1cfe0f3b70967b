"""Elastic weight consolidation: a diagonal Fisher estimate of what the parent model
needed, and the quadratic penalty `λ/2 Σ F (θ - θ*)²` that keeps adaptation near it."""

from __future__ import annotations

import random

import torch
from tqdm.auto import tqdm

from experts.data.formats import Example
from experts.encoding import encode, model_inputs
from experts.model import canonical
from experts.predictor import Predictor
from experts.train import cross_entropy


def ewc_penalty(params: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor],
                fisher: dict[str, torch.Tensor], lam: float) -> torch.Tensor:
    """λ/2 · Σ_k F_k (θ_k - θ*_k)² over the parameters that have a Fisher estimate."""
    total = torch.zeros(())
    for name, f in fisher.items():
        total = total + (f * (params[name] - anchor[name]).pow(2)).sum()
    return 0.5 * lam * total


def fisher_diagonal(predictor: Predictor, examples: list[Example], samples: int, seed: int,
                    progress: bool = False) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the log-likelihood, one example at a time, normalised to
    mean 1 over all entries. Word embeddings are left out (never trained)."""

    model = predictor.model
    rows = random.Random(seed).sample(list(examples), min(samples, len(examples)))
    names = {n: p for n, p in model.named_parameters()
             if "word_embeddings" not in n and n != "prompt"}
    for p in names.values():
        p.requires_grad_(True)
    acc = {n: torch.zeros_like(p) for n, p in names.items()}
    label_to_id = {lab: i for i, lab in enumerate(predictor.labels)}
    model.eval()  # no dropout: the gradient of the model as it is
    for ex in tqdm(rows, desc="fisher", disable=not progress, unit="ex"):
        batch = encode(predictor.tokenizer, predictor.kind, [ex], model.head_config.max_length,
                       label_to_id, model.head_config.text_form)
        model.zero_grad(set_to_none=True)
        cross_entropy(model(**model_inputs(batch)), batch).backward()
        for n, p in names.items():
            if p.grad is not None:
                acc[n] += p.grad.detach() ** 2
    model.zero_grad(set_to_none=True)
    mean = torch.cat([a.flatten() for a in acc.values()]).mean().clamp(min=1e-30)
    return {canonical(n): a / mean for n, a in acc.items()}


class EWC:
    """`λ/2 Σ F (θ − θ*)²` over the current model's weights; LoRA-wrapped Linears count
    with their effective weight `W + B·A`."""

    def __init__(self, fisher: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor],
                 lam: float) -> None:
        self.lam = lam
        keep = {n for n, f in fisher.items() if n in anchor and anchor[n].shape == f.shape}
        self.fisher = {n: fisher[n].float() for n in keep}
        self.anchor = {n: anchor[n].detach().clone().float() for n in keep}

    def penalty(self, model) -> torch.Tensor:
        from peft.tuners.lora import LoraLayer  # LoRA only; peft is slow to import

        current: dict[str, torch.Tensor] = {}
        for name, p in model.named_parameters():
            key = canonical(name)
            if p.requires_grad and key in self.fisher:
                current[key] = p
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer) and "default" in module.lora_A:
                key = canonical(name) + ".weight"
                if key in self.fisher:
                    current[key] = self.anchor[key] + module.get_delta_weight("default")
        fisher = {k: self.fisher[k] for k in current}
        return ewc_penalty(current, self.anchor, fisher, self.lam)
