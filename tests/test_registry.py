"""Registry: atomic writes, hash refusal, activate/rollback, reload of a tiny expert."""

from __future__ import annotations

import json

import pytest
import torch

from experts.core.errors import ArtifactError, NotFoundError, TinyExpertsError
from experts.core.registry import Registry
from experts.predictor import load_predictor


def _writer(predictor, tokenizer):
    def write(folder):
        predictor.model.save(folder)
        tokenizer.save_pretrained(str(folder))
        (folder / "labels.json").write_text(json.dumps({"a": {"description": "A"}}))
    return write


def _register(reg, predictor, tokenizer, name="category"):
    return reg.register(name, _writer(predictor, tokenizer), task=predictor.kind,
                        base_model="tiny", labels=predictor.labels,
                        params=predictor.model.num_params())


@pytest.fixture()
def reg_with_two(tmp_path, tiny_predictor, tokenizer):
    reg = Registry(tmp_path / "registry")
    p1 = tiny_predictor("category", "classify", ["a", "b", "c"], seed=1)
    p2 = tiny_predictor("category", "classify", ["a", "b", "c"], seed=2)
    m1 = _register(reg, p1, tokenizer)
    m2 = _register(reg, p2, tokenizer)
    return reg, p1, p2, m1, m2


def test_versions_count_up_and_reload_bit_exact(reg_with_two):
    reg, p1, p2, m1, m2 = reg_with_two
    assert (m1.version, m2.version) == ("v1", "v2")
    reg.activate("category", "v1")
    loaded = load_predictor(reg, "category")
    assert loaded.version == "v1" and loaded.labels == ["a", "b", "c"]
    for k, v in p1.model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k]), k
    text = ["Bosch spark plug"]
    assert loaded.predict(text)[0]["label"] == p1.predict(text)[0]["label"]
    assert set(m1.files) >= {"model.safetensors", "config.json", "tokenizer.json", "labels.json"}


def test_activate_and_rollback(reg_with_two):
    reg, *_ = reg_with_two
    reg.activate("category", "v1")
    assert reg.activate("category", "v2") == "v1"
    assert reg.active("category") == "v2"
    assert reg.rollback("category") == "v1"
    assert reg.active("category") == "v1"
    with pytest.raises(TinyExpertsError, match="no earlier active version"):
        reg.rollback("category")


def test_unknown_version_and_expert(reg_with_two, tmp_path):
    reg, *_ = reg_with_two
    with pytest.raises(NotFoundError, match="known: v1, v2"):
        reg.activate("category", "v9")
    with pytest.raises(NotFoundError, match="no registered version"):
        Registry(tmp_path / "empty").active("category")


@pytest.mark.parametrize("damage", ["flip_byte", "delete", "extra_file", "bad_manifest"])
def test_damaged_artifact_is_refused_and_active_pointer_kept(reg_with_two, damage):
    reg, *_ = reg_with_two
    reg.activate("category", "v1")
    folder = reg.path("category", "v2")
    if damage == "flip_byte":
        data = bytearray((folder / "model.safetensors").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "model.safetensors").write_bytes(bytes(data))
    elif damage == "delete":
        (folder / "tokenizer.json").unlink()
    elif damage == "extra_file":
        (folder / "evil.py").write_text("import os")
    else:
        (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError):
        load_predictor(reg, "category", "v2")
    with pytest.raises(ArtifactError):
        reg.activate("category", "v2")
    assert reg.active("category") == "v1"  # the old version keeps serving
    load_predictor(reg, "category")


def test_failed_write_leaves_nothing_behind(tmp_path, tiny_predictor, tokenizer):
    reg = Registry(tmp_path / "registry")
    p = tiny_predictor("category", "classify", ["a", "b"])

    def crash(folder):
        p.model.save(folder)
        raise OSError(28, "No space left on device")

    with pytest.raises(TinyExpertsError, match="No space left on device.*nothing was registered"):
        reg.register("category", crash, task="classify", base_model="tiny", labels=["a", "b"],
                     params=1)
    assert reg.versions("category") == []
    assert not [x for x in (tmp_path / "registry" / "category").iterdir() if x.is_dir()]
    _register(reg, p, tokenizer)
    assert reg.versions("category") == ["v1"]
