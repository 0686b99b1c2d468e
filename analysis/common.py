"""Shared command line and run handling of the analysis scripts (public wvsalign API only).

Every script takes either ``--runs DIR...`` (existing run or study directories) or runs
``wvsalign run`` itself for each of ``--models`` (resumable: a re-run does no model work), with
``--wvs FILE`` for real WVS-7 data (default: SYNTHETIC data, said so in the output).
"""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path
from typing import Sequence

import wvsalign as wa
from wvsalign.errors import WvsalignWarning

# library notices (matplotlib, seaborn, pandas, statsmodels, numpy) stay out of the terminal; the warnings
# wvsalign issues on purpose (a degenerate bootstrap interval, a damaged shard, ...) are shown
warnings.simplefilter("ignore")
warnings.simplefilter("default", WvsalignWarning)


def parser(description: str, *, default_out: str, templates: str = "persona", items: str | None = None
           ) -> argparse.ArgumentParser:
    """The command line every script shares (``--runs`` or ``--models``, ``--wvs``, ``--out``, ...)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--runs", nargs="+", metavar="DIR", help="existing run or study directories (no model is run)")
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"],
                   help="registry names, local model folders or .gguf files (default: the two embedded models)")
    p.add_argument("--wvs", metavar="FILE", help="WVS-7 data file (default: SYNTHETIC data)")
    p.add_argument("--items", default=items, help="item ids, e.g. Q1,Q57 (default: the demo's 24 items)")
    p.add_argument("--countries", default="default", help="ISO3 codes or set names (default: the default 55)")
    p.add_argument("--templates", default=templates, help=f"prompt templates (default: {templates})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=default_out, help=f"output folder (default: {default_out})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(name)).name) or "model"


def run_dirs(args: argparse.Namespace, **overrides) -> list[Path]:
    """The run directories to analyse: ``--runs`` as given, else one run per ``--models`` under OUT/runs/."""
    if args.runs:
        return [Path(d) for d in args.runs]
    dirs = []
    for model in args.models:
        settings = dict(model=model, wvs=args.wvs, countries=args.countries, templates=args.templates,
                        seed=args.seed, out=str(Path(args.out) / "runs" / _slug(model) / "run"))
        if args.items:
            settings["items"] = args.items
        else:
            settings["demo"] = True
        settings.update(overrides)
        wa.run(wa.RunConfig(**settings), progress=not args.quiet)
        dirs.append(Path(settings["out"]))
    return dirs


def load(dirs: Sequence[Path]):
    """The combined tables of the runs (``wvsalign.report.combine``)."""
    return wa.report.combine(wa.report.load_runs(dirs))


def human_note(data) -> str:
    """One line saying whether the human side is real WVS-7 data or SYNTHETIC."""
    return ("NOTE: the human side is SYNTHETIC (generated) data; the numbers only demonstrate the method"
            if data.synthetic else "human side: real WVS-7 data")


def write(out: str | Path, tables: Sequence = (), figures: dict | None = None) -> list[Path]:
    """Write tables (CSV, Markdown, LaTeX, HTML) and figures (PNG, SVG) under OUT; print and return the paths."""
    out = Path(out)
    written: list[Path] = []
    for table in tables:
        written.extend(table.write(out / "tables").values())
    for name, obj in (figures or {}).items():
        written.extend(wa.report.save_figure(obj, out / "figures", name).values())
    for path in written:
        print(f"wrote {path}")
    return written
