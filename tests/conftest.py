"""Shared fixtures: a tiny ontology, a tiny random expert, a registry in a temp folder."""

from __future__ import annotations

import pytest
import torch

from experts.core.assets import minilm_dir, offline

# A slice of the real OBD-II table: enough codes for every subsystem the tests check.
SMALL_DTC = {
    "P0171": "System Too Lean Bank 1",
    "P0172": "System Too Rich Bank 1",
    "P0300": "Random/Multiple Cylinder Misfire Detected",
    "P0301": "Cylinder 1 Misfire Detected",
    "P0420": "Catalyst System Efficiency Below Threshold Bank 1",
    "P0135": "O2 Sensor Heater Circuit Bank 1 Sensor 1",
    "P0700": "Transmission Control System Malfunction",
    "U0100": "Lost Communication With ECM/PCM 'A'",
    "U0075": "Reserved by J2012",
}


@pytest.fixture(scope="session")
def small_ontology():
    from experts.ontology.default import build_default

    return build_default(seed=0, products_per_category=6, dtc_table=SMALL_DTC)


@pytest.fixture(scope="session")
def tokenizer():
    """MiniLM's tokenizer: shipped inside the installed package, nothing is downloaded."""
    from transformers import AutoTokenizer

    offline()
    return AutoTokenizer.from_pretrained(str(minilm_dir()))


@pytest.fixture()
def tiny_predictor(tokenizer):
    """Factory: a random 2-layer, 64-dim expert of a given kind and label set."""
    from experts.model import ExpertModel, HeadConfig, tiny_encoder_config
    from experts.predictor import Predictor

    def make(name: str, kind: str, labels: list[str], seed: int = 0) -> Predictor:
        torch.manual_seed(seed)
        model = ExpertModel(tiny_encoder_config(tokenizer.vocab_size),
                            HeadConfig(task=kind, num_labels=len(labels), max_length=48))
        return Predictor(name, model.eval(), tokenizer, labels, {})

    return make


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory, small_ontology, tokenizer):
    """A $TINYEXPERTS_HOME with the small ontology, its datasets and tiny random teachers
    (quick-trained) for category, attributes and compatibility, each registered as v1."""
    from experts.core.paths import Paths
    from experts.core.registry import Registry
    from experts.data.datasets import write_default_datasets
    from experts.model import tiny_encoder_config
    from experts.teacher import train_teacher

    root = tmp_path_factory.mktemp("tiny_home")
    paths = Paths(root)
    paths.ontology.parent.mkdir(parents=True)
    small_ontology.save(paths.ontology)
    write_default_datasets(small_ontology, paths.data, seed=0)
    reg = Registry(paths.registry)
    for name in ("category", "attributes", "compatibility"):
        train_teacher(name, paths.data, reg, quick=True, progress=False, log=lambda *_: None,
                      encoder_config=tiny_encoder_config(tokenizer.vocab_size),
                      head_only=False)  # a random encoder: tune it
    return root
