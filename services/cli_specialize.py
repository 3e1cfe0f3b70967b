"""CLI: `tinyexperts specialize` (run a recipe, or a beta sweep) and `tinyexperts report`.

Heavy imports stay inside the functions on purpose (see services/cli.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli_common import print_out, registry


def add_specialize(p: argparse.ArgumentParser) -> None:
    p.add_argument("expert", help="category | attributes | compatibility | fault_codes")
    p.add_argument("--recipe", type=Path,
                   help="recipe YAML (default: deploy/recipes/<expert>.yaml)")
    p.add_argument("--from", dest="from_version",
                   help="version to start from (default: the active one)")
    p.add_argument("--sweep", help="run the recipe's distill step once per value, e.g. "
                                   "beta=0,0.5,1,2 (CSV + PNG), choose the value on "
                                   "validation, then run the whole recipe with it and "
                                   "register the result")
    p.add_argument("--sweep-only", action="store_true",
                   help="with --sweep: the table only, nothing registered")
    p.add_argument("--seed", type=int, help="the recipe's seed (default: the recipe's own)")
    p.add_argument("--out", type=Path, help="folder for sweep/report files "
                                            "(default: $TINYEXPERTS_HOME/reports)")
    p.add_argument("--quick", action="store_true",
                   help="few training steps, 300 evaluation rows (smoke runs, tests)")
    p.add_argument("--no-activate", action="store_true",
                   help="register the result without activating it")
    p.add_argument("--json", action="store_true")


def _reports_dir(out: Path | None) -> Path:
    from experts.core.assets import home

    return out or home() / "reports"


def run_specialize(a: argparse.Namespace) -> int:
    from experts.specialize.recipe import load_recipe
    from experts.specs import get_spec

    get_spec(a.expert)  # an unknown expert is named as such, before looking for its recipe
    recipe = load_recipe(a.recipe, a.expert)
    if a.seed is not None:
        recipe = recipe.model_copy(update={"seed": a.seed})
    if a.sweep_only and not a.sweep:
        from experts.core.errors import TinyExpertsError

        raise TinyExpertsError("--sweep-only needs --sweep", where="--sweep-only",
                               fix="add e.g. --sweep beta=0,0.5,1,2")
    if a.sweep:
        from experts.core.report import markdown_table
        from experts.specialize.sweep import beta_sweep, parse_sweep, with_beta

        _, betas = parse_sweep(a.sweep)
        out = _reports_dir(a.out)
        rows = beta_sweep(a.expert, recipe, betas, out=out, from_version=a.from_version,
                          quick=a.quick, progress=not a.json)
        table = (markdown_table(rows) +
                 f"\n\nwritten: {out / f'{a.expert}_sweep_beta.csv'} and .png")
        if a.sweep_only:
            print_out(rows if a.json else table, a.json)
            return 0
        if not a.json:
            print(table)
        chosen = next(r["beta"] for r in rows if r["chosen"])
        recipe = with_beta(recipe, chosen, betas)
        if not a.json:
            print(f"{a.expert}: {recipe.description}; running the recipe with it")
    from experts.core.report import markdown_table, report_rows
    from experts.specialize.pipeline import specialize

    result = specialize(a.expert, recipe, from_version=a.from_version, quick=a.quick,
                        activate=not a.no_activate, progress=not a.json,
                        log=(lambda *_: None) if a.json else print)
    if a.json:
        print_out({**result, "sweep": rows} if a.sweep else result, True)
    else:
        print(markdown_table(report_rows(result["report"])))
    return 0


def add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("expert")
    p.add_argument("--version", help="a specialized version (default: the active one)")
    p.add_argument("--out", type=Path, help="folder for the CSV and PNG "
                                            "(default: $TINYEXPERTS_HOME/reports)")
    p.add_argument("--json", action="store_true")


def run_report(a: argparse.Namespace) -> int:
    from experts.core.errors import NotFoundError
    from experts.core.report import (
        markdown_table,
        plot_quality_latency,
        report_rows,
        write_csv,
    )

    manifest = registry().manifest(a.expert, a.version)
    report = manifest.metrics.get("specialization")
    if not report:
        raise NotFoundError(f"{a.expert} {manifest.version} was not made by `specialize` "
                            "and has no step report", where=f"{a.expert} {manifest.version}",
                            fix=f"run `tinyexperts specialize {a.expert}` or pick a "
                                "specialized version (`tinyexperts registry list`)")
    rows = report_rows(report)
    out = _reports_dir(a.out)
    stem = f"{a.expert}_{manifest.version}"
    write_csv(rows, out / f"{stem}.csv")
    plot_quality_latency(rows, report["main_metric"],
                         f"{a.expert} {manifest.version} (from {manifest.parent_version})",
                         out / f"{stem}.png")
    if a.json:
        print_out({"expert": a.expert, "version": manifest.version, "rows": rows,
                   "environment": report["environment"]}, True)
    else:
        env = report["environment"]
        print(f"{a.expert} {manifest.version} from {manifest.parent_version} — "
              f"{env['cpu']}, {env['torch_threads']} threads"
              f"{' (quick run)' if report.get('quick') else ''}\n")
        print(markdown_table(rows))
        print(f"\nwritten: {out / stem}.csv and .png")
    return 0
