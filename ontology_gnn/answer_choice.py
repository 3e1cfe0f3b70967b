"""Answers that can only name real entities: the candidates and the token trie over them.

When the answer to a question is an entity (every question kind the graph LLM is trained
on), the LLM does not write free text: it chooses among the names of the entities the
retrieved subgraph holds, apart from the ones the question is about. The names' token
sequences (each ending in the end-of-answer token) form a trie; decoding walks it greedily,
taking the most likely allowed token at each branch, and stops as soon as one name is left.
Usually the first token decides, so an answer costs one prefill and no decode step, and it
cannot name anything outside the ontology. Training uses the same trie: at each branch
point of the gold name, a softmax over the allowed tokens only (`GraphLLM.loss`).
"""

from __future__ import annotations

from collections.abc import Sequence


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
