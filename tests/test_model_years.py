"""Model years spelled out before the compatibility expert reads a pair."""

from __future__ import annotations

import json

import pytest
import torch

from experts.artifact import load_expert_model
from experts.core.errors import ArtifactError
from experts.data.formats import PairExample
from experts.data.model_years import LAST_MODEL_YEAR, spell_out_years
from experts.encoding import encode
from experts.specs import EXPERTS
from experts.teacher import new_teacher


@pytest.mark.parametrize(("text", "expected"), [
    ("fits Camry 2007-2011 2.4L", "fits Camry 2007 2008 2009 2010 2011 2.4L"),
    ("Civic 18-20 Brake Rotor", "Civic 2018 2019 2020 Brake Rotor"),
    ("Mazda 3 '07-'09 2.5L", "Mazda 3 2007 2008 2009 2.5L"),
    ("Sonata 2010 thru 2012", "Sonata 2010 2011 2012"),
    ("Accord 2012 through 2013", "Accord 2012 2013"),
    ("Silverado 1500 2016 to 2017 V8", "Silverado 1500 2016 2017 V8"),
    ("Camry 2007-09", "Camry 2007 2008 2009"),
    ("Camry 98-01", "Camry 1998 1999 2000 2001"),
    ("'12 Grand Cherokee 3.6L", "2012 Grand Cherokee 3.6L"),
    ("my 09 civic lx", "my 2009 civic lx"),
    ("Wrangler 19", "Wrangler 2019"),
    ("f-150 18 xlt", "f-150 2018 xlt"),
])
def test_years_are_spelled_out(text, expected):
    assert spell_out_years(text) == expected


def test_open_ranges_run_to_the_last_model_year():
    out = spell_out_years("Outback 2024+").split()
    assert out[0] == "Outback" and out[1:] == [str(y) for y in range(2024, LAST_MODEL_YEAR + 1)]
    assert spell_out_years("Outback 2025 and up") == spell_out_years("Outback 2025+")


@pytest.mark.parametrize("text", [
    "Group 35 Battery 25-JMP", "24 Volt, 20 amp, 12V", "10-12 mm, size 10-tooth",
    "Pack of 20", "M10x1.5, 225/45R17, 11.7-inch", "ACDelco 45-877 sensor 706-1439",
    "3.5-liter V6 4 cyl", "1980-2024 universal",  # too long a range to spell out
])
def test_sizes_counts_and_codes_are_left_alone(text):
    assert spell_out_years(text) == text


def test_encode_reads_a_pair_in_the_models_text_form(tokenizer):
    pair = [PairExample("wiper fits Camry 07-09", "'08 camry", "compatible")]
    plain = encode(tokenizer, "pair", pair, 64)
    spelled = encode(tokenizer, "pair", pair, 64, text_form="years")
    words = tokenizer.convert_ids_to_tokens(spelled["input_ids"][0])
    assert words.count("2008") == 2  # listed in the range, and the buyer's year
    assert "2008" not in tokenizer.convert_ids_to_tokens(plain["input_ids"][0])


def test_the_compatibility_teacher_records_its_text_form(tokenizer, tmp_path):
    from experts.model import tiny_encoder_config

    assert EXPERTS["compatibility"].text_form == "years"
    assert EXPERTS["category"].text_form == ""
    p = new_teacher("compatibility", ["compatible", "incompatible"], {}, tokenizer,
                    encoder_config=tiny_encoder_config(tokenizer.vocab_size))
    p.model.save(tmp_path)
    assert load_expert_model(tmp_path).head_config.text_form == "years"
    # the predictor tokenises what the model was trained on: years spelled out
    a, b = "plug fits 2012-2014 Civic", "13 civic"
    batch = encode(tokenizer, "pair", [PairExample(a, b, "")], 48, text_form="years")
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.inference_mode():
        direct = p.model.eval()(**inputs)[0].softmax(-1)
    assert p.predict([(a, b)])[0]["score"] == pytest.approx(float(direct.max()), abs=1e-4)


def test_an_unknown_text_form_is_refused_at_load(tokenizer, tmp_path):
    from experts.model import tiny_encoder_config

    p = new_teacher("compatibility", ["compatible", "incompatible"], {}, tokenizer,
                    encoder_config=tiny_encoder_config(tokenizer.vocab_size))
    p.model.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["head"]["text_form"] = "leetspeak"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="leetspeak"):
        load_expert_model(tmp_path)

