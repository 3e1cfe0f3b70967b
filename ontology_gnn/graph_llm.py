"""Graph tokens: entity vectors -> a few soft tokens prepended to a frozen tiny LLM.

Each entity of the retrieved subgraph becomes one token: the mean of the frozen LLM's own
input embeddings of the entity's name (what the LLM already reads as that name), plus a
learned projection of [GNN vector ; MiniLM text vector] (a 2-layer MLP, its last layer
zero-initialised) and a learned embedding of the entity's type. The tokens are spliced into
the chat prompt (`inputs_embeds`) where the text version would list the facts, so the LLM
reads "Entities: <e1> … <ek>" followed by the question. The LLM stays frozen; only the
projector (~1.2M parameters) is trained: next-token loss on the answer only, through the
frozen LLM, on question–answer pairs generated from the ontology (`ontology_gnn.qa`), plus
a choice loss at the branch points of the candidate trie (`ontology_gnn.answer_choice`).
Answers are chosen by constrained decoding over the subgraph's entity names (`choose`): one
prefill, which reuses the cached keys and values of the fixed system prompt, and rarely a
decode step; free generation (`generate`) remains for the question-only mode and to measure
what an unconstrained answer invents.

A first version learned the whole token from the vectors (with an alignment stage that
regressed it onto the name embedding); on held-out questions it named brands and vehicle
models poorly (answer accuracy 0.33 vs 0.27 for the text version): rare names do not
survive the MiniLM -> LLM mapping. Starting each token from the name embedding fixes that
by construction; the projection adds what the graph knows.

Three prompt modes share one template so they differ only in what carries the ontology:
`question` (nothing), `text` (the subgraph written out, `retrieve.describe`), `graph`
(one soft token per entity).
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from experts.core.assets import offline, smollm_path
from experts.core.environment import native_bf16
from ontology_gnn.answer_choice import CandidateTrie
from ontology_gnn.retrieve import describe

MODES = ("question", "text", "graph")
SYSTEM = ("You answer questions about car parts and diagnostic trouble codes. "
          "Reply with the name only.")
SLOT = "\u2063GRAPH\u2063"  # a marker that never occurs in user text


def llm_dtype(training: bool = False) -> torch.dtype:
    """The LLM's dtype: for training, bfloat16 where the CPU computes it natively
    (AVX512-BF16 or AMX), else float32; for answering, float32.

    Measured on this project's 2-core EPYC (AVX512-BF16, no AMX): a projector training
    step (batch 16) took 7.5 s in bfloat16 and 11 s in float32, but a 35-token prefill at
    batch 1 took 184 ms in bfloat16 and 165 ms in float32 (`native_bf16`: why not on CPUs
    without it)."""
    return torch.bfloat16 if training and native_bf16() else torch.float32


def load_llm(gguf_path=None, dtype: torch.dtype | None = None, training: bool = False):
    """The real SmolLM2-135M-Instruct (GGUF, dequantized), frozen, in eval mode, in
    `llm_dtype(training)` unless told otherwise."""

    offline()
    path = Path(gguf_path) if gguf_path else smollm_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                 dtype=dtype or llm_dtype(training))
    hf_logging.set_verbosity_error()
    return freeze(model), tokenizer


def freeze(model):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass
class ProjectorConfig:
    in_dim: int
    out_dim: int
    types: list[str]
    hidden: int = 1024
    # how each entity was reached from the anchors (retrieve.role_vocabulary); an artifact
    # built before roles existed has none and reads entity and type only
    roles: list[str] = field(default_factory=list)


class GraphTokenProjector(nn.Module):
    def __init__(self, cfg: ProjectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mlp = nn.Sequential(nn.Linear(cfg.in_dim, cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, cfg.out_dim))
        nn.init.zeros_(self.mlp[2].weight)  # tokens start as the names' embeddings
        nn.init.zeros_(self.mlp[2].bias)
        self.type_emb = nn.Embedding(len(cfg.types), cfg.out_dim)
        nn.init.zeros_(self.type_emb.weight)
        self.role_emb = nn.Embedding(len(cfg.roles), cfg.out_dim) if cfg.roles else None
        self.role_index = {r: i for i, r in enumerate(cfg.roles)}
        if self.role_emb is not None:
            nn.init.zeros_(self.role_emb.weight)

    def forward(self, vectors: torch.Tensor, type_ids: torch.Tensor,
                role_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(…, in_dim), (…), (…) -> (…, out_dim): what is added to the names' embeddings."""
        out = self.mlp(vectors) + self.type_emb(type_ids)
        if self.role_emb is not None and role_ids is not None:
            out = out + self.role_emb(role_ids)
        return out

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass
class Prompt:
    prefix: list[int]
    entities: list[int]  # entity rows (graph mode), one soft token each
    suffix: list[int]
    roles: list[int] = field(default_factory=list)  # per entity: its role id (if any)

    @property
    def length(self) -> int:
        return len(self.prefix) + len(self.entities) + len(self.suffix)


class GraphLLM:
    """A frozen causal LM + projector + the entity table it reads graph tokens from.

    Args:
        entity_vectors: (N, in_dim) rows [GNN vector ; text vector] in entity order.
        entity_types: (N,) type index of each entity (into projector.cfg.types).
        system: the system prompt (the graph_llm artifact keeps the one it was trained with).
    """

    def __init__(self, llm, tokenizer, projector: GraphTokenProjector, kg,
                 entity_vectors: torch.Tensor, entity_types: torch.Tensor,
                 system: str = SYSTEM) -> None:
        self.llm, self.tok, self.projector, self.kg = llm, tokenizer, projector, kg
        self.system = system
        self.vectors = entity_vectors.float()
        self.types = entity_types.long()
        self.dtype = next(llm.parameters()).dtype
        # the chat end marker (SmolLM2), else eos, else [SEP] (BERT tokenizers in tests)
        im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        ends = [im_end if im_end != tokenizer.unk_token_id else None,
                tokenizer.eos_token_id, tokenizer.sep_token_id]
        self.end_ids = list(dict.fromkeys(i for i in ends if isinstance(i, int) and i >= 0))
        self.name_base = name_embeddings(self)  # (N, hidden), fixed
        # every prompt starts with the same tokens (system prompt, start of the user turn);
        # their keys and values are computed once and reused by every answer
        self.fixed_text = self._render(SLOT).split(SLOT)[0]
        self.fixed_ids = self._ids(self.fixed_text)
        self._fixed_cache = None

    # ---- prompts ----------------------------------------------------------------------

    def _render(self, user: str) -> str:
        if getattr(self.tok, "chat_template", None):
            return self.tok.apply_chat_template(
                [{"role": "system", "content": self.system}, {"role": "user", "content": user}],
                tokenize=False, add_generation_prompt=True)
        return f"{self.system}\nUser: {user}\nAssistant: "

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def prompt(self, question: str, subgraph, mode: str) -> Prompt:
        """The prompt of one mode; its prefix always starts with `fixed_ids` (the rest is
        tokenized on its own, in training and in answering alike)."""
        if mode == "question":
            user = question
        elif mode == "text":
            facts = describe(self.kg, subgraph) if subgraph.entities else "(none)"
            user = f"Facts:\n{facts}\n\n{question}"
        elif mode == "graph":
            user = f"Entities: {SLOT}\n{question}"
        else:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        rest = self._render(user)[len(self.fixed_text):]
        if mode != "graph":
            return Prompt(self.fixed_ids + self._ids(rest), [], [])
        head, tail = rest.split(SLOT)
        rows = [self.kg.index[e] for e in subgraph.entities]
        table = self.projector.role_index
        roles = [table.get(r, -1) for r in subgraph.roles] if table else []
        if len(roles) != len(rows) or -1 in roles:
            roles = []  # a subgraph without roles, or a relation the projector never saw
        return Prompt(self.fixed_ids + self._ids(head), rows, self._ids(tail), roles)

    def graph_tokens(self, rows: torch.Tensor, roles: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """(k,) entity rows (and their role ids) -> (k, hidden) soft tokens in the LLM's
        dtype."""
        tokens = self.name_base[rows] + self.projector(self.vectors[rows], self.types[rows],
                                                       roles)
        return tokens.to(self.dtype)

    def _embed(self, prompt: Prompt, answer_ids: list[int] | None = None) -> torch.Tensor:
        emb = self.llm.get_input_embeddings()
        parts = [emb(torch.tensor(prompt.prefix, dtype=torch.long))]
        if prompt.entities:
            rows = torch.tensor(prompt.entities, dtype=torch.long)
            roles = torch.tensor(prompt.roles, dtype=torch.long) if prompt.roles else None
            parts.append(self.graph_tokens(rows, roles))
        tail = prompt.suffix + (answer_ids or [])
        if tail:
            parts.append(emb(torch.tensor(tail, dtype=torch.long)))
        return torch.cat(parts)

    # ---- training ---------------------------------------------------------------------

    def answer_ids(self, answer: str) -> list[int]:
        return self._ids(answer) + self.end_ids[:1]

    def loss(self, prompts: list[Prompt], answers: list[str],
             candidates: list[list[str]] | None = None, choice_weight: float = 1.0
             ) -> torch.Tensor:
        """Next-token loss on the answer tokens only (prompts right-padded in a batch), plus,
        where `candidates` (the names the answer is chosen from) are given and hold the
        answer, `choice_weight` x a softmax over the allowed tokens at each branch point of
        the candidate trie (what constrained decoding decides). The LM head runs on the
        answer positions only. With the LLM frozen, the fixed prefix's keys and values come
        from a cache (`_cached_prefix`)."""
        n = self._cached_prefix(prompts)
        seqs, labels = [], []
        for p, a in zip(prompts, answers, strict=True):
            ids = self.answer_ids(a)
            seqs.append(self._embed(p, ids)[n:])
            labels.append([-100] * (p.length - n) + ids)
        width = max(s.shape[0] for s in seqs)
        hidden = seqs[0].shape[1]
        x = torch.zeros(len(seqs), width, hidden, dtype=self.dtype)
        mask = torch.zeros(len(seqs), width, dtype=torch.long)
        y = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, (s, lab) in enumerate(zip(seqs, labels, strict=True)):
            x[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = 1
            y[i, : len(lab)] = torch.tensor(lab)
        if n:
            mask = torch.cat([torch.ones(len(seqs), n, dtype=torch.long), mask], 1)
            states = self.llm.base_model(inputs_embeds=x, attention_mask=mask, use_cache=True,
                                         cache=self._prefix_cache(len(seqs))
                                         ).last_hidden_state
        else:
            states = self.llm.base_model(inputs_embeds=x, attention_mask=mask).last_hidden_state
        target = y[:, 1:]
        where = (target != -100).nonzero()  # (P, 2): position j predicts token j + 1
        logits = self.llm.get_output_embeddings()(states[:, :-1][where[:, 0], where[:, 1]])
        logits = logits.float()
        loss = F.cross_entropy(logits, target[where[:, 0], where[:, 1]])
        if not candidates:
            return loss
        row_of = {(int(b), int(j)): r for r, (b, j) in enumerate(where.tolist())}
        terms = []
        for b, (p, a, names) in enumerate(zip(prompts, answers, candidates, strict=True)):
            gold = self.answer_ids(a)
            trie = CandidateTrie([self.answer_ids(n) for n in names])
            if tuple(gold) not in trie.sequences:
                continue
            for k, allowed in trie.branch_points(gold):
                row = logits[row_of[(b, p.length - n - 1 + k)]]
                terms.append(F.cross_entropy(row[allowed][None],
                                             torch.tensor([allowed.index(gold[k])])))
        if terms:
            loss = loss + choice_weight * torch.stack(terms).mean()
        return loss

    def _cached_prefix(self, prompts: list[Prompt]) -> int:
        """How many leading tokens of every prompt training reads from a cache: the fixed
        prefix (system prompt, start of the user turn; 26 of about 63 tokens of a graph
        question with its answer) when no LLM weight trains — its keys and values then
        depend on nothing trained, so computing them once is exact and every step skips
        those positions forward and backward. 0 when LLM weights train (LoRA)."""
        n = len(self.fixed_ids)
        if any(p.requires_grad for p in self.llm.parameters()):
            return 0
        return n if all(p.prefix[:n] == self.fixed_ids for p in prompts) else 0

    def _prefix_cache(self, batch: int = 1):
        """A fresh copy of the fixed prefix's keys and values, repeated for `batch` rows,
        for answering (`prefill`) and training alike. It is computed once, outside inference
        mode even when asked for inside it, so autograd may read it too."""
        if self._fixed_cache is None:
            with torch.inference_mode(False), torch.no_grad():
                emb = self.llm.get_input_embeddings()
                self._fixed_cache = self.llm.base_model(
                    inputs_embeds=emb(torch.tensor(self.fixed_ids))[None], use_cache=True
                ).cache
        cache = copy.deepcopy(self._fixed_cache)
        if batch > 1:
            cache.batch_repeat_interleave(batch)
        return cache

    # ---- generation -------------------------------------------------------------------

    @torch.inference_mode()
    def prefill(self, prompt: Prompt):
        """(last hidden state (hidden,), KV cache, length) for one prompt, reusing the
        cached keys and values of the fixed prefix. The LM head is not applied: choosing
        needs the logits of a few allowed tokens only (`_logits`)."""
        n = len(self.fixed_ids)
        if prompt.prefix[:n] != self.fixed_ids:
            raise ValueError("the prompt does not start with the fixed prefix")
        cache = self._prefix_cache()
        x = self._embed(prompt)[n:][None]
        out = self.llm.base_model(inputs_embeds=x, cache=cache, use_cache=True,
                                  attention_mask=torch.ones(1, prompt.length, dtype=torch.long))
        return out.last_hidden_state[0, -1], out.cache, prompt.length

    def _logits(self, state: torch.Tensor, tokens: list[int]) -> torch.Tensor:
        """The LM head's logits of `tokens` only, from one hidden state (float32)."""
        head = self.llm.get_output_embeddings()
        w = head.weight[tokens]
        out = w @ state
        if getattr(head, "bias", None) is not None:
            out = out + head.bias[tokens]
        return out.float()

    @torch.inference_mode()
    def choose(self, prompt: Prompt, names: list[str]) -> dict:
        """Constrained greedy decoding over the candidates' token trie (batch 1): the answer
        is always one of `names`. The first token comes from the prefill; when several
        names share it, one batched pass over their branching prefixes gives the hidden
        states for every later branch (the same choices as decoding token by token, in one
        step: a decode step is memory-bound, ~65 ms for one token or for a few). Timings:
        prefill and decode."""
        if not names:
            raise ValueError("no candidate answers to choose from")
        trie = CandidateTrie([self.answer_ids(n) for n in names])
        t0 = time.perf_counter()
        state, cache, length = self.prefill(prompt)
        t1 = time.perf_counter()
        chosen: list[int] = []
        steps = 0
        states: dict[tuple[int, ...], torch.Tensor] = {(): state}
        while len(trie.matching(chosen)) > 1:
            allowed = trie.allowed(chosen)
            if not allowed:  # names whose tokens are identical: the first one stands
                break
            if tuple(chosen) not in states:
                states.update(self._branch_states(trie.branch_rows(chosen), cache, length))
                steps += 1
            chosen.append(allowed[int(torch.argmax(self._logits(states[tuple(chosen)],
                                                                allowed)))])
        pick = trie.matching(chosen)[0]
        t2 = time.perf_counter()
        return {"answer": names[pick], "choice": pick, "prompt_tokens": prompt.length,
                "new_tokens": len(trie.sequences[pick]) - 1, "decode_steps": steps,
                "prefill_s": t1 - t0, "decode_s": t2 - t1, "seconds": t2 - t0}

    def _branch_states(self, rows: list[tuple[int, ...]], cache, length: int) -> dict:
        """One batched forward of `rows` (token prefixes of candidate names) after the
        prompt: {prefix: hidden state after its last token} for every prefix of every row."""
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.end_ids[0], dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        cache.batch_repeat_interleave(len(rows))
        out = self.llm.base_model(input_ids=ids, cache=cache, use_cache=True,
                                  attention_mask=torch.ones(len(rows), length + width,
                                                            dtype=torch.long))
        return {r[: j + 1]: out.last_hidden_state[i, j]
                for i, r in enumerate(rows) for j in range(len(r))}

    @torch.inference_mode()
    def generate(self, prompts: list[Prompt], max_new_tokens: int = 16) -> list[dict]:
        """Greedy answers for a batch (left-padded); text + token counts + seconds."""
        seqs = [self._embed(p) for p in prompts]
        width = max(s.shape[0] for s in seqs)
        x = torch.zeros(len(seqs), width, seqs[0].shape[1], dtype=self.dtype)
        mask = torch.zeros(len(seqs), width, dtype=torch.long)
        for i, s in enumerate(seqs):
            x[i, width - s.shape[0]:] = s
            mask[i, width - s.shape[0]:] = 1
        t0 = time.perf_counter()
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.end_ids[0]
        out = self.llm.generate(inputs_embeds=x, attention_mask=mask, do_sample=False,
                                max_new_tokens=max_new_tokens, eos_token_id=self.end_ids,
                                pad_token_id=pad)
        seconds = time.perf_counter() - t0
        results = []
        for i, p in enumerate(prompts):
            ids = out[i].tolist()
            n_new = next((k for k, t in enumerate(ids) if t in self.end_ids), len(ids))
            results.append({"answer": self.tok.decode(ids[:n_new], skip_special_tokens=True
                                                      ).strip(),
                            "prompt_tokens": p.length, "new_tokens": n_new,
                            "seconds": seconds / len(prompts)})
        return results


# ---- training the projector ------------------------------------------------------------

@dataclass
class ProjectorTrainConfig:
    epochs: int = 1
    batch: int = 16
    lr: float = 1e-3
    seed: int = 0
    choice_weight: float = 1.0


@torch.no_grad()
def name_embeddings(gllm: GraphLLM) -> torch.Tensor:
    """(N, hidden) mean LLM input embedding of each entity's name tokens (float32)."""
    emb = gllm.llm.get_input_embeddings().weight.float()
    rows = []
    for e in gllm.kg.entities:
        ids = gllm._ids(" " + e.name)[:16] or [gllm.end_ids[0]]
        rows.append(emb[ids].mean(0))
    return torch.stack(rows)


def train_projector(gllm: GraphLLM, examples: list[tuple],
                    cfg: ProjectorTrainConfig, progress: bool = True, log=print,
                    params: list[torch.nn.Parameter] | None = None, what: str = "graph tokens"
                    ) -> dict:
    """Answer-only next-token loss plus the candidate-choice loss; `examples` are
    (Prompt, answer text, candidate names or None). Trains the projector, or `params`
    (the text path's LoRA factors, for the baseline trained on the same budget)."""

    t0 = time.perf_counter()
    rng = random.Random(cfg.seed)
    params = list(params) if params is not None else list(gllm.projector.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    steps = cfg.epochs * math.ceil(len(examples) / cfg.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.05, 1 - s / steps))
    history = []
    bar = tqdm(total=steps, desc=what, disable=not progress)
    gllm.projector.train()
    for _ in range(cfg.epochs):
        order = list(range(len(examples)))
        rng.shuffle(order)
        for i in range(0, len(order), cfg.batch):
            chunk = [examples[j] for j in order[i : i + cfg.batch]]
            loss = gllm.loss([e[0] for e in chunk], [e[1] for e in chunk],
                             [e[2] or [] for e in chunk], cfg.choice_weight)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            history.append(round(loss.item(), 4))
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    gllm.projector.eval()
    seconds = time.perf_counter() - t0
    log(f"{what}: {steps} steps in {seconds:.0f}s, loss {history[0] if history else 0:.3f}"
        f" -> {history[-1] if history else 0:.3f}")
    return {"seconds": round(seconds, 1), "steps": steps,
            "loss_first": history[0] if history else None,
            "loss_last": history[-1] if history else None, "config": asdict(cfg)}


def add_text_lora(llm, rank: int = 8) -> list[torch.nn.Parameter]:
    """LoRA (peft) on the LLM's attention projections, for the text path trained on the same
    budget as the graph tokens; returns the trainable factors. Changes `llm` in place."""
    import warnings

    from peft import LoraConfig, get_peft_model  # the trained text baseline only

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing")
        get_peft_model(llm, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                       target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    return [p for n, p in llm.named_parameters() if "lora_" in n]
