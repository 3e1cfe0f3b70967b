"""The real OBD-II trouble-code table as data: code -> subsystem -> system, code -> components.

The table comes from the `obd` package (`obd.codes.DTC`, 2,066 codes). Subsystems follow the
standard SAE J2012 code ranges; components are found in each description through a lexicon
that folds synonyms and abbreviations ("HO2S", "O2 Sensor" -> oxygen sensor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from experts.core.errors import AssetError

SYSTEMS = {"P": "Powertrain", "U": "Network", "B": "Body", "C": "Chassis"}

# (code prefix, subsystem name); the longest matching prefix wins.
SUBSYSTEM_RANGES: list[tuple[str, str]] = [
    ("P00", "Fuel and air metering and auxiliary emission controls"),
    ("P01", "Fuel and air metering"),
    ("P02", "Fuel and air metering (injector circuit)"),
    ("P03", "Ignition system or misfire"),
    ("P04", "Auxiliary emission controls"),
    ("P05", "Vehicle speed, idle control and auxiliary inputs"),
    ("P06", "Computer and auxiliary outputs"),
    ("P07", "Transmission"),
    ("P08", "Transmission"),
    ("P09", "Transmission"),
    ("P0A", "Hybrid propulsion"),
    ("P20", "Fuel and air metering and auxiliary emission controls"),
    ("P21", "Fuel and air metering and auxiliary emission controls"),
    ("P22", "Fuel and air metering and auxiliary emission controls"),
    ("P23", "Ignition system or misfire"),
    ("P24", "Auxiliary emission controls"),
    ("P25", "Auxiliary inputs"),
    ("P26", "Computer and auxiliary outputs"),
    ("P27", "Transmission"),
    ("P28", "Transmission"),
    ("P29", "Fuel and air metering and auxiliary emission controls"),
    ("P2A", "Fuel and air metering and auxiliary emission controls"),
    ("P3", "Manufacturer controlled"),
    ("P34", "Cylinder deactivation"),
    ("U00", "Network electrical"),
    ("U01", "Network communication"),
    ("U02", "Network communication"),
    ("U03", "Network software"),
    ("U04", "Network data"),
]

# canonical component -> regexes over the description (case-insensitive).
COMPONENT_LEXICON: dict[str, list[str]] = {
    "oxygen sensor": [r"\bHO2S\b", r"\bO2 Sensor", r"\boxygen sensor"],
    "mass air flow sensor": [r"mass (or volume )?air flow", r"\bMAF\b"],
    "manifold absolute pressure sensor": [r"manifold absolute pressure", r"\bMAP sensor"],
    "barometric pressure sensor": [r"barometric pressure"],
    "intake air temperature sensor": [r"intake air temperature", r"\bIAT\b"],
    "coolant temperature sensor": [r"engine coolant temperature", r"\bECT\b"],
    "thermostat": [r"thermostat"],
    "throttle position sensor": [r"throttle(/pedal)? position", r"\bTP sensor"],
    "accelerator pedal position sensor": [r"pedal position"],
    "throttle body": [r"throttle actuator", r"throttle body"],
    "fuel injector": [r"\binjector\b", r"contribution/balance"],
    "fuel pump": [r"fuel pump", r"injection pump"],
    "fuel pressure regulator": [r"fuel pressure regulator"],
    "fuel pressure sensor": [r"fuel (rail )?pressure sensor"],
    "fuel level sensor": [r"fuel level sensor"],
    "fuel temperature sensor": [r"fuel temperature sensor"],
    "ignition coil": [r"ignition coil", r"\bcoil\b"],
    "spark plug": [r"misfire"],
    "glow plug": [r"glow plug"],
    "knock sensor": [r"knock sensor", r"knock threshold"],
    "crankshaft position sensor": [r"crankshaft position", r"engine speed input"],
    "camshaft position sensor": [r"camshaft position sensor"],
    "variable valve timing solenoid": [
        r"camshaft position .*actuator",
        r"camshaft position - timing",
        r"intake valve control",
    ],
    "egr valve": [r"exhaust gas recirculation", r"\bEGR\b"],
    "catalytic converter": [r"catalyst"],
    "evap purge valve": [r"evaporative emission", r"\bEVAP\b", r"purge"],
    "secondary air injection pump": [r"secondary air injection"],
    "idle air control valve": [r"idle air control", r"idle control"],
    "vehicle speed sensor": [r"vehicle speed sensor"],
    "cruise control switch": [r"cruise control"],
    "brake switch": [r"brake switch"],
    "brake booster pressure sensor": [r"brake booster"],
    "a/c compressor clutch": [r"\bA/C\b"],
    "cooling fan": [r"\bfan\b"],
    "turbocharger": [r"turbo", r"boost", r"wastegate"],
    "intake manifold runner control": [r"intake manifold runner", r"tuning valve"],
    "oil pressure sensor": [r"oil pressure"],
    "oil temperature sensor": [r"oil temperature"],
    "transmission fluid temperature sensor": [r"transmission fluid temperature"],
    "shift solenoid": [r"shift solenoid"],
    "pressure control solenoid": [r"pressure control solenoid"],
    "torque converter clutch": [r"torque converter"],
    "transmission speed sensor": [r"(input|output|turbine|intermediate) (shaft )?speed"],
    "clutch": [r"\bclutch\b"],
    "transmission fluid pressure sensor": [r"transmission fluid pressure"],
    "gear shift switch": [r"shift switch", r"gear shift", r"gate select", r"auto shift"],
    "ignition switch": [r"ignition switch"],
    "transmission": [r"incorrect ratio", r"slipping", r"gears engaged"],
    "engine oil": [r"engine oil"],
    "alternator": [r"generator", r"alternator"],
    "battery": [r"system voltage", r"battery"],
    "starter": [r"starter"],
    "engine control module": [
        r"\bECM\b",
        r"\bPCM\b",
        r"internal control module",
        r"engine control",
    ],
    "transmission control module": [r"\bTCM\b", r"transmission control module"],
    "can bus wiring": [r"\bCAN\b", r"communication bus", r"\bbus\b"],
    "nox sensor": [r"\bNOx\b"],
    "def reductant system": [r"reductant"],
    "diesel particulate filter": [r"particulate filter", r"\bDPF\b"],
    "rocker arm actuator": [r"rocker arm"],
    "cylinder deactivation solenoid": [r"deactivation", r"exhaust valve control"],
    "sensor reference voltage circuit": [r"sensor reference voltage"],
    "intake air system": [r"intake air system"],
}

# Network codes name the module they lost: "Lost Communication With Vehicle Security Control
# Module" -> component "vehicle security control module".
_MODULE_RE = re.compile(
    r"(?:with|from)\s+(?:the\s+)?([A-Za-z0-9/ \-]+?(?:module|cluster|unit|sensor))",
    re.IGNORECASE,
)
_COMPILED = {
    c: [re.compile(p, re.IGNORECASE) for p in pats] for c, pats in COMPONENT_LEXICON.items()
}


@dataclass(frozen=True)
class TroubleCode:
    code: str
    description: str
    system: str
    subsystem: str
    components: tuple[str, ...]


def load_dtc_table() -> dict[str, str]:
    """The raw code -> description table from the `obd` package."""
    try:
        from obd.codes import DTC  # read once, when the ontology is built
    except ImportError as err:  # pragma: no cover - exercised only on a broken install
        raise AssetError(
            f"the OBD-II code table is missing ({err})",
            where="python package `obd`",
            fix="run `make install` (or `pip install -c constraints.txt obd==0.7.3`)",
        ) from None
    return dict(DTC)


def subsystem_of(code: str) -> str:
    best = ""
    name = "Other"
    for prefix, sub in SUBSYSTEM_RANGES:
        if code.startswith(prefix) and len(prefix) > len(best):
            best, name = prefix, sub
    return name


def components_of(description: str) -> tuple[str, ...]:
    found = [c for c, pats in _COMPILED.items() if any(p.search(description) for p in pats)]
    m = _MODULE_RE.search(description)
    if m and description.lower().startswith(
        ("lost communication", "software incompatibility", "invalid data")
    ):
        found.append(" ".join(m.group(1).lower().split()))
    return tuple(dict.fromkeys(found))


def is_reserved(description: str) -> bool:
    return "reserved" in description.lower()


def trouble_codes(table: dict[str, str] | None = None) -> list[TroubleCode]:
    """Every non-reserved code with its system, subsystem and components, sorted by code."""
    table = load_dtc_table() if table is None else table
    out = []
    for code in sorted(table):
        desc = " ".join(table[code].replace("lntake", "Intake").split())
        if is_reserved(desc):
            continue
        out.append(
            TroubleCode(
                code=code,
                description=desc,
                system=SYSTEMS.get(code[0], "Other"),
                subsystem=subsystem_of(code),
                components=components_of(desc),
            )
        )
    return out
