"""Text features of entities: MiniLM sentence vectors (mean-pooled, L2-normalised)."""

from __future__ import annotations

import torch
from tqdm import tqdm
from transformers import AutoModel, AutoTokenizer

from experts.core.assets import minilm_dir
from experts.model import mean_pool


def load_text_encoder(encoder_dir=None):
    """(model, tokenizer) of the pretrained MiniLM (or of a folder holding a BERT)."""

    folder = str(encoder_dir or minilm_dir())
    return AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


@torch.inference_mode()
def text_vectors(texts: list[str], model, tokenizer, batch: int = 64, max_length: int = 48,
                 progress: bool = False) -> torch.Tensor:
    """(N, H) float32 sentence vectors for `texts`."""

    out = []
    steps = range(0, len(texts), batch)
    for i in tqdm(steps, desc="text features", disable=not progress, leave=False):
        enc = tokenizer(texts[i : i + batch], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        h = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                  ).last_hidden_state
        out.append(mean_pool(h, enc["attention_mask"]).float())
    if not out:
        return torch.zeros(0, model.config.hidden_size)
    return torch.cat(out)
