"""CLI: ``wvsalign run`` (the main job) and ``wvsalign models`` (the model registry).

The run command spans every stage, so it is registered here, at the top of the package,
not by a stage: stages never import a later stage (``inference`` never imports
``pipeline``). Nothing heavy is imported at registration; each handler imports what it
needs when it runs.
"""
from __future__ import annotations

import argparse
from typing import Any

RUN_EPILOG = """examples:
  wvsalign run --out runs/demo --demo                 # 24 items x 55 countries, minutes on a laptop
  wvsalign run --out runs/full                        # all 239 items x 55 countries (progress + ETA)
  wvsalign run --wvs WVS_Cross-National_Wave_7_csv_v6_0.csv --out runs/real
  wvsalign run --items Q1,Q57 --countries USA,JPN --templates persona,default --out runs/small
  wvsalign run --config runs/small/config.yaml --out runs/again

Without --wvs the human side is SYNTHETIC WVS-format data, and the output says so.
A re-run with the same settings resumes an interrupted run (a finished one does no model
work); a run directory made with different settings is refused unless --overwrite."""


def register(subparsers: Any) -> None:
    """Add the ``run`` and ``models`` subcommands."""
    p = subparsers.add_parser(
        "run",
        help="the main job: score WVS-7 items per country with a model and compare with human answers",
        description="Build prompts for items x countries, score the answer options with a model (resumable), "
                    "read or synthesise human answers, and report model-human alignment per category.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE.yaml", help="read settings from a YAML file (flags override it)")
    p.add_argument("--model", help="registry name (see 'wvsalign models'), local model folder or .gguf file "
                                   "(default: smollm2-135m)")
    p.add_argument("--backend", help="backend that loads and scores the model (default: hf, transformers)")
    p.add_argument("--wvs", metavar="FILE", help="WVS-7 data file (.csv, .sav, .dta, .parquet); default: synthetic data")
    p.add_argument("--items", metavar="IDS", help="item ids, e.g. Q1,Q57 (default: all 239 items)")
    p.add_argument("--categories", metavar="NAMES", help="category slugs, e.g. happiness,religion")
    p.add_argument("--countries", metavar="CODES", help="ISO3 codes, names or set names, e.g. USA,JPN or western "
                                                         "(default: the 'default' set of 55 countries)")
    p.add_argument("--templates", help="persona, third_person, persona_system, default (comma-separated)")
    p.add_argument("--instructions", help="instruction wordings: default, survey, direct (comma-separated)")
    p.add_argument("--label-styles", dest="label_styles", help="number, letter (comma-separated)")
    p.add_argument("--option-orders", dest="option_orders", help="original, reversed, shuffled (comma-separated)")
    p.add_argument("--languages", help="prompt languages, comma-separated (default: en); native = each country in its main interview language where a translation is shipped, English otherwise")
    p.add_argument("--answer-prefixes", dest="answer_prefixes",
                   help="what opens the answer: none, answer ('Answer: '), the_answer_is ('The answer is '), "
                        "in the prompt's language (comma-separated)")
    p.add_argument("--seed", type=int, help="seed for shuffled option orders and synthetic data (default: 0)")
    p.add_argument("--min-n", dest="min_n", type=int, help="minimum valid answers per country x item (default: 30)")
    p.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/wvsalign)")
    p.add_argument("--batch-size", dest="batch_size", help="rows per forward pass, or auto (default)")
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    p.add_argument("--dtype", help="float32, bfloat16, float16 or auto (default: auto)")
    p.add_argument("--demo", action="store_true", default=None,
                   help="a small documented subset of items (two per category) that finishes in minutes on a CPU")
    p.add_argument("--overwrite", action="store_true", help="replace the results of a run directory made with other settings")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_run)

    m = subparsers.add_parser("models", help="list the embedded models and whether they are installed",
                              description="List the model registry (any local folder or .gguf file works too).")
    m.add_argument("--format", choices=("table", "csv", "json"), default="table")
    m.set_defaults(handler=_models)


#: flags that map one-to-one onto RunConfig fields
_CONFIG_FLAGS = ("model", "backend", "wvs", "items", "categories", "countries", "templates", "instructions", "label_styles",
                 "option_orders", "languages", "answer_prefixes", "seed", "min_n", "out", "batch_size", "device", "dtype", "demo")


def _one_line(message: Any) -> str:
    return " ".join(str(message).split())


def log_warnings(caught: list, out: str, *, finished: bool, what: str = "run") -> None:
    """Show wvsalign's own warnings on stderr (one line each); write every warning once, with
    its source, to ``run.log`` in the run (or study) directory ``out`` (library warnings go there only).

    Parameters
    ----------
    caught : list
        ``warnings.WarningMessage`` records (``warnings.catch_warnings(record=True)``).
    out : str
        The run or study directory (nothing is written when it does not exist).
    finished : bool
        Whether the work finished (a line says so).
    what : str
        The command, for the log line ("run", "study run").
    """
    import datetime
    import sys
    from pathlib import Path

    from .errors import WvsalignWarning
    from .runs import LOG

    seen: dict[tuple, str] = {}
    for w in caught:
        key = (w.category, _one_line(w.message))
        if key in seen:
            continue
        seen[key] = f"{w.category.__name__}: {_one_line(w.message)} [{w.filename}:{w.lineno}]"
        if issubclass(w.category, WvsalignWarning):
            print(f"wvsalign: {w.category.__name__}: {_one_line(w.message)}", file=sys.stderr)
    folder = Path(out)
    if not folder.is_dir() or not (finished or seen):
        return
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"{stamp} wvsalign {what} {'finished' if finished else 'stopped'}: {len(seen)} distinct warning(s)"]
    lines += [f"{stamp} warning {text}" for text in seen.values()]
    with open(folder / LOG, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _run(args: argparse.Namespace) -> int:
    import warnings

    from .pipeline import RunConfig, run

    base = RunConfig.from_yaml(args.config).to_dict() if args.config else {}
    given = {k: getattr(args, k) for k in _CONFIG_FLAGS if getattr(args, k) is not None}
    config = RunConfig.from_dict({**base, **given}, source="command line")
    finished = False
    with warnings.catch_warnings(record=True) as caught:  # none reaches the terminal or the progress bar
        warnings.simplefilter("default")  # each warning once per source line
        try:
            result = run(config, overwrite=args.overwrite, progress=not args.quiet)
            finished = True
        finally:
            log_warnings(caught, config.out, finished=finished)
    print()
    print(result.summary())
    return 0


def _models(args: argparse.Namespace) -> int:
    from .inference.models import list_models

    table = list_models()
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "json":
        print(table.to_json(orient="records", indent=1))
    else:
        shown = table.drop(columns=[c for c in ("description",) if c in table.columns])
        print(shown.to_string(index=False))
        print()
        for row in table.itertuples(index=False):
            line = f"{row.name}: {row.description}"
            if not row.installed and getattr(row, "install", ""):
                line += f" (not installed: {row.install})"
            print(line)
        print("\nAny local Hugging Face folder or .gguf file also works: wvsalign run --model PATH")
    return 0
