"""The variants scenario: one expert's world split into sites, each with its own code family.

Three workshops see different fault-code families of the same OBD-II table (the subsystem
comes from the real code table), so each site trains its own `fault_codes` variant on its
own codes, and the merged expert has to answer for all three:

- `fuel_air`    — fuel and air metering (incl. injector circuits), auxiliary inputs;
- `drivetrain`  — transmission, ignition / misfire, cylinder deactivation, hybrid;
- `electronics` — computer outputs, speed / idle control, emission controls, network (U).

Sites are sized to about a third of the codes each (680 / 664 / 681 of 2,025).
`write_site_datasets` writes `<out>/<site>/{train,validation,test}.jsonl` + `labels.json`,
ready for `tinyexperts adapt fault_codes --data <out>/<site>`.
"""

from __future__ import annotations

import json
from pathlib import Path

from experts.core.errors import TinyExpertsError
from experts.data.datasets import load_expert_data
from experts.data.formats import write_examples
from experts.data.phrasing import SPLITS

SITE_EXPERT = "fault_codes"
SITES: dict[str, tuple[str, ...]] = {
    "fuel_air": ("Fuel and air metering and auxiliary emission controls", "Fuel and air metering",
                 "Fuel and air metering (injector circuit)", "Auxiliary inputs"),
    "drivetrain": ("Transmission", "Ignition system or misfire", "Cylinder deactivation",
                   "Hybrid propulsion"),
    "electronics": ("Computer and auxiliary outputs",
                    "Vehicle speed, idle control and auxiliary inputs",
                    "Auxiliary emission controls", "Network communication", "Network electrical",
                    "Network software", "Network data"),
}


def site_of(info: dict) -> str | None:
    sub = info.get("subsystem", "")
    return next((site for site, subs in SITES.items() if sub in subs), None)


def write_site_datasets(data_dir: Path, out: Path) -> dict[str, dict[str, int]]:
    """Split the default fault_codes splits by site; returns example counts per site."""
    data = load_expert_data(SITE_EXPERT, data_dir)
    if not data.label_info:
        raise TinyExpertsError("fault_codes has no labels.json with subsystems",
                               where=str(data_dir / SITE_EXPERT),
                               fix="rebuild the default data: `tinyexperts build --force`")
    site = {code: site_of(info) for code, info in data.label_info.items()}
    counts: dict[str, dict[str, int]] = {}
    for name in SITES:
        folder = out / name
        for split in SPLITS:
            rows = [ex for ex in data.splits[split] if site.get(ex.label) == name]
            write_examples(folder / f"{split}.jsonl", "classify", rows)
            counts.setdefault(name, {})[split] = len(rows)
        infos = {c: i for c, i in data.label_info.items() if site.get(c) == name}
        (folder / "labels.json").write_text(json.dumps(infos, indent=1), encoding="utf-8")
    return counts


def sites_ready(out: Path) -> bool:
    return all((out / s / f"{split}.jsonl").is_file() for s in SITES for split in SPLITS)
