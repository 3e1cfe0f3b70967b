"""Against forgetting when a model learns new labels: what `adapt` and the warm re-compress
share (`tinyexperts update`).

- `KeepParent` — learning without forgetting (Li & Hoiem, 2016): a loss term that keeps the
  parent's distribution over its own labels on every training row, the new rows included,
  where the parent's view of them is what keeps the old labels' boundaries.
- `rebalance_new_labels` — class-incremental bias correction: one pass sees every row of
  the new labels but only a replayed share of the old ones, so the new labels' logits come
  out too high and take queries from old labels next to them. One offset on the new labels'
  logits, chosen on validation, is folded into the head's bias (serving costs nothing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from experts.encoding import IGNORE, model_inputs
from experts.model import ExpertModel
from experts.predictor import Predictor
from experts.train import mixed_precision

OFFSETS = [x / 4 for x in range(-20, 9)]  # -5 .. +2 in steps of 0.25


class KeepParent:
    """weight · KL(parent_T ‖ model_T)·T² over the labels both heads have (matched by
    name), on every row; a `fine_tune` loss term. Costs one forward pass of the frozen
    parent."""

    def __init__(self, parent: ExpertModel, parent_labels: list[str], labels: list[str],
                 weight: float = 1.0, temperature: float = 2.0) -> None:
        self.parent = parent.eval()
        self.weight = weight
        where = {lab: j for j, lab in enumerate(labels)}
        pairs = [(i, where[lab]) for i, lab in enumerate(parent_labels) if lab in where]
        self.parent_index = torch.tensor([i for i, _ in pairs], dtype=torch.long)
        self.index = torch.tensor([j for _, j in pairs], dtype=torch.long)
        self.temperature = temperature

    def __call__(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        if not len(self.index):  # no label in common: nothing to keep
            return logits.new_zeros(())
        with torch.no_grad(), mixed_precision():
            target = self.parent(**model_inputs(batch)).float().index_select(
                -1, self.parent_index)
        student = logits.index_select(-1, self.index)
        if logits.dim() == 3:  # tagging: the words' first sub-tokens only
            keep = batch["labels"] != IGNORE
            student, target = student[keep], target[keep]
        T = self.temperature
        return self.weight * T * T * F.kl_div(
            F.log_softmax(student / T, -1), F.log_softmax(target / T, -1), log_target=True,
            reduction="batchmean")


def rebalance_new_labels(predictor: Predictor, new_labels: list[str], validation
                         ) -> dict | None:
    """Fold the offset for `new_labels` with the best validation top-1 over old and new rows
    (the smallest such) into the head's bias; returns the choice and the old rows' top-1
    before and after. None — nothing to offset — without new labels or for a tagger."""
    if not new_labels or predictor.kind == "tag":
        return None
    index = {lab: i for i, lab in enumerate(predictor.labels)}
    rows = [ex for ex in validation if ex.label in index]
    if not rows:  # nothing to choose on: no offset
        return {"offset": 0.0, "rows": 0}
    logits = torch.stack(predictor.logits(rows)).float()
    gold = torch.tensor([index[ex.label] for ex in rows])
    new = torch.zeros(len(predictor.labels), dtype=torch.bool)
    new[[index[lab] for lab in new_labels]] = True
    old_rows = ~new[gold]

    def scores(offset: float) -> tuple[float, float]:
        right = (logits + offset * new).argmax(-1) == gold
        old = right[old_rows].float().mean().item() if old_rows.any() else 1.0
        return right.float().mean().item(), old

    table = {d: scores(d) for d in OFFSETS}
    best = max(OFFSETS, key=lambda d: (table[d][0], -abs(d)))
    head = predictor.model.classifier
    with torch.no_grad():
        head.bias[new] += best
    return {"offset": best, "validation_top1_before": round(table[0.0][0], 4),
            "validation_top1_after": round(table[best][0], 4),
            "old_rows_top1_before": round(table[0.0][1], 4),
            "old_rows_top1_after": round(table[best][1], 4),
            "rows": len(rows)}
