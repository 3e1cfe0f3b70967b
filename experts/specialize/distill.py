"""Knowledge distillation, vanilla and constrained by critical classes (SEEDS.md §4).

    loss = alpha·CE(labels) + (1 − alpha)·KL(student_T ‖ teacher_T)·T²  [+ beta·critical]

critical term, on the tokens (tagging) or examples (classifiers) whose gold label is a
critical class:
    "logits":       logit matching with the teacher (MSE) only there;
    "weighted_ce":  cross-entropy only there — together with the CE above, errors on
                    critical classes cost (alpha + beta) instead of alpha.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from experts.encoding import IGNORE, model_inputs
from experts.model import ExpertModel
from experts.structure import keep_layers


def student_from_teacher(teacher: ExpertModel, keep: list[int] | None) -> ExpertModel:
    """A copy of the teacher with only the encoder layers `keep` (all when None)."""
    student = copy.deepcopy(teacher)
    if keep is not None:
        n = len(student.encoder.encoder.layer)
        bad = [i for i in keep if not 0 <= i < n]
        if bad:
            raise ValueError(f"layers {bad} do not exist: the model has layers 0..{n - 1}")
        keep_layers(student, keep)
    return student


def critical_ids(labels: list[str], critical: tuple[str, ...] | list[str]) -> list[int]:
    """Label ids of critical classes; for BIO tags both B- and I- of a critical type."""
    crit = set(critical)
    return [i for i, lab in enumerate(labels)
            if lab in crit or (lab[:2] in ("B-", "I-") and lab[2:] in crit)]


def kd_loss(teacher: ExpertModel, *, alpha: float, temperature: float, beta: float,
            mode: str, critical: list[int]):
    """A loss_fn for `fine_tune`: (student logits, batch) -> distillation loss."""
    teacher.eval()
    crit = torch.tensor(critical, dtype=torch.long)

    def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        with torch.no_grad():
            t_logits = teacher(**model_inputs(batch))
        n_labels = logits.shape[-1]
        s, t = logits.reshape(-1, n_labels), t_logits.reshape(-1, n_labels)
        y = batch["labels"].reshape(-1)
        keep = y != IGNORE
        s, t, y = s[keep], t[keep], y[keep]
        T = temperature
        ce = F.cross_entropy(s, y)
        kl = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), log_target=True,
                      reduction="batchmean") * T * T
        total = alpha * ce + (1 - alpha) * kl
        if beta > 0 and crit.numel():
            on = torch.isin(y, crit)
            if on.any():
                extra = (F.mse_loss(s[on], t[on]) if mode == "logits"
                         else F.cross_entropy(s[on], y[on]))
                total = total + beta * extra
        return total

    return loss
