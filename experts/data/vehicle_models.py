"""Car and light-truck model names, for reading which vehicle a text names.

The catalog holds 11 makes and 44 models; people's listings and questions name hundreds
(a part "for Camry Corolla Tacoma" asked about for an Avalon). `MODELS` lists the makes
and models sold in North America and Europe from 1985 to 2025, written for tinyexperts from
general knowledge (not from any evaluation set). The fitment check reads them
(`experts.fitment_check`): a listing that names its models rules out a vehicle of another.

`MODEL_NAMES` maps each name, lower case with its separators removed ("f150" for "F-150",
"F150" and "f 150"), to a `ModelName`. A name that is only a number ("3", "1500", "300")
is known only after its make ("mazda3", "ram1500", "chrysler300"). Names that are also
everyday words ("Fit", "Spark", "Escape") are marked, so that a reader can ask for the make
or a model year before them, and short names, codes and body styles that read as trims,
counts or engines ("LS", "X4", "I4", "Wagon") are known only after their make.
`SAME_VEHICLE` and `UMBRELLAS` say which different names a listing may mean one vehicle by
("Miata" and "MX-5"; "Super Duty" and "F-250").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MODELS: dict[str, list[str]] = {
    "Acura": ["Integra", "Legend", "Vigor", "NSX", "CL", "TL", "RL", "RSX", "TSX", "MDX",
        "RDX", "ZDX", "ILX", "TLX", "RLX", "SLX", "EL", "CSX", "ADX"],
    "Alfa Romeo": ["164", "Spider", "Milano", "75", "33", "90", "Alfasud", "Sprint", "145",
        "146", "147", "155", "156", "159", "166", "GT", "GTV", "Brera", "MiTo", "Giulietta",
        "Giulia", "Stelvio", "Tonale", "Junior", "4C", "8C Competizione", "8C Spider", "SZ",
        "RZ", "Crosswagon"],
    "Audi": ["80", "90", "100", "200", "4000", "5000", "Coupe GT", "Quattro", "V8",
        "Cabriolet", "A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A4 Allroad",
        "A6 Allroad", "Allroad", "Q2", "Q3", "Q3 Sportback", "Q4 e-tron",
        "Q4 Sportback e-tron", "Q5", "Q5 Sportback", "Q6 e-tron", "Q7", "Q8", "Q8 e-tron",
        "Q8 Sportback e-tron", "e-tron", "e-tron Sportback", "e-tron GT", "A6 e-tron", "TT",
        "TTS", "TT RS", "R8", "S2", "RS2", "S3", "S4", "S5", "S6", "S7", "S8", "SQ2", "SQ5",
        "SQ5 Sportback", "SQ7", "SQ8", "RS3", "RS4", "RS5", "RS6", "RS7", "RS Q3", "RS Q8",
        "RS e-tron GT"],
    "BMW": ["1 Series", "2 Series", "2 Series Active Tourer", "2 Series Gran Tourer",
        "2 Series Gran Coupe", "3 Series", "3 Series Gran Turismo", "4 Series",
        "4 Series Gran Coupe", "5 Series", "5 Series Gran Turismo", "6 Series",
        "6 Series Gran Coupe", "6 Series Gran Turismo", "7 Series", "8 Series", "X1", "X2",
        "X3", "X4", "X5", "X6", "X7", "XM", "Z1", "Z3", "Z4", "Z8", "1 Series M", "M1", "M2",
        "M3", "M4", "M5", "M6", "M8", "X3 M", "X4 M", "X5 M", "X6 M", "Z3 M", "Z4 M",
        "M Coupe", "M Roadster", "i3", "i4", "i5", "i7", "i8", "iX", "iX1", "iX2", "iX3",
        "116i", "118i", "118d", "120i", "120d", "123d", "125i", "128i", "130i", "135i",
        "M135i", "218i", "220i", "228i", "230i", "M235i", "M240i", "316i", "318i", "318is",
        "318ti", "318d", "320i", "320d", "323i", "323is", "325", "325e", "325es", "325i",
        "325is", "325iX", "325xi", "325Ci", "328i", "328is", "328xi", "328Ci", "328d", "330i",
        "330xi", "330Ci", "330e", "330d", "335i", "335xi", "335is", "335d", "340i", "M340i",
        "420i", "428i", "430i", "435i", "440i", "M440i", "520i", "520d", "524td", "525i",
        "525xi", "528e", "528i", "528xi", "530i", "530xi", "530e", "530d", "535i", "535xi",
        "535d", "540i", "545i", "550i", "M550i", "633CSi", "635CSi", "640i", "645Ci", "650i",
        "M760i", "730i", "730d", "735i", "735iL", "740i", "740iL", "740Li", "740d", "745i",
        "745Li", "750i", "750iL", "750Li", "760i", "760Li", "840i", "840Ci", "850i", "850Ci",
        "850CSi", "M850i"],
    "Buick": ["Century", "Electra", "Estate Wagon", "LeSabre", "Park Avenue", "Regal",
        "Regal Sportback", "Regal TourX", "Riviera", "Roadmaster", "Skyhawk", "Skylark",
        "Somerset", "Reatta", "Rendezvous", "Rainier", "Terraza", "Lucerne", "Allure",
        "LaCrosse", "Enclave", "Encore", "Encore GX", "Envision", "Envista", "Verano",
        "Cascada"],
    "Cadillac": ["Allante", "Brougham", "Fleetwood", "Fleetwood Brougham", "Sixty Special",
        "DeVille", "Sedan DeVille", "Coupe DeVille", "Eldorado", "Seville", "Cimarron",
        "Catera", "CTS", "CT4", "CT5", "CT6", "DTS", "STS", "XLR", "SRX", "XTS", "ATS", "ELR",
        "BLS", "XT4", "XT5", "XT6", "Escalade", "Escalade ESV", "Escalade EXT", "Escalade IQ",
        "Lyriq", "Optiq", "Vistiq", "Celestiq"],
    "Chevrolet": ["Astro", "Avalanche", "Aveo", "Beretta", "Blazer", "K5 Blazer",
        "S-10 Blazer", "Blazer EV", "Bolt", "Bolt EV", "Bolt EUV", "Camaro", "Caprice",
        "Captiva", "Captiva Sport", "Cavalier", "Celebrity", "Chevette", "Citation",
        "City Express", "Cobalt", "Colorado", "Corsica", "Corvette", "Cruze", "El Camino",
        "Epica", "Equinox", "Equinox EV", "Evanda", "Express", "Express 1500", "Express 2500",
        "Express 3500", "Chevy Van", "Sportvan", "G10", "G20", "G30", "Beauville", "HHR",
        "Impala", "Kalos", "Lacetti", "Lumina", "Lumina APV", "Malibu", "Matiz", "Metro",
        "Monte Carlo", "Nova", "Nubira", "Orlando", "Prizm", "Rezzo", "S-10", "Silverado",
        "Silverado 1500", "Silverado 2500", "Silverado 2500HD", "Silverado 3500",
        "Silverado 3500HD", "Silverado HD", "Silverado EV", "C10", "C/K", "C1500", "K1500",
        "C2500", "K2500", "C3500", "K3500", "Kodiak", "Sonic", "Spark", "Spectrum", "Sprint",
        "SS", "SSR", "Suburban", "Tacuma", "Tahoe", "Tracker", "Trailblazer", "Traverse",
        "Trax", "Uplander", "Venture", "Volt", "BrightDrop"],
    "Chrysler": ["200", "300", "300C", "300M", "Aspen", "Cirrus", "Concorde", "Conquest",
        "Crossfire", "Daytona", "Delta", "E-Class", "Executive", "Fifth Avenue",
        "Grand Caravan", "Grand Voyager", "Imperial", "Intrepid", "Laser", "LeBaron", "LHS",
        "Neon", "New Yorker", "Pacifica", "Prowler", "PT Cruiser", "Saratoga", "Sebring",
        "Stratus", "TC by Maserati", "Town & Country", "Viper", "Vision", "Voyager",
        "Ypsilon"],
    "Dodge": ["400", "600", "Aries", "Avenger", "Caliber", "Caravan", "Grand Caravan",
        "Challenger", "Charger", "Shelby Charger", "Colt", "Colt Vista", "Conquest", "Dakota",
        "Dart", "Daytona", "Diplomat", "Durango", "Dynasty", "Hornet", "Intrepid", "Journey",
        "Lancer", "Magnum", "Monaco", "Neon", "Nitro", "Omni", "Raider", "Ram", "Ram 50",
        "Ram 1500", "Ram 2500", "Ram 3500", "Ram 4500", "Ram 5500", "Ram Van", "Ram Wagon",
        "Mini Ram", "B150", "B250", "B350", "D150", "D250", "D350", "W150", "W250", "W350",
        "Ramcharger", "Rampage", "Shadow", "Spirit", "SRT-4", "Stealth", "Stratus",
        "Sprinter", "Viper"],
    "Fiat": ["124 Spider", "126", "500", "500L", "500X", "500e", "600", "600e", "Albea",
        "Barchetta", "Brava", "Bravo", "Cinquecento", "Coupe", "Croma", "Doblo", "Ducato",
        "Duna", "Fiorino", "Freemont", "Fullback", "Grande Panda", "Grande Punto", "Idea",
        "Linea", "Marea", "Multipla", "Palio", "Panda", "Punto", "Punto Evo", "Qubo",
        "Regata", "Ritmo", "Scudo", "Sedici", "Seicento", "Siena", "Spider 2000", "Stilo",
        "Strada", "Talento", "Tempra", "Tipo", "Topolino", "Ulysse", "Uno", "X1/9"],
    "Ford": ["Aerostar", "Aspire", "B-Max", "Bronco", "Bronco II", "Bronco Sport", "C-Max",
        "Capri", "Club Wagon", "Contour", "Cougar", "Courier", "Crown Victoria",
        "LTD Crown Victoria", "E-150", "E-250", "E-350", "E-450", "E-Series", "E-Transit",
        "Econoline", "EcoSport", "Edge", "Escape", "Escort", "EXP", "Excursion", "Expedition",
        "Explorer", "Explorer EV", "Explorer Sport", "Explorer Sport Trac", "F-150",
        "F-150 Lightning", "F-250", "F-250 Super Duty", "F-350", "F-450", "F-550", "F-650",
        "F-750", "Super Duty", "Festiva", "Fiesta", "Five Hundred", "Flex", "Focus",
        "Focus C-Max", "Freestar", "Freestyle", "Fusion", "Galaxy", "Grand C-Max", "Granada",
        "GT", "Ka", "Ka+", "StreetKa", "Kuga", "LTD", "Maverick", "Mondeo", "Mustang",
        "Mustang Mach-E", "Orion", "P100", "Probe", "Puma", "Ranger", "S-Max", "Scorpio",
        "Sierra", "Taurus", "Taurus X", "Tempo", "Thunderbird", "Tourneo", "Tourneo Connect",
        "Tourneo Courier", "Tourneo Custom", "Transit", "Transit Connect", "Transit Courier",
        "Transit Custom", "Windstar", "ZX2"],
    "Genesis": ["G70", "G80", "G90", "GV60", "GV70", "GV80", "Electrified G80",
        "Electrified GV70"],
    "GMC": ["Acadia", "Caballero", "Canyon", "Envoy", "Envoy XL", "Envoy XUV", "Hummer EV",
        "Jimmy", "S-15", "S-15 Jimmy", "Rally", "Rally Wagon", "Safari", "Savana", "Sierra",
        "Sierra 1500", "Sierra 2500", "Sierra 2500HD", "Sierra 3500", "Sierra 3500HD",
        "Sierra HD", "Sierra EV", "C1500", "K1500", "C2500", "K2500", "C3500", "K3500",
        "Sonoma", "Suburban", "Syclone", "Terrain", "TopKick", "Typhoon", "Vandura", "Yukon",
        "Yukon XL"],
    "Honda": ["Accord", "Accord Crosstour", "Civic", "CR-V", "HR-V", "ZR-V", "Pilot",
        "Passport", "Odyssey", "Fit", "Jazz", "Element", "Ridgeline", "Insight", "Prelude",
        "S2000", "CR-Z", "CRX", "Crosstour", "Del Sol", "Clarity", "Prologue", "e", "e:Ny1",
        "Legend", "Integra", "Concerto", "Shuttle", "Stream", "FR-V", "NSX", "Logo",
        "Ballade", "Quintet"],
    "Hummer": ["H1", "H2", "H3", "H3T"],
    "Hyundai": ["Accent", "Amica", "Atos", "Azera", "Bayon", "Coupe", "Elantra", "Elantra GT",
        "Elantra Touring", "Entourage", "Equus", "Excel", "Galloper", "Genesis",
        "Genesis Coupe", "Getz", "Grandeur", "H-1", "i10", "i20", "i30", "i40", "i800",
        "iLoad", "Inster", "Ioniq", "Ioniq 5", "Ioniq 6", "Ioniq 9", "ix20", "ix35", "ix55",
        "Kona", "Lantra", "Matrix", "Nexo", "Palisade", "Pony", "Santa Cruz", "Santa Fe",
        "Scoupe", "Sonata", "Stellar", "Terracan", "Tiburon", "Trajet", "Tucson", "Veloster",
        "Venue", "Veracruz", "XG300", "XG350"],
    "Infiniti": ["G20", "G25", "G35", "G37", "I30", "I35", "J30", "M30", "M35", "M37", "M45",
        "M56", "Q45", "Q30", "Q40", "Q50", "Q60", "Q70", "QX4", "QX30", "QX50", "QX55",
        "QX56", "QX60", "QX70", "QX80", "EX35", "EX37", "FX35", "FX37", "FX45", "FX50",
        "JX35"],
    "Isuzu": ["Amigo", "Ascender", "Axiom", "D-Max", "Gemini", "Hombre", "I-Mark", "I-280",
        "I-290", "I-350", "I-370", "Impulse", "Oasis", "Piazza", "Pickup", "P'up", "Rodeo",
        "Rodeo Sport", "Stylus", "Trooper", "Trooper II", "VehiCROSS"],
    "Jaguar": ["XJ", "XJ6", "XJ8", "XJ12", "XJR", "XJS", "XJ220", "XK", "XK8", "XKR", "XF",
        "XE", "S-Type", "X-Type", "F-Type", "F-Pace", "E-Pace", "I-Pace"],
    "Jeep": ["Avenger", "Cherokee", "CJ-7", "Comanche", "Commander", "Compass", "Gladiator",
        "Grand Cherokee", "Grand Cherokee L", "Grand Wagoneer", "Grand Wagoneer L", "Liberty",
        "Patriot", "Recon", "Renegade", "Wagoneer", "Wagoneer L", "Wagoneer S", "Wrangler",
        "Wrangler Unlimited"],
    "Kia": ["Amanti", "Besta", "Borrego", "Cadenza", "Carens", "Carnival", "Ceed", "ProCeed",
        "XCeed", "Cerato", "Clarus", "EV3", "EV4", "EV6", "EV9", "Forte", "Joice", "K2500",
        "K5", "K900", "Magentis", "Mentor", "Niro", "Opirus", "Optima", "Picanto", "Pregio",
        "Pride", "PV5", "Retona", "Rio", "Rondo", "Sedona", "Seltos", "Sephia", "Shuma",
        "Sorento", "Soul", "Spectra", "Sportage", "Stinger", "Stonic", "Telluride", "Venga"],
    "Land Rover": ["Range Rover", "Range Rover Classic", "Range Rover Sport",
        "Range Rover Evoque", "Range Rover Velar", "Discovery", "Discovery Sport", "Defender",
        "Defender 90", "Defender 110", "Defender 130", "Freelander", "Freelander 2", "LR2",
        "LR3", "LR4"],
    "Lexus": ["CT", "ES", "GS", "GX", "HS", "IS", "LC", "LM", "LS", "LX", "NX", "RC", "RX",
        "RZ", "SC", "TX", "UX", "LBX", "LFA", "CT 200h", "ES 250", "ES 300", "ES 300h",
        "ES 330", "ES 350", "GS 200t", "GS 300", "GS 350", "GS 400", "GS 430", "GS 450h",
        "GS 460", "GS F", "GX 460", "GX 470", "GX 550", "HS 250h", "IS 200", "IS 200t",
        "IS 220d", "IS 250", "IS 300", "IS 350", "IS 500", "IS F", "LC 500", "LC 500h",
        "LS 400", "LS 430", "LS 460", "LS 500", "LS 500h", "LS 600h", "LX 450", "LX 470",
        "LX 570", "LX 600", "NX 200t", "NX 250", "NX 300", "NX 300h", "NX 350", "NX 350h",
        "NX 450h+", "RC 200t", "RC 300", "RC 350", "RC F", "RX 300", "RX 330", "RX 350",
        "RX 350h", "RX 400h", "RX 450h", "RX 450h+", "RX 500h", "RZ 300e", "RZ 450e",
        "SC 300", "SC 400", "SC 430", "TX 350", "TX 500h", "TX 550h+", "UX 200", "UX 250h",
        "UX 300e", "UX 300h"],
    "Lincoln": ["Aviator", "Blackwood", "Continental", "Corsair", "LS", "Mark VII",
        "Mark VIII", "Mark LT", "MKC", "MKS", "MKT", "MKX", "MKZ", "Nautilus", "Navigator",
        "Town Car", "Zephyr"],
    "Mazda": ["2", "3", "5", "6", "6e", "121", "323", "626", "929", "B-Series", "B2000",
        "B2200", "B2300", "B2500", "B2600", "B3000", "B4000", "BT-50", "CX-3", "CX-30",
        "CX-5", "CX-50", "CX-60", "CX-7", "CX-70", "CX-80", "CX-9", "CX-90", "Demio", "E2000",
        "GLC", "Miata", "Millenia", "MPV", "MX-3", "MX-5", "MX-5 Miata", "MX-6", "MX-30",
        "Navajo", "Premacy", "Protege", "Protege5", "RX-7", "RX-8", "Tribute", "Xedos 6",
        "Xedos 9"],
    "Mercedes-Benz": ["A-Class", "B-Class", "C-Class", "CL-Class", "CLA", "CLK", "CLS",
        "E-Class", "G-Class", "G-Wagon", "GL-Class", "GL", "GLA", "GLB", "GLC", "GLE", "GLK",
        "GLS", "M-Class", "ML", "R-Class", "S-Class", "SL", "SLC", "SLK", "SLR McLaren",
        "SLS AMG", "AMG GT", "T-Class", "V-Class", "X-Class", "Citan", "Metris", "Sprinter",
        "Vaneo", "Viano", "Vito", "EQA", "EQB", "EQC", "EQE", "EQE SUV", "EQS", "EQS SUV",
        "EQT", "EQV", "eSprinter", "eVito", "190", "190E", "190D", "260E", "300E", "300D",
        "300CE", "300TE", "300SE", "300SEL", "300SD", "300SL", "350SD", "350SDL", "400E",
        "400SEL", "420SEL", "500E", "500SEL", "500SEC", "500SL", "560SEL", "560SEC", "560SL",
        "600SEL", "600SEC", "600SL", "A140", "A160", "A180", "A200", "A220", "A250", "A35",
        "A45", "B180", "B200", "B250", "C180", "C200", "C220", "C230", "C240", "C250", "C280",
        "C300", "C320", "C350", "C400", "C450", "C36 AMG", "C43 AMG", "C55 AMG", "C63 AMG",
        "CL500", "CL550", "CL600", "CL55 AMG", "CL63 AMG", "CL65 AMG", "CLA250", "CLA45",
        "CLK320", "CLK350", "CLK430", "CLK500", "CLK550", "CLK55 AMG", "CLK63 AMG", "CLS450",
        "CLS500", "CLS550", "CLS55 AMG", "CLS63 AMG", "E200", "E220", "E230", "E240", "E250",
        "E270", "E280", "E300", "E320", "E350", "E400", "E420", "E430", "E450", "E500",
        "E550", "E55 AMG", "E63 AMG", "G500", "G550", "G55 AMG", "G63 AMG", "GL320", "GL350",
        "GL450", "GL550", "GLA250", "GLB250", "GLC300", "GLC350e", "GLE350", "GLE400",
        "GLE450", "GLE580", "GLK250", "GLK350", "GLS450", "GLS550", "GLS580", "ML250",
        "ML320", "ML350", "ML400", "ML430", "ML500", "ML550", "ML55 AMG", "ML63 AMG", "R320",
        "R350", "R500", "S320", "S350", "S400", "S420", "S430", "S450", "S500", "S550",
        "S560", "S580", "S600", "S55 AMG", "S63 AMG", "S65 AMG", "SL320", "SL500", "SL550",
        "SL600", "SL55 AMG", "SL63 AMG", "SL65 AMG", "SLC300", "SLK200", "SLK230", "SLK250",
        "SLK280", "SLK300", "SLK320", "SLK350", "SLK55 AMG"],
    "Mercury": ["Capri", "Colony Park", "Cougar", "Grand Marquis", "Lynx", "Marauder",
        "Mariner", "Marquis", "Milan", "Montego", "Monterey", "Mountaineer", "Mystique",
        "Sable", "Topaz", "Tracer", "Villager"],
    "Mini": ["Mini", "Cooper", "Clubman", "Countryman", "Paceman", "Aceman"],
    "Mitsubishi": ["3000GT", "ASX", "Carisma", "Colt", "Cordia", "Diamante", "Eclipse",
        "Eclipse Cross", "Endeavor", "Expo", "Expo LRV", "FTO", "Galant", "Grandis", "GTO",
        "i", "i-MiEV", "L200", "L300", "L400", "Lancer", "Lancer Evolution", "Mighty Max",
        "Mirage", "Mirage G4", "Montero", "Montero Sport", "Outlander", "Outlander PHEV",
        "Outlander Sport", "Pajero", "Pajero Sport", "Pickup", "Precis", "Raider", "RVR",
        "Shogun", "Shogun Sport", "Sigma", "Space Runner", "Space Star", "Space Wagon",
        "Starion", "Tredia", "Van", "Wagon"],
    "Nissan": ["100NX", "200SX", "240SX", "300ZX", "350Z", "370Z", "Z", "Almera",
        "Almera Tino", "Altima", "Ariya", "Armada", "Axxess", "Bluebird", "Cabstar", "Cherry",
        "Cube", "e-NV200", "Evalia", "Frontier", "GT-R", "Hardbody", "Interstar", "Juke",
        "Kicks", "Kubistar", "Laurel", "Leaf", "Maxima", "Micra", "Murano",
        "Murano CrossCabriolet", "Navara", "Note", "NV", "NV200", "NV300", "NV400", "NV1500",
        "NV2500", "NV3500", "NX", "Pathfinder", "Patrol", "Pixo", "Prairie", "Primastar",
        "Primera", "Pulsar", "Pulsar NX", "Qashqai", "Quest", "Rogue", "Rogue Sport",
        "Sentra", "Serena", "Silvia", "Stanza", "Sunny", "Terrano", "Terrano II", "Tiida",
        "Titan", "Titan XD", "Townstar", "Vanette", "Versa", "Versa Note", "X-Trail",
        "Xterra"],
    "Oldsmobile": ["88", "98", "Delta 88", "Eighty-Eight", "Ninety-Eight", "Achieva", "Alero",
        "Aurora", "Bravada", "Calais", "Ciera", "Custom Cruiser", "Cutlass", "Cutlass Calais",
        "Cutlass Ciera", "Cutlass Cruiser", "Cutlass Supreme", "Firenza", "Intrigue", "LSS",
        "Regency", "Silhouette", "Toronado"],
    "Opel": ["Adam", "Agila", "Ampera", "Ampera-e", "Antara", "Ascona", "Astra", "Calibra",
        "Cascada", "Combo", "Corsa", "Crossland", "Crossland X", "Frontera", "GT",
        "Grandland", "Grandland X", "Insignia", "Kadett", "Karl", "Manta", "Meriva", "Mokka",
        "Mokka X", "Monterey", "Monza", "Movano", "Omega", "Rekord", "Rocks-e", "Senator",
        "Signum", "Sintra", "Speedster", "Tigra", "Vectra", "Vivaro", "Zafira", "Zafira Life"],
    "Peugeot": ["104", "106", "107", "108", "205", "206", "207", "208", "301", "305", "306",
        "307", "308", "309", "405", "406", "407", "408", "505", "508", "604", "605", "607",
        "806", "807", "1007", "2008", "3008", "4007", "4008", "5008", "Bipper", "Boxer",
        "Expert", "iOn", "J5", "Partner", "RCZ", "Rifter", "Traveller"],
    "Plymouth": ["Acclaim", "Breeze", "Caravelle", "Colt", "Colt Vista", "Conquest", "Duster",
        "Gran Fury", "Grand Voyager", "Horizon", "Laser", "Neon", "Prowler", "Reliant",
        "Sundance", "Turismo", "Voyager"],
    "Pontiac": ["1000", "6000", "Aztek", "Bonneville", "Fiero", "Firebird", "Firefly", "G3",
        "G5", "G6", "G8", "Grand Am", "Grand Prix", "GTO", "LeMans", "Montana", "Montana SV6",
        "Parisienne", "Pursuit", "Safari", "Solstice", "Sunbird", "Sunfire", "Sunrunner",
        "T1000", "Tempest", "Torrent", "Trans Am", "Trans Sport", "Vibe", "Wave"],
    "Porsche": ["911", "924", "928", "944", "959", "968", "718", "718 Boxster", "718 Cayman",
        "Boxster", "Cayman", "Carrera GT", "918 Spyder", "Cayenne", "Macan", "Panamera",
        "Taycan"],
    "Ram": ["1500", "1500 Classic", "2500", "3500", "4500", "5500", "C/V", "Dakota",
        "ProMaster", "ProMaster City"],
    "Renault": ["4", "5", "9", "11", "18", "19", "21", "25", "Super 5", "Alliance", "Encore",
        "Fuego", "GTA", "Alaskan", "Arkana", "Austral", "Avantime", "Captur", "Clio",
        "Espace", "Grand Espace", "Express", "Rapid", "Fluence", "Kadjar", "Kangoo", "Koleos",
        "Laguna", "Latitude", "Master", "Megane", "Megane E-Tech", "Modus", "Grand Modus",
        "Rafale", "Safrane", "Scenic", "Grand Scenic", "Scenic E-Tech", "Sport Spider",
        "Symbioz", "Talisman", "Thalia", "Trafic", "Twingo", "Twizy", "Vel Satis", "Wind",
        "Zoe", "4 E-Tech", "5 E-Tech"],
    "Saab": ["90", "900", "9000", "9-2X", "9-3", "9-4X", "9-5", "9-7X"],
    "Saturn": ["Astra", "Aura", "Ion", "L-Series", "L100", "L200", "L300", "LS", "LS1", "LS2",
        "LW", "LW1", "LW2", "LW200", "LW300", "Outlook", "Relay", "S-Series", "SC", "SC1",
        "SC2", "Sky", "SL", "SL1", "SL2", "SW", "SW1", "SW2", "Vue"],
    "Scion": ["FR-S", "iA", "iM", "iQ", "tC", "xA", "xB", "xD"],
    "Seat": ["Alhambra", "Altea", "Altea XL", "Arona", "Arosa", "Ateca", "Cordoba", "Exeo",
        "Fura", "Ibiza", "Inca", "Leon", "Malaga", "Marbella", "Mii", "Ronda", "Tarraco",
        "Terra", "Toledo"],
    "Skoda": ["105", "120", "130", "136", "Citigo", "Elroq", "Enyaq", "Estelle", "Fabia",
        "Favorit", "Felicia", "Forman", "Kamiq", "Karoq", "Kodiaq", "Octavia", "Rapid",
        "Roomster", "Scala", "Superb", "Yeti"],
    "Smart": ["Fortwo", "Forfour", "Roadster", "Crossblade", "#1", "#3", "#5"],
    "Subaru": ["Ascent", "Baja", "BRZ", "Brat", "B9 Tribeca", "Crosstrek", "DL", "Forester",
        "GL", "Impreza", "Justy", "Legacy", "Leone", "Levorg", "Loyale", "Outback",
        "Solterra", "SVX", "Trezia", "Tribeca", "Vivio", "WRX", "WRX STI", "XT", "XT6", "XV"],
    "Suzuki": ["Across", "Aerio", "Alto", "Baleno", "Cappuccino", "Carry", "Celerio",
        "Equator", "Esteem", "eVitara", "Forenza", "Grand Vitara", "Ignis", "Jimny",
        "Kizashi", "Liana", "Reno", "S-Cross", "Samurai", "Sidekick", "SJ410", "SJ413",
        "Splash", "Swace", "Swift", "Swift+", "SX4", "Verona", "Vitara", "Wagon R+", "X-90",
        "XL-7", "XL7"],
    "Tesla": ["Roadster", "Model S", "Model 3", "Model X", "Model Y", "Cybertruck"],
    "Toyota": ["4Runner", "86", "Auris", "Avalon", "Avensis", "Avensis Verso", "Aygo",
        "Aygo X", "bZ", "bZ4X", "C-HR", "Camry", "Camry Solara", "Carina", "Carina E",
        "Celica", "Corolla", "Corolla Cross", "Corolla FX", "Corolla iM", "Corolla Verso",
        "Corona", "Cressida", "Crown", "Crown Signia", "Dyna", "Echo", "FJ Cruiser", "GR86",
        "GR Corolla", "GR Supra", "GR Yaris", "Grand Highlander", "Hiace", "Highlander",
        "Hilux", "iQ", "Land Cruiser", "Land Cruiser Prado", "Liteace", "Matrix", "Mirai",
        "MR2", "MR2 Spyder", "Paseo", "Picnic", "Pickup", "Previa", "Prius", "Prius C",
        "Prius V", "Prius Prime", "Prius Plus", "Proace", "Proace City", "Proace Verso",
        "RAV4", "Sequoia", "Sienna", "Solara", "Space Cruiser", "Starlet", "Supra", "T100",
        "Tacoma", "Tercel", "Tundra", "Urban Cruiser", "Van", "Venza", "Verso", "Verso-S",
        "Yaris", "Yaris iA", "Yaris Cross"],
    "Vauxhall": ["Adam", "Agila", "Ampera", "Antara", "Arena", "Astra", "Belmont", "Brava",
        "Calibra", "Carlton", "Cascada", "Cavalier", "Combo", "Corsa", "Crossland",
        "Crossland X", "Frontera", "Grandland", "Grandland X", "Insignia", "Meriva", "Mokka",
        "Mokka X", "Monaro", "Movano", "Nova", "Omega", "Senator", "Signum", "Sintra",
        "Tigra", "Vectra", "Viva", "Vivaro", "VX220", "VXR8", "Zafira", "Zafira Life",
        "Zafira Tourer"],
    "Volkswagen": ["Amarok", "Arteon", "Atlas", "Atlas Cross Sport", "Beetle", "New Beetle",
        "Bora", "Cabrio", "Cabriolet", "Caddy", "California", "Caravelle", "CC", "Corrado",
        "Crafter", "Eos", "EuroVan", "Fox", "Golf", "Golf Plus", "Golf Sportsvan", "GTI",
        "ID.3", "ID.4", "ID.5", "ID.7", "ID. Buzz", "Jetta", "LT", "Lupo", "Multivan",
        "Passat", "Passat CC", "Phaeton", "Polo", "Quantum", "Rabbit", "Routan", "Scirocco",
        "Sharan", "T-Cross", "T-Roc", "Taigo", "Taos", "Taro", "Tayron", "Tiguan",
        "Tiguan Allspace", "Tiguan Limited", "Touareg", "Touran", "Transporter", "Up",
        "Vanagon", "Vento", "XL1"],
    "Volvo": ["240", "244", "245", "340", "360", "440", "460", "480", "740", "760", "780",
        "850", "940", "960", "C30", "C40", "C70", "EC40", "ES90", "EX30", "EX40", "EX90",
        "S40", "S60", "S70", "S80", "S90", "V40", "V50", "V60", "V70", "V90", "XC40", "XC60",
        "XC70", "XC90"],
    "Geo": ["Metro", "Prizm", "Spectrum", "Storm", "Tracker"],
    "Eagle": ["2000 GTX", "Medallion", "Premier", "Summit", "Talon", "Vision", "Vista"],
    "Merkur": ["XR4Ti", "Scorpio"],
    "Sterling": ["825", "827"],
    "Yugo": ["GV", "GVL", "GVX", "Cabrio"],
    "Daewoo": ["Espero", "Kalos", "Lanos", "Leganza", "Matiz", "Nexia", "Nubira", "Tacuma"],
    "Daihatsu": ["Applause", "Charade", "Copen", "Cuore", "Feroza", "Fourtrak", "Hijet",
        "Materia", "Move", "Rocky", "Sirion", "Terios", "YRV"],
    "Citroen": ["2CV", "AX", "BX", "CX", "XM", "Visa", "C15", "ZX", "Xantia", "Saxo", "Xsara",
        "Xsara Picasso", "Evasion", "Synergie", "C1", "C2", "C3", "C3 Picasso", "C3 Aircross",
        "C4", "C4 Picasso", "C4 Grand Picasso", "C4 Cactus", "C4 Aircross", "C4 X", "C5",
        "C5 Aircross", "C5 X", "C6", "C8", "C-Crosser", "C-Zero", "C-Elysee", "DS3", "DS4",
        "DS5", "Ami", "Berlingo", "Dispatch", "Jumpy", "Jumper", "Relay", "Nemo",
        "SpaceTourer", "E-Mehari"],
    "DS": ["DS 3", "DS 3 Crossback", "DS 4", "DS 5", "DS 7", "DS 7 Crossback", "DS 9"],
    "Dacia": ["1310", "Nova", "Solenza", "Logan", "Sandero", "Duster", "Lodgy", "Dokker",
        "Jogger", "Spring", "Bigster"],
    "Lancia": ["Delta", "Prisma", "Thema", "Y10", "Dedra", "Kappa", "Y", "Ypsilon", "Lybra",
        "Zeta", "Phedra", "Thesis", "Musa", "Flavia", "Voyager"],
    "Rover": ["200", "400", "600", "800", "25", "45", "75", "Metro", "Mini", "Maestro",
        "Montego", "SD1", "Streetwise", "CityRover"],
    "MG": ["Maestro", "Montego", "Metro", "RV8", "MGF", "TF", "ZR", "ZS", "ZT", "MG3", "MG4",
        "MG5", "MG6", "HS", "ZS EV", "Marvel R", "Cyberster", "S5"],
    "Lada": ["2104", "2105", "2107", "Niva", "4x4", "Samara", "Riva", "Kalina", "Priora",
        "Granta", "Vesta"],
    "SsangYong": ["Korando", "Musso", "Rexton", "Kyron", "Actyon", "Rodius", "Turismo",
        "Tivoli", "XLV", "Torres"],
    "Proton": ["Persona", "Wira", "Satria", "Impian", "Gen-2", "Savvy"],
    "Cupra": ["Ateca", "Born", "Formentor", "Leon", "Tavascan", "Terramar"],
    "Polestar": ["1", "2", "3", "4"],
    "Rivian": ["R1T", "R1S", "EDV"],
    "Lucid": ["Air", "Gravity"],
    "Alpine": ["A110", "A290", "A610", "GTA"],
    "Maserati": ["Biturbo", "Spyder", "Coupe", "GranSport", "Ghibli", "Quattroporte",
        "Levante", "Grecale", "GranTurismo", "GranCabrio", "MC20", "3200 GT", "Shamal",
        "Karif", "228", "430"],
    "Lotus": ["Esprit", "Elan", "Elise", "Exige", "Europa", "Evora", "Emira", "Eletre",
        "Emeya"],
    "Ferrari": ["308", "328", "348", "355", "F355", "360", "F430", "458 Italia", "488",
        "F8 Tributo", "296", "Testarossa", "512 TR", "F512 M", "550 Maranello",
        "575M Maranello", "599", "F12berlinetta", "812 Superfast", "Mondial", "412", "456",
        "612 Scaglietti", "California", "Portofino", "Roma", "GTC4Lusso", "FF",
        "SF90 Stradale", "Purosangue", "12Cilindri", "F40", "F50", "Enzo", "LaFerrari",
        "288 GTO"],
    "Lamborghini": ["Countach", "Jalpa", "LM002", "Diablo", "Murcielago", "Gallardo",
        "Aventador", "Huracan", "Urus", "Revuelto", "Temerario"],
    "Bentley": ["Mulsanne", "Eight", "Turbo R", "Brooklands", "Continental", "Continental GT",
        "Continental Flying Spur", "Flying Spur", "Azure", "Arnage", "Bentayga"],
    "Rolls-Royce": ["Silver Spirit", "Silver Spur", "Corniche", "Silver Seraph", "Park Ward",
        "Phantom", "Ghost", "Wraith", "Dawn", "Cullinan", "Spectre"],
    "Aston Martin": ["V8 Vantage", "Virage", "DB7", "DB9", "DB11", "DB12", "DBS",
        "DBS Superleggera", "DBX", "Vanquish", "Vantage", "Rapide", "Valkyrie"],
    "BYD": ["Atto 2", "Atto 3", "Dolphin", "Dolphin Surf", "Seal", "Seal U", "Sealion 7",
        "Han", "Tang"],
    "Fisker": ["Karma", "Ocean"],
    "Ineos": ["Grenadier", "Quartermaster"],
}
MAKE_ALIASES: dict[str, list[str]] = {
    "Chevrolet": ["Chevy", "Chev"],
    "Volkswagen": ["VW", "Volkswagon"],
    "Mercedes-Benz": ["Mercedes", "Benz", "MB", "Merc", "Mercedes Benz", "Mercedes-AMG"],
    "BMW": ["Bimmer", "Beemer", "Beamer"],
    "Cadillac": ["Caddy"],
    "Alfa Romeo": ["Alfa"],
    "Land Rover": ["Land-Rover", "LandRover"],
    "Oldsmobile": ["Olds"],
    "Infiniti": ["Infinity"],
    "Nissan": ["Datsun"],
    "Ram": ["Ram Trucks"],
    "Subaru": ["Subie"],
    "Mitsubishi": ["Mitsu"],
    "Skoda": ["Škoda"],
    "Citroen": ["Citroën"],
    "DS": ["DS Automobiles"],
    "Rolls-Royce": ["Rolls Royce", "Rolls"],
    "Aston Martin": ["Aston"],
    "Lamborghini": ["Lambo"],
    "SsangYong": ["Ssang Yong", "KGM"],
    "Mini": ["MINI"],
    "Seat": ["SEAT"],
}

# Names that are also words of a listing or a buyer's question ("spark plug", "heating
# element", "battery charger", "flex pipe", "master cylinder", "coil spring", "Continental
# belt", "Odyssey battery", "Spectra Premium", "Mass Air Flow"). Short names and codes
# ("LS", "X4", "I4") and body styles ("pickup", "wagon") are `make_first`.
EVERYDAY_WORDS = {
    "fit", "spark", "volt", "bolt", "note", "escape", "focus", "edge", "pilot", "element",
    "passport", "journey", "express", "transit", "accent", "soul", "sky", "relay", "aura",
    "matrix", "cube", "leaf", "quest", "mark", "flex", "probe", "tempo", "contour",
    "aspire", "colt", "mirage", "eclipse", "sonic", "golf", "rabbit", "fox", "city", "jazz",
    "life", "one", "beat", "ram", "legend", "century", "encore", "compass", "charger",
    "magnum", "caliber", "nitro", "neon", "continental", "ranger", "insight", "odyssey",
    "echo", "kicks", "venue", "optima", "spectra", "atlas", "up", "metro", "safari",
    "sport", "limited", "touring", "premium", "base", "classic", "sprint", "storm",
    "terrain", "outlook", "vibe", "torrent", "patriot", "liberty", "commander", "renegade",
    "aspen", "dart", "stealth", "shadow", "spirit", "dynasty", "air", "born", "carry",
    "combo", "coupe", "eight", "excel", "executive", "expert", "freestyle", "galaxy",
    "ghost", "gravity", "horizon", "idea", "impulse", "junior", "laser", "latitude", "logo",
    "ltd", "master", "models", "move", "ocean", "partner", "phantom", "pickup", "picnic",
    "premier", "pride", "proceed", "pursuit", "quantum", "rally", "rapid", "scenic", "seal",
    "shuttle", "spider", "splash", "spring", "stream", "summit", "superb", "swift",
    "thesis", "van", "vision", "vista", "wagon", "wave", "wind", "dawn", "mini", "spectre",
    "delta", "crown", "sigma", "omega", "terra", "alliance", "arena", "clarity",
}
# trim levels, engine or drive codes, body styles and another make's nickname ("Caddy")
# that are also some make's model name
TRIMS = {"lx", "ex", "exl", "se", "le", "xle", "sel", "gt", "gts", "sv", "sl", "xlt", "lt",
         "ls", "si", "ss", "rs", "st", "gs", "es", "gl", "gls", "glx", "dx", "ce", "sr",
         "sr5", "ltz", "slt", "sle", "sxt", "rt", "srt", "gxp", "hd", "sport", "awd", "ts",
         "pickup", "van", "wagon", "coupe", "cabriolet", "roadster", "convertible",
         "sedan", "hatchback", "truck", "suv", "minivan", "tl", "cl", "rl", "caddy"}

# names for one vehicle, or a vehicle and its longer-wheelbase or renamed sibling: a listing
# for one fits the other as far as the text can tell ("Caravan" for a Grand Caravan)
SAME_VEHICLE = [
    ("Caravan", "Grand Caravan"), ("Voyager", "Grand Voyager"), ("MX-5", "Miata", "MX-5 Miata"),
    ("Fit", "Jazz"), ("Crown Victoria", "LTD Crown Victoria", "Crown Vic"),
    ("Corvette", "Vette"), ("Thunderbird", "T-Bird"), ("Town & Country", "T&C"),
    ("E-Series", "Econoline"),
]
# a name that covers others: a listing for the first fits each of the rest, and a buyer who
# names the first is not told apart from them
UMBRELLAS = {
    "Super Duty": ["F-250", "F-250 Super Duty", "F-350", "F-450", "F-550"],
    "E-Series": ["E-150", "E-250", "E-350", "E-450"],
    "Silverado HD": ["Silverado 2500HD", "Silverado 3500HD"],
    "C/K": ["C1500", "K1500", "C2500", "K2500", "C3500", "K3500", "C10"],
    "Golf": ["GTI", "Golf R"], "Impreza": ["WRX", "WRX STI"], "Firebird": ["Trans Am"],
    "DeVille": ["DTS"], "Seville": ["STS"],
}
# names not in MODELS, read as another: model -> other names people write for it
MODEL_ALIASES = {"Crown Victoria": ["Crown Vic"], "Corvette": ["Vette"],
                 "Thunderbird": ["T-Bird"], "Town & Country": ["T&C"]}


@dataclass
class ModelName:
    key: str  # lower case, separators removed
    name: str  # as written in the table
    makes: set[str] = field(default_factory=set)  # its makes and their aliases, as keys
    everyday_word: bool = False
    # a name that reads as a trim, a count, an engine or a body style ("LS", "IS", "X4",
    # "I4", "Wagon"): known only after its make ("lexus is", "bmw x4"); "2016 ls" is as
    # often a Camry's trim
    make_first: bool = False
    make_in_key: bool = False  # a number named with its make: "mazda3", "ram1500"
    family: str = ""  # the key of the vehicle it names (SAME_VEHICLE), else its own key


def name_words(text: str) -> list[str]:
    """Lower-case words without separators or accents; "and" is dropped like "&" ("Town
    and Country" is "Town & Country")."""
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return [w for w in re.findall(r"[a-z0-9]+", plain) if w != "and"]


def name_key(text: str) -> str:
    return "".join(name_words(text))


def umbrellas(key: str) -> set[str]:
    """The families of the names that cover `key`: "3series" for "328i" / "328xi",
    "cclass" for "c300", "mclass" for "ml350", "superduty" for "f250", both "eclass" and
    "eseries" for "e350" (a Mercedes and a Ford van)."""
    out = set(_UMBRELLA_OF.get(key, ()))
    if m := re.fullmatch(r"(\d)\d\d(?:i|xi|ci|is|d|e|x|xd)?", key):
        out.add(m.group(1) + "series")
    if m := re.fullmatch(r"(c|e|s|ml|gl|glk|cl|sl|slk|cls|gle|gls|glc|cla)(\d{3})", key):
        out.add({"ml": "m", "gle": "m", "gls": "gl"}.get(m.group(1), m.group(1)) + "class")
    return out


def _model_names() -> dict[str, ModelName]:
    out: dict[str, ModelName] = {}
    aliases = {a: model for model, names in MODEL_ALIASES.items() for a in names}
    for make, models in MODELS.items():
        makes = {name_key(m) for m in [make, *MAKE_ALIASES.get(make, [])]}
        extra = [a for a, model in aliases.items() if model in models]
        for model in [*models, *extra]:
            key = name_key(model)
            shown = aliases.get(model, model)
            keys = [m + key for m in makes] if key.isdigit() else [key]
            for k in keys:  # a number is named with its make: "Mazda 3"
                entry = out.setdefault(k, ModelName(k, f"{make} {model}" if key.isdigit()
                                                    else shown))
                entry.makes |= makes
                entry.make_in_key = key.isdigit()
                entry.make_first = (key in TRIMS or (key.isalpha() and len(key) <= 2)
                                    or bool(re.fullmatch(r"[a-z]\d\d?|\dx\d|ls\d", key)))
                entry.everyday_word = key in EVERYDAY_WORDS or entry.make_first
                entry.family = k if key.isdigit() else name_key(aliases.get(model, model))
    for names in SAME_VEHICLE:
        for n in names:
            if name_key(n) in out:
                out[name_key(n)].family = name_key(names[0])
    return out


_UMBRELLA_OF: dict[str, set[str]] = {}
for _top, _members in UMBRELLAS.items():
    for _member in _members:
        _UMBRELLA_OF.setdefault(name_key(_member), set()).add(name_key(_top))
MODEL_NAMES = _model_names()
