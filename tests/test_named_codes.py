"""A trouble code the text names outright comes first in the fault-codes expert's answer."""

from __future__ import annotations

import torch

from experts.ontology.linker import named_codes


def test_named_codes_are_read_in_order_once_and_upper_case():
    assert named_codes("got p0171 and P0174, then P0171 again") == ["P0171", "P0174"]
    assert named_codes("U0100 lost comm; b1318 low voltage") == ["U0100", "B1318"]
    assert named_codes("part XP0171, P01, P01711, 2P0300, sensor 0242236541") == []


def _biased(tiny_predictor, name, labels, favourite):
    p = tiny_predictor(name, "classify", labels)
    with torch.no_grad():  # a model that always answers `favourite`
        bias = torch.full((len(labels),), -5.0)
        bias[labels.index(favourite)] = 5.0
        p.model.classifier.bias.copy_(bias)
        p.model.classifier.weight.zero_()
    return p


def test_a_named_code_comes_first_and_the_model_ranks_the_rest(tiny_predictor):
    labels = ["P0171", "P0300", "P0420", "P0455"]
    p = _biased(tiny_predictor, "fault_codes", labels, "P0300")
    out = p.predict(["my scanner says p0455 and P0420", "rough idle, P1234 on the dash",
                     "rough idle"], top_k=3)
    assert [c["label"] for c in out[0]["top_k"]] == ["P0455", "P0420", "P0300"]
    assert out[0]["label"] == "P0455" and out[0]["score"] == 1.0
    assert out[0]["reason"] == "the text names P0455, P0420"
    assert out[0]["top_k"][2]["score"] < 1.0  # the model's own probability
    # a code the expert does not know, or none: the model's answer, no reason
    assert out[1]["label"] == out[2]["label"] == "P0300"
    assert "reason" not in out[1] and "reason" not in out[2]
    # only the fault-codes expert reads codes this way
    other = _biased(tiny_predictor, "category", labels, "P0300")
    assert other.predict(["my scanner says p0455"])[0]["label"] == "P0300"
