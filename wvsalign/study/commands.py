"""CLI: ``wvsalign study run STUDY.yaml --out DIR`` and ``wvsalign study show DIR``."""
from __future__ import annotations

import argparse
from typing import Any

STUDY_EPILOG = """examples:
  wvsalign study run data/studies/demo.yaml --out studies/demo     # the two embedded models, minutes
  wvsalign study show studies/demo                                 # alignment, comparisons, regression
  wvsalign report studies/demo --out reports/demo                  # tables, figures, report.html
  wvsalign study run data/studies/demo.yaml --out /shared/demo --executor ray --address auto   # on a Ray cluster

A study runs every model x condition of the file as a run directory under DIR/runs/; a re-run
resumes where it stopped (kill -9 included) and recomputes nothing that is finished."""


def register(subparsers: Any) -> None:
    """Add the ``study`` subcommand with ``run`` and ``show``."""
    p = subparsers.add_parser(
        "study", help="many models x conditions in one resumable study, with cross-model statistics",
        description="Run or summarise a study: the models and conditions of a study file, each a run directory.",
        epilog=STUDY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="study_command", metavar="{run,show}")
    r = sub.add_parser("run", help="run (or resume) every model x condition of a study file")
    r.add_argument("study", metavar="STUDY.yaml", help="the study file (see data/studies/)")
    r.add_argument("--out", metavar="STUDY_DIR", required=True, help="the study directory")
    r.add_argument("--overwrite", action="store_true", help="replace run directories made with other settings")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    g = r.add_argument_group("scale-out (Ray)")
    g.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local (default): one model at a time here; ray: each model x condition run is a Ray task "
                        "(pip install wvsalign[ray]; --out must be on a filesystem every node sees)")
    g.add_argument("--address", metavar="ADDR", default=None,
                   help="the Ray cluster to join (auto, HOST:PORT or ray://...); default: start a local one")
    g.add_argument("--num-cpus", type=float, default=None, metavar="N", help="CPU cores per run (Ray; default 1)")
    g.add_argument("--num-gpus", type=float, default=None, metavar="N", help="GPUs per run (Ray; default 0)")
    g.add_argument("--memory", type=float, default=None, metavar="BYTES", help="memory reserved per run (Ray)")
    r.set_defaults(handler=_run)
    s = sub.add_parser("show", help="print a study's alignment, model comparisons and regression")
    s.add_argument("study_dir", metavar="STUDY_DIR")
    s.set_defaults(handler=_show)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    from .running import run_study

    if args.executor != "ray" and (args.address or args.num_cpus is not None or args.num_gpus is not None
                                   or args.memory is not None):
        from ..errors import ConfigError

        raise ConfigError("--address, --num-cpus, --num-gpus and --memory apply to --executor ray only")
    resources = {"num_cpus": args.num_cpus, "num_gpus": args.num_gpus, "memory": args.memory}
    import warnings

    from ..commands import log_warnings

    finished = False
    with warnings.catch_warnings(record=True) as caught:  # none reaches the terminal or the progress bar
        warnings.simplefilter("default")  # each warning once per source line
        try:
            study = run_study(args.study, args.out, overwrite=args.overwrite, progress=not args.quiet,
                              executor=args.executor, address=args.address, resources=resources)
            finished = True
        finally:
            log_warnings(caught, args.out, finished=finished, what="study run")
    print()
    print(summary(study))
    return 0


def _show(args: argparse.Namespace) -> int:
    from .results import Study

    print(summary(Study.load(args.study_dir)))
    return 0


def summary(study: Any) -> str:
    """A plain-text summary of a study: models, alignment per category, comparisons, regression."""
    import pandas as pd

    from ..errors import InputError

    lines = [f"study {study.spec.name} in {study.path}: {len(study.runs)} run(s)",
             "human side: " + ("SYNTHETIC data (generated, not real survey answers)" if study.spec.synthetic
                               else f"WVS file {study.spec.wvs}"), ""]
    shown = [c for c in ("model", "params", "multilingual", "instruction_tuned", "family") if c in study.models.columns]
    lines += ["models:", study.models[shown].to_string(index=False), ""]
    al = study.alignment
    if not al.empty:
        wide = al.pivot_table(index="group", columns=["model", "condition"], values="estimate")
        lines += ["alignment (Pearson r of model and human mean scores) per category:",
                  wide.to_string(float_format=lambda v: f"{v:.3f}"), ""]
    try:
        comp = study.compare_models()
        cols = [c for c in ("condition", "model_a", "model_b", "method", "estimate", "statistic", "p", "p_adjusted",
                            "ci_low", "ci_high") if c in comp.columns]
        lines += ["model comparisons (overall; r1 - r2, Holm-adjusted p):",
                  comp[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"), ""]
    except InputError as exc:
        lines += [f"model comparisons: not available ({exc})", ""]
    try:
        fit = study.regression()
        lines += ["regression of alignment on model-level terms (OLS, HC3, category fixed effects):"]
        if fit.note:
            lines.append(fit.note)
        tidy = fit.tidy()
        tidy = tidy[~tidy["term"].astype(str).str.startswith("C(")]
        lines += [tidy.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    except InputError as exc:
        lines += [f"regression: not available ({exc})"]
    pd.options.display.width = max(pd.options.display.width or 80, 120)
    return "\n".join(lines)
