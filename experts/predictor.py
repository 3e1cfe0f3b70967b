"""A loaded expert that answers requests: the model, its tokenizer and its labels together.

The same object serves the CLI, evaluation and the Ray Serve deployments.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from seqeval.metrics.sequence_labeling import get_entities
from transformers import AutoTokenizer

from experts.artifact import backend_of, load_expert_model
from experts.core.assets import offline
from experts.core.errors import ArtifactError
from experts.core.registry import Registry
from experts.data.formats import Example, TagExample, example_length, plain_punctuation
from experts.encoding import as_examples, encode, model_inputs
from experts.fitment_check import INCOMPATIBLE, fitment_conflict
from experts.model import ExpertModel
from experts.ontology.linker import named_codes
from experts.specs import EXPERTS


@dataclass
class Predictor:
    name: str
    model: ExpertModel
    tokenizer: object
    labels: list[str]
    label_info: dict[str, dict[str, str]] = field(default_factory=dict)
    version: str = ""
    batch_size: int = 64
    backend: str = "torch-fp32"  # what the artifact's config.json records
    # tagging: the entity types F1_critical and coverage are about (the manifest's
    # critical_labels); None = the expert's default types
    critical: tuple[str, ...] | None = None

    @property
    def kind(self):
        return self.model.task

    @torch.inference_mode()
    def logits(self, examples: list[Example]) -> list[torch.Tensor]:
        """Per example: (L,) logits, or (words, L) for tagging (first sub-token of each word)."""
        self.model.eval()
        # batches of similar length (less padding), answers returned in the input order
        order = sorted(range(len(examples)), key=lambda i: example_length(examples[i]))
        examples = [examples[i] for i in order]
        out: list[torch.Tensor] = []
        for i in range(0, len(examples), self.batch_size):
            chunk = examples[i : i + self.batch_size]
            head = self.model.head_config
            batch = encode(self.tokenizer, self.kind, chunk, head.max_length,
                           text_form=head.text_form)
            logits = self.model(**model_inputs(batch))
            if self.kind != "tag":
                out.extend(logits)
                continue
            for b, ex in enumerate(chunk):
                words = torch.full((len(ex.tokens), logits.shape[-1]), float("-inf"))
                words[:, 0] = 0.0  # words cut off by max_length are tagged O
                idx = batch["word_index"][b]
                keep = idx >= 0
                words[idx[keep]] = logits[b][keep]
                out.append(words)
        restored: list[torch.Tensor] = [None] * len(out)  # type: ignore[list-item]
        for pos, i in enumerate(order):
            restored[i] = out[pos]
        return restored

    def predict_tags(self, examples: list[TagExample]) -> list[list[str]]:
        """The likeliest tag per word; a span of a code type with no digit becomes O."""
        tags = [[self.labels[i] for i in lg.argmax(-1).tolist()] for lg in self.logits(examples)]
        codes = self.code_types()
        if not codes:
            return tags
        return [codes_with_digits(ex.tokens, t, codes)
                for ex, t in zip(examples, tags, strict=True)]

    def code_types(self) -> tuple[str, ...]:
        """The entity types that are codes (`ExpertSpec.code_types`): as the model's head
        records them, else (artifacts made before it did) the spec's that its labels have."""
        recorded = self.model.head_config.code_types
        if recorded is not None:
            return tuple(recorded)
        spec = EXPERTS.get(self.name)
        return tuple(t for t in (spec.code_types if spec else ()) if f"B-{t}" in self.labels)

    def stated(self, examples: list[Example]) -> list[tuple[list[str], str | None]]:
        """Per example, the labels its own text settles whatever the model says, and why:
        a pair whose texts rule it out is "incompatible" (`ExpertSpec.fitment_check`); a
        trouble code the text names outright is one it is about (`ExpertSpec.named_codes`).
        ([], None) where the text settles nothing. The rules read the text as the model
        does, with ASCII punctuation (`plain_punctuation`)."""
        spec = EXPERTS.get(self.name)
        out: list[tuple[list[str], str | None]] = [([], None)] * len(examples)
        if self.kind == "pair" and spec and spec.fitment_check and INCOMPATIBLE in self.labels:
            for i, ex in enumerate(examples):
                if why := fitment_conflict(plain_punctuation(ex.a), plain_punctuation(ex.b)):
                    out[i] = ([INCOMPATIBLE], why)
        elif self.kind == "classify" and spec and spec.named_codes:
            known = set(self.labels)
            for i, ex in enumerate(examples):
                if codes := [c for c in named_codes(plain_punctuation(ex.text)) if c in known]:
                    out[i] = (codes, f"the text names {', '.join(codes)}")
        return out

    def rank(self, examples: list[Example], k: int) -> list[list[tuple[str, float]]]:
        """Top-k (label, probability) per example, best first. Labels the text settles
        (`stated`) come first with probability 1; a pair ruled out has no other answer."""
        return self._rank(examples, k, self.stated(examples))

    def _rank(self, examples: list[Example], k: int,
              stated: list[tuple[list[str], str | None]]) -> list[list[tuple[str, float]]]:
        out = []
        for lg, (settled, _) in zip(self.logits(examples), stated, strict=True):
            probs = lg.softmax(-1)
            if settled and self.kind == "pair":
                probs = torch.zeros_like(probs)
                probs[self.labels.index(settled[0])] = 1.0
            top = probs.topk(min(k + len(settled), len(self.labels)))
            model = [(self.labels[i], float(p)) for p, i in zip(top.values, top.indices,
                                                                 strict=True)
                     if self.labels[i] not in settled]
            out.append(([(lab, 1.0) for lab in settled] + model)[:k])
        return out

    def predict(self, inputs: list, top_k: int = 5) -> list[dict]:
        """Answer raw inputs: strings, (a, b) pairs, or word lists for tagging."""
        examples = as_examples(self.kind, inputs)
        if self.kind == "tag":
            return [self._tag_result(ex, tags)
                    for ex, tags in zip(examples, self.predict_tags(examples), strict=True)]
        results = []
        stated = self.stated(examples)
        for ranked, (_, why) in zip(self._rank(examples, top_k, stated), stated, strict=True):
            best, score = ranked[0]
            res: dict = {"label": best, "score": round(score, 4)}
            if why:
                res["reason"] = why
            if self.kind == "classify":
                res["top_k"] = [{"label": lab, "score": round(p, 4),
                                 **self.label_info.get(lab, {})} for lab, p in ranked]
                res.update(self.label_info.get(best, {}))
            results.append(res)
        return results

    def save(self, folder: Path, model_files: Path | None = None) -> None:
        """Write this expert as an artifact: model, tokenizer and labels. An int8 model is
        saved by its quantize step; pass that step's folder as `model_files`."""
        folder.mkdir(parents=True, exist_ok=True)
        if model_files is None:
            self.model.save(folder)
        else:
            for f in model_files.iterdir():
                shutil.copy2(f, folder / f.name)
        self.tokenizer.save_pretrained(str(folder))
        (folder / "labels.json").write_text(json.dumps(self.label_info), encoding="utf-8")

    @staticmethod
    def _tag_result(ex: TagExample, tags: list[str]) -> dict:
        entities = [
            {"type": typ, "text": " ".join(ex.tokens[s : e + 1]), "start": s, "end": e + 1}
            for typ, s, e in get_entities(tags)
        ]
        return {"words": list(ex.tokens), "tags": tags, "entities": entities}


def has_digit(words) -> bool:
    return any(c.isdigit() for w in words for c in w)


def codes_with_digits(words, tags: list[str], code_types: tuple[str, ...]) -> list[str]:
    """`tags` (IOB2) with every span of a type in `code_types` that has no digit set to O:
    a part number is a code ("BKR5E", "0242236541"), so a lone word tagged as one ("no" in
    "part no . 7090") is a filler word, not an entity."""
    out = list(tags)
    for typ, start, end in get_entities(list(tags)):
        if typ in code_types and not has_digit(words[start : end + 1]):
            out[start : end + 1] = ["O"] * (end + 1 - start)
    return out


def load_predictor(registry: Registry, name: str, version: str | None = None) -> Predictor:
    """Verify, then load an expert version. Never loads a file that fails its hash."""
    version = version or registry.active(name)
    manifest = registry.verify(name, version)
    folder = registry.path(name, version)
    offline()
    model = load_expert_model(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    info = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    if model.head_config.num_labels != len(manifest.labels):
        raise ArtifactError(
            f"model has {model.head_config.num_labels} outputs but the manifest lists "
            f"{len(manifest.labels)} labels", where=str(folder), fix="re-register the model")
    return Predictor(name, model, tokenizer, manifest.labels, info, version,
                     backend=backend_of(folder), critical=tuple(manifest.critical_labels))
