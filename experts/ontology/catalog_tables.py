"""Static tables behind the generated parts catalog: vehicles, part categories, brands.

Facts only (real makes, models, engines, part categories, brand names and the shape of their
part numbers); `catalog.py` turns them into products, fitment and compatibility with a seed.
Part-number patterns: `#` = digit, `A` = capital letter, anything else is literal.
"""

from __future__ import annotations

# make -> model -> (first year, last year, engines)
VEHICLES: dict[str, dict[str, tuple[int, int, list[str]]]] = {
    "Honda": {
        "Civic": (2006, 2020, ["1.8L I4", "2.0L I4", "1.5L I4 Turbo"]),
        "Accord": (2008, 2020, ["2.4L I4", "3.5L V6"]),
        "CR-V": (2007, 2020, ["2.4L I4", "1.5L I4 Turbo"]),
        "Fit": (2009, 2020, ["1.5L I4"]),
    },
    "Toyota": {
        "Corolla": (2005, 2020, ["1.8L I4", "2.0L I4"]),
        "Camry": (2007, 2020, ["2.5L I4", "3.5L V6"]),
        "RAV4": (2006, 2020, ["2.5L I4", "3.5L V6"]),
        "Tacoma": (2005, 2020, ["2.7L I4", "4.0L V6", "3.5L V6"]),
    },
    "Ford": {
        "F-150": (2009, 2020, ["5.0L V8", "3.5L V6 EcoBoost", "2.7L V6 EcoBoost"]),
        "Focus": (2008, 2018, ["2.0L I4", "1.0L I3 EcoBoost"]),
        "Escape": (2008, 2020, ["2.5L I4", "1.5L I4 EcoBoost", "2.0L I4 EcoBoost"]),
        "Fusion": (2006, 2020, ["2.5L I4", "1.5L I4 EcoBoost"]),
    },
    "Chevrolet": {
        "Silverado 1500": (2007, 2020, ["5.3L V8", "4.3L V6", "6.2L V8"]),
        "Malibu": (2008, 2020, ["2.4L I4", "1.5L I4 Turbo"]),
        "Cruze": (2011, 2019, ["1.4L I4 Turbo", "1.8L I4"]),
        "Equinox": (2010, 2020, ["2.4L I4", "1.5L I4 Turbo"]),
    },
    "Nissan": {
        "Altima": (2007, 2020, ["2.5L I4", "3.5L V6"]),
        "Sentra": (2007, 2020, ["1.8L I4", "2.0L I4"]),
        "Rogue": (2008, 2020, ["2.5L I4"]),
    },
    "Volkswagen": {
        "Jetta": (2006, 2020, ["2.0L I4 TSI", "1.4L I4 TSI", "2.5L I5"]),
        "Golf": (2010, 2020, ["2.0L I4 TSI", "1.8L I4 TSI"]),
        "Passat": (2012, 2020, ["1.8L I4 TSI", "3.6L V6"]),
    },
    "Hyundai": {
        "Elantra": (2007, 2020, ["2.0L I4", "1.8L I4"]),
        "Sonata": (2006, 2020, ["2.4L I4", "2.0L I4 Turbo"]),
    },
    "Subaru": {
        "Outback": (2010, 2020, ["2.5L H4", "3.6L H6"]),
        "Forester": (2009, 2020, ["2.5L H4", "2.0L H4 Turbo"]),
    },
    "BMW": {
        "328i": (2007, 2016, ["3.0L I6", "2.0L I4 Turbo"]),
        "X3": (2011, 2020, ["2.0L I4 Turbo", "3.0L I6 Turbo"]),
    },
    "Jeep": {
        "Wrangler": (2007, 2020, ["3.6L V6", "3.8L V6"]),
        "Grand Cherokee": (2011, 2020, ["3.6L V6", "5.7L V8"]),
    },
    "Mazda": {
        "Mazda3": (2007, 2020, ["2.0L I4", "2.5L I4"]),
        "CX-5": (2013, 2020, ["2.0L I4", "2.5L I4"]),
    },
}

# Makes and models are also written in these ways (lowercase key -> variants).
MODEL_ALIASES: dict[str, list[str]] = {
    "Chevrolet": ["Chevy", "CHEVROLET", "chevrolet"],
    "Volkswagen": ["VW", "Volkswagon", "vw"],
    "Silverado 1500": ["Silverado", "Silverado 1500", "silverado 1500"],
    "F-150": ["F150", "F-150", "f150"],
    "CR-V": ["CRV", "CR-V", "cr-v"],
    "Mazda3": ["Mazda 3", "Mazda3", "mazda3"],
    "328i": ["3 Series 328i", "328i", "328 i"],
}

# category -> spec. `component` links it to the ontology's components (None: not in codes).
# `nouns` are the ways a listing names it; `attrs` maps tag type -> value choices.
PART_CATEGORIES: dict[str, dict] = {
    "spark plugs": {
        "component": "spark plug",
        "nouns": ["Spark Plug", "Spark Plugs", "Sparkplug", "spark plug", "Plug", "Ignition Plug"],
        "brands": ["NGK", "Denso", "Bosch", "Champion", "Autolite", "ACDelco", "Motorcraft"],
        "attrs": {
            "MATERIAL": [
                "Iridium",
                "Platinum",
                "Double Platinum",
                "Copper",
                "Laser Iridium",
                "Ruthenium",
                "Iridium IX",
                "nickel",
            ],
            "THREAD": ["M14x1.25", "M12x1.25", "M10x1.0", "14mm", "12 mm thread"],
            "SIZE": ["0.044 in gap", "1.1mm gap", "0.032in", "0.8 mm gap", "5/8 in hex"],
            "QUANTITY": ["Pack of 4", "Set of 6", "8 pcs", "4-Pack", "x4", "1 pc", "Set of 8"],
        },
    },
    "ignition coils": {
        "component": "ignition coil",
        "nouns": ["Ignition Coil", "Ignition Coils", "Coil Pack", "coil-on-plug", "COP Coil"],
        "brands": ["Delphi", "Denso", "Bosch", "ACDelco", "Motorcraft", "Standard Motor Products"],
        "attrs": {
            "VOLTAGE": ["12V", "12 Volt", "12-volt"],
            "COLOR": ["Black", "Gray", "black/red", "Blue"],
            "QUANTITY": ["Set of 4", "Pack of 6", "4 pcs", "single", "x8"],
        },
    },
    "oxygen sensors": {
        "component": "oxygen sensor",
        "nouns": ["Oxygen Sensor", "O2 Sensor", "HO2S", "Lambda Sensor", "Air Fuel Ratio Sensor"],
        "brands": [
            "Bosch",
            "Denso",
            "NTK",
            "ACDelco",
            "Walker Products",
            "Standard Motor Products",
        ],
        "attrs": {
            "SIZE": ["4-wire", "5 wire", "350mm cable", "14 in harness", "18mm"],
            "VOLTAGE": ["12V", "5V reference"],
            "COLOR": ["Black", "Gray"],
        },
    },
    "mass air flow sensors": {
        "component": "mass air flow sensor",
        "nouns": [
            "Mass Air Flow Sensor",
            "MAF Sensor",
            "MAF",
            "Air Flow Meter",
            "Mass Airflow Sensor",
        ],
        "brands": ["Bosch", "Denso", "Hitachi", "Delphi", "Standard Motor Products", "Dorman"],
        "attrs": {
            "SIZE": ["70mm housing", "80 mm", "3 in", "76mm"],
            "VOLTAGE": ["5V", "12V"],
            "MATERIAL": ["aluminum housing", "plastic"],
        },
    },
    "map sensors": {
        "component": "manifold absolute pressure sensor",
        "nouns": ["MAP Sensor", "Manifold Absolute Pressure Sensor", "Boost Sensor", "map sensor"],
        "brands": ["Bosch", "Denso", "Standard Motor Products", "Delphi", "ACDelco"],
        "attrs": {
            "SIZE": ["1 bar", "2 bar", "3 bar", "2.5 bar"],
            "VOLTAGE": ["5V", "5 Volt"],
            "COLOR": ["Black", "Gray"],
        },
    },
    "fuel injectors": {
        "component": "fuel injector",
        "nouns": ["Fuel Injector", "Fuel Injectors", "Injector", "Injector Nozzle"],
        "brands": ["Bosch", "Denso", "Delphi", "Siemens Deka", "ACDelco"],
        "attrs": {
            "SIZE": ["440cc", "550 cc", "24 lb/hr", "1000cc", "210cc/min"],
            "VOLTAGE": ["12V", "12 Volt"],
            "QUANTITY": ["Set of 4", "6-Pack", "x8", "4 pcs", "1 pc"],
        },
    },
    "fuel pumps": {
        "component": "fuel pump",
        "nouns": ["Fuel Pump", "Electric Fuel Pump", "In-Tank Fuel Pump", "Fuel Pump Module"],
        "brands": ["Bosch", "Delphi", "Denso", "Airtex", "Carter", "Walbro", "Spectra Premium"],
        "attrs": {
            "SIZE": ["255 LPH", "190 lph", "340LPH", "43 psi"],
            "VOLTAGE": ["12V", "12 Volt", "13.5V"],
            "MATERIAL": ["steel", "nylon"],
        },
    },
    "fuel pressure regulators": {
        "component": "fuel pressure regulator",
        "nouns": ["Fuel Pressure Regulator", "FPR", "Pressure Regulator"],
        "brands": ["Bosch", "Standard Motor Products", "Delphi", "Aeromotive", "Dorman"],
        "attrs": {
            "SIZE": ["43.5 psi", "3 bar", "58 psi", "4 bar"],
            "MATERIAL": ["aluminum", "billet aluminum", "steel"],
            "COLOR": ["Black", "Silver", "Red"],
        },
    },
    "egr valves": {
        "component": "egr valve",
        "nouns": ["EGR Valve", "Exhaust Gas Recirculation Valve", "egr valve", "EGR"],
        "brands": ["Bosch", "Standard Motor Products", "Dorman", "Delphi", "Pierburg", "ACDelco"],
        "attrs": {
            "VOLTAGE": ["12V", "24V"],
            "MATERIAL": ["aluminum", "stainless steel", "cast iron"],
        },
    },
    "catalytic converters": {
        "component": "catalytic converter",
        "nouns": ["Catalytic Converter", "Cat Converter", "Direct-Fit Catalytic Converter", "CAT"],
        "brands": ["Walker", "MagnaFlow", "Eastern Catalytic", "Bosal", "AP Exhaust"],
        "attrs": {
            "SIZE": ["2.25 in inlet", "2.5in", "3 in outlet", "57mm"],
            "MATERIAL": ["stainless steel", "409 stainless", "aluminized steel", "ceramic core"],
        },
    },
    "knock sensors": {
        "component": "knock sensor",
        "nouns": ["Knock Sensor", "Detonation Sensor", "knock sensor", "KS"],
        "brands": ["Bosch", "Denso", "Standard Motor Products", "Delphi", "Hitachi"],
        "attrs": {"THREAD": ["M8x1.25", "M10x1.5", "3/8-16"], "COLOR": ["Black", "Gray"]},
    },
    "camshaft position sensors": {
        "component": "camshaft position sensor",
        "nouns": ["Camshaft Position Sensor", "Cam Sensor", "CMP Sensor", "Camshaft Sensor"],
        "brands": ["Bosch", "Denso", "Standard Motor Products", "Delphi", "Dorman", "ACDelco"],
        "attrs": {
            "VOLTAGE": ["5V", "12V"],
            "SIZE": ["3-pin", "2 pin", "60mm"],
            "COLOR": ["Black", "Gray", "Brown"],
        },
    },
    "crankshaft position sensors": {
        "component": "crankshaft position sensor",
        "nouns": ["Crankshaft Position Sensor", "Crank Sensor", "CKP Sensor", "Crankshaft Sensor"],
        "brands": ["Bosch", "Denso", "Standard Motor Products", "Delphi", "Dorman", "ACDelco"],
        "attrs": {
            "VOLTAGE": ["5V", "12V"],
            "SIZE": ["3-pin", "2 pin", "45 mm"],
            "COLOR": ["Black", "Gray"],
        },
    },
    "throttle bodies": {
        "component": "throttle body",
        "nouns": ["Throttle Body", "Electronic Throttle Body", "throttle body", "TB Assembly"],
        "brands": ["Bosch", "Hitachi", "Delphi", "Dorman", "ACDelco"],
        "attrs": {
            "SIZE": ["65mm", "70 mm", "75mm bore", "62 mm"],
            "MATERIAL": ["aluminum", "cast aluminum"],
            "VOLTAGE": ["12V", "5V"],
        },
    },
    "coolant temperature sensors": {
        "component": "coolant temperature sensor",
        "nouns": ["Coolant Temperature Sensor", "ECT Sensor", "Coolant Temp Sensor", "Temp Sender"],
        "brands": ["Bosch", "Standard Motor Products", "Motorad", "Delphi", "Denso"],
        "attrs": {
            "THREAD": ["M12x1.5", "3/8 NPT", "M14x1.5", "1/4 NPT"],
            "COLOR": ["Blue", "Green", "Black", "Brown"],
        },
    },
    "thermostats": {
        "component": "thermostat",
        "nouns": ["Thermostat", "Engine Coolant Thermostat", "Thermostat Housing", "stat"],
        "brands": ["Motorad", "Stant", "Gates", "Mahle", "ACDelco"],
        "attrs": {
            "SIZE": ["195 F", "180F", "88 C", "82C", "192 deg"],
            "MATERIAL": ["brass", "stainless steel", "plastic housing"],
        },
    },
    "cooling fans": {
        "component": "cooling fan",
        "nouns": ["Radiator Fan Assembly", "Cooling Fan", "Electric Fan", "Fan Motor"],
        "brands": ["Spectra Premium", "Dorman", "Four Seasons", "TYC"],
        "attrs": {
            "SIZE": ["16 in", '14"', "400mm", "12 inch"],
            "VOLTAGE": ["12V", "12 Volt"],
            "COLOR": ["Black"],
        },
    },
    "idle air control valves": {
        "component": "idle air control valve",
        "nouns": ["Idle Air Control Valve", "IAC Valve", "Idle Control Valve", "IACV"],
        "brands": ["Standard Motor Products", "Delphi", "Dorman", "ACDelco", "Hitachi"],
        "attrs": {"VOLTAGE": ["12V"], "SIZE": ["4-pin", "2 pin"], "COLOR": ["Black", "Gray"]},
    },
    "evap purge valves": {
        "component": "evap purge valve",
        "nouns": [
            "EVAP Purge Valve",
            "Purge Solenoid",
            "Canister Purge Valve",
            "Vapor Canister Valve",
        ],
        "brands": ["Standard Motor Products", "Dorman", "ACDelco", "Delphi", "Bosch"],
        "attrs": {"VOLTAGE": ["12V"], "COLOR": ["Black", "Gray", "White"]},
    },
    "vehicle speed sensors": {
        "component": "vehicle speed sensor",
        "nouns": ["Vehicle Speed Sensor", "VSS", "Speed Sensor", "Transmission Speed Sensor"],
        "brands": ["Standard Motor Products", "Dorman", "ACDelco", "Motorcraft", "Delphi"],
        "attrs": {"VOLTAGE": ["12V", "5V"], "SIZE": ["2-pin", "3 pin"], "COLOR": ["Black", "Gray"]},
    },
    "batteries": {
        "component": "battery",
        "nouns": [
            "Car Battery",
            "Battery",
            "AGM Battery",
            "Starting Battery",
            "Automotive Battery",
        ],
        "brands": ["Optima", "Interstate", "DieHard", "Bosch", "ACDelco", "Odyssey", "Varta"],
        "attrs": {
            "VOLTAGE": ["12V", "12 Volt", "12-volt"],
            "SIZE": ["Group 24F", "Group 35", "H6", "Group 48", "650 CCA", "800CCA"],
            "MATERIAL": ["AGM", "lead acid", "flooded"],
        },
    },
    "alternators": {
        "component": "alternator",
        "nouns": ["Alternator", "Generator", "Remanufactured Alternator", "alternator"],
        "brands": ["Bosch", "Denso", "Remy", "ACDelco", "Motorcraft", "Valeo"],
        "attrs": {"VOLTAGE": ["12V", "14V"], "SIZE": ["150 amp", "120A", "180 Amp", "6-groove"]},
    },
    "starters": {
        "component": "starter",
        "nouns": ["Starter Motor", "Starter", "Remanufactured Starter", "starter motor"],
        "brands": ["Bosch", "Denso", "Remy", "ACDelco", "Motorcraft", "Valeo"],
        "attrs": {"VOLTAGE": ["12V"], "SIZE": ["1.4 kW", "1.7kW", "2.0 kW", "10-tooth"]},
    },
    "glow plugs": {
        "component": "glow plug",
        "nouns": ["Glow Plug", "Glow Plugs", "Diesel Glow Plug", "glow plug"],
        "brands": ["Bosch", "NGK", "Beru", "Champion", "Denso"],
        "attrs": {
            "VOLTAGE": ["11V", "4.4V", "12 Volt"],
            "THREAD": ["M10x1.0", "M8x1.0", "M12x1.25"],
            "QUANTITY": ["Set of 4", "x6", "8 pcs"],
        },
    },
    "brake switches": {
        "component": "brake switch",
        "nouns": ["Brake Light Switch", "Stop Lamp Switch", "Brake Switch", "brake pedal switch"],
        "brands": ["Standard Motor Products", "Dorman", "ACDelco", "Motorcraft"],
        "attrs": {"SIZE": ["4-pin", "2 pin", "6 terminal"], "COLOR": ["White", "Black", "Gray"]},
    },
    "transmission solenoids": {
        "component": "shift solenoid",
        "nouns": ["Shift Solenoid", "Transmission Solenoid", "Solenoid Pack", "TCC Solenoid"],
        "brands": ["ACDelco", "Motorcraft", "Dorman", "Aisin", "Standard Motor Products"],
        "attrs": {"VOLTAGE": ["12V"], "SIZE": ["2-pin", "5 wire"], "COLOR": ["Black", "Brown"]},
    },
    "air filters": {
        "component": "intake air system",
        "nouns": ["Air Filter", "Engine Air Filter", "Air Cleaner Element", "air filter"],
        "brands": ["K&N", "Fram", "Wix", "Mann-Filter", "Purolator", "Bosch"],
        "attrs": {
            "SIZE": ["10.2 x 8.1 in", "11 in", '9.5"', "300mm", "2.5 in tall"],
            "MATERIAL": ["paper", "cotton gauze", "synthetic", "washable cotton"],
            "COLOR": ["Red", "White", "Orange", "Blue"],
        },
    },
    "oil filters": {
        "component": "engine oil",
        "nouns": ["Oil Filter", "Engine Oil Filter", "oil filter", "Spin-On Oil Filter"],
        "brands": ["Fram", "Wix", "Mobil 1", "Purolator", "K&N", "Bosch", "Mann-Filter"],
        "attrs": {
            "THREAD": ["M20x1.5", "3/4-16 UNF", "M22x1.5", "13/16-16"],
            "SIZE": ["3.2 in tall", "76mm", "4 in", '2.7" OD'],
            "COLOR": ["Blue", "Orange", "Black", "White"],
            "QUANTITY": ["Pack of 2", "6-Pack", "x12", "1 pc"],
        },
    },
    "wiper blades": {
        "component": None,
        "nouns": ["Wiper Blade", "Wiper Blades", "Windshield Wiper", "Beam Wiper Blade"],
        "brands": ["Bosch", "Rain-X", "Michelin", "Trico", "Valeo", "Denso"],
        "attrs": {
            "SIZE": ["22 in", '24"', "26 inch", "550mm", "16in", "20 in"],
            "MATERIAL": ["rubber", "silicone", "natural rubber", "graphite coated"],
            "COLOR": ["Black"],
            "QUANTITY": ["Pair", "Set of 2", "single", "2 pcs"],
        },
    },
    "headlight bulbs": {
        "component": None,
        "nouns": ["Headlight Bulb", "Headlight Bulbs", "Halogen Bulb", "LED Headlight Bulb"],
        "brands": ["Philips", "Sylvania", "Osram", "Hella", "GE"],
        "attrs": {
            "SIZE": ["H11", "9005", "H4", "H7", "9006", "55W", "60/55W"],
            "VOLTAGE": ["12V", "12 Volt", "24V"],
            "COLOR": ["White", "6000K white", "Yellow", "cool blue"],
            "QUANTITY": ["Pair", "2-Pack", "1 pc", "Twin Pack"],
        },
    },
    "brake pads": {
        "component": None,
        "nouns": ["Brake Pads", "Brake Pad Set", "Disc Brake Pads", "brake pads"],
        "brands": ["Akebono", "Brembo", "Wagner", "Raybestos", "Bosch", "Power Stop", "ACDelco"],
        "attrs": {
            "MATERIAL": ["ceramic", "semi-metallic", "organic", "low-metallic"],
            "QUANTITY": ["Set of 4", "axle set", "8 pcs"],
            "COLOR": ["Black", "Gray"],
        },
    },
    "brake rotors": {
        "component": None,
        "nouns": ["Brake Rotor", "Brake Rotors", "Disc Brake Rotor", "Rotor"],
        "brands": ["Brembo", "Wagner", "Raybestos", "ACDelco", "Power Stop", "Centric"],
        "attrs": {
            "SIZE": ["280mm", "11.7 in", "320 mm", '12.6"', "296mm"],
            "MATERIAL": ["cast iron", "carbon", "G3000 iron"],
            "COLOR": ["Black", "Silver", "Gray"],
            "QUANTITY": ["Pair", "Set of 2", "single"],
        },
    },
    "serpentine belts": {
        "component": None,
        "nouns": ["Serpentine Belt", "Drive Belt", "V-Ribbed Belt", "Accessory Belt"],
        "brands": ["Gates", "Dayco", "Continental", "Bando", "ACDelco"],
        "attrs": {
            "SIZE": ["6PK2135", "80.5 in", "7PK1745", "2045mm", "6-rib"],
            "MATERIAL": ["EPDM", "rubber", "aramid"],
            "COLOR": ["Black"],
        },
    },
}

# Part-number shapes per brand (`#` digit, `A` letter); several to vary.
PART_NUMBER_SHAPES: dict[str, list[str]] = {
    "Bosch": ["0 242 ### ###", "0242######", "0 986 ### ###", "F 00H L00 ###", "#####"],
    "Denso": ["###-####", "234-####", "###-#####"],
    "NGK": ["####", "AAAA#AA-##", "AAA#A-##"],
    "NTK": ["#####", "AA-#####"],
    "Champion": ["###", "AA##AAA", "####"],
    "Autolite": ["AP####", "APP####", "####"],
    "ACDelco": ["##-###", "###-####", "#####"],
    "Motorcraft": ["AA-###", "AA-####", "AAA-###"],
    "Delphi": ["AA####", "AA#####"],
    "Standard Motor Products": ["AA###", "AA####", "AAA###"],
    "Walker Products": ["###-#####", "###-####"],
    "Walker": ["#####", "##-###"],
    "Dorman": ["###-###", "###-####", "AAA#####"],
    "Hitachi": ["AAA####", "AAA####A"],
    "Siemens Deka": ["AAA####", "#######"],
    "Airtex": ["A####A", "E####"],
    "Carter": ["P#####", "P####A"],
    "Walbro": ["AAA###", "###-###"],
    "Spectra Premium": ["AA####A", "SP####"],
    "Aeromotive": ["#####", "##-###"],
    "Pierburg": ["#.#####.##.#", "########"],
    "MagnaFlow": ["#####", "##-####"],
    "Eastern Catalytic": ["######", "#####"],
    "Bosal": ["###-###", "#######"],
    "AP Exhaust": ["#####", "AA####"],
    "Motorad": ["###-###", "####-###"],
    "Stant": ["#####", "##-####"],
    "Gates": ["K######", "#####", "TA###"],
    "Mahle": ["AA ### ##", "AA######"],
    "Four Seasons": ["#####", "##-###"],
    "TYC": ["######", "###-###"],
    "Optima": ["##-####", "AAA-####"],
    "Interstate": ["AA-##", "AAA-##A"],
    "DieHard": ["#####", "##-###"],
    "Odyssey": ["##-AAA", "####"],
    "Varta": ["###-###-###", "AA#"],
    "Remy": ["#####", "##-####"],
    "Valeo": ["######", "###-###"],
    "Beru": ["AA ###", "0 ### ### ###"],
    "Aisin": ["AAA-###", "AA-###"],
    "K&N": ["##-####", "AA-####"],
    "Fram": ["AA#####", "AA####A", "AAA####"],
    "Wix": ["#####", "#####XP"],
    "Mann-Filter": ["A ## ###", "AA ####", "AA ##/#"],
    "Purolator": ["A#####", "AA#####"],
    "Mobil 1": ["M1-###", "M1-###A"],
    "Rain-X": ["####-###", "AA####"],
    "Michelin": ["####", "AA-####"],
    "Trico": ["##-###", "###-###"],
    "Philips": ["####AA", "A##AAAA", "####AAAA"],
    "Sylvania": ["####", "####.AA"],
    "Osram": ["####", "####AAA"],
    "Hella": ["A##", "AA ### ###"],
    "GE": ["####", "####AAA/#"],
    "Akebono": ["ACT###", "ASP####"],
    "Brembo": ["P ## ###", "##.####.##"],
    "Wagner": ["AA###", "QC####"],
    "Raybestos": ["###A", "AA####"],
    "Power Stop": ["##-####", "AR####"],
    "Centric": ["###.#####", "###.####"],
    "Dayco": ["5######", "#PK####"],
    "Continental": ["#######", "#PK####"],
    "Bando": ["#PK####", "####"],
}

# Which category pairs are sold together; their products are compatible when they fit a
# common vehicle.
COMPANION_CATEGORIES: list[tuple[str, str]] = [
    ("spark plugs", "ignition coils"),
    ("oxygen sensors", "catalytic converters"),
    ("fuel pumps", "fuel pressure regulators"),
    ("fuel pumps", "fuel injectors"),
    ("batteries", "alternators"),
    ("batteries", "starters"),
    ("thermostats", "coolant temperature sensors"),
    ("brake pads", "brake rotors"),
    ("camshaft position sensors", "crankshaft position sensors"),
    ("mass air flow sensors", "air filters"),
]
