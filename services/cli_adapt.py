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
    p.add_argument("--replay", type=float, default=0.0, metavar="SHARE",
                   help="also train on this share of the parent's training rows (0..1; "
                        "validation then covers old and new); default 0")
    p.add_argument("--lwf", type=float, default=0.0, metavar="WEIGHT",
                   help="learning without forgetting: keep the parent's distribution over its "
                        "own labels on every training row (KD, this weight; 0 = off)")
    p.add_argument("--rebalance", action="store_true",
                   help="labels added by this data: offset their logits by the amount that "
                        "scores best on validation (old and new rows; needs --replay)")
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
                      replay=a.replay, lwf=a.lwf, rebalance=a.rebalance,
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


def add_update(p: argparse.ArgumentParser) -> None:
    p.add_argument("expert", help="category | attributes | compatibility | fault_codes")
    p.add_argument("--data", type=Path, required=True,
                   help="the new data: a folder with train/validation/test files in the "
                        "expert's format, or one file (split 80/10/10)")
    p.add_argument("--method", default="lora",
                   help="how to adapt: finetune | lora | prompt | hybrid (default lora)")
    p.add_argument("--ewc", type=float, default=0.0, metavar="LAMBDA",
                   help="elastic weight consolidation toward the parent (0 = off)")
    p.add_argument("--merge-with", help="comma-separated fp32 variants to merge the adapted "
                                        "version with, e.g. v3,v4")
    p.add_argument("--merge-method", default="ties",
                   help="task_arithmetic | ties | dare_linear | dare_ties | knots | search "
                        "(search: density x weights on validation); default ties")
    p.add_argument("--replay", type=float, default=None, metavar="SHARE",
                   help="also train on this share of the parent's training rows, so the old "
                        "data is not forgotten (0..1, default 0.2)")
    p.add_argument("--lwf", type=float, default=None, metavar="WEIGHT",
                   help="learning without forgetting in the adapt and the warm re-compress: "
                        "keep the parent's distribution over its labels (default 1; 0 = off)")
    p.add_argument("--no-rebalance", action="store_true",
                   help="do not offset the new labels' logits (by default the offset that "
                        "scores best on validation is folded into the adapted teacher's head "
                        "and, again, into the warm-started student's)")
    p.add_argument("--recompress", default="auto",
                   help="warm: start the new student from the active one (minutes); full: "
                        "the whole recipe from the teacher; auto (default): warm when it can")
    p.add_argument("--warm-epochs", type=int, default=None,
                   help="passes of the warm start's distillation (default 1)")
    p.add_argument("--recipe", type=Path,
                   help="re-compress with this recipe (default: the active student's)")
    p.add_argument("--max-old-drop", type=float, default=0.01,
                   help="gate: the most the main metric may drop on the old test split "
                        "(default 0.01 = 1 point)")
    p.add_argument("--max-new-drop", type=float, default=0.0,
                   help="gate: the most it may drop on the new data's test split against the "
                        "active version (default 0: not worse)")
    p.add_argument("--url", help="a running server: activate the new student there, live "
                                 "(needs TINYEXPERTS_ADMIN_TOKEN)")
    p.add_argument("--no-activate", action="store_true",
                   help="register everything, activate nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="check the data, versions and recipe; print the plan; train nothing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="short training (smoke runs)")
    p.add_argument("--json", action="store_true")


def run_update(a: argparse.Namespace) -> int:
    import os

    from experts.core.assets import home
    from experts.core.errors import TinyExpertsError
    from experts.specs import get_spec
    from experts.update import UpdateConfig, plan_update, update
    from services.http_client import request_json

    get_spec(a.expert)
    for flag, value in (("--max-old-drop", a.max_old_drop), ("--max-new-drop", a.max_new_drop)):
        if not 0 <= value <= 1:
            raise TinyExpertsError(f"{flag} {value} is outside 0..1", where=flag,
                                   fix=f"e.g. {flag} 0.01")
    if a.url and not a.dry_run and not a.no_activate and \
            not os.environ.get("TINYEXPERTS_ADMIN_TOKEN"):
        raise TinyExpertsError("--url activates through the admin API, which needs a token",
                               where="TINYEXPERTS_ADMIN_TOKEN",
                               fix="export TINYEXPERTS_ADMIN_TOKEN (the server's), or drop "
                                   "--url to activate in the registry only")
    if a.url and not a.dry_run:  # a server that is down fails now, not after the training
        request_json("GET", f"{a.url.rstrip('/')}/healthz")
    cfg = UpdateConfig(method=a.method, ewc=a.ewc,
                       merge_with=[v.strip() for v in (a.merge_with or "").split(",")
                                   if v.strip()],
                       merge_method=a.merge_method, recipe=a.recipe,
                       recompress=a.recompress,
                       **({"replay": a.replay} if a.replay is not None else {}),
                       **({"lwf": a.lwf} if a.lwf is not None else {}),
                       rebalance=not a.no_rebalance,
                       **({"warm_epochs": a.warm_epochs} if a.warm_epochs is not None else {}),
                       max_old_drop=a.max_old_drop, max_new_drop=a.max_new_drop,
                       seed=a.seed, quick=a.quick)
    log = (lambda *_: None) if a.json else print
    if a.dry_run:
        plan = plan_update(a.expert, a.data, cfg, home())
        print_out(plan, True)
        return 0
    result = update(a.expert, a.data, cfg, home(), progress=not a.json, log=log)
    student, g = result["student"], result["gate"]
    if not g["passed"]:
        result["activated"] = False
        if a.json:
            print_out(result, True)
        raise TinyExpertsError(f"{a.expert} {student} failed the update gate: "
                               f"{'; '.join(g['reasons'])}; nothing was activated",
                               where="update gate", fix="see `tinyexperts registry show "
                               f"{a.expert} {student}`; more data, another --method, or a "
                               "looser --max-old-drop; to serve it anyway: `tinyexperts "
                               f"registry activate {a.expert} {student}`")
    if a.no_activate:
        result["activated"] = False
    elif a.url:
        out = request_json("POST", f"{a.url.rstrip('/')}/v1/experts/{a.expert}/activate",
                           {"version": student})
        result["activated"] = out
        log(f"{a.expert}: {student} is live on {a.url} (was {out['previous']})")
    else:
        previous = registry().activate(a.expert, student)
        result["activated"] = {"active": student, "previous": previous}
        log(f"{a.expert}: {student} is active in the registry (was {previous}); a running "
            f"server switches with `tinyexperts registry activate {a.expert} {student} --url …`")
    if a.json:
        print_out(result, True)
    return 0
