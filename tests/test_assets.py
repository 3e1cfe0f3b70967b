"""Assets: MiniLM found in its package; the SmolLM2 GGUF refused when missing or damaged."""

from __future__ import annotations

import pytest

from experts.core.assets import MINILM_FILES, SMOLLM_GGUF, minilm_dir, smollm_path
from experts.core.errors import AssetError


def test_minilm_ships_in_its_package():
    folder = minilm_dir()
    assert all((folder / f).is_file() for f in MINILM_FILES)
    assert (folder / "model.safetensors").stat().st_size > 80e6  # 22.7M fp32 params


def test_missing_gguf_names_the_command_that_fetches_it(tmp_path):
    with pytest.raises(AssetError) as err:
        smollm_path(tmp_path)
    assert "tinyexperts build --llm" in err.value.message


def test_damaged_gguf_is_refused(tmp_path):
    folder = tmp_path / "assets" / "smollm2"
    folder.mkdir(parents=True)
    (folder / SMOLLM_GGUF).write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(AssetError, match="sha256 mismatch"):
        smollm_path(tmp_path)
