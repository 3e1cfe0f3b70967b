"""Equipment log lines and symptom reports for each real OBD-II code (the `fault_codes` expert).

Every code of the ontology appears in every split (a code the model never saw cannot be
predicted), but validation and test use wrappers and paraphrase draws that training never
sees. About a third of the lines carry the code itself, as scan-tool logs do.
"""

from __future__ import annotations

import random

from experts.data.formats import TextExample
from experts.data.phrasing import add_typos, apply_synonyms, recase, split_templates
from experts.ontology.obd_symptoms import CONDITIONS, Condition
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


# What owners and mechanics write: {s1}/{s2} driver symptoms, {m1}/{m2} shop findings,
# {car} a vehicle, {desc} the official description (paraphrased). Training only: the
# generated validation and test splits stay as they were, so their scores compare across
# versions; text people wrote (the external set) measures what these lines teach.
SYMPTOM_TEMPLATES = [
    "{s1}. {s2}.", "{s1} and {s2}, check engine light is on", "help, {s1}",
    "since last week {s1}", "{car}: {s1}, any ideas?", "{s1}. what could cause this?",
    "not sure whats wrong, {s1} and {s2}", "{s1}, also {s2}", "my {car} - {s1}",
    "{s1} ever since the last oil change", "question: {s1}. is this serious?",
    "{s1}; {s2}; cel on", "CEL came on and {s1}", "{car} owner here. {s1}",
    "cust states {s1}. {m1}", "{m1}", "verified concern: {s1}. found {m1}",
    "RO note - {m1}, {s2}", "tech: {m1}; {m2}", "complaint: {s1} / cause: {m1}",
    "diag: {m1}", "{car} in for {s1}, {m1}",
]
SYMPTOM_DESC_TEMPLATES = [
    "{s1}, scanner says {desc}", "{desc}. customer says {s1}", "{m1} - {desc}",
    "{s1} and the reader showed {desc}", "{car}: {s1}. code reader: {desc}",
    "found {desc} ({m1})",
]
# A mechanic's note names the part they tested or replaced ({component}: a component the
# ontology links to the condition's common codes, e.g. "oxygen sensor" for P0135).
COMPONENT_TEMPLATES = [
    "replaced the {component}, light came back", "tested the {component}: out of spec",
    "{component} connector corroded, cleaned and retested", "checked {component} wiring",
    "new {component} installed, cleared codes, {s1}", "suspect the {component}. {s1}",
    "bad {component}? {s1}", "{component} reading wrong on live data",
    "swapped the {component} with a known good one", "{s1}. shop says it's the {component}",
    "do I need a new {component}? {s1}", "{component} was replaced last year, now {s1}",
]
COMPONENT_ROWS_PER_CONDITION = 24
CARS = ["2011 civic", "Silverado", "the truck", "my camry", "our minivan", "F-150",
        "2008 Accord", "the wife's SUV", "Corolla", "Jetta TDI", "Ram 2500", "old Ranger"]
SYMPTOM_ROWS_PER_CONDITION = 120  # symptom-only lines, labelled with the condition's common codes
SYMPTOM_ROWS_PER_CODE = 2        # symptom + official description, for every matched code


def symptom_line(template: str, cond: Condition, rng: random.Random, desc: str = "") -> str:
    s1, s2 = rng.sample(cond.driver, 2) if len(cond.driver) > 1 else (cond.driver[0],) * 2
    mech = cond.mechanic or cond.driver
    m1, m2 = rng.sample(mech, 2) if len(mech) > 1 else (mech[0],) * 2
    text = template.format(s1=s1, s2=s2, m1=m1, m2=m2, car=rng.choice(CARS), desc=desc)
    return add_typos(recase(text, rng, p_lower=0.5, p_upper=0.03), rng, 0.01)


def symptom_examples(onto: Ontology, seed: int) -> list[TextExample]:
    """Training lines in drivers' and mechanics' words (`obd_symptoms.CONDITIONS`).

    Symptoms alone rarely name one code, so symptom-only lines are labelled with the
    condition's common codes, the first ones more often (weights 1, 1/2, 1/3, ...): what a
    shop would check first; so are mechanics' notes that name a component the ontology
    links to the code. Lines that also carry the official description teach every matched
    code its symptoms."""
    rng = random.Random(f"fault-symptoms:{seed}")
    known = {n.name: str(n.attrs["description"]) for n in onto.by_type("code")}
    names = {n.id: n.name for n in onto.nodes}
    parts: dict[str, list[str]] = {}
    for e in onto.edges:
        if e.relation == "affects" and names.get(e.source) in known:
            parts.setdefault(names[e.source], []).append(names[e.target])
    rows = []
    for cond in CONDITIONS:
        matched = sorted(c for c, d in known.items() if cond.matches(d))
        common = [c for c in cond.common if c in known] or matched[:3]
        if not common:
            continue
        weights = [1 / (i + 1) for i in range(len(common))]
        for _ in range(SYMPTOM_ROWS_PER_CONDITION):
            label = rng.choices(common, weights)[0]
            rows.append(TextExample(symptom_line(rng.choice(SYMPTOM_TEMPLATES), cond, rng),
                                    label))
        comps = sorted({c for code in common for c in parts.get(code, [])})
        for _ in range(COMPONENT_ROWS_PER_CONDITION if comps else 0):
            label = rng.choices(common, weights)[0]
            template = rng.choice(COMPONENT_TEMPLATES).replace(
                "{component}", rng.choice(parts.get(label) or comps))
            rows.append(TextExample(symptom_line(template, cond, rng), label))
        for code in matched:
            for _ in range(SYMPTOM_ROWS_PER_CODE):
                line = symptom_line(rng.choice(SYMPTOM_DESC_TEMPLATES), cond, rng,
                                    paraphrase(known[code], rng))
                rows.append(TextExample(line, code))
    return rows


def log_timestamp(rng: random.Random) -> str:
    return (f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")


def paraphrase(description: str, rng: random.Random) -> str:
    text = apply_synonyms(description, DESCRIPTION_SYNONYMS, rng)
    text = text.replace("'", "") if rng.random() < 0.5 else text
    return add_typos(recase(text, rng, p_lower=0.35, p_upper=0.05), rng, 0.03)


def fault_code_datasets(onto: Ontology, seed: int, per_code: dict[str, int],
                        p_with_code: float = 0.35,
                        with_symptoms: bool = True) -> dict[str, list[TextExample]]:
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
        if split == "train" and with_symptoms:
            rows.extend(symptom_examples(onto, seed))
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
