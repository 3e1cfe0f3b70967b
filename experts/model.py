"""An expert = a BERT-style encoder (MiniLM for teachers) + one task head, in one file.

- classify / pair: mean-pooled, L2-normalised sentence vector -> linear head (a cosine
  classifier; with `prototype` rows it starts from the encoded label descriptions);
- tag: every token's vector -> linear head (labels on first sub-tokens only).

Saved as `config.json` ({"encoder": BertConfig dict, "head": HeadConfig, "structure":
per-layer sizes after pruning, "backend"}) and `model.safetensors`; no pickle anywhere.
Every artifact format (fp32, pruned, torch int8, ONNX Runtime int8) loads through
`experts.artifact.load_expert_model`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import BertConfig, BertModel

from experts.specs import TaskKind
from experts.structure import apply_structure, structure

PROTOTYPE_SCALE = 20.0  # logit scale for cosine heads (softmax over cos in [-1, 1] is too flat)


@dataclass
class HeadConfig:
    task: TaskKind
    num_labels: int
    max_length: int
    # how the text is rewritten before tokenising: "" as it is, "years" model years spelled
    # out (experts.data.model_years); set from the expert's spec when its teacher is made
    text_form: str = ""
    # tagging: the entity types whose spans hold a digit (the spec's `code_types` that the
    # teacher's training data agree with); None, in artifacts made before: the spec's
    code_types: tuple[str, ...] | None = None


class ExpertModel(nn.Module):
    def __init__(self, encoder_config: BertConfig, head: HeadConfig) -> None:
        super().__init__()
        self.head_config = head
        self.encoder = BertModel(encoder_config, add_pooling_layer=False)
        self.dropout = nn.Dropout(encoder_config.hidden_dropout_prob)
        self.classifier = nn.Linear(encoder_config.hidden_size, head.num_labels)
        # tokenizer id -> embedding row, once the vocabulary is pruned (None before)
        self.register_buffer("vocab_map", None)
        # embedding row -> the tokenizer id that owns it (None before pruning, and in
        # artifacts pruned before ids read their nearest kept row)
        self.register_buffer("vocab_owner", None)
        self.frozen: list[str] = []  # module prefixes frozen by specialization
        # prompt tuning: P trained input vectors inserted after [CLS] (None = no prompt)
        self.prompt: nn.Parameter | None = None

    @property
    def task(self) -> TaskKind:
        return self.head_config.task

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Token vectors (B, T, H) for tagging, else normalised sentence vectors (B, H)."""
        if self.vocab_map is not None:
            input_ids = self.vocab_map[input_ids]
        if self.prompt is None:
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)
        else:
            h = self._embed_with_prompt(input_ids, attention_mask, token_type_ids)
        if self.task == "tag":
            return h
        return mean_pool(h, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits: (B, T, L) for tagging, (B, L) otherwise."""
        return self.classifier(self.dropout(self.embed(input_ids, attention_mask,
                                                       token_type_ids)))

    def _embed_with_prompt(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        """Encoder states with the prompt vectors after [CLS]; the prompt positions are cut
        from the output, so tagging and pooling see the same positions as without it."""
        b, p = input_ids.shape[0], self.prompt.shape[0]
        words = self.encoder.embeddings.word_embeddings(input_ids)  # (B, T, H)
        prompt = self.prompt.to(words.dtype).expand(b, -1, -1)
        embeds = torch.cat([words[:, :1], prompt, words[:, 1:]], dim=1)
        mask = torch.cat([attention_mask[:, :1], attention_mask.new_ones(b, p),
                          attention_mask[:, 1:]], dim=1)
        types = None
        if token_type_ids is not None:
            types = torch.cat([token_type_ids[:, :1], token_type_ids.new_zeros(b, p),
                               token_type_ids[:, 1:]], dim=1)
        h = self.encoder(inputs_embeds=embeds, attention_mask=mask,
                         token_type_ids=types).last_hidden_state
        return torch.cat([h[:, :1], h[:, 1 + p:]], dim=1)

    def set_prompt(self, vectors: torch.Tensor) -> None:
        """Add (or replace) a trainable prompt of P input vectors (P, H)."""
        self.prompt = nn.Parameter(vectors.detach().clone().float())

    def set_prototypes(self, label_vectors: torch.Tensor) -> None:
        """Start the head from label embeddings (L, H): logits = scale * cos(x, label)."""
        with torch.no_grad():
            self.classifier.weight.copy_(F.normalize(label_vectors, dim=-1) * PROTOTYPE_SCALE)
            self.classifier.bias.zero_()

    def set_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Replace the task head with one of these rows (L, H) and biases (L,), e.g. a
        merged union of label spaces or a subset of the labels."""
        self.classifier = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.classifier.weight.copy_(weight)
            self.classifier.bias.copy_(bias)
        self.head_config.num_labels = weight.shape[0]

    def num_params(self) -> int:
        n = sum(p.numel() for p in self.parameters())
        for m in self.modules():  # dynamically quantized Linears keep packed weights
            if hasattr(m, "_weight_bias") and not isinstance(getattr(m, "_packed_params", None),
                                                               nn.Module):
                w, b = m._weight_bias()
                n += w.numel() + (b.numel() if b is not None else 0)
        return n

    # ---- files ------------------------------------------------------------------------

    def config_dict(self, backend: str = "torch-fp32") -> dict:
        return {"encoder": self.encoder.config.to_dict(), "head": asdict(self.head_config),
                "structure": structure(self), "frozen": self.frozen, "backend": backend,
                "prompt_tokens": 0 if self.prompt is None else int(self.prompt.shape[0]),
                "params": self.num_params()}

    def save(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.config_dict(), indent=1),
                                            encoding="utf-8")
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        return [folder / "config.json", folder / "model.safetensors"]

    @classmethod
    def skeleton(cls, config: dict) -> ExpertModel:
        """A model with the recorded sizes (pruned heads/neurons/vocab); weights random."""
        model = cls(BertConfig.from_dict(config["encoder"]), HeadConfig(**config["head"]))
        apply_structure(model, config.get("structure") or {})
        model.frozen = list(config.get("frozen") or [])
        if config.get("prompt_tokens"):
            model.set_prompt(torch.zeros(config["prompt_tokens"], model.encoder.config.hidden_size))
        return model

    @classmethod
    def load(cls, folder: Path) -> ExpertModel:
        model = cls.skeleton(read_config(folder))
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model.eval()

    @classmethod
    def from_encoder(cls, encoder_dir: Path, head: HeadConfig) -> ExpertModel:
        """A new expert on a pretrained encoder folder (MiniLM); the head is random."""
        encoder = BertModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
        model = cls(encoder.config, head)
        model.encoder = encoder
        return model


def read_config(folder: Path) -> dict:
    """An artifact's config.json: encoder, head, structure, backend."""
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


def canonical(name: str) -> str:
    """A parameter name without peft's wrapping (`base_model.model.`, `.base_layer`)."""
    return name.replace("base_model.model.", "").replace(".base_layer", "")


def mean_pool(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, H)
    return F.normalize(pooled, dim=-1)


def tiny_encoder_config(vocab_size: int = 30522) -> BertConfig:
    """A 2-layer, 64-dim BERT for unit tests (random weights, same tokenizer)."""
    return BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=128,
                      max_position_embeddings=128)
