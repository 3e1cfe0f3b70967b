"""Merging variants of one expert, at the level of tensors.

- Task vectors (`delta = variant - base`) are merged by peft's tensor functions:
  task arithmetic, TIES, DARE (linear and TIES). DARE's random drop is seeded here (peft
  draws from the global generator).
- KnOTS (peft has none): the variants' LoRA updates `B_i @ A_i` of one layer are placed
  side by side and decomposed once, `[ΔW_1 | … | ΔW_n] = U Σ [V_1 | … | V_n]`; in that shared
  basis each variant is just its block `V_i`, and the blocks are merged with one of the
  methods above; the merged update is `U Σ V_merged`.
- Task heads: the merged head covers the union of the variants' labels; a label's row is
  the weighted mean of the rows of the variants that have that label — a class one variant
  never saw does not get averaged with anything else.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

METHODS = ("task_arithmetic", "ties", "dare_linear", "dare_ties")


def merge_deltas(deltas: Sequence[torch.Tensor], method: str, weights: Sequence[float],
                 density: float = 1.0, seed: int = 0) -> torch.Tensor:
    """One merged delta from same-shaped deltas."""
    from peft.utils import merge_utils as mu  # LoRA only; peft is slow to import

    if method not in METHODS:
        raise ValueError(f"unknown merge method {method!r}; one of {', '.join(METHODS)}")
    if len(deltas) != len(weights) or not deltas:
        raise ValueError(f"{len(weights)} weights for {len(deltas)} deltas")
    shapes = {tuple(d.shape) for d in deltas}
    if len(shapes) != 1:
        raise ValueError(f"deltas differ in shape: {sorted(shapes)}")
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density {density} is outside (0, 1]")
    w = torch.tensor(list(weights), dtype=deltas[0].dtype)
    deltas = list(deltas)
    if method == "task_arithmetic":
        return mu.task_arithmetic(deltas, w)
    with warnings.catch_warnings():  # density 1 = no trimming/drop, which peft warns about
        warnings.filterwarnings("ignore", message="The density")
        if method == "ties":
            return mu.ties(deltas, w, density)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if method == "dare_linear":
                return mu.dare_linear(deltas, w, density)
            return mu.dare_ties(deltas, w, density)


def knots_basis_from_factors(lora: Sequence[tuple[torch.Tensor, torch.Tensor]]):
    """(U·Σ, [V_i]) with B_i·A_i == (U·Σ) @ V_i: the SVD of the stacked updates
    [B_1·A_1 … B_n·A_n] without forming them. The stack is [B_1 … B_n] · blockdiag(A_1 … A_n),
    so two thin QRs and the SVD of a (Σr × Σr) core give U·Σ and the V_i blocks
    (milliseconds instead of a large SVD per layer)."""
    shapes = {(b.shape[0], a.shape[1]) for b, a in lora}
    if len(shapes) != 1:
        raise ValueError(f"LoRA updates differ in shape: {sorted(shapes)}")
    d_in = lora[0][1].shape[1]
    bs = torch.cat([b for b, _ in lora], dim=1)  # (d_out, R)
    a_diag = torch.block_diag(*[a for _, a in lora])  # (R, n·d_in)
    qb, rb = torch.linalg.qr(bs)
    qa, ra = torch.linalg.qr(a_diag.T)  # a_diag = ra.T @ qa.T
    u, s, vh = torch.linalg.svd(rb @ ra.T)
    keep = s > s.max() * 1e-6 if s.numel() else s.bool()
    us = (qb @ u[:, keep]) * s[keep]
    v = vh[keep] @ qa.T  # (k, n·d_in)
    return us, list(v.split(d_in, dim=1))


def knots_merge(lora: Sequence[tuple[torch.Tensor, torch.Tensor]], method: str,
                weights: Sequence[float], density: float = 1.0, seed: int = 0,
                basis: tuple[torch.Tensor, list[torch.Tensor]] | None = None) -> torch.Tensor:
    """Merged ΔW (d_out, d_in) from the variants' LoRA factors (B_i (d_out, r), A_i (r, d_in)):
    the V_i blocks are merged in the shared basis. `basis` is `knots_basis_from_factors(lora)`
    when the caller keeps it between merges (it does not depend on method or weights)."""
    us, blocks = basis if basis is not None else knots_basis_from_factors(lora)
    return us @ merge_deltas(blocks, method, weights, density, seed)


def union_head(heads: Sequence[tuple[list[str], torch.Tensor, torch.Tensor]],
               weights: Sequence[float] | None = None
               ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Merge classification heads (labels, W (C_i, H), b (C_i,)) over the union of labels."""
    weights = list(weights) if weights is not None else [1.0] * len(heads)
    if len(weights) != len(heads):
        raise ValueError(f"{len(weights)} weights for {len(heads)} heads")
    hidden = {w.shape[1] for _, w, _ in heads}
    if len(hidden) != 1:
        raise ValueError(f"heads read different hidden sizes: {sorted(hidden)}")
    labels: list[str] = []
    for names, _, _ in heads:
        labels.extend(n for n in names if n not in labels)
    h = hidden.pop()
    w_sum = torch.zeros(len(labels), h)
    b_sum = torch.zeros(len(labels))
    total = torch.zeros(len(labels))
    pos = {n: i for i, n in enumerate(labels)}
    for (names, w, b), wt in zip(heads, weights, strict=True):
        rows = torch.tensor([pos[n] for n in names])
        w_sum.index_add_(0, rows, wt * w.float())
        b_sum.index_add_(0, rows, wt * b.float())
        total.index_add_(0, rows, torch.full((len(names),), float(wt)))
    return labels, w_sum / total[:, None], b_sum / total
