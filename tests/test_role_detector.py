"""The role detector: which way the answer is reached from the question's anchors, read from
the question with its anchors masked; the candidates it keeps for the LLM to choose from."""

import hashlib
from types import SimpleNamespace

import pytest
import torch

from ontology_gnn.answer_choice import (
    MASK,
    RoleDetector,
    fit_role_detector,
    masked_question,
)


def bag_of_words(texts: list[str], dim: int = 64) -> torch.Tensor:
    """A deterministic stand-in for MiniLM: hashed word counts."""
    out = torch.zeros(len(texts), dim)
    for i, t in enumerate(texts):
        for w in t.lower().replace("?", " ").split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % dim] += 1.0
    return out


class Graph:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def entity(self, eid: str):
        return SimpleNamespace(name=self.names[eid])


ASKS = {"1>subclass_of": ["What kind of thing is X?", "X is a type of what?",
                          "What is X a kind of?"],
        "1>has_tag": ["Which tag does X have?", "X carries which tag?", "Tag of X?"],
        "1<subclass_of": ["Name a class below X.", "Which class is under X?",
                          "What is a narrower class of X?"]}


def _fit(roles=("1>subclass_of", "1>has_tag", "1<subclass_of")):
    texts = [t for r in roles for t in ASKS[r] * 3]
    labels = [r for r in roles for _ in ASKS[r] * 3]
    return fit_role_detector(texts, labels, bag_of_words)


def test_the_question_is_read_with_its_anchors_masked():
    kg = Graph({"a": "Air Temperature Sensor", "b": "Air"})
    sub = SimpleNamespace(anchors=["b", "a"])
    q = "Is the air temperature sensor a kind of AIR device?"
    assert masked_question(kg, q, sub) == f"Is the {MASK} a kind of {MASK} device?"


@pytest.mark.parametrize("roles", [("1>subclass_of", "1>has_tag", "1<subclass_of"),
                                   ("1>subclass_of", "1>has_tag")])  # sklearn's binary form
def test_the_detector_learns_which_role_a_phrasing_asks_for(roles):
    det = _fit(roles)
    assert sorted(det.roles) == sorted(roles)
    probs = det.probabilities(["what kind of thing is X?", "which tag does X have?"])
    assert torch.allclose(probs.sum(1), torch.ones(2))
    assert det.roles[int(probs[0].argmax())] == "1>subclass_of"
    assert det.roles[int(probs[1].argmax())] == "1>has_tag"


def test_narrowing_keeps_the_candidates_of_the_asked_role_and_all_when_it_cannot_tell():
    det = _fit()
    kg = Graph({"s": "Coil", "p": "Heating Coil", "t1": "Hot", "t2": "Water", "c": "Hot Coil",
                "o": "Pump"})
    sub = SimpleNamespace(entities=["s", "p", "t1", "t2", "c"], anchors=["s"],
                          roles=["anchor", "1>subclass_of", "1>has_tag", "1>has_tag",
                                 "1<subclass_of"])
    cands = [(e, kg.names[e]) for e in sub.entities[1:]]
    assert det.narrow(kg, "What kind of thing is Coil?", sub, cands) == [("p", "Heating Coil")]
    tags = det.narrow(kg, "Which tag does Coil have?", sub, cands)
    assert tags == [("t1", "Hot"), ("t2", "Water")]  # both of the asked role stay
    odd = SimpleNamespace(entities=["s", "o"], anchors=["s"], roles=["anchor", "2>feeds"])
    assert det.narrow(kg, "What kind of thing is Coil?", odd, [("o", "Pump")]) == [("o", "Pump")]
    unseen = SimpleNamespace(entities=["s", "o", "p"], anchors=["s"],
                             roles=["anchor", "2>feeds", "2<feeds"])
    both = [("o", "Pump"), ("p", "Heating Coil")]
    assert det.narrow(kg, "What kind of thing is Coil?", unseen, both) == both


def test_a_stored_detector_reads_back_the_same(tmp_path):
    from safetensors.torch import load_file, save_file

    det = _fit()
    tensors, config = det.state()
    save_file(tensors, str(tmp_path / "roles.safetensors"))
    back = RoleDetector.from_state(load_file(str(tmp_path / "roles.safetensors")), config,
                                   bag_of_words)
    q = ["Name a class below X.", "X carries which tag?"]
    assert back.roles == det.roles and back.keep == det.keep
    assert torch.allclose(back.probabilities(q), det.probabilities(q), atol=1e-6)
    with pytest.raises(ValueError, match="no text encoder"):
        RoleDetector.from_state(tensors, config).probabilities(q)
    blank = fit_role_detector([], [], bag_of_words)  # nothing to learn from: keeps all
    kg = Graph({"s": "Coil", "p": "Heating Coil", "t": "Hot"})
    sub = SimpleNamespace(entities=["s", "p", "t"], anchors=["s"],
                          roles=["anchor", "1>subclass_of", "1>has_tag"])
    cands = [("p", "Heating Coil"), ("t", "Hot")]
    assert blank.roles == [] and blank.narrow(kg, "What is Coil?", sub, cands) == cands
