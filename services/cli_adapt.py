"""CLI: `tinyexperts adapt` (re-specialize one expert on new data) and `tinyexperts merge`.

Heavy imports stay inside the functions on purpose (see services/cli.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli_common import print_out, registry


def _floats(text: str | None, where: str) -> list[float] | None:
    from experts.core.errors import TinyExpertsError

    if not text:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise TinyExpertsError(f"{text!r} is not a comma-separated list of numbers",
                               where=where, fix="e.g. --weights 1,0.5,1") from None


def add_adapt(p: argparse.ArgumentParser) -> None:
    from experts.merge.sites import SITES

    p.add_argument("expert", help="category | attributes | compatibility | fault_codes")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="a folder with train/validation/test files in "
                                               "the expert's format, or one file (split 80/10/10)")
    src.add_argument("--site", choices=list(SITES),
                     help="fault_codes only: one site of the built-in variants scenario "
                          "(its data is written under $TINYEXPERTS_HOME/data/sites)")
    p.add_argument("--method", default="lora",
                   help="finetune | lora (peft) | prompt | hybrid = fine-tune on a small share, "
                        "then prompt-tune (default: lora)")
    p.add_argument("--from", dest="parent",
                   help="version to start from, or `base` for the pretrained MiniLM with a new "
                        "head (default: the active version)")
    p.add_argument("--ewc", type=float, default=0.0, metavar="LAMBDA",
                   help="elastic weight consolidation strength (Fisher from the parent's "
                        "training data; 0 = off)")
    p.add_argument("--freeze", help="comma-separated: embeddings, layer.0, layer.1, ...")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--prompt-tokens", type=int, default=16)
    p.add_argument("--hybrid-fraction", type=float, default=0.2)
    p.add_argument("--fisher-samples", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="40 training steps (smoke runs)")
    p.add_argument("--activate", action="store_true", help="activate the new version")
    p.add_argument("--json", action="store_true")


def site_data(site: str) -> Path:
    """The built-in scenario's folder for one site, written from the default data if absent."""
    from experts.core.assets import home
    from experts.core.paths import Paths
    from experts.data.datasets import ensure_datasets
    from experts.merge.sites import sites_ready, write_site_datasets

    paths = Paths(home())
    out = paths.data / "sites" / "fault_codes"
    if not sites_ready(out):
        ensure_datasets(paths)
        write_site_datasets(paths.data, out)
    return out / site


def run_adapt(a: argparse.Namespace) -> int:
    from experts.adapt import AdaptConfig, adapt
    from experts.core.errors import TinyExpertsError
    from experts.specs import get_spec

    get_spec(a.expert)
    if a.site and a.expert != "fault_codes":
        raise TinyExpertsError(f"--site is the fault_codes scenario, not {a.expert}'s",
                               where="--site", fix="use --data FOLDER for other experts")
    cfg = AdaptConfig(method=a.method, epochs=a.epochs, lr=a.lr, rank=a.rank,
                      alpha=2 * a.rank, prompt_tokens=a.prompt_tokens,
                      hybrid_fraction=a.hybrid_fraction, ewc=a.ewc,
                      fisher_samples=a.fisher_samples, seed=a.seed, quick=a.quick,
                      freeze=tuple(f.strip() for f in (a.freeze or "").split(",") if f.strip()))
    cfg.check(get_spec(a.expert))  # bad options fail before data or models load
    data = site_data(a.site) if a.site else a.data
    result = adapt(a.expert, data, cfg, registry(), parent=a.parent, activate=a.activate,
                   progress=not a.json, log=(lambda *_: None) if a.json else print,
                   site=a.site)
    if a.json:
        print_out(result, True)
    return 0


def add_merge(p: argparse.ArgumentParser) -> None:
    p.add_argument("expert")
    p.add_argument("--variants", required=True,
                   help="comma-separated versions made by `adapt` from one base, e.g. v5,v6,v7")
    p.add_argument("--method", default="ties",
                   help="task_arithmetic | ties | dare_linear | dare_ties | knots (default ties)")
    p.add_argument("--inner", default="ties",
                   help="KnOTS only: how the aligned blocks are merged: task_arithmetic | ties "
                        "| dare_linear | dare_ties (default ties)")
    p.add_argument("--density", type=float, default=0.5,
                   help="share of each delta kept (ties, dare, knots); default 0.5")
    p.add_argument("--weights", help="one weight per variant, comma-separated (default 1 each)")
    p.add_argument("--seed", type=int, default=0, help="DARE's random drop")
    p.add_argument("--search", action="store_true",
                   help="try density × weight on validation and keep the best that passes")
    p.add_argument("--floor", type=float, default=0.97,
                   help="regression gate: every variant keeps ≥ this share of its own "
                        "validation score (default 0.97)")
    p.add_argument("--activate", action="store_true")
    p.add_argument("--json", action="store_true")


def run_merge(a: argparse.Namespace) -> int:
    from experts.merge.variants import MergeConfig, merge
    from experts.specs import get_spec

    get_spec(a.expert)
    versions = [v.strip() for v in a.variants.split(",") if v.strip()]
    cfg = MergeConfig(method=a.method, weights=_floats(a.weights, "--weights"),
                      density=a.density, seed=a.seed, inner=a.inner)
    cfg.check(len(versions))
    result = merge(a.expert, versions, cfg, registry(), search=a.search, floor=a.floor,
                   activate=a.activate, log=(lambda *_: None) if a.json else print)
    result.pop("predictor")
    if a.json:
        print_out(result, True)
    return 0
