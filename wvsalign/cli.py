"""The ``wvsalign`` command: a thin layer over the Python API.

The survey stage registers its own subcommands (``register(subparsers)`` in
``wvsalign/survey/commands.py``); the commands that span stages (``run``, ``models``) are
registered by ``wvsalign/commands.py``. This file only assembles the parser and turns errors
into one-line messages.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__
from . import commands as run_commands
from .errors import WvsalignError
from .report import commands as report_commands
from .study import commands as study_commands
from .probing import commands as probing_commands
from .survey import commands as survey_commands

#: modules that each define ``register(subparsers)``; subcommands appear in this order
COMMAND_MODULES = (
    survey_commands,      # items, countries, human, synthetic
    run_commands,         # models, run
    study_commands,       # study run, study show
    report_commands,      # report
    probing_commands,     # probe activations|key-neurons|attribute|ablate
)


def build_parser() -> argparse.ArgumentParser:
    """The ``wvsalign`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="wvsalign",
        description=(
            "Whose values does a language model reproduce? Compare a model's answers to World "
            "Values Survey Wave 7 questions, asked as if in each country, with what people there answered."
        ),
        epilog="Run 'wvsalign COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"wvsalign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wvsalign`` command; return its exit status (2 on a wvsalign error, 130 on Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except WvsalignError as exc:
        print(f"wvsalign {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. 'wvsalign items | head -1': stop quietly, as Unix tools do
        _silence_stdout()
        return 141  # 128 + SIGPIPE, the status of a Unix tool killed by a closed pipe
    except OSError as exc:  # a file the system refused (permissions, a folder, a full disk): one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"wvsalign {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wvsalign {args.command}: interrupted; finished work is kept and a re-run resumes it", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
