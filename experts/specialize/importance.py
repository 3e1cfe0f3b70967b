"""Which units of the encoder the domain needs — three signals, combined (SEEDS.md §1):

1. task impact: |Σ gradient × activation| of the task loss over in-domain batches (the
   first-order change in loss if the unit were removed), per head, FFN neuron and layer;
2. activation variance on in-domain data (a unit that never varies carries no signal);
3. selectivity: mean |activation| on in-domain text vs out-of-domain probe text; units that
   fire mostly on out-of-domain text are what the domain does not need.

Each signal is rank-normalised to [0, 1] over the units of one kind, then mixed with the
recipe's weights: a unit's score is high when the domain needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from experts.encoding import IGNORE, model_inputs
from experts.structure import head_size, layers


@dataclass
class UnitScores:
    heads: torch.Tensor  # (L, H) combined score per head (ragged layers padded with +inf)
    ffn: list[torch.Tensor]  # per layer (I_l,)
    layers: torch.Tensor  # (L,)
    signals: dict  # raw signals for the report


class _Recorder:
    """Forward hooks that keep the attention-context, FFN and layer tensors of one pass."""

    def __init__(self, model, keep_grad: bool) -> None:
        self.keep_grad = keep_grad
        self.ctx: dict[int, torch.Tensor] = {}
        self.ffn: dict[int, torch.Tensor] = {}
        self.delta: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.handles = []
        for i, layer in enumerate(layers(model)):
            self.handles.append(layer.attention.output.dense.register_forward_pre_hook(
                self._keep(self.ctx, i)))
            self.handles.append(layer.output.dense.register_forward_pre_hook(
                self._keep(self.ffn, i)))
            self.handles.append(layer.register_forward_hook(self._layer(i), with_kwargs=True))

    def _keep(self, store, i):
        def hook(_module, args):
            x = args[0]
            if self.keep_grad and x.requires_grad:
                x.retain_grad()
            store[i] = x
        return hook

    def _layer(self, i):
        def hook(_module, args, kwargs, output):
            x_in = args[0] if args else kwargs["hidden_states"]
            out = output[0] if isinstance(output, tuple) else output
            if self.keep_grad and out.requires_grad:
                out.retain_grad()
            self.delta[i] = (x_in, out)
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _rank01(x: torch.Tensor) -> torch.Tensor:
    """Ranks scaled to [0, 1] (ties broken by position); robust to scale differences."""
    flat = x.flatten()
    if flat.numel() <= 1:
        return torch.ones_like(x)
    ranks = torch.empty_like(flat)
    ranks[flat.argsort()] = torch.arange(flat.numel(), dtype=flat.dtype)
    return (ranks / (flat.numel() - 1)).view_as(x)


def _loss(model, batch: dict) -> torch.Tensor:
    logits = model(**model_inputs(batch))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                           ignore_index=IGNORE)


def unit_scores(model, in_domain: list[dict], out_of_domain: list[dict],
                weights: tuple[float, float, float] = (1.0, 0.5, 0.5),
                loss_fn=None) -> UnitScores:
    """Score heads, FFN neurons and layers; `in_domain` batches carry labels.

    `loss_fn(model, batch) -> loss` is the task loss (default: cross-entropy on "labels").
    """
    loss_fn = loss_fn or _loss
    n_layers, d = len(layers(model)), head_size(model)
    heads_n = [lay.attention.self.num_attention_heads for lay in layers(model)]
    ffn_n = [lay.intermediate.dense.out_features for lay in layers(model)]
    taylor_h = [torch.zeros(h) for h in heads_n]
    taylor_f = [torch.zeros(i) for i in ffn_n]
    taylor_l = torch.zeros(n_layers)
    # running sums for variance and mean |activation|
    sum_h = [torch.zeros(h) for h in heads_n]
    sq_h = [torch.zeros(h) for h in heads_n]
    sum_f = [torch.zeros(i) for i in ffn_n]
    sq_f = [torch.zeros(i) for i in ffn_n]
    tokens_in = 0.0
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(True)
    was_training = model.training
    model.eval()  # no dropout: the signals should be deterministic
    rec = _Recorder(model, keep_grad=True)
    try:
        for batch in in_domain:
            model.zero_grad(set_to_none=True)
            loss = loss_fn(model, batch)
            loss.backward()
            mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
            tokens_in += float(mask.sum())
            for i in range(n_layers):
                a, g = rec.ctx[i].detach(), rec.ctx[i].grad
                ga = (g * a).view(*a.shape[:2], heads_n[i], d).sum(dim=(0, 1, 3))
                taylor_h[i] += ga.abs()
                head_norm = a.view(*a.shape[:2], heads_n[i], d).norm(dim=-1) * mask
                sum_h[i] += head_norm.sum(dim=(0, 1))
                sq_h[i] += (head_norm ** 2).sum(dim=(0, 1))
                a, g = rec.ffn[i].detach(), rec.ffn[i].grad
                taylor_f[i] += (g * a).sum(dim=(0, 1)).abs()
                am = a * mask
                sum_f[i] += am.abs().sum(dim=(0, 1))
                sq_f[i] += (am ** 2).sum(dim=(0, 1))
                x_in, out = rec.delta[i]
                taylor_l[i] += (out.grad * (out.detach() - x_in.detach())).sum().abs()
        ood_h = [torch.zeros(h) for h in heads_n]
        ood_f = [torch.zeros(i) for i in ffn_n]
        tokens_ood = 0.0
        rec.keep_grad = False
        with torch.no_grad():
            for batch in out_of_domain:
                model(**model_inputs(batch))
                mask = batch["attention_mask"].unsqueeze(-1).float()
                tokens_ood += float(mask.sum())
                for i in range(n_layers):
                    a = rec.ctx[i]
                    ood_h[i] += (a.view(*a.shape[:2], heads_n[i], d).norm(dim=-1)
                                 * mask).sum(dim=(0, 1))
                    ood_f[i] += (rec.ffn[i].abs() * mask).sum(dim=(0, 1))
    finally:
        rec.close()
        model.zero_grad(set_to_none=True)
        for n, p in model.named_parameters():
            p.requires_grad_(grads[n])
        model.train(was_training)

    def signals(taylor, sums, sqs, ood):
        mean_in = [s / max(tokens_in, 1) for s in sums]
        var = [sq / max(tokens_in, 1) - m ** 2 for sq, m in zip(sqs, mean_in, strict=True)]
        if tokens_ood:
            sel = [m / (m + o / tokens_ood + 1e-8) for m, o in zip(mean_in, ood, strict=True)]
        else:
            sel = [torch.full_like(m, 0.5) for m in mean_in]
        return taylor, var, sel

    def combine(taylor, var, sel) -> list[torch.Tensor]:
        sizes = [t.numel() for t in taylor]
        parts = [_rank01(torch.cat(x)) for x in (taylor, var, sel)]
        total = sum(w * p for w, p in zip(weights, parts, strict=True)) / max(sum(weights),
                                                                             1e-8)
        return list(total.split(sizes))

    h_sig = signals(taylor_h, sum_h, sq_h, ood_h)
    f_sig = signals(taylor_f, sum_f, sq_f, ood_f)
    head_scores = combine(*h_sig)
    padded = torch.full((n_layers, max(heads_n)), float("inf"))
    for i, s in enumerate(head_scores):
        padded[i, : s.numel()] = s
    return UnitScores(
        heads=padded, ffn=combine(*f_sig), layers=taylor_l,
        signals={"head_taylor": [t.tolist() for t in h_sig[0]],
                 "head_selectivity": [t.tolist() for t in h_sig[2]],
                 "layer_taylor": taylor_l.tolist(),
                 "ffn_selectivity_mean": [float(t.mean()) for t in f_sig[2]]})


@torch.no_grad()
def magnitude_scores(model) -> UnitScores:
    """Generic, data-free unit scores: the L2 norm of the weights a unit owns.

    A head owns its query/key/value rows and its columns of the attention output; an FFN
    neuron its row of the up-projection and its column of the down-projection; a layer all
    of them. The baseline that ontology relevance (`unit_scores`) is measured against in
    `bench --suite ablation`.
    """
    d = head_size(model)
    heads, ffn, per_layer = [], [], []
    for lay in layers(model):
        att = lay.attention
        n = att.self.num_attention_heads
        sq = sum(m.weight.view(n, d, -1).pow(2).sum(dim=(1, 2))
                 for m in (att.self.query, att.self.key, att.self.value))
        sq = sq + att.output.dense.weight.view(-1, n, d).pow(2).sum(dim=(0, 2))
        heads.append(sq.sqrt())
        up, down = lay.intermediate.dense.weight, lay.output.dense.weight
        ffn.append((up.pow(2).sum(dim=1) + down.pow(2).sum(dim=0)).sqrt())
        per_layer.append(float((heads[-1].pow(2).sum() + ffn[-1].pow(2).sum()).sqrt()))
    padded = torch.full((len(heads), max(h.numel() for h in heads)), float("inf"))
    for i, h in enumerate(heads):
        padded[i, : h.numel()] = h
    return UnitScores(heads=padded, ffn=ffn, layers=torch.tensor(per_layer),
                      signals={"criterion": "magnitude", "layer_norm": per_layer})
