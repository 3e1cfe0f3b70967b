"""`tinyexperts adapt`: re-specialize one expert on new data, optionally without forgetting.

Methods (all train through `experts.train.fine_tune`, so early stopping, warm-up and the
progress bar are the same as for teachers):
- `finetune`: every encoder weight (word embeddings stay frozen, as in teacher training);
- `lora`: peft LoRA on every attention and feed-forward Linear; after training the update is
  folded into the weights (the served model is as fast as before) and the factors are kept
  in `lora.safetensors` for KnOTS merging;
- `prompt`: P trained input vectors after [CLS] (`ExpertModel.set_prompt`), encoder frozen.
  Written here rather than with peft's prompt-tuning wrapper: for encoders that wrapper
  drops BERT's token-type ids (the pair expert needs them) and returns the virtual
  positions in the output, which the tagging head would have to cut anyway;
- `hybrid`: fine-tune on a small share of the data, then prompt-tune on all of it.

`--ewc LAMBDA` works with any method: the diagonal Fisher of the parent on the previous
task's data (normalised to mean 1, so λ means the same across experts) anchors the weights
the parent had; for LoRA the anchored quantity is the folded update `B·A`. The Fisher is
stored in the new artifact (`fisher.safetensors`, fp16) with the version it belongs to.

Every adapted version records where it started (`base`: the pretrained MiniLM or a
registered version, with a digest of its encoder weights — merging checks it), the data it
saw (path, sha256, sizes) and its metrics on the new test split and on the parent's test
split (`forgetting` = parent score − adapted score there).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer

from experts.artifact import backend_of
from experts.core.assets import minilm_dir
from experts.core.errors import TinyExpertsError
from experts.core.registry import Registry
from experts.data.datasets import (
    ExpertData,
    critical_types,
    data_record,
    load_data_path,
    recorded_data,
    with_replay,
)
from experts.evaluate import evaluate, quality
from experts.ewc import EWC, fisher_diagonal
from experts.forgetting import KeepParent, rebalance_new_labels
from experts.model import canonical
from experts.predictor import Predictor, load_predictor
from experts.specs import ExpertSpec, get_spec
from experts.teacher import encode_texts, new_teacher
from experts.train import cross_entropy, fine_tune, seed_everything

METHODS = ("finetune", "lora", "prompt", "hybrid")
BASE = "base"  # `--from base`: start from the pretrained MiniLM with a new head
BASE_REF = "minilm"
LORA_TARGETS = ["query", "key", "value", "dense"]  # every Linear of every encoder layer
DEFAULT_LR = {"lora": 5e-4, "prompt": 1e-2}  # finetune: the expert's own teacher lr


@dataclass
class AdaptConfig:
    method: str = "lora"
    epochs: int | None = None  # default: the expert's teacher epochs
    lr: float | None = None
    rank: int = 8
    alpha: int = 16
    prompt_tokens: int = 16
    hybrid_fraction: float = 0.2  # share of the data the hybrid's fine-tuning stage sees
    ewc: float = 0.0
    replay: float = 0.0  # share of the parent's training rows trained on again
    lwf: float = 0.0  # weight of keeping the parent's distribution over its own labels (KD)
    rebalance: bool = False  # offset the new labels' logits, chosen on validation
    fisher_samples: int = 256
    freeze: tuple[str, ...] = ()  # "embeddings", "layer.0", ... (finetune, lora, hybrid)
    quick: bool = False
    seed: int = 0

    def check(self, spec: ExpertSpec) -> None:
        def bad(what: str, fix: str) -> TinyExpertsError:
            return TinyExpertsError(what, where="adapt options", fix=fix)

        if self.method not in METHODS:
            raise bad(f"unknown method {self.method!r}", f"use one of: {', '.join(METHODS)}")
        if self.epochs is not None and not 1 <= self.epochs <= 50:
            raise bad(f"--epochs {self.epochs} is outside 1..50", "pass e.g. --epochs 2")
        if self.lr is not None and not 0 < self.lr < 1:
            raise bad(f"--lr {self.lr} is outside (0, 1)", "pass e.g. --lr 5e-4")
        if not 1 <= self.rank <= 256:
            raise bad(f"--rank {self.rank} is outside 1..256", "pass e.g. --rank 8")
        if not 1 <= self.prompt_tokens <= 128:
            raise bad(f"--prompt-tokens {self.prompt_tokens} is outside 1..128",
                      "pass e.g. --prompt-tokens 16")
        if not 0 < self.hybrid_fraction < 1:
            raise bad(f"hybrid fraction {self.hybrid_fraction} is outside (0, 1)",
                      "pass e.g. --hybrid-fraction 0.2")
        if self.ewc < 0:
            raise bad(f"--ewc {self.ewc} is negative", "pass λ ≥ 0, e.g. --ewc 100")
        if not 0 <= self.replay <= 1:
            raise bad(f"--replay {self.replay} is outside 0..1",
                      "pass the share of the old training rows, e.g. --replay 0.2")
        if not 0 <= self.lwf <= 100:
            raise bad(f"--lwf {self.lwf} is outside 0..100",
                      "pass the weight of the parent's distribution, e.g. --lwf 1 (0 = off)")
        if self.rebalance and self.replay <= 0:
            raise bad("--rebalance chooses the offset on old and new validation rows, which "
                      "only replay brings in", "add --replay, e.g. --replay 0.2")
        if self.freeze and self.method == "prompt":
            raise bad("--freeze has nothing to freeze with --method prompt (the encoder is "
                      "frozen already)", "drop --freeze or use finetune / lora / hybrid")
        for f in self.freeze:
            freeze_prefix(f)


def freeze_prefix(name: str, layers: int = 64) -> str:
    """`embeddings` / `layer.N` -> the parameter-name prefix it freezes."""
    if name == "embeddings":
        return "encoder.embeddings."
    if name.startswith("layer.") and name[6:].isdigit() and int(name[6:]) < layers:
        return f"encoder.encoder.layer.{int(name[6:])}."
    raise TinyExpertsError(f"cannot freeze {name!r}", where="--freeze",
                           fix="name `embeddings` or `layer.N` (N from 0), comma-separated")


# ---- data ---------------------------------------------------------------------------------

def previous_data(manifest, expert: str) -> ExpertData | None:
    """The data a registered version was trained on, or None when it is gone (adapt can
    still run; only EWC, which needs it, refuses)."""
    try:
        return recorded_data(manifest, expert)
    except TinyExpertsError:
        return None


# ---- models -------------------------------------------------------------------------------

def encoder_digest(model) -> str:
    """sha256 over the encoder's tensors (names, shapes, bytes): identifies a merge base."""
    h = hashlib.sha256()
    for name, t in sorted(model.encoder.state_dict().items()):
        h.update(canonical(name).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def extend_head(predictor: Predictor, labels: list[str], info: dict) -> list[str]:
    """Append rows for labels the parent never had (prototype rows if it uses them)."""

    new = [lab for lab in labels if lab not in predictor.labels]
    if not new:
        return []
    model, old = predictor.model, predictor.model.classifier
    with torch.no_grad():
        texts = [info.get(lab, {}).get("description", lab) for lab in new]
        vecs = encode_texts(model, predictor.tokenizer, texts)  # normalised already
        weight = torch.cat([old.weight, vecs * old.weight.norm(dim=1).mean()])
        bias = torch.cat([old.bias, old.bias.mean().expand(len(new))])
    model.set_head(weight, bias)
    predictor.labels = [*predictor.labels, *new]
    predictor.label_info = {**predictor.label_info, **{k: info[k] for k in new if k in info}}
    return new


def add_lora(model, cfg: AdaptConfig) -> None:
    from peft import LoraConfig, get_peft_model  # LoRA only; peft is slow to import

    with warnings.catch_warnings():  # peft reads an attribute transformers 5 renamed
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing")
        model.encoder = get_peft_model(model.encoder, LoraConfig(
            r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0, target_modules=LORA_TARGETS))


def fold_lora(model) -> dict[str, torch.Tensor]:
    """Fold the LoRA updates into the weights; return the factors `{module}.lora_B` (scaled)
    and `{module}.lora_A`, with B·A == the update each weight received."""
    from peft.tuners.lora import LoraLayer  # LoRA only; peft is slow to import

    factors: dict[str, torch.Tensor] = {}
    for name, module in model.encoder.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            key = "encoder." + canonical(name)
            scale = module.scaling["default"]
            factors[f"{key}.lora_A"] = module.lora_A["default"].weight.detach().clone()
            factors[f"{key}.lora_B"] = module.lora_B["default"].weight.detach().clone() * scale
    model.encoder = model.encoder.merge_and_unload()
    return factors


def add_prompt(predictor: Predictor, tokens: int) -> None:
    """A prompt initialised from the word vectors of the expert's own description."""
    spec = get_spec(predictor.name)
    model = predictor.model
    ids = predictor.tokenizer(spec.description, add_special_tokens=False)["input_ids"]
    ids = (ids * (tokens // max(1, len(ids)) + 1))[:tokens]
    table = model.encoder.embeddings.word_embeddings.weight
    rows = model.vocab_map[torch.tensor(ids)].long() if model.vocab_map is not None \
        else torch.tensor(ids)
    model.set_prompt(table[rows].detach())


def train_only(model, keep: Callable[[str], bool]) -> None:
    for name, p in model.named_parameters():
        p.requires_grad_(keep(canonical(name)))


# ---- the command --------------------------------------------------------------------------

def start_predictor(expert: str, parent: str, registry: Registry, data: ExpertData,
                    log: Callable = print) -> tuple[Predictor, dict]:
    """The model adaptation starts from, and what it is (`base` record for merging)."""

    if parent == BASE:
        tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
        predictor = new_teacher(expert, data.labels, data.label_info, tokenizer,
                                train=data.splits["train"], log=log)
        return predictor, {"ref": BASE_REF, "sha256": encoder_digest(predictor.model)}

    version = parent or registry.active(expert)
    backend = backend_of(registry.path(expert, version))
    if backend != "torch-fp32":
        raise TinyExpertsError(f"{expert} {version} is a {backend} artifact and cannot be "
                               "trained further", where=f"{expert} {version}",
                               fix="adapt an fp32 version: --from vN (`tinyexperts registry "
                                   "list`) or --from base")
    predictor = load_predictor(registry, expert, version)
    return predictor, {"ref": f"{expert}@{version}", "sha256": encoder_digest(predictor.model)}


def adapt(expert: str, data_path: Path, cfg: AdaptConfig, registry: Registry, *,
          parent: str | None = None, activate: bool = False, progress: bool = True,
          log: Callable = print, site: str | None = None, score_previous: bool = True) -> dict:
    """Train a new version of `expert` on `data_path`; register it (optionally activate).
    `score_previous=False` skips scoring parent and result on the parent's test split (the
    forgetting figure) — `update` does that in its gate, for the student it serves."""
    spec = get_spec(expert)
    cfg.check(spec)
    data = load_data_path(expert, data_path, cfg.seed)
    seed_everything(cfg.seed)
    parent_manifest = None if parent == BASE else registry.manifest(expert, parent)
    previous = previous_data(parent_manifest, expert) if parent_manifest else None
    if cfg.lwf > 0 and parent_manifest is None:
        raise TinyExpertsError("--lwf keeps a parent's outputs; --from base has no parent",
                               where="--lwf", fix="drop --lwf, or adapt a registered version")
    for wanted, flag in ((cfg.ewc > 0, "--ewc"), (cfg.replay > 0, "--replay")):
        if wanted and previous is None:
            raise TinyExpertsError(
                f"{flag} needs the previous task's data, and the parent's recorded data "
                "folder is missing" if parent_manifest else
                f"{flag} needs a parent model; --from base has no previous task",
                where=f"{expert} {parent or 'active'}",
                fix=f"drop {flag}, or adapt from a version whose data exists")
    new_only = data
    if cfg.replay > 0:  # train on new + a share of the old; validate on both
        data = with_replay(data, previous, cfg.replay, cfg.seed)
    predictor, base = start_predictor(expert, parent_manifest.version if parent_manifest
                                      else BASE, registry, data, log)
    # the parent as it served, before any head rows are added
    score_previous = score_previous and previous is not None
    before_prev = quality(predictor, previous.splits["test"]) if score_previous else None
    parent_labels = list(predictor.labels)
    parent_model = copy.deepcopy(predictor.model) if cfg.lwf > 0 else None
    new_labels = extend_head(predictor, data.labels, data.label_info)
    keep_parent = KeepParent(parent_model, parent_labels, predictor.labels, cfg.lwf) \
        if parent_model is not None else None
    model = predictor.model

    fisher, ewc = None, None
    if cfg.ewc > 0:
        t = time.perf_counter()
        fisher = fisher_diagonal(predictor, previous.splits["train"], cfg.fisher_samples,
                                 cfg.seed, progress)
        anchor = {canonical(n): p for n, p in model.named_parameters()}
        ewc = EWC(fisher, anchor, cfg.ewc)
        n = min(cfg.fisher_samples, len(previous.splits["train"]))
        log(f"fisher: {len(fisher)} tensors from {n} previous examples in "
            f"{time.perf_counter() - t:.0f}s")

    def loss_fn(logits, batch):
        loss = cross_entropy(logits, batch)
        if keep_parent is not None:
            loss = loss + keep_parent(logits, batch)
        return loss + ewc.penalty(model) if ewc else loss

    frozen = tuple(freeze_prefix(f, model.encoder.config.num_hidden_layers) for f in cfg.freeze)
    train_rows = data.splits["train"]
    lr = cfg.lr or DEFAULT_LR.get(cfg.method) or spec.train.lr
    epochs = cfg.epochs or spec.train.epochs
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=epochs))
    t0 = time.perf_counter()
    stages = []

    def run(rows, stage_lr, desc):
        r = fine_tune(predictor, spec, rows, data.splits["validation"], quick=cfg.quick,
                      seed=cfg.seed, progress=progress, loss_fn=loss_fn, lr=stage_lr,
                      desc=desc)
        stages.append({"stage": desc, "lr": stage_lr, "rows": len(rows), "steps": r.steps,
                       "seconds": round(r.seconds, 1), "best_validation": r.best_metric})
        return r

    lora = None
    if cfg.method == "lora":
        add_lora(model, cfg)
        train_only(model, lambda n: "lora_" in n and not n.startswith(frozen)
                   or n.startswith("classifier."))
        result = run(train_rows, lr, "lora")
        lora = fold_lora(model)
    elif cfg.method == "finetune":
        train_only(model, lambda n: not n.startswith(frozen))
        result = run(train_rows, lr, "finetune")
    else:
        if cfg.method == "hybrid":
            small = random.Random(cfg.seed).sample(
                list(train_rows), max(1, int(len(train_rows) * cfg.hybrid_fraction)))
            train_only(model, lambda n: not n.startswith(frozen))
            run(small, spec.train.lr, "hybrid-finetune")
        add_prompt(predictor, cfg.prompt_tokens)
        train_only(model, lambda n: n == "prompt" or n.startswith("classifier."))
        result = run(train_rows, cfg.lr or DEFAULT_LR["prompt"], "prompt")
    for p in model.parameters():
        p.requires_grad_(True)
    balance = rebalance_new_labels(predictor, new_labels, data.splits["validation"]) \
        if cfg.rebalance else None
    seconds = time.perf_counter() - t0

    test = evaluate(predictor, new_only.splits["test"])
    metrics: dict = {"test": test, "validation": {spec.main_metric: result.best_metric},
                     "train": {"seconds": round(seconds, 1), "stages": stages,
                               "quick": cfg.quick, "new_labels": len(new_labels)}}
    if balance:
        metrics["rebalance"] = balance
    if score_previous:
        after_prev = quality(predictor, previous.splits["test"])
        metrics["previous_test"] = {
            "parent": before_prev, "adapted": after_prev,
            "forgetting": round(before_prev[spec.main_metric] - after_prev[spec.main_metric], 4)}

    def write(folder: Path) -> None:
        predictor.save(folder)
        if lora:
            save_file({k: v.contiguous() for k, v in lora.items()},
                      str(folder / "lora.safetensors"))
        if fisher:
            save_file({k: v.half().contiguous() for k, v in fisher.items()},
                      str(folder / "fisher.safetensors"),
                      metadata={"of_version": parent_manifest.version,
                                "samples": str(cfg.fisher_samples)})

    recipe = {"adapt": {**asdict(cfg), "freeze": list(cfg.freeze), "lr": lr, "epochs": epochs}}
    if lora:
        recipe["adapt"]["lora_targets"] = LORA_TARGETS
    manifest = registry.register(
        expert, write, task=spec.kind,
        base_model=f"adapted from {base['ref']}",
        labels=predictor.labels, critical_labels=list(
            predictor.critical if predictor.critical is not None
            else critical_types(expert, data)),
        parent_version=parent_manifest.version if parent_manifest else None,
        recipe=recipe, params=model.num_params(), metrics=metrics,
        data={**data_record(data_path, cfg.seed),
              "sizes": {k: len(v) for k, v in new_only.splits.items()},
              **({"replay": {"fraction": cfg.replay, "seed": cfg.seed,
                             "rows": len(data.splits["train"]) - len(new_only.splits["train"]),
                             "data": parent_manifest.data}} if cfg.replay > 0 else {}),
              "base": base, **({"site": site} if site else {})})
    if activate:
        registry.activate(expert, manifest.version)
    msg = (f"{expert}: registered {manifest.version} ({cfg.method}"
           f"{f', ewc λ={cfg.ewc:g}' if cfg.ewc else ''}) — new test {spec.main_metric}="
           f"{test[spec.main_metric]:.4f}")
    if score_previous:
        p = metrics["previous_test"]
        msg += (f"; previous test {p['parent'][spec.main_metric]:.4f} -> "
                f"{p['adapted'][spec.main_metric]:.4f} (forgetting {p['forgetting']:+.4f})")
    log(msg + f"; {seconds:.0f}s{'' if not activate else ', activated'}")
    return {"expert": expert, "version": manifest.version, "metrics": metrics,
            "seconds": seconds}
