"""The compatibility expert's fitment check: what a listing's own text rules out."""

from __future__ import annotations

import pytest
import torch

from experts.data.formats import PairExample
from experts.fitment_check import fitment_conflict


@pytest.mark.parametrize("listing, vehicle, says", [
    ("Starter Toyota Corolla Matrix 1.8L 2003-2008", "2009 matrix 1.8", "2003-2008"),
    ("Brake pads fits Mazda3 2.5L 2007 to 2013", "Mazda Mazda3 14 LT", "2014"),
    ("Ignition Coil Nissan Altima 2.5L 2002 2003 2004 2005 2006", "2007 altima 2.5 s", "2007"),
    ("Radiator for Camry '07-'11", "my 2012 camry", "2012"),
    ("Strut fits Civic 2001-2003, 2006-2008", "2005 civic", "(2001-2003, 2006-2008)"),
    ("Glow plugs, Subaru Outback 2.5L 2016-2019", "my 2018 subaru outback (3.6 liter)",
     "2.5L, not 3.6L"),
    ("Fuel injectors for Mazda 3 2.0L 2004-2009", "06 mazda3 2.3", "not 2.3L"),
    ("Serpentine Belt - Toyota Camry 2.5L 4-Cyl 2010-2017", "2012 Camry V6",
     "4 cylinders, not 6 cylinders"),
    ("Alternator Ford Escape 2.5L 2009-2012", "2011 escape 3.0 v6", "2.5L, not 3.0L"),
    ("Air filter 2015-2020 Ford F-150 2.7L 3.5L 5.0L", "2018 f150 3.3 V6", "not 3.3L"),
    ("Front Brake Pads Mazda 3 2014-2018", "2016 mazda cx-3", "Mazda 3, not CX-3"),
    ("Wiper Blades Ford F-150 2015-2020 22 in pair", "2017 f250", "F-150, not F-250"),
    ("Speed Sensor fits Jeep Grand Cherokee 1999-2004", "2001 jeep cherokee 4.0",
     "not Cherokee"),
    ("Evap Purge Valve Toyota Camry Corolla Tacoma 2005-2014", "2012 toyota tundra",
     "Camry, Corolla, Tacoma, not Tundra"),
    ("Thermostat Chrysler Town and Country 2011-2016 3.6L", "2013 dodge journey 3.6",
     "Town & Country, not Journey"),
    ("Toyota Tacoma 2015 (does not fit Tundra)", "2015 toyota tundra", "Tacoma, not Tundra"),
    ("Mazda CX-5 2016", "2016 mazda 3 2.5", "CX-5, not Mazda 3"),
    ("Front Rotors Chevy Silverado 1500 2WD ONLY 2007-2013", "2010 silverado 1500 4x4",
     "two-wheel drive only"),
    ("Brake rotor Dodge Charger 300 RWD 2011-2018", "2015 charger sxt awd", "two-wheel"),
])
def test_a_stated_year_engine_cylinder_count_drive_or_model_rules_the_vehicle_out(
        listing, vehicle, says):
    conflict = fitment_conflict(listing, vehicle)
    assert conflict is not None and says in conflict


@pytest.mark.parametrize("listing, vehicle", [
    ("Evap purge valve Ford F-150 2011-2016 3.5L 3.7L 5.0L", "2013 f150 3.7 v6"),
    ("Wiper blades for Toyota Camry 2018+", "my 2019 camry hybrid"),
    ("Fuel pump regulator 43.5 psi for Ford trucks 1990-2015", "2005 ford f150"),  # long range
    ("FRAM oil filter (M20X1.5, 3.2-INCH TALL) Ford F-150 '14-'17", "2014 F150 3.5 6cyl"),
    ("Headlight bulbs 9003/H4 Jeep Wrangler 1997-2018", "2012 wrangler v6"),  # H4 is a bulb
    ("Front brake pads Honda Civic", "2013 civic 1.8"),  # the listing is silent
    ("Alternator Silverado 1500 2007-2013 4.8L 5.3L", "2009 silverado"),  # vehicle is silent
    ("Crank sensor VW Jetta 2019-2020 1.4L", "Jetta 2015 or 2019, 1.4L"),  # two years: not one
    # models: the same model or family however it is written, names next to each other in
    # a listing, everyday words that are not the model, and vehicles that name two models
    ("Honda Civic / Fit 2008-2012", "2010 honda fit"),
    ("Cooling fan for Ford Escape/Fusion 2.5L 2010", "'10 escape 2.5"),
    ("Crank Sensor Chevy 5.3 Vortec Silverado 1500 2500 1999-2007", "2002 silverado 2500"),
    ("Alternator Chevy Silverado 2007-2013", "2010 Chevrolet Silverado 1500"),
    ("Crank Sensor Toyota Camry Solara 2.4L 2002-2009", "2005 solara 2.4"),
    ("Thermostat Chrysler Town and Country 2011-2016", "2013 chrysler town & country"),
    ("Starter Ram 1500/2500 5.7L 2009-2018", "2012 dodge ram 2500 5.7"),
    ("Spark Plug for 2010 Civc", "2010 honda civic"),  # "spark" is no model, "civc" unknown
    ("Mass Air Flow Sensor fits X3 2014 - 2018 3.0-liter", "2017 BMW X3 3.0L I6 Turbo"),
    ("Wiper blades Honda Accord/Civic 2013", "2013 civic lx"),  # LX is a trim here
    ("Brake pads Honda Accord 2010", "2010 civic or accord"),  # two models: not one vehicle
    ("Brake pads Honda Civic 2010", "will this fit my 2010 car"),  # "fit" is a word here
    # a brand or word that is some make's model is not the listing's fitment
    ("Cooper CS5 Grand Touring tire 215/55R17", "2012 toyota camry"),
    ("Goodyear Wrangler TrailRunner AT 265/70R17", "2015 ford f150"),
    ("Yukon Gear 4.56 ring and pinion Dana 44", "2010 jeep wrangler"),
    ("Floor mats fit 2015-2020 Honda", "2017 honda accord"),
    ("Fits most Honda models 2010-2015", "2012 honda civic"),
    ("Subaru Outback 2012 roof rack", "2012 wagon"),  # a body style, not the VW Wagon
    # one vehicle under two names, or a name that covers another
    ("Dodge Grand Caravan 2008-2019", "2012 dodge caravan"),
    ("Mazda MX-5 2010", "2010 mazda miata"),
    ("BMW 3 Series 2010", "2010 bmw 328xi"),
    ("Mercedes E-Class 2010", "2010 mercedes e350"),
    ("Ford E-Series Econoline 2010", "2010 ford e350"),
    ("Ford Super Duty 2017-2022", "2019 ford f250"),
    ("Ford Crown Vic / Mercury Grand Marquis 1998-2011", "2005 ford crown victoria"),
    # what a listing rules out is not what it fits; units and accents
    ("Chevy 1500 trucks 2007-2013 (will not fit Silverado HD)", "2010 chevy silverado 1500"),
    ("Battery cable 2.5mm2 for Honda Civic 2012-2015", "2013 honda civic 1.8"),
    ("Bremsscheiben für Mercedes S-Klasse W221 2008", "Mercedes S500 2008"),
])
def test_nothing_is_ruled_out_when_the_texts_agree_or_do_not_say(listing, vehicle):
    assert fitment_conflict(listing, vehicle) is None


def always_compatible(tiny_predictor, name: str = "compatibility"):
    """A tiny pair expert whose model says "compatible" to everything."""
    p = tiny_predictor(name, "pair", ["compatible", "incompatible"])
    with torch.no_grad():
        p.model.classifier.bias.copy_(torch.tensor([20.0, -20.0]))
    return p


def test_a_ruled_out_pair_is_incompatible_whatever_the_model_says(tiny_predictor):
    p = always_compatible(tiny_predictor)
    out = p.predict([("plug fits 2012-2015 Civic 1.8L", "2019 Honda Civic"),
                     ("plug fits 2012-2015 Civic 1.8L", "2013 Honda Civic 1.8")])
    assert out[0]["label"] == "incompatible" and out[0]["score"] == 1.0
    assert "2019" in out[0]["reason"]
    assert out[1]["label"] == "compatible" and "reason" not in out[1]
    examples = [PairExample("plug fits 2012-2015 Civic", "2019 Honda Civic", "incompatible")]
    assert p.rank(examples, 2)[0] == [("incompatible", 1.0), ("compatible", 0.0)]
    # only the compatibility expert checks: another pair expert's answer is its model's
    other = always_compatible(tiny_predictor, "my_pairs")
    assert other.predict([("plug fits 2012-2015 Civic", "2019 Honda Civic")]
                         )[0]["label"] == "compatible"


def test_an_engine_size_is_read_before_v6_but_not_before_a_unit():
    listing = "Camshaft sensor {} Toyota Camry 2007-2011"
    assert "not 2.4L" in fitment_conflict(listing.format("3.5 V6"), "2009 camry 2.4")
    for unit in ("5.0 v reference", "4.5V output", "2.5mm2 cable", "3.5 in tall"):
        assert fitment_conflict(listing.format(unit), "2009 camry 2.4") is None, unit
