"""Structural surgery on an expert's encoder: remove attention heads, FFN neurons, whole
layers and unused vocabulary rows — and record the sizes so the artifact reloads as is.

transformers 5 dropped `prune_heads`, so heads are cut here: the rows of query/key/value
and the columns of the attention output projection that belong to the removed heads go;
the head size stays, `view(..., -1, head_size)` in the attention picks up the new count.

The per-layer sizes live in `config.json` under "structure":
    {"heads": [h0, h1, ...], "ffn": [i0, i1, ...], "tokenizer_vocab": 30522 | null,
     "vocab_owner": true | false}
`apply_structure` rebuilds modules of those sizes before the weights are loaded.
"""

from __future__ import annotations

import torch
from torch import nn


def _select_linear(old: nn.Linear, rows: torch.Tensor | None = None,
                   cols: torch.Tensor | None = None) -> nn.Linear:
    """A new Linear keeping the given output rows and/or input columns of `old`."""
    w = old.weight.data
    b = old.bias.data if old.bias is not None else None
    if rows is not None:
        w = w[rows]
        b = b[rows] if b is not None else None
    if cols is not None:
        w = w[:, cols]
    new = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    new.weight.data.copy_(w)
    if b is not None:
        new.bias.data.copy_(b)
    return new


def layers(model) -> nn.ModuleList:
    return model.encoder.encoder.layer


def head_size(model) -> int:
    cfg = model.encoder.config
    return cfg.hidden_size // cfg.num_attention_heads


def heads_per_layer(model) -> list[int]:
    return [layer.attention.self.num_attention_heads for layer in layers(model)]


def ffn_per_layer(model) -> list[int]:
    return [layer.intermediate.dense.out_features for layer in layers(model)]


def keep_heads(model, layer_idx: int, keep: list[int]) -> None:
    """Keep only heads `keep` (indices into the layer's current heads)."""
    if not keep:
        raise ValueError(f"layer {layer_idx}: at least one attention head must stay")
    layer = layers(model)[layer_idx]
    att, d = layer.attention.self, head_size(model)
    idx = torch.cat([torch.arange(h * d, (h + 1) * d) for h in sorted(keep)])
    att.query = _select_linear(att.query, rows=idx)
    att.key = _select_linear(att.key, rows=idx)
    att.value = _select_linear(att.value, rows=idx)
    att.num_attention_heads = len(keep)
    att.all_head_size = len(keep) * d
    layer.attention.output.dense = _select_linear(layer.attention.output.dense, cols=idx)


def keep_neurons(model, layer_idx: int, keep: list[int]) -> None:
    """Keep only FFN neurons `keep` of one layer."""
    if not keep:
        raise ValueError(f"layer {layer_idx}: at least one FFN neuron must stay")
    layer = layers(model)[layer_idx]
    idx = torch.tensor(sorted(keep))
    layer.intermediate.dense = _select_linear(layer.intermediate.dense, rows=idx)
    layer.output.dense = _select_linear(layer.output.dense, cols=idx)


def keep_layers(model, keep: list[int]) -> None:
    """Keep only the encoder layers `keep` (in order); the config follows."""
    if not keep:
        raise ValueError("at least one encoder layer must stay")
    old = layers(model)
    model.encoder.encoder.layer = nn.ModuleList([old[i] for i in sorted(keep)])
    for new_idx, layer in enumerate(model.encoder.encoder.layer):
        layer.attention.self.layer_idx = new_idx
    model.encoder.config.num_hidden_layers = len(keep)


def keep_vocab(model, token_ids: list[int], unk_id: int) -> None:
    """Keep only the embedding rows of `token_ids` (+ `unk_id`); every other tokenizer id
    reads the kept row nearest to its own (cosine of the input embeddings).

    The tokenizer is unchanged: a `vocab_map` buffer (tokenizer id -> row) is applied in
    the model's forward, so the same tokenizer files keep working. A word the domain corpus
    never used ("shaking", "thru") so still reads as its nearest kept neighbour rather than
    [UNK]; for the attributes student that was 6.8 points of entity F1 on text no template
    wrote (docs/experiments.md). `vocab_owner` (row -> tokenizer id) records whose row is
    whose, for `extend_vocab`.
    """
    emb = model.encoder.embeddings.word_embeddings
    full = model.vocab_map.numel() if model.vocab_map is not None else emb.num_embeddings
    token_ids = sorted(set(token_ids) | {unk_id})
    current = (model.vocab_map.long() if model.vocab_map is not None
               else torch.arange(full))  # tokenizer id -> current row
    table = emb.weight.data
    kept = table[current[torch.tensor(token_ids)]]
    vocab_map = nearest_rows(table[current], kept)
    vocab_map[torch.tensor(token_ids)] = torch.arange(len(token_ids), dtype=torch.int32)
    new = nn.Embedding(len(token_ids), emb.embedding_dim, padding_idx=None)
    new.weight.data.copy_(kept)
    model.encoder.embeddings.word_embeddings = new
    model.encoder.config.vocab_size = len(token_ids)
    model.vocab_map = vocab_map
    model.vocab_owner = torch.tensor(token_ids, dtype=torch.int32)


def nearest_rows(vectors: torch.Tensor, rows: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """For each of `vectors` (N, H), the index of the most cosine-similar of `rows` (R, H)."""
    rows = nn.functional.normalize(rows.float(), dim=-1)
    out = torch.empty(len(vectors), dtype=torch.int32)
    for i in range(0, len(vectors), chunk):
        part = nn.functional.normalize(vectors[i : i + chunk].float(), dim=-1)
        out[i : i + chunk] = (part @ rows.T).argmax(-1).to(torch.int32)
    return out


def borrowed_ids(model, token_ids: list[int], unk_id: int) -> list[int]:
    """Of `token_ids`, those without an embedding row of their own in a vocabulary-pruned
    model (they read a neighbour's row, or [UNK]'s in models pruned before neighbours)."""
    if model.vocab_map is None:
        return []
    ids = sorted(set(token_ids))
    rows = model.vocab_map[torch.tensor(ids, dtype=torch.long)].long()
    if model.vocab_owner is None:  # older artifacts: every id without a row reads [UNK]
        unk_row = int(model.vocab_map[unk_id])
        return [i for i, r in zip(ids, rows.tolist(), strict=True)
                if r == unk_row and i != unk_id]
    owners = model.vocab_owner[rows].tolist()
    return [i for i, o in zip(ids, owners, strict=True) if o != i]


def extend_vocab(model, token_ids: list[int], source, unk_id: int) -> int:
    """Give a vocabulary-pruned model its own rows for the tokenizer ids that have none
    today, copied from `source` (an unpruned or pruned model with those tokens, e.g. the
    teacher it was distilled from); returns how many rows were added."""
    missing = borrowed_ids(model, token_ids, unk_id)
    if not missing:
        return 0
    ids = torch.tensor(missing)
    src = source.encoder.embeddings.word_embeddings.weight.data
    src_rows = ids if source.vocab_map is None else source.vocab_map[ids].long()
    emb = model.encoder.embeddings.word_embeddings
    new = nn.Embedding(emb.num_embeddings + len(missing), emb.embedding_dim)
    new.weight.data.copy_(torch.cat([emb.weight.data, src[src_rows]]))
    model.vocab_map[ids] = torch.arange(emb.num_embeddings, new.num_embeddings,
                                        dtype=model.vocab_map.dtype)
    if model.vocab_owner is not None:
        model.vocab_owner = torch.cat([model.vocab_owner, ids.to(model.vocab_owner.dtype)])
    model.encoder.embeddings.word_embeddings = new
    model.encoder.config.vocab_size = new.num_embeddings
    return len(missing)


def structure(model) -> dict:
    """The per-layer sizes to write next to the encoder config."""
    return {"heads": heads_per_layer(model), "ffn": ffn_per_layer(model),
            "tokenizer_vocab": None if model.vocab_map is None else model.vocab_map.numel(),
            "vocab_owner": getattr(model, "vocab_owner", None) is not None}


def apply_structure(model, spec: dict) -> None:
    """Resize a freshly built model to recorded sizes (weights are loaded afterwards)."""
    heads, ffn = spec.get("heads") or [], spec.get("ffn") or []
    if heads and len(heads) != len(layers(model)):
        raise ValueError(f"structure lists {len(heads)} layers, config has "
                         f"{len(layers(model))}")
    for i, n in enumerate(heads):
        if n != heads_per_layer(model)[i]:
            keep_heads(model, i, list(range(n)))
    for i, n in enumerate(ffn):
        if n != ffn_per_layer(model)[i]:
            keep_neurons(model, i, list(range(n)))
    if spec.get("tokenizer_vocab"):
        model.vocab_map = torch.zeros(spec["tokenizer_vocab"], dtype=torch.int32)
    if spec.get("vocab_owner"):
        model.vocab_owner = torch.zeros(model.encoder.config.vocab_size, dtype=torch.int32)
