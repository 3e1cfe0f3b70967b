"""Merge primitives on small tensors with answers worked out by hand."""

from __future__ import annotations

import pytest
import torch

from experts.ewc import ewc_penalty
from experts.merge.tensors import (
    knots_basis_from_factors,
    knots_merge,
    merge_deltas,
    union_head,
)


def test_task_arithmetic_is_the_weighted_sum():
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 1.0])
    assert torch.allclose(merge_deltas([a, b], "task_arithmetic", [0.5, 2.0]),
                          torch.tensor([6.5, 1.0]))


def test_ties_elects_the_sign_and_drops_the_conflicting_value():
    # column 0 agrees (+): mean of 1 and 3; column 1 conflicts: total mass -2 + 1 < 0, so
    # only the negative value survives
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 1.0])
    assert torch.allclose(merge_deltas([a, b], "ties", [1.0, 1.0], density=1.0),
                          torch.tensor([2.0, -2.0]))


def test_ties_trims_to_the_largest_magnitudes_first():
    a = torch.tensor([4.0, 0.1, -3.0, 0.2])  # density 0.5 keeps 4 and -3
    b = torch.tensor([2.0, 0.3, 0.1, -5.0])  # keeps 2 and -5
    got = merge_deltas([a, b], "ties", [1.0, 1.0], density=0.5)
    assert torch.allclose(got, torch.tensor([3.0, 0.0, -3.0, -5.0]))


def test_dare_at_density_one_drops_nothing_and_says_nothing():
    """Density 1 keeps every entry (rescale 1/1): DARE-linear is task arithmetic, and
    peft's "no pruning will be performed" warning does not reach the user."""
    import warnings

    a, b = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = merge_deltas([a, b], "dare_linear", [0.5, 2.0], density=1.0)
    assert torch.allclose(got, torch.tensor([6.5, 1.0]))


def test_dare_drops_and_rescales_the_survivors():
    delta = torch.arange(1.0, 2001.0)
    got = merge_deltas([delta], "dare_linear", [1.0], density=0.25, seed=3)
    kept = got != 0
    assert 0.2 < kept.float().mean() < 0.3
    assert torch.allclose(got[kept], delta[kept] / 0.25)  # each survivor scaled by 1/density
    again = merge_deltas([delta], "dare_linear", [1.0], density=0.25, seed=3)
    assert torch.equal(got, again)  # seeded
    assert not torch.equal(got, merge_deltas([delta], "dare_linear", [1.0], 0.25, seed=4))


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "average"}, "unknown merge method"),
    ({"density": 0.0}, "outside"), ({"density": 1.5}, "outside"),
    ({"weights": [1.0]}, "1 weights for 2 deltas"),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = {"deltas": [torch.ones(2), torch.ones(2)], "method": "ties", "weights": [1.0, 1.0]}
    with pytest.raises(ValueError, match=match):
        merge_deltas(**{**args, **kwargs})
    with pytest.raises(ValueError, match="differ in shape"):
        merge_deltas([torch.ones(2), torch.ones(3)], "ties", [1.0, 1.0])


def dense_knots_basis(updates: list[torch.Tensor]):
    """The reference: the SVD of the stacked, formed updates (U·Σ, [V_i])."""
    stacked = torch.cat(list(updates), dim=1)  # (d_out, n * d_in)
    u, s, vh = torch.linalg.svd(stacked, full_matrices=False)
    keep = s > s.max() * 1e-6  # the joint rank, at most Σ r_i
    return u[:, keep] * s[keep], list(vh[keep].split(updates[0].shape[1], dim=1))


def test_knots_alignment_round_trip_and_merge():
    torch.manual_seed(0)
    lora = [(torch.randn(6, 2), torch.randn(2, 5)) for _ in range(3)]
    updates = [b @ a for b, a in lora]
    us, blocks = knots_basis_from_factors(lora)
    assert us.shape[1] == 6  # joint rank: min(d_out 6, 3 variants x rank 2)
    for upd, v in zip(updates, blocks, strict=True):
        assert torch.allclose(us @ v, upd, atol=1e-5)
    # task arithmetic in the shared basis is task arithmetic of the updates (linear)
    merged = knots_merge(lora, "task_arithmetic", [0.2, 0.3, 0.5])
    assert torch.allclose(merged, 0.2 * updates[0] + 0.3 * updates[1] + 0.5 * updates[2],
                          atol=1e-5)
    ties = knots_merge(lora, "ties", [1, 1, 1], density=0.5)
    assert ties.shape == (6, 5)
    # a kept basis (as the merge command keeps it per layer) gives the same merge
    kept = knots_merge(lora, "ties", [1, 1, 1], density=0.5, basis=(us, blocks))
    assert torch.allclose(kept, ties)


def test_knots_basis_from_factors_matches_the_dense_svd():
    torch.manual_seed(1)
    lora = [(torch.randn(40, 4), torch.randn(4, 30)) for _ in range(3)]
    updates = [b @ a for b, a in lora]
    us, blocks = knots_basis_from_factors(lora)
    dense_us, dense_blocks = dense_knots_basis(updates)
    assert us.shape == dense_us.shape == (40, 12)  # joint rank 3 x 4
    for upd, v in zip(updates, blocks, strict=True):
        assert torch.allclose(us @ v, upd, atol=1e-4)
    # singular values agree; vectors may differ in sign, which a TIES merge does not see
    assert torch.allclose(us.norm(dim=0), dense_us.norm(dim=0), rtol=1e-4)
    fast = us @ merge_deltas(blocks, "ties", [1, 1, 1], density=0.5)
    slow = dense_us @ merge_deltas(dense_blocks, "ties", [1, 1, 1], density=0.5)
    assert torch.allclose(fast, slow, rtol=1e-3, atol=1e-3)


def test_union_head_never_averages_unrelated_classes():
    w1, b1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0.1, 0.2])
    w2, b2 = torch.tensor([[3.0, 0.0], [5.0, 5.0]]), torch.tensor([0.3, 0.9])
    labels, w, b = union_head([(["P0171", "P0300"], w1, b1), (["P0171", "U0100"], w2, b2)])
    assert labels == ["P0171", "P0300", "U0100"]
    assert torch.allclose(w[0], torch.tensor([2.0, 0.0]))  # shared label: mean of both rows
    assert torch.allclose(w[1], w1[1]) and torch.allclose(w[2], w2[1])  # one owner: copied
    assert torch.allclose(b, torch.tensor([0.2, 0.2, 0.9]))
    labels, w, _ = union_head([(["a"], w1[:1], b1[:1]), (["a"], w2[:1], b2[:1])], [1.0, 3.0])
    assert torch.allclose(w[0], torch.tensor([2.5, 0.0]))  # (1*1 + 3*3) / 4


def test_ewc_penalty_value():
    params = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.5])}
    anchor = {"w": torch.tensor([0.0, 0.0]), "b": torch.tensor([0.0])}
    fisher = {"w": torch.tensor([2.0, 0.5])}  # b has no Fisher estimate: not penalised
    # λ/2 (2·1² + 0.5·2²) = 10/2 · 4 = 20
    assert ewc_penalty(params, anchor, fisher, lam=10.0).item() == pytest.approx(20.0)
