"""The router model: one shared encoder, a head after every layer (early exit).

Each head reads the mean-pooled layer output (not L2-normalised: a plain linear head on a
unit vector starts with near-zero logits and learns slowly) and predicts, in one vector,
    [expert-set bits (sigmoid, one per router.data.OUTPUTS) | intent logits (softmax)].
The last layer's head is `classifier` (so the specialization toolkit — layer selection,
head/FFN/vocabulary pruning, save/reload with per-layer sizes — applies unchanged); the
earlier ones are `exits[i]`.

Batched early exit: the batch runs layer by layer; after each layer the rows whose
calibrated confidence passes that layer's threshold leave (their answer is final), and
only the remaining rows continue — hidden states and attention masks are indexed down.

An optional first exit, `embedding_exit`, reads the mean-pooled token embeddings before
any layer runs: a bag-of-words head, fitted after the rest is trained
(`router.train.fit_embedding_exit`), for the queries whose words alone settle the route
("weather in oslo tomorrow"). Exits are numbered in order — the embedding exit
(when there is one), then one per layer — and `exit_offset` turns an exit's number into
the number of layers run.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig

from experts.model import ExpertModel, HeadConfig
from router.data import INTENT_PLAN, INTENTS, OUTPUTS

N_BITS, N_INTENTS = len(OUTPUTS), len(INTENTS)
# (intents, bits): the expert set each intent stands for
INTENT_SETS = torch.tensor([[1.0 if o in INTENT_PLAN[i][0] else 0.0 for o in OUTPUTS]
                            for i in INTENTS])
INTENT_SIGNS = INTENT_SETS * 2 - 1
_ROW_SIGNS = INTENT_SIGNS.tolist()  # the same signs as Python lists, for `row_exit_confidence`


class RouterModel(ExpertModel):
    def __init__(self, encoder_config: BertConfig, head: HeadConfig) -> None:
        super().__init__(encoder_config, head)
        h = encoder_config.hidden_size
        self.exits = nn.ModuleList(nn.Linear(h, head.num_labels)
                                   for _ in range(encoder_config.num_hidden_layers - 1))
        self.embedding_exit: nn.Linear | None = None

    @staticmethod
    def head_config(max_length: int = 64) -> HeadConfig:
        return HeadConfig(task="classify", num_labels=N_BITS + N_INTENTS, max_length=max_length)

    @classmethod
    def from_expert(cls, model: ExpertModel) -> RouterModel:
        """Wrap an encoder (e.g. a toolkit student) with fresh router heads."""
        router = cls(model.encoder.config, cls.head_config(model.head_config.max_length))
        router.encoder = model.encoder
        router.vocab_map = model.vocab_map
        router.vocab_owner = model.vocab_owner
        return router

    def reset_exits(self) -> None:
        h = self.encoder.config.hidden_size
        self.exits = nn.ModuleList(nn.Linear(h, self.head_config.num_labels)
                                   for _ in range(len(self.encoder.encoder.layer) - 1))

    def heads(self) -> list[nn.Linear]:
        """One head per layer (the exits after layers 1 .. L-1, then the classifier)."""
        return [*self.exits, self.classifier]

    def add_embedding_exit(self) -> nn.Linear:
        self.embedding_exit = nn.Linear(self.encoder.config.hidden_size,
                                        self.head_config.num_labels)
        return self.embedding_exit

    @property
    def exit_offset(self) -> int:
        """Layers run before the first exit: 0 with an embedding exit, else 1."""
        return 0 if self.embedding_exit is not None else 1

    def config_dict(self, backend: str = "torch-fp32") -> dict:
        return {**super().config_dict(backend), "embedding_exit": self.embedding_exit is not None}

    @classmethod
    def skeleton(cls, config: dict) -> RouterModel:
        model = super().skeleton(config)
        if config.get("embedding_exit"):
            model.add_embedding_exit()
        return model

    def _inference(self) -> None:
        """Eval mode (no dropout) for routing. `self.eval()` walks all 112 modules — 0.46 ms,
        a sixth of an exit after layer 1 at batch 1 — so it runs only when something is in
        training mode, which one flag on the root tells (`self.train()` and `self.eval()` set
        every module's flag)."""
        if self.training:
            self.eval()

    def _embed(self, input_ids, attention_mask):
        """Token vectors and the additive attention mask. The router has no token types
        (all 0). Training goes through the embeddings module (its dropout); in eval mode the
        same sum is written out (`embed_tokens`)."""
        if self.vocab_map is not None:
            input_ids = self.vocab_map[input_ids]
        emb = self.encoder.embeddings
        h = emb(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids)) \
            if self.training else embed_tokens(emb, input_ids)
        return h, additive_mask(attention_mask, h.dtype)

    def exit_heads(self) -> list[nn.Linear]:
        """Every exit's head, in order: the embedding exit's (when there is one), then
        `heads()`."""
        return [self.embedding_exit, *self.heads()] if self.embedding_exit is not None \
            else self.heads()

    def exit_features(self, input_ids, attention_mask) -> list[torch.Tensor]:
        """What each exit head reads, in the order of `exit_heads`: the mean-pooled token
        embeddings (with an embedding exit), then the mean-pooled output (B, H) of every
        layer."""
        h, mask4 = self._embed(input_ids, attention_mask)
        out = [masked_mean(h, attention_mask)] if self.embedding_exit is not None else []
        for layer in self.encoder.encoder.layer:
            h = layer(h, mask4)
            out.append(masked_mean(h, attention_mask))
        return out

    def all_exits(self, input_ids, attention_mask) -> list[torch.Tensor]:
        """Logits (B, bits + intents) at every exit — for training and calibration."""
        return [head(self.dropout(f)) for f, head in
                zip(self.exit_features(input_ids, attention_mask), self.exit_heads(),
                    strict=True)]

    def pooled_embeddings(self, input_ids, attention_mask) -> torch.Tensor:
        """What the embedding exit reads: the token vectors' masked mean, (B, H)."""
        h, _ = self._embed(input_ids, attention_mask)
        return masked_mean(h, attention_mask)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        return self.all_exits(input_ids, attention_mask)[-1]  # no token types in routing

    @torch.inference_mode()
    def early_exit(self, input_ids, attention_mask, thresholds: list[float],
                   temperatures: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated logits (B, bits + intents) and the exit layer of each row (B,).

        thresholds[k]: a row leaves at exit k when its exit confidence >= thresholds[k];
        the last layer takes everyone left. When rows leave, the padding columns no
        remaining row needs are dropped too (the short queries often leave first). The
        exit of each row is its number (see the module docstring).
        """
        self._inference()
        h, mask4 = self._embed(input_ids, attention_mask)
        n = input_ids.shape[0]
        if n == 1 and mask4 is None:
            return self._one_row_exit(h, thresholds, temperatures)
        out = torch.zeros(n, self.head_config.num_labels)
        exit_layer = torch.full((n,), -1, dtype=torch.long)
        rows = torch.arange(n)
        mask = attention_mask
        layers = self.encoder.encoder.layer
        # the layer to run before each exit: none before the embedding exit
        steps = list(zip([None] * (1 - self.exit_offset) + list(layers), self.exit_heads(),
                         strict=True))
        for k, (layer, head) in enumerate(steps):
            if layer is not None:
                h = run_layer(layer, h, mask4)
            logits = head(_pool(h, mask, mask4)) / temperatures[k]
            last = k == len(steps) - 1
            if last:
                done = torch.ones(len(rows), dtype=torch.bool)
            elif len(rows) == 1:  # one row: the rule on Python floats, one tensor op not ten
                if row_exit_confidence(logits[0].tolist()) < thresholds[k]:
                    continue
                done = torch.ones(1, dtype=torch.bool)
            else:
                done = exit_confidence(logits) >= thresholds[k]
                if not done.any():  # nobody leaves: no bookkeeping, no copies
                    continue
            out[rows[done]] = logits[done]
            exit_layer[rows[done]] = k
            if last or done.all():
                break
            keep = ~done
            rows, h, mask = rows[keep], h[keep], mask[keep]
            cols = mask.any(0)
            if not cols.all():
                h, mask = h[:, cols], mask[:, cols]
            mask4 = additive_mask(mask, h.dtype)
        return out, exit_layer

    def _one_row_exit(self, h: torch.Tensor, thresholds: list[float],
                      temperatures: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
        """`early_exit` for one unpadded query: the same layers, heads and exit rule
        without the batch bookkeeping (output buffers, row indices, mask updates), which
        costs one query about as much as it saves 32. Tested equal to the batched path."""
        layers = self.encoder.encoder.layer
        steps = [None] * (1 - self.exit_offset) + list(layers)
        heads = self.exit_heads()
        last = len(heads) - 1
        for k, (layer, head) in enumerate(zip(steps, heads, strict=True)):
            if layer is not None:
                h = run_layer(layer, h, None)
            logits = head(h.mean(1)) / temperatures[k]
            if k == last or row_exit_confidence(logits[0].tolist()) >= thresholds[k]:
                return logits, torch.tensor([k])
        raise AssertionError("unreachable: the last exit takes every row")

    @torch.inference_mode()
    def full_depth(self, input_ids, attention_mask, temperature: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """The baseline early exit is measured against: every layer, the last head only."""
        self._inference()
        h, mask4 = self._embed(input_ids, attention_mask)
        for layer in self.encoder.encoder.layer:
            h = run_layer(layer, h, mask4)
        logits = self.classifier(_pool(h, attention_mask, mask4)) / temperature
        last_exit = len(self.encoder.encoder.layer) - self.exit_offset
        return logits, torch.full((input_ids.shape[0],), last_exit, dtype=torch.long)


def run_layer(layer: nn.Module, h: torch.Tensor, mask4: torch.Tensor | None) -> torch.Tensor:
    """One BERT layer at inference, written out: the same weights and arithmetic as the
    BertLayer module in eval mode (no dropout), without its generic plumbing (attention
    backend lookup, cache and output bookkeeping). At batch 1 on 2 cores that plumbing costs
    about 0.2 ms a layer: the router's 4 layers took 5.7 ms through the modules and 4.9 ms
    this way (medians of 5 interleaved rounds over 200 queries). Training uses the modules."""
    att = layer.attention
    b, n, _ = h.shape
    d = att.self.attention_head_size

    def split(x: torch.Tensor) -> torch.Tensor:  # (b, n, heads * d) -> (b, heads, n, d)
        return x.view(b, n, -1, d).transpose(1, 2)

    ctx = F.scaled_dot_product_attention(split(att.self.query(h)), split(att.self.key(h)),
                                         split(att.self.value(h)), attn_mask=mask4)
    x = att.output.LayerNorm(att.output.dense(ctx.transpose(1, 2).reshape(b, n, -1)) + h)
    ffn = layer.output.dense(layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x)))
    return layer.output.LayerNorm(ffn + x)


def embed_tokens(emb: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """BertEmbeddings at inference for token type 0, written out: word + position + type-0
    vectors, then LayerNorm — the module's buffer and position bookkeeping cost 0.2 ms at
    batch 1, this about 0.05 ms. Tied to BertModel by the router's padding-mask test."""
    n = input_ids.shape[1]
    fixed = emb.position_embeddings.weight[:n] + emb.token_type_embeddings.weight[0]
    return emb.LayerNorm(emb.word_embeddings(input_ids) + fixed)


def _pool(h: torch.Tensor, mask: torch.Tensor, mask4: torch.Tensor | None) -> torch.Tensor:
    """masked_mean, or the plain mean when nothing is padded (mask4 None): one op, not seven."""
    return h.mean(1) if mask4 is None else masked_mean(h, mask)


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
    """The (B, 1, 1, L) mask BERT layers add to their attention scores: 0 where a token is
    real, the dtype's minimum on padding; None when nothing is padded (a batch of one), so
    attention takes its unmasked path. Built here rather than through transformers' private
    mask helpers, whose signature changes between releases."""
    if bool(attention_mask.all()):
        return None
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


def bit_probs(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits[..., :N_BITS])


def chosen_sets(logits: torch.Tensor) -> torch.Tensor:
    """(N, N_BITS) bool: the expert set the router answers with — the set its intent head's
    top intent stands for (`INTENT_PLAN`), so every answer is one of the plans the router
    knows. The expert-bit head scores each expert and judges the exits and abstention.
    Measured on router v2 (same weights, two decision rules): exact match 0.9275 -> 0.9319
    on the generated test split and 0.690 -> 0.725 on the external queries; where the two
    heads disagreed the intent's set was right 44-46 % of the time, the bits' 15-17 %."""
    return INTENT_SETS[logits[..., N_BITS:].argmax(-1)].bool()


# the expert set an abstained query is served with: the free-form path (GraphLLM) alone
ABSTAINED_SET = torch.tensor([o == "llm" for o in OUTPUTS])


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """How sure the expert-set decision is: the least certain of its yes/no bits."""
    p = bit_probs(logits)
    return torch.maximum(p, 1 - p).min(dim=-1).values


def exit_confidence(logits: torch.Tensor) -> torch.Tensor:
    """How sure an exit is, for leaving there: 0 unless the expert-bit head and the intent
    head name the same expert set; else the lower of the least certain bit and the intent's
    probability. Two heads agreeing is a signal one head's confidence lacks: with the same
    weights (validation -> test, 99.5 % agreement target) queries left after 2.43 layers of 4
    on average this way and after 2.87 on the bit confidence alone, at test exact match 0.951
    and 0.949.

    In few ops (it runs after every layer): bits * the intent's signs is positive exactly
    where a bit agrees with the intent's set, and its minimum is the least certain bit's
    |logit| when all agree — sigmoid of that is `confidence`."""
    p_intent, which = logits[..., N_BITS:].softmax(-1).max(-1)
    margin = (logits[..., :N_BITS] * INTENT_SIGNS[which]).amin(-1)
    sure = torch.minimum(torch.sigmoid(margin), p_intent)
    return torch.where(margin > 0, sure, torch.zeros_like(sure))


def row_exit_confidence(logits: list[float]) -> float:
    """`exit_confidence` of one row given as Python floats (bits, then intents). At batch 1
    the check runs after every layer, and the tensor version's ten small ops cost about
    0.15 ms there (a router layer costs about 1.2 ms); this costs one `.tolist()`.
    Tested equal to `exit_confidence`."""
    bits, intents = logits[:N_BITS], logits[N_BITS:]
    top = max(intents)
    which = intents.index(top)
    p_intent = 1.0 / sum(math.exp(z - top) for z in intents)
    margin = min(b * s for b, s in zip(bits, _ROW_SIGNS[which], strict=True))
    if margin <= 0:
        return 0.0
    return min(1.0 / (1.0 + math.exp(-margin)), p_intent)


def router_loss(logits: torch.Tensor, targets: torch.Tensor, intents: torch.Tensor,
                teacher: torch.Tensor | None = None, alpha: float = 0.5,
                temperature: float = 2.0) -> torch.Tensor:
    """BCE on the expert bits + CE on the intent; with a teacher, KD on both."""
    bits, intent = logits[:, :N_BITS], logits[:, N_BITS:]
    loss = F.binary_cross_entropy_with_logits(bits, targets) + F.cross_entropy(intent, intents)
    if teacher is None:
        return loss
    T = temperature
    soft_bits = torch.sigmoid(teacher[:, :N_BITS] / T)
    kd = F.binary_cross_entropy_with_logits(bits / T, soft_bits) + F.kl_div(
        F.log_softmax(intent / T, -1), F.log_softmax(teacher[:, N_BITS:] / T, -1),
        log_target=True, reduction="batchmean")
    return alpha * loss + (1 - alpha) * kd * T * T
