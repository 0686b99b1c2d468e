"""Exceptions raised by wvsalign.

Every error about user input is an :class:`InputError`: its message names the file,
column, row or value at fault and says what was expected, on one line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence


class WvsalignError(Exception):
    """Base class of all wvsalign errors."""


class InputError(WvsalignError, ValueError):
    """Bad user input: a file, column, row or value that is not what was expected."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        column: str | None = None,
        row: int | None = None,
        value: object = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(f"{file}")
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        prefix = ", ".join(where)
        text = f"{prefix}: {message}" if prefix else message
        if value is not None and repr(value) not in text:
            text = f"{text} (got {value!r})"
        super().__init__(" ".join(text.split("\n")))
        self.file = None if file is None else str(file)
        self.column = column
        self.row = row
        self.value = value


class ConfigError(InputError):
    """A run configuration that cannot be used (unknown option, conflicting run directory)."""


class ModelError(WvsalignError):
    """A model that cannot be found, installed or loaded."""


def check_choice(value: object, name: str, allowed: Sequence[str], *, what: str | None = None) -> str:
    """``value`` if it is one of ``allowed``, else an :class:`InputError` naming the argument
    ``name``, the value and the allowed values: "argument by='region'; expected one of [...]",
    or with ``what`` "unknown label style 'roman' in label_styles; expected one of [...]".
    """
    if value not in allowed:
        subject = f"unknown {what} {value!r} in {name}" if what else f"argument {name}={value!r}"
        raise InputError(f"{subject}; expected one of {list(allowed)}", value=value)
    return str(value)
