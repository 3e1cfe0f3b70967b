"""Typographic punctuation (phone keyboards, web pages) is read as the ASCII the models are
trained on: by the experts' encoder, their text rules, and the router."""

from __future__ import annotations

import torch

from experts.data.formats import PairExample, TagExample, TextExample, plain_punctuation
from experts.encoding import encode
from router.model import RouterModel
from router.runtime import Router
from tests.test_fitment_check import always_compatible
from tests.test_router import _router

CURLY = ("Don\u2019t need the \u201cspecs\u201d: NGK 6619 fits \u201907\u2013\u201911 Civic, "
         "5\u20448\u2033 hex, 10\u00d78\u00a0in")
ASCII = "Don't need the \"specs\": NGK 6619 fits '07-'11 Civic, 5/8\" hex, 10x8 in"


def test_typographic_characters_become_ascii_one_for_one():
    assert plain_punctuation(CURLY) == ASCII
    assert len(plain_punctuation(CURLY)) == len(CURLY)
    assert plain_punctuation(ASCII) == ASCII
    other = "caf\u00e9 \u00b0F \u00bd"  # letters and signs that are not punctuation stay
    assert plain_punctuation(other) == other


def test_the_experts_read_curly_text_as_its_ascii_twin(tokenizer):
    assert tokenizer.tokenize(CURLY) != tokenizer.tokenize(ASCII)  # MiniLM alone tells them apart
    for kind, curly, plain in [
        ("classify", [TextExample(CURLY, "")], [TextExample(ASCII, "")]),
        ("pair", [PairExample(CURLY, "2009 Honda Civic \u2013 1.8", "")],
         [PairExample(ASCII, "2009 Honda Civic - 1.8", "")]),
        ("tag", [TagExample(("Bosch", "\u201cPlatinum\u201d", "2012\u20132015"), ("O",) * 3)],
         [TagExample(("Bosch", '"Platinum"', "2012-2015"), ("O",) * 3)]),
    ]:
        a = encode(tokenizer, kind, curly, 64, text_form="years" if kind == "pair" else "")
        b = encode(tokenizer, kind, plain, 64, text_form="years" if kind == "pair" else "")
        assert torch.equal(a["input_ids"], b["input_ids"]), kind
        if kind == "tag":  # the words stay the caller's: the same three words map back
            assert torch.equal(a["word_index"], b["word_index"])


def test_the_fitment_check_reads_curly_years(tiny_predictor):
    p = always_compatible(tiny_predictor)
    # "’10-’12" is a range of years: read as two single years it ruled out 2011
    out = p.predict([("Throttle body for Honda Fit \u201910-\u201912", "\u201911 Fit 1.5L"),
                     ("Radiator for Camry \u201907\u2013\u201911", "my 2012 camry")])
    assert out[0]["label"] == "compatible" and "reason" not in out[0]
    assert out[1]["label"] == "incompatible" and "2012" in out[1]["reason"]


def test_the_router_reads_curly_text_as_its_ascii_twin(tokenizer):
    model: RouterModel = _router()
    router = Router(model, tokenizer, {"temperatures": [1.0] * 3, "thresholds": [1.01] * 2
                                       + [0.0], "abstain_below": 0.0})
    a, b = router._encode([CURLY, "hi"]), router._encode([ASCII, "hi"])
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert router.route([CURLY]) == router.route([ASCII])
