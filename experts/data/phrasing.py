"""Surface variety for generated text: casing, typos, synonyms, held-out templates, splits.

Everything takes an explicit `random.Random`, so a seed gives the same dataset every time.
"""

from __future__ import annotations

import hashlib
import random
import re

from experts.data.formats import split_words

SPLITS = ("train", "validation", "test")


def stable_fraction(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by (key, seed), the same in every process (unlike hash())."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(key: str, seed: int, val: float = 0.15, test: float = 0.15) -> str:
    x = stable_fraction(key, seed)
    return "test" if x < test else "validation" if x < test + val else "train"


def split_templates(templates: list[str], seed: int, n_val: int, n_test: int) -> dict[str, list]:
    """Partition templates so validation and test phrasings never occur in training."""
    order = sorted(templates, key=lambda t: stable_fraction(t, seed))
    return {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }


def typo(word: str, rng: random.Random) -> str:
    """One keyboard-style slip: drop, double or swap a letter."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(3)
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def add_typos(text: str, rng: random.Random, rate: float) -> str:
    return " ".join(typo(w, rng) if rng.random() < rate else w for w in text.split(" "))


def recase(text: str, rng: random.Random, p_lower: float = 0.15, p_upper: float = 0.04) -> str:
    x = rng.random()
    if x < p_lower:
        return text.lower()
    if x < p_lower + p_upper:
        return text.upper()
    return text


def apply_synonyms(text: str, table: list[tuple[str, list[str]]], rng: random.Random,
                   p: float = 0.6) -> str:
    """Replace each matching phrase (regex) with one of its variants, with probability p."""
    for pattern, variants in table:
        text = re.sub(
            pattern,
            lambda m, v=variants: rng.choice(v) if rng.random() < p else m.group(0),
            text,
            flags=re.IGNORECASE,
        )
    return " ".join(text.split())


_GLUE_LEFT = {",", ")", ":", ";", "]", "."}
_GLUE_RIGHT = {"(", "[", "'"}  # a leading apostrophe: '07


def detokenize(tokens: list[str]) -> str:
    """Join words the way people type them ("plug, iridium (4 pcs)"); round-trips with
    `split_words`, falling back to plain spaces where it would not."""
    out = ""
    for tok in tokens:
        if out and tok not in _GLUE_LEFT and out[-1] not in _GLUE_RIGHT:
            out += " "
        out += tok
    return out if split_words(out) == tokens else " ".join(tokens)
