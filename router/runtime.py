"""The router at run time: load a registered version, route queries (batched early exit,
calibrated, abstaining), and score it on labelled queries."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from experts.artifact import torch_dynamic_int8
from experts.core.assets import offline
from experts.core.errors import ArtifactError, TinyExpertsError
from experts.core.stats import percentile
from experts.data.formats import plain_punctuation
from router import NAME
from router.calibrate import ece, exact_match
from router.data import INTENTS, OUTPUTS, Query
from router.model import (
    ABSTAINED_SET,
    N_BITS,
    RouterModel,
    bit_probs,
    chosen_sets,
    confidence,
)

MAX_QUERY_CHARS = 2000


def fast_tokenizer(tokenizer, max_length: int):
    """The Rust tokenizer under a transformers fast tokenizer, set to pad to the longest
    text and truncate at `max_length`: the same ids and mask as calling the transformers
    tokenizer with padding=True, truncation=True (tested), in 0.1 ms instead of 0.23 ms for
    one query — its Python wrapping is a tenth of a router call at batch 1. A copy, so the
    transformers tokenizer keeps its own settings."""

    fast = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    fast.enable_truncation(max_length=max_length)
    fast.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
    return fast


def as_served(model: RouterModel) -> RouterModel:
    """The router as served: its layers int8 (dynamic quantization, per-channel weights);
    the 13-output heads stay float, where quantizing the input costs more than it saves."""

    served = torch_dynamic_int8(model)
    served.exits, served.classifier = model.exits, model.classifier
    served.embedding_exit = model.embedding_exit
    return served


@dataclass
class Router:
    model: RouterModel
    tokenizer: object
    calibration: dict
    version: str = ""

    @classmethod
    def load(cls, folder: Path, version: str = "", int8: bool = True) -> Router:

        offline()
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            calib = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
            model = RouterModel.skeleton(config)

            model.load_state_dict(load_file(str(folder / "model.safetensors")))
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise ArtifactError(f"cannot load the router ({str(err)[:120]})", where=str(folder),
                                fix="rebuild it: `tinyexperts build --experts router --force`"
                                ) from None
        model.eval()
        if int8:
            model = as_served(model)
        return cls(model, AutoTokenizer.from_pretrained(str(folder)), calib, version)

    @classmethod
    def from_registry(cls, registry, version: str | None = None, int8: bool = True) -> Router:
        version = version or registry.active(NAME)
        registry.verify(NAME, version)
        return cls.load(registry.path(NAME, version), version, int8)

    def __post_init__(self) -> None:
        self._fast = fast_tokenizer(self.tokenizer, self.model.head_config.max_length)

    def _encode(self, texts: list[str]) -> dict:
        """input_ids and attention_mask, padded to the longest text, cut where
        training cut (the model's max_length); punctuation read as ASCII, as the experts
        read it (`plain_punctuation`)."""
        texts = [plain_punctuation(t) for t in texts]
        encodings = self._fast.encode_batch(texts) if len(texts) > 1 else \
            [self._fast.encode(texts[0])]
        return {"input_ids": torch.tensor([e.ids for e in encodings]),
                "attention_mask": torch.tensor([e.attention_mask for e in encodings])}

    def decide(self, texts: list[str], early_exit: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated logits and exit layers; without early exit every row runs full depth."""
        enc = self._encode(texts)
        if not early_exit:
            return self.model.full_depth(enc["input_ids"], enc["attention_mask"],
                                         self.calibration["temperatures"][-1])
        return self.model.early_exit(enc["input_ids"], enc["attention_mask"],
                                     self.calibration["thresholds"],
                                     self.calibration["temperatures"])

    def route(self, texts: list[str], early_exit: bool = True) -> list[dict]:
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise TinyExpertsError("empty query", where=f"query {i}",
                                       fix="send some text to route")
            if len(t) > MAX_QUERY_CHARS:
                raise TinyExpertsError(f"query of {len(t)} characters is too long",
                                       where=f"query {i}", fix=f"send at most {MAX_QUERY_CHARS}")
        logits, exits = self.decide(texts, early_exit)
        probs = bit_probs(logits)
        sets = chosen_sets(logits).tolist()
        conf = confidence(logits)
        intents = logits[:, N_BITS:].softmax(-1)
        out = []
        for i in range(len(texts)):
            chosen = [o for o, c in zip(OUTPUTS, sets[i], strict=True) if c]
            abstained = float(conf[i]) < self.calibration["abstain_below"]
            experts = [o for o in chosen if o != "llm"]
            decision = ("abstain" if abstained else "llm" if "llm" in chosen and not experts
                        else "experts" if experts else "no_expert")
            out.append({
                "decision": decision,
                "experts": [] if abstained else experts,
                "llm": abstained or "llm" in chosen,
                "intent": INTENTS[int(intents[i].argmax())],
                "intent_confidence": round(float(intents[i].max()), 4),
                "confidence": round(float(conf[i]), 4),
                "exit_layer": int(exits[i]) + self.model.exit_offset,  # layers run
                "layers": len(self.model.encoder.encoder.layer),
                "scores": {o: round(p, 4) for o, p in zip(OUTPUTS, probs[i].tolist(),
                                                           strict=True)},
            })
        return out


def evaluate_router(router: Router, rows: list[Query], batch_size: int = 64) -> dict:
    """Exact match of the expert set, intent accuracy, out-of-scope recall, ECE, exits."""
    targets = torch.tensor([q.target() for q in rows])
    results = {}
    for mode in ("early_exit", "full_depth"):
        logits, exits = [], []
        for i in range(0, len(rows), batch_size):
            lg, ex = router.decide([q.text for q in rows[i: i + batch_size]],
                                   early_exit=mode == "early_exit")
            logits.append(lg)
            exits.append(ex)
        lg, ex = torch.cat(logits), torch.cat(exits)
        correct = exact_match(lg, targets)
        abstain = confidence(lg) < router.calibration["abstain_below"]
        sets = chosen_sets(lg)
        served = torch.where(abstain[:, None], ABSTAINED_SET, sets)
        oos = targets.sum(-1) == 0
        said_none = ~sets.any(-1) & ~abstain
        intents = torch.tensor([INTENTS.index(q.intent) for q in rows])
        results[mode] = {
            "exact_match": float(correct.float().mean()),  # the chosen set, abstained or not
            "served_exact_match": float((served == targets.bool()).all(-1).float().mean()),
            "intent_accuracy": float((lg[:, N_BITS:].argmax(-1) == intents).float().mean()),
            "out_of_scope_recall": float(said_none[oos].float().mean()) if oos.any() else None,
            "recall_by_expert": {  # of the queries needing it, the share that call it
                o: float((sets[:, j] & ~abstain)[targets[:, j] == 1]
                         .float().mean())
                for j, o in enumerate(OUTPUTS) if (targets[:, j] == 1).any()},
            "abstained": float(abstain.float().mean()),
            "ece": ece(bit_probs(lg), targets),
            "mean_exit_layer": float(ex.float().mean()) + router.model.exit_offset,
            # queries per exit, in order (the embedding exit first when there is one)
            "exit_histogram": torch.bincount(ex, minlength=len(router.model.exit_heads())
                                             ).tolist(),
            "exact_match_by_phrasing": {
                kind: float(correct[torch.tensor([q.phrasing == kind for q in rows])]
                            .float().mean())
                for kind in sorted({q.phrasing for q in rows if q.phrasing})},
        }
    results["n_examples"] = len(rows)
    results["exit_offset"] = router.model.exit_offset
    results["early_exit_vs_full_accuracy"] = (results["early_exit"]["exact_match"]
                                              / max(results["full_depth"]["exact_match"], 1e-9))
    return results


def route_latency(router: Router, texts: list[str], batch_size: int, early_exit: bool,
                  runs: int = 20, warmup: int = 3) -> dict:
    """ms per routing call of `batch_size` queries (tokenisation included).

    Run r routes texts[r * batch_size:(r + 1) * batch_size] (wrapping around), so the calls
    walk through the query mix and the two modes see the same queries in the same order:
    at batch 1, always timing texts[0] would time wherever that one query happens to exit."""
    def batch(r: int) -> list[str]:
        return [texts[(r * batch_size + i) % len(texts)] for i in range(batch_size)]

    for r in range(warmup):
        router.decide(batch(r), early_exit)
    times = []
    for r in range(runs):
        b = batch(r)
        t0 = time.perf_counter()
        router.decide(b, early_exit)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(percentile(times, 50), 3), "mean_ms":
            round(statistics.fmean(times), 3), "p99_ms": round(percentile(times, 99), 3)}
