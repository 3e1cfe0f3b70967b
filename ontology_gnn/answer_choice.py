"""Answers that can only name real entities: the candidates and the token trie over them.

When the answer to a question is an entity (every question kind the graph LLM is trained
on), the LLM does not write free text: it chooses among the names of the entities the
retrieved subgraph holds, apart from the ones the question is about. The names' token
sequences (each ending in the end-of-answer token) form a trie; decoding walks it greedily,
taking the most likely allowed token at each branch, and stops as soon as one name is left.
Usually the first token decides, so an answer costs one prefill and no decode step, and it
cannot name anything outside the ontology. Training uses the same trie: at each branch
point of the gold name, a softmax over the allowed tokens only (`GraphLLM.loss`).

Before the LLM chooses, a role detector (`RoleDetector`) narrows the candidates to those
reached from the question's anchors the way the question asks ("what kind of thing is X"
-> X's parent by the taxonomy, not its tags or its siblings).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch


def candidate_names(kg, subgraph) -> list[tuple[str, str]]:
    """(entity id, name) of the subgraph's entities that are not its anchors, one per name
    (case-insensitive), in subgraph order."""
    seen: set[str] = set()
    out = []
    for eid in subgraph.entities:
        if eid in subgraph.anchors:
            continue
        name = kg.entity(eid).name
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append((eid, name))
    return out


class CandidateTrie:
    """Token sequences of the candidate answers; `allowed(prefix)` is the next-token set."""

    def __init__(self, sequences: Sequence[Sequence[int]]) -> None:
        self.sequences = [tuple(s) for s in sequences]

    def matching(self, prefix: Sequence[int]) -> list[int]:
        n = len(prefix)
        return [i for i, s in enumerate(self.sequences) if s[:n] == tuple(prefix)]

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        n = len(prefix)
        return sorted({self.sequences[i][n] for i in self.matching(prefix)
                       if len(self.sequences[i]) > n})

    def branch_rows(self, prefix: Sequence[int]) -> list[tuple[int, ...]]:
        """The fewest token rows whose hidden states cover every branch point below
        `prefix`: the longest branching prefixes of the names that extend it (each row
        ends at its deepest branch point; tokens after the last branch are not needed)."""
        nodes = set()
        for i in self.matching(prefix):
            s = self.sequences[i]
            for k in range(len(prefix), len(s)):
                if len(self.allowed(s[:k])) > 1:
                    nodes.add(s[:k])
        return sorted(n for n in nodes if n and not any(
            m != n and m[: len(n)] == n for m in nodes))

    def branch_points(self, gold: Sequence[int]) -> list[tuple[int, list[int]]]:
        """(position k, allowed tokens) wherever the candidates sharing gold[:k] continue
        differently: the decisions the decoder makes on the way to `gold`."""
        out = []
        for k in range(len(gold)):
            if len(self.matching(gold[:k])) <= 1:
                break
            allowed = self.allowed(gold[:k])
            if len(allowed) > 1:
                out.append((k, allowed))
        return out


MASK = "X"  # what an anchor's name becomes in the question the role detector reads


def masked_question(kg, question: str, subgraph) -> str:
    """The question with its anchors' names replaced by `MASK` (longest name first): the
    role detector reads how the question asks, not about what."""
    for name in sorted((kg.entity(a).name for a in subgraph.anchors), key=len, reverse=True):
        question = re.sub(re.escape(name), MASK, question, flags=re.IGNORECASE)
    return question


@dataclass
class RoleDetector:
    """Which role the answer has — how it is reached from the question's anchors
    ("1>subclass_of", "1<has_associated_tag", "2>affects"…) — read from the question with
    its anchors masked: the relation detection of knowledge-base question answering, as a
    multinomial logistic regression on the question's MiniLM vector. The LLM then chooses
    among the candidates whose role is at least `keep` x as likely as the likeliest role
    present (all candidates when no present role was seen in training).

    `encode` (list of texts -> (n, H) float tensor) is set by whoever loads the detector; it
    is not part of the artifact."""

    roles: list[str]
    weight: torch.Tensor  # (R, H)
    bias: torch.Tensor  # (R,)
    keep: float = 0.5
    encode: Callable | None = field(default=None, repr=False, compare=False)

    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """(n, R) role probabilities of the (already masked) questions."""
        if self.encode is None:
            raise ValueError("the role detector has no text encoder")
        x = self.encode(texts).float()
        return torch.softmax(x @ self.weight.float().T + self.bias.float(), dim=-1)

    def narrow(self, kg, question: str, subgraph,
               candidates: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The candidates (entity id, name) whose role is likely enough; all of them when
        none of their roles is known to the detector."""
        if len(candidates) < 2 or not self.roles:
            return candidates
        probs = self.probabilities([masked_question(kg, question, subgraph)])[0]
        index = {r: i for i, r in enumerate(self.roles)}
        role_of = dict(zip(subgraph.entities, subgraph.roles, strict=False))
        scores = [float(probs[index[role_of[e]]]) if role_of.get(e) in index else 0.0
                  for e, _ in candidates]
        best = max(scores)
        if best <= 0.0:
            return candidates
        return [c for c, s in zip(candidates, scores, strict=True) if s >= self.keep * best]

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, config) to store with the graph_llm artifact."""
        return ({"weight": self.weight.contiguous(), "bias": self.bias.contiguous()},
                {"roles": self.roles, "keep": self.keep, "mask": MASK})

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], config: dict,
                   encode: Callable | None = None) -> RoleDetector:
        return cls(list(config["roles"]), tensors["weight"], tensors["bias"],
                   float(config.get("keep", 0.5)), encode)


def fit_role_detector(texts: list[str], roles: list[str], encode: Callable,
                      keep: float = 0.5, seed: int = 0) -> RoleDetector:
    """Fit the detector on (masked question, role of its gold answer) pairs. One role only
    (a graph whose questions are all answered the same way) gives a detector that keeps
    every candidate of that role; no pairs at all, one that keeps every candidate."""
    from sklearn.linear_model import LogisticRegression  # fitting only

    if not texts:
        width = encode(["?"]).shape[1]
        return RoleDetector([], torch.zeros(0, width), torch.zeros(0), keep, encode)
    x = encode(texts).float()
    classes = sorted(set(roles))
    if len(classes) == 1:
        return RoleDetector(classes, torch.zeros(1, x.shape[1]), torch.zeros(1), keep, encode)
    clf = LogisticRegression(max_iter=2000, random_state=seed).fit(x.numpy(), roles)
    order = list(clf.classes_)
    weight = torch.tensor(clf.coef_, dtype=torch.float32)
    bias = torch.tensor(clf.intercept_, dtype=torch.float32)
    if len(order) == 2:  # sklearn's binary form: one row for the second class
        weight = torch.cat([torch.zeros_like(weight), weight])
        bias = torch.cat([torch.zeros_like(bias), bias])
    return RoleDetector([str(r) for r in order], weight, bias, keep, encode)
