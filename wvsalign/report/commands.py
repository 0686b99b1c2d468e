"""CLI: ``wvsalign report DIR... --out REPORT_DIR``."""
from __future__ import annotations

import argparse
from typing import Any

EPILOG = """examples:
  wvsalign report runs/demo --out report                  # one run directory
  wvsalign report studies/demo --out report               # a study directory (all its runs)
  wvsalign report runs/a runs/b studies/c --out report    # any mix

Writes REPORT_DIR/report.html (self-contained: open it in a browser, no network needed),
REPORT_DIR/tables/ (CSV, Markdown, LaTeX, HTML) and REPORT_DIR/figures/ (PNG, SVG).
Runs with synthetic human data get a SYNTHETIC banner."""


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="tables, figures and a self-contained HTML report from run and study directories",
        description="Combine run directories and study directories into publication tables (alignment per "
                    "category and country, bias, model comparisons, regressions, format robustness, distribution "
                    "similarity), figures and one self-contained report.html.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directories and/or study directories")
    p.add_argument("--out", metavar="REPORT_DIR", default="report", help="report directory (default: report)")
    p.add_argument("--title", help="the report's title")
    p.add_argument("--n-boot", dest="n_boot", type=int, default=2000, help="bootstrap replicates (default: 2000)")
    p.add_argument("--n-perm", dest="n_perm", type=int, default=9999, help="permutations (default: 9999)")
    p.add_argument("--seed", type=int, default=0, help="seed of bootstraps and permutations (default: 0)")
    p.add_argument("--no-figures", dest="figures", action="store_false", help="tables only (faster)")
    p.add_argument("--probes", nargs="+", metavar="DIR", help="'wvsalign probe' output folders, one per model: "
                   "adds the neuron-probing tables and figure")
    p.add_argument("--quiet", action="store_true", help="print only the path of report.html")
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from .build import report

    rep = report(args.dirs, out=args.out, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed, title=args.title,
                 figures=args.figures, probes=args.probes, echo=None if args.quiet else print)
    if args.quiet:
        print(rep.html)
    elif rep.notes:
        print("notes:")
        for note in rep.notes:
            print(f"  - {note}")
    return 0
