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


class TeacherLogits:
    """The teacher's logits for each input row, computed the first time the row is seen and
    reused after that: by every later epoch and by every later step of a recipe. The teacher
    is frozen and in eval mode, so its output for a row never changes; distilling for E
    epochs then costs one teacher pass over the data instead of E (a 6-layer forward per
    row, about 40 % of a 3-layer student's training step on CPU).

    Rows are keyed by their unpadded input ids (and token types, for pairs); the cached
    logits are the unpadded ones, padded back to the batch's length (tagging)."""

    def __init__(self, teacher: ExpertModel) -> None:
        self.teacher = teacher
        self._rows: dict[bytes, torch.Tensor] = {}
        self.computed = 0  # rows the teacher has run on (the rest came from the cache)

    def __len__(self) -> int:
        return len(self._rows)

    @torch.no_grad()
    def __call__(self, batch: dict) -> torch.Tensor:
        inputs = model_inputs(batch)
        lengths = inputs["attention_mask"].sum(1).tolist()
        keys = [b"|".join(inputs[k][i, :n].numpy().tobytes() for k in sorted(inputs))
                for i, n in enumerate(lengths)]
        miss = [i for i, key in enumerate(keys) if key not in self._rows]
        if miss:
            self.teacher.eval()
            idx = torch.tensor(miss)
            out = self.teacher(**{k: v[idx] for k, v in inputs.items()})
            for j, i in enumerate(miss):
                self._rows[keys[i]] = (out[j, :lengths[i]] if out.dim() == 3 else out[j]).clone()
            self.computed += len(miss)
        rows = [self._rows[key] for key in keys]
        if rows[0].dim() == 1:
            return torch.stack(rows)
        width = inputs["input_ids"].shape[1]  # tagging: (T_i, L) rows, padded to the batch
        return torch.stack([F.pad(r, (0, 0, 0, width - r.shape[0])) for r in rows])


def kd_loss(teacher: ExpertModel, *, alpha: float, temperature: float, beta: float,
            mode: str, critical: list[int], cache: TeacherLogits | None = None):
    """A loss_fn for `fine_tune`: (student logits, batch) -> distillation loss. With `cache`
    (for `teacher`) the teacher's logits come from it."""
    teacher.eval()
    crit = torch.tensor(critical, dtype=torch.long)
    teacher_logits = cache if cache is not None else TeacherLogits(teacher)  # empty is falsy

    def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        t_logits = teacher_logits(batch)
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
