"""Examples -> model inputs. One collate for training, evaluation, latency and serving.

Tagging follows the usual word alignment: the first sub-token of each word carries the
word's label, the other sub-tokens and special tokens get -100 so the loss ignores them.
"""

from __future__ import annotations

import torch

from experts.data.formats import (
    Example,
    PairExample,
    TagExample,
    TextExample,
    plain_punctuation,
    split_words,
)
from experts.data.model_years import spell_out_years
from experts.specs import TaskKind

IGNORE = -100

# input rewrites a model can be trained and served with (HeadConfig.text_form); tagging
# keeps its words as they are, so these apply to texts and pairs
TEXT_FORMS = {"": lambda text: text, "years": spell_out_years}


def encode(tokenizer, kind: TaskKind, examples: list[Example], max_length: int,
           label_to_id: dict[str, int] | None = None, text_form: str = ""
           ) -> dict[str, torch.Tensor]:
    """Tokenise a batch; adds `labels` when `label_to_id` is given. `text_form` names the
    rewrite the model was trained with (`TEXT_FORMS`; its HeadConfig records it). Every
    text and word is read with plain ASCII punctuation (`plain_punctuation`).

    For tagging also returns `word_index` (B, T): the word each first sub-token starts,
    -1 elsewhere, so predictions map back to words.
    """
    if kind == "tag":
        return _encode_tags(tokenizer, examples, max_length, label_to_id)
    rewrite = TEXT_FORMS[text_form]

    def form(text: str) -> str:
        return rewrite(plain_punctuation(text))

    if kind == "pair":
        batch = tokenizer([form(e.a) for e in examples], [form(e.b) for e in examples],
                          padding=True,
                          truncation="longest_first", max_length=max_length,
                          return_tensors="pt")
    else:
        batch = tokenizer([form(e.text) for e in examples], padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt")
    out = dict(batch)
    if label_to_id is not None:
        out["labels"] = torch.tensor([label_to_id.get(e.label, IGNORE) for e in examples])
    return out


def _encode_tags(tokenizer, examples: list[TagExample], max_length: int,
                 label_to_id: dict[str, int] | None) -> dict[str, torch.Tensor]:
    batch = tokenizer([[plain_punctuation(w) for w in e.tokens] for e in examples],
                      is_split_into_words=True,
                      padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
    word_index = torch.full_like(batch["input_ids"], -1)
    labels = torch.full_like(batch["input_ids"], IGNORE)
    for i, ex in enumerate(examples):
        previous = None
        for j, w in enumerate(batch.word_ids(i)):
            if w is not None and w != previous:
                word_index[i, j] = w
                if label_to_id is not None:
                    labels[i, j] = label_to_id.get(ex.tags[w], IGNORE)
            previous = w
    out = dict(batch)
    out["word_index"] = word_index
    if label_to_id is not None:
        out["labels"] = labels
    return out


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}


def as_examples(kind: TaskKind, inputs: list) -> list[Example]:
    """Raw request inputs (str, (a, b) or {"a","b"}, word lists) -> unlabeled examples."""

    out: list[Example] = []
    for x in inputs:
        if kind == "pair":
            a, b = (x["a"], x["b"]) if isinstance(x, dict) else x
            out.append(PairExample(str(a), str(b), ""))
        elif kind == "tag":
            words = split_words(x) if isinstance(x, str) else [str(w) for w in x]
            out.append(TagExample(tuple(words), tuple("O" for _ in words)))
        else:
            out.append(TextExample(str(x), ""))
    return out
