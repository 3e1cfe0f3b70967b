"""Equipment log lines and symptom reports for each real OBD-II code (the `fault_codes` expert).

Every code of the ontology appears in every split (a code the model never saw cannot be
predicted), but validation and test use wrappers and paraphrase draws that training never
sees. About a third of the lines carry the code itself, as scan-tool logs do.
"""

from __future__ import annotations

import random

from experts.data.formats import TextExample
from experts.data.phrasing import add_typos, apply_synonyms, recase, split_templates
from experts.ontology.schema import Ontology

# regex -> variants; applied left to right on the official description.
DESCRIPTION_SYNONYMS: list[tuple[str, list[str]]] = [
    (r"\bHO2S\b|\bO2 Sensor\b", ["O2 sensor", "oxygen sensor", "HO2S", "lambda sensor"]),
    (r"\bMass or Volume Air Flow\b", ["MAF", "mass air flow", "mass airflow"]),
    (r"\bManifold Absolute Pressure\b", ["MAP", "manifold pressure"]),
    (r"\bEngine Coolant Temperature\b", ["ECT", "coolant temp", "engine coolant temp"]),
    (r"\bIntake Air Temperature\b", ["IAT", "intake air temp"]),
    (r"\bExhaust Gas Recirculation\b", ["EGR"]),
    (r"\bEvaporative Emission\b", ["EVAP", "evap emission"]),
    (r"\bTorque Converter Clutch\b", ["TCC", "torque converter clutch"]),
    (r"\bThrottle/Pedal Position\b", ["TPS/APP", "throttle/pedal position", "throttle pedal pos"]),
    (r"\bCircuit/Open\b", ["circuit open", "ckt open", "open circuit"]),
    (r"\bCircuit\b", ["circuit", "ckt", "wiring"]),
    (r"\bRange/Performance\b", ["range/performance", "range perf", "out of range",
                                "performance problem"]),
    (r"\bIntermittent\b", ["intermittent", "erratic", "intermittent signal"]),
    (r"\bLow\b", ["low", "low input", "low voltage", "reading low"]),
    (r"\bHigh\b", ["high", "high input", "high voltage", "reading high"]),
    (r"\bBank 1\b", ["bank 1", "B1", "bank one"]),
    (r"\bBank 2\b", ["bank 2", "B2", "bank two"]),
    (r"\bSensor 1\b", ["sensor 1", "S1", "upstream sensor"]),
    (r"\bSensor 2\b", ["sensor 2", "S2", "downstream sensor"]),
    (r"\bCylinder\b", ["cylinder", "cyl"]),
    (r"\bTemperature\b", ["temperature", "temp"]),
    (r"\bPressure\b", ["pressure", "press"]),
    (r"\bPosition\b", ["position", "pos"]),
    (r"\bSolenoid\b", ["solenoid", "sol"]),
    (r"\bControl Module\b", ["control module", "module", "CM"]),
    (r"\bLost Communication With\b", ["lost communication with", "no communication with",
                                      "lost comms with", "U-code: no response from"]),
    (r"\bCommunication\b", ["communication", "comm", "comms"]),
    (r"\bMalfunction\b", ["malfunction", "fault", "failure"]),
    (r"\bPerformance\b", ["performance", "perf"]),
    (r"\bTransmission\b", ["transmission", "trans", "tranny"]),
    (r"\bSystem\b", ["system", "sys"]),
    (r"\bSignal\b", ["signal", "sig"]),
    (r"\bDetected\b", ["detected", "found", "seen"]),
]

WITH_CODE = [
    "{ts} ECU[7E8] DTC {code} stored: {desc}",
    "[WARN] obd2: pending code {lcode} ({desc})",
    "scan tool: {code} - {desc}",
    "{code} {desc}",
    "MIL ON code={code} desc=\"{desc}\"",
    "{ts} PCM fault {code}: {desc}",
    "freeze frame captured for {code} ({desc})",
    "customer came in with {code}, {desc}",
    "DTC {code} | {desc} | status: confirmed",
    "code {lcode} came back: {desc}",
    "<{ts}> diag: {code} {desc} (history)",
    "check engine light, reader shows {code} {desc}",
]

WITHOUT_CODE = [
    "{desc}",
    "check engine light on, scanner says {desc}",
    "customer states CEL on. tech found {desc}",
    "fault: {desc}",
    "diag result - {desc} detected",
    "ecu reports {desc}",
    "{ts} warning: {desc}",
    "getting a {desc} error on my car",
    "dash light came on, code reader said {desc}",
    "technician note: {desc}, recheck after repair",
    "intermittent issue, log shows {desc}",
    "symptom: {desc}",
    "scan result {desc} no other codes",
    "engine light + {desc}",
    "fleet telematics alert: {desc}",
    "the shop told me it is {desc}",
]


def log_timestamp(rng: random.Random) -> str:
    return (f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")


def paraphrase(description: str, rng: random.Random) -> str:
    text = apply_synonyms(description, DESCRIPTION_SYNONYMS, rng)
    text = text.replace("'", "") if rng.random() < 0.5 else text
    return add_typos(recase(text, rng, p_lower=0.35, p_upper=0.05), rng, 0.03)


def fault_code_datasets(onto: Ontology, seed: int, per_code: dict[str, int],
                        p_with_code: float = 0.35) -> dict[str, list[TextExample]]:
    with_code = split_templates(WITH_CODE, seed, n_val=2, n_test=3)
    without = split_templates(WITHOUT_CODE, seed, n_val=3, n_test=4)
    codes = sorted(onto.by_type("code"), key=lambda n: n.name)
    out: dict[str, list[TextExample]] = {}
    for split, n in per_code.items():
        rng = random.Random(f"faults:{seed}:{split}")
        rows = []
        for node in codes:
            desc = str(node.attrs["description"])
            for _ in range(n):
                use_code = rng.random() < p_with_code
                template = rng.choice((with_code if use_code else without)[split])
                text = template.format(ts=log_timestamp(rng), code=node.name,
                                       lcode=node.name.lower(), desc=paraphrase(desc, rng))
                rows.append(TextExample(text, node.name))
        rng.shuffle(rows)
        out[split] = rows
    return out


def code_descriptions(onto: Ontology) -> dict[str, dict[str, str]]:
    """code -> {description, subsystem, system}: shipped inside the expert's artifact."""
    return {
        n.name: {
            "description": str(n.attrs["description"]),
            "subsystem": str(n.attrs["subsystem"]),
            "system": str(n.attrs["system"]),
        }
        for n in onto.by_type("code")
    }
