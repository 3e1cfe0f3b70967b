"""What people notice when an OBD-II code sets: symptom knowledge for the `fault_codes` expert.

The official code table says what the computer detected ("System Too Lean"); drivers and
mechanics describe what they see, hear, smell and measure ("hesitates when I floor it",
"long-term trims +22 at idle"). Each `Condition` below ties one kind of fault to both
vocabularies, written from general automotive service knowledge (not from any evaluation
text):

- `match`: a regular expression over the official description; every code it matches
  belongs to the condition (a code may belong to several);
- `common`: the codes a shop sees most for that picture, most frequent first. A report
  with symptoms only is most likely one of them, so symptom-only training lines are
  labelled with these;
- `driver`: what an owner notices, each a clause that reads after "my car ..."-style
  openers or on its own ("the engine shakes at idle");
- `mechanic`: what a technician finds or writes on a repair order.

Codes outside every condition keep only their official-description phrasing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Condition:
    name: str
    match: str
    common: tuple[str, ...]
    driver: tuple[str, ...]
    mechanic: tuple[str, ...] = field(default_factory=tuple)

    def matches(self, description: str) -> bool:
        return re.search(self.match, description, re.IGNORECASE) is not None


CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "misfire", r"Misfire", ("P0300", "P0301", "P0302", "P0303", "P0304"),
        ("the engine shakes at idle", "the check engine light is flashing",
         "it runs rough and stutters when I accelerate", "it vibrates badly at stop lights",
         "it bucks and jerks under load", "it lost power and feels like it runs on fewer cylinders",
         "the exhaust smells like raw fuel", "it shudders when going uphill",
         "the idle is lumpy and the whole car shakes"),
        ("misfire counter climbing on mode 6", "swapped the coil and the miss followed it",
         "plug was fouled with oil", "compression test ok, miss still there",
         "cylinder contribution test shows a dead hole", "blinking MIL under load"),
    ),
    Condition(
        "lean", r"System Too Lean|\bLean\b", ("P0171", "P0174"),
        ("it hesitates when I step on the gas", "there is a hissing sound from the engine bay",
         "the idle is rough and surging", "gas mileage dropped a lot",
         "it stalls at idle sometimes", "it feels weak and stumbles on acceleration"),
        ("long term fuel trims +20 at idle", "smoke test found a vacuum leak at the intake",
         "cracked PCV hose", "fuel trims high at idle, normal at 2500 rpm",
         "intake manifold gasket leaking", "unmetered air after the MAF"),
    ),
    Condition(
        "rich", r"System Too Rich|\bRich\b", ("P0172", "P0175"),
        ("black smoke comes out of the exhaust", "it smells strongly of gas",
         "fuel economy is terrible", "the spark plugs are black and sooty"),
        ("fuel trims -20 across the board", "injector leaking down overnight",
         "fuel pressure regulator diaphragm leaking", "O2 sensors stuck rich"),
    ),
    Condition(
        "catalyst", r"Catalyst", ("P0420", "P0430"),
        ("it smells like rotten eggs", "it failed the emissions test",
         "it feels sluggish going up hills", "something rattles under the car",
         "the exhaust smells like sulfur", "the engine light is on but it drives fine"),
        ("downstream O2 switching like the upstream one", "cat is clogged, backpressure high",
         "rear O2 mirrors the front", "catalytic converter efficiency low on readiness test"),
    ),
    Condition(
        "evap", r"Evaporative Emission|EVAP|Purge|Vent (Control|Valve)",
        ("P0455", "P0442", "P0456", "P0457", "P0440", "P0446", "P0441"),
        ("the light came on right after I got gas", "there is a fuel smell around the car",
         "the gas cap does not click anymore", "it drives perfectly normal, just the light",
         "the pump keeps clicking off when I fill the tank",
         "it is hard to start right after refueling"),
        ("smoke test found a leak at the filler neck", "purge valve stuck open",
         "vent solenoid not sealing", "gas cap seal cracked",
         "EVAP leak test failed", "charcoal canister cracked"),
    ),
    Condition(
        "thermostat", r"Thermostat", ("P0128",),
        ("the temp gauge stays on cold", "the heater only blows lukewarm air",
         "it takes forever to warm up", "the engine never reaches normal temperature",
         "the needle barely moves even on the highway"),
        ("thermostat stuck open", "coolant temp only 150F after 20 minutes",
         "upper radiator hose warm right after start"),
    ),
    Condition(
        "coolant sensor", r"Engine Coolant Temperature|Coolant Temp",
        ("P0117", "P0118", "P0116", "P0115", "P0125"),
        ("the temperature gauge reads wrong", "the radiator fans run all the time",
         "it is hard to start when cold", "black smoke on cold start",
         "the gauge jumps to hot and back"),
        ("ECT reads -40 with key on", "coolant temp sensor connector corroded",
         "scan data coolant temp does not match the IR gun"),
    ),
    Condition(
        "overheating", r"Over ?Temperature|Overheat", ("P0217",),
        ("the engine is overheating", "the temp gauge goes into the red",
         "steam comes from under the hood", "the coolant is boiling over"),
        ("cooling system pressure test found a leak", "water pump impeller worn"),
    ),
    Condition(
        "o2 heater", r"(O2|HO2S|Oxygen) Sensor Heater", ("P0135", "P0141", "P0155", "P0161"),
        ("the car drives fine, just the engine light", "gas mileage is a little worse",
         "the light comes on a few minutes after a cold start"),
        ("O2 heater circuit open", "heater resistance out of spec", "blown O2 heater fuse",
         "upstream sensor heater shorted"),
    ),
    Condition(
        "o2 sensor", r"(O2|HO2S|Oxygen) Sensor(?! Heater)",
        ("P0133", "P0134", "P0131", "P0136", "P0137", "P0138"),
        ("gas mileage went way down", "it failed emissions",
         "the idle is a bit rough", "the light is on and the car feels slightly off"),
        ("O2 sensor slow response", "O2 voltage stuck at 0.45", "front O2 lazy",
         "sensor not switching"),
    ),
    Condition(
        "maf", r"Mass or Volume Air Flow|Mass Air Flow|\bMAF\b", ("P0101", "P0102", "P0103"),
        ("it stalls right after starting", "it jerks and hesitates when accelerating",
         "the idle surges up and down", "it runs poorly and mileage dropped",
         "it bogs down when I floor it"),
        ("MAF reads 2 g/s at idle", "cleaned the MAF and it ran better",
         "air filter was soaked with oil", "MAF signal low at wide open throttle"),
    ),
    Condition(
        "map", r"Manifold Absolute Pressure|Barometric", ("P0106", "P0107", "P0108"),
        ("the idle is rough", "fuel economy is bad", "black smoke under acceleration",
         "it hesitates off the line"),
        ("MAP reads atmospheric with engine running", "vacuum line to the MAP sensor cracked"),
    ),
    Condition(
        "intake air temp", r"Intake Air Temperature", ("P0113", "P0112", "P0111"),
        ("it is a bit hard to start in the cold", "no real symptoms, just the light"),
        ("IAT shows -40F", "IAT connector unplugged after air filter change"),
    ),
    Condition(
        "throttle", r"Throttle|Pedal Position", ("P0121", "P0122", "P2135", "P2111", "P0123"),
        ("the car went into limp mode", "it will not rev past 2000 rpm",
         "the gas pedal response is delayed", "the idle surges",
         "the electronic throttle warning light came on", "it suddenly loses power"),
        ("TPS signal drops out in the middle of the sweep", "throttle body dirty",
         "throttle relearn done", "TPS 1 and 2 do not agree"),
    ),
    Condition(
        "crank sensor", r"Crankshaft Position", ("P0335", "P0336", "P0016"),
        ("it cranks but will not start", "it stalls when hot and restarts after it cools down",
         "the tachometer drops to zero while driving", "it dies randomly at stops"),
        ("no rpm signal while cranking", "crank sensor gap wrong", "reluctor ring damaged"),
    ),
    Condition(
        "cam timing", r"Camshaft Position|Timing Over|Timing Retarded|Valve Control",
        ("P0340", "P0011", "P0016", "P0014", "P0341", "P0012"),
        ("it takes long to start", "there is a rattle for a few seconds on cold start",
         "the idle is rough and it lacks power", "it stalls at idle"),
        ("timing chain stretched", "VVT solenoid screen clogged", "oil was low and sludgy",
         "cam/crank correlation off by one tooth"),
    ),
    Condition(
        "knock", r"Knock Sensor", ("P0325", "P0328", "P0330", "P0332"),
        ("it pings when I accelerate", "there is a knocking noise under load",
         "power and mileage are down a bit"),
        ("knock sensor harness chafed", "knock sensor signal stuck", "timing pulled heavily"),
    ),
    Condition(
        "egr", r"Exhaust Gas Recirculation|\bEGR\b", ("P0401", "P0400", "P0402", "P0404"),
        ("it pings under load", "it idles rough and sometimes stalls at a stop",
         "it failed the NOx part of the emissions test", "it hesitates at low speed"),
        ("EGR passages clogged with carbon", "EGR valve stuck open",
         "no rpm drop when EGR commanded", "EGR position sensor out of range"),
    ),
    Condition(
        "idle control", r"Idle (Air )?Control|Idle .*RPM", ("P0505", "P0507", "P0506"),
        ("the idle is too high", "the idle hunts up and down",
         "it stalls when I come to a stop", "the rpm drops when the AC kicks on"),
        ("IAC valve carboned up", "idle speed 1400 in park", "cleaned throttle body, idle learned"),
    ),
    Condition(
        "fuel delivery", r"Fuel Pump|Fuel Rail|Fuel Pressure|Fuel Volume|System Pressure",
        ("P0087", "P0230", "P0190", "P0191", "P0088"),
        ("it is hard to start", "it sputters at highway speed",
         "it loses power going uphill", "there is a whining noise from the gas tank",
         "it cranks a long time before it starts", "it dies under load"),
        ("fuel pressure 30 psi, spec 55", "fuel pump relay clicking", "fuel filter clogged",
         "rail pressure drops under load"),
    ),
    Condition(
        "injector", r"Injector", ("P0201", "P0202", "P0203", "P0204", "P0200"),
        ("the idle is rough", "it misfires", "I smell fuel", "gas mileage is poor"),
        ("injector resistance open", "injector not pulsing with noid light",
         "injector connector broken"),
    ),
    Condition(
        "ignition coil", r"Ignition Coil", ("P0351", "P0352", "P0353", "P0354"),
        ("it misfires and shakes", "the check engine light flashes", "it runs rough when wet"),
        ("coil primary circuit open", "coil boot cracked and arcing", "coil driver fault"),
    ),
    Condition(
        "glow plug", r"Glow Plug", ("P0380", "P0670", "P0671", "P0672"),
        ("it is hard to start when cold", "white smoke on cold starts",
         "the glow plug light flashes", "it runs rough for a minute after starting"),
        ("glow plug resistance infinite", "glow plug module not energizing"),
    ),
    Condition(
        "cooling fan", r"Fan \d|Cooling Fan|Fan Control", ("P0480", "P0481", "P0482"),
        ("it overheats in traffic but is fine on the highway", "the AC blows warm at idle",
         "the radiator fan never turns on", "the fan runs constantly"),
        ("fan relay stuck", "fan motor draws no current", "fan control module failed"),
    ),
    Condition(
        "charging", r"Generator|System Voltage|Charging",
        ("P0562", "P0620", "P0622", "P0563", "P0621"),
        ("the battery light comes on", "the headlights dim at idle",
         "the battery keeps dying", "there is a whine from the alternator",
         "the lights flicker and the wipers slow down"),
        ("charging voltage 12.1 running", "alternator output low", "battery terminals corroded",
         "alternator overcharging at 15.8 V"),
    ),
    Condition(
        "gear ratio", r"Gear Ratio|Incorrect .*Ratio", ("P0730", "P0731", "P0732", "P0733",
                                                        "P0734"),
        ("the transmission slips", "the rpm flares between shifts",
         "it takes a while to engage drive", "it revs up but does not go faster"),
        ("trans fluid burnt and low", "clutch pack slipping", "input/output speed mismatch"),
    ),
    Condition(
        "shift solenoid", r"Shift Solenoid|Shift Control", ("P0750", "P0755", "P0760", "P0765"),
        ("it shifts hard", "it is stuck in one gear", "it goes into limp mode in third gear",
         "shifting is erratic"),
        ("shift solenoid resistance out of spec", "valve body worn",
         "solenoid pack connector leaking fluid"),
    ),
    Condition(
        "torque converter", r"Torque Converter", ("P0740", "P0741", "P0742"),
        ("it shudders at 40 to 50 mph like driving over rumble strips",
         "the rpm is higher than normal on the highway", "it stalls when I stop"),
        ("TCC slip high in 4th", "converter does not lock up", "TCC solenoid stuck"),
    ),
    Condition(
        "transmission control",
        r"Transmission Control|Transmission Fluid|Transmission Range|Input.*Speed|Turbine",
        ("P0700", "P0705", "P0715", "P0711", "P0706"),
        ("it will not shift out of second", "the gear indicator shows the wrong gear",
         "it only starts in neutral", "the transmission warning light is on"),
        ("TCM has stored codes", "range sensor misadjusted", "input speed sensor signal lost"),
    ),
    Condition(
        "vehicle speed", r"Vehicle Speed|Output Shaft Speed", ("P0500", "P0501", "P0720"),
        ("the speedometer stopped working", "cruise control does not work",
         "the shifting is erratic and the speedo jumps around"),
        ("VSS signal missing", "speed sensor tip covered in metal shavings"),
    ),
    Condition(
        "network", r"Lost Communication|Communication Bus|\bCAN\b", ("U0100", "U0101", "U0121",
                                                                   "U0073", "U0140", "U0155"),
        ("every warning light on the dash lit up", "the gauges went dead while driving",
         "it will not start and the scanner cannot talk to the computer",
         "the dash goes crazy and then it stalls"),
        ("no communication with the module on the CAN bus", "CAN high shorted to ground",
         "module not responding to scan tool", "network termination resistance 120 ohm"),
    ),
    Condition(
        "oil pressure", r"Oil Pressure", ("P0520", "P0521", "P0522", "P0523"),
        ("the oil light flickers at idle", "the low oil pressure warning came on",
         "the oil gauge reads zero"),
        ("mechanical gauge shows normal pressure", "oil pressure switch leaking"),
    ),
    Condition(
        "fuel level", r"Fuel Level", ("P0460", "P0461", "P0462", "P0463"),
        ("the fuel gauge jumps around", "the gauge is stuck on empty",
         "the fuel gauge reads full all the time"),
        ("fuel level sender worn", "sender resistance erratic"),
    ),
    Condition(
        "secondary air", r"Secondary Air", ("P0410", "P0411", "P0412", "P0418"),
        ("there is a loud whine for a minute after a cold start",
         "it buzzes loudly when cold and then stops"),
        ("air pump seized", "secondary air check valve stuck", "air pump relay burnt"),
    ),
    Condition(
        "boost", r"Turbo|Boost|Supercharger|Wastegate", ("P0299", "P0234", "P0236"),
        ("it has no boost and accelerates slowly", "there is a whistle from the turbo",
         "it goes into limp mode on the highway", "it feels gutless on the on-ramp"),
        ("boost leak at intercooler hose", "wastegate stuck", "turbo shaft play"),
    ),
    Condition(
        "particulate filter", r"Particulate", ("P2002", "P2463", "P2452", "P2453"),
        ("it keeps doing regenerations", "it went into limp mode", "the DPF light is on"),
        ("DPF soot load high", "differential pressure sensor hose cracked",
         "forced regen completed"),
    ),
    Condition(
        "brake switch", r"Brake Switch", ("P0571", "P0504"),
        ("the cruise control will not engage", "the brake lights stay on"),
        ("brake switch A/B disagree", "brake switch out of adjustment"),
    ),
    Condition(
        "a/c", r"A/C|Refrigerant", ("P0532", "P0533", "P0530", "P0534"),
        ("the AC blows warm", "the AC clutch does not engage"),
        ("refrigerant pressure sensor reads 0 psi", "system low on refrigerant"),
    ),
    Condition(
        "control module", r"Control Module|ECM|PCM|Processor|Memory",
        ("P0606", "P0601", "P0605", "P0603"),
        ("it dies randomly and sometimes will not start", "lots of warning lights come and go",
         "it runs strange after the battery was disconnected"),
        ("internal control module fault", "ECM needs reflash", "module ground corroded"),
    ),
)


def conditions_of(description: str) -> list[Condition]:
    """Every condition whose pattern matches an official code description."""
    return [c for c in CONDITIONS if c.matches(description)]
