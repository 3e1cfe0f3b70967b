"""The external sets are never training data: no external line is in a training split."""

from __future__ import annotations

import pytest

from experts.data.external import FURTHER, read_external

pytestmark = pytest.mark.integration


def test_no_external_text_is_in_the_generated_training_data(quick_home):
    """The sets are never trained on: no external line appears in a training split."""
    from experts.data.datasets import load_expert_data

    data_dir = quick_home / "data"
    for name in ("category", "fault_codes"):
        train = {e.text.lower() for e in load_expert_data(name, data_dir).splits["train"]}
        for set_name in (name, *FURTHER.get(name, {}).values()):
            ext = {e.text.lower() for e in read_external(set_name, "classify").examples}
            assert ext and not train & ext, set_name
