"""Exceptions and warning classes of wvsalign (all of them are defined here).

Every error about user input is an :class:`InputError`: its message names the file,
column, row or value at fault and says what was expected, on one line. Every warning
wvsalign issues on purpose is a :class:`WvsalignWarning` (a ``UserWarning``), so that
``warnings.simplefilter("ignore", wvsalign.errors.WvsalignWarning)`` silences them all.
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


class WvsalignWarning(UserWarning):
    """Base class of the warnings wvsalign issues."""


class DataWarning(WvsalignWarning):
    """Data was dropped or a fallback was used (the message says what and why)."""


class ShardWarning(WvsalignWarning):
    """A shard on disk was damaged or incomplete and is recomputed."""


class DegenerateBootstrapWarning(WvsalignWarning):
    """A bootstrap interval is degenerate or was not computed (the message says which and why)."""


class AliasedTermWarning(WvsalignWarning):
    """A regression term is a linear combination of earlier terms; it is reported as NA (as R's lm)."""


def check_choice(value: object, name: str, allowed: Sequence[str], *, what: str | None = None) -> str:
    """Check that an argument is one of the allowed values.

    Parameters
    ----------
    value : object
        The value given.
    name : str
        The argument's name, put in the message.
    allowed : sequence of str
        The values accepted.
    what : str, optional
        What the value is, for values taken from a list argument (then the message reads
        "unknown label style 'roman' in label_styles; ...").

    Returns
    -------
    str
        ``value``.

    Raises
    ------
    InputError
        When ``value`` is not in ``allowed``; the message names the argument, the value and
        the allowed values.

    Examples
    --------
    >>> check_choice("bca", "ci_method", ("percentile", "bca"))
    'bca'
    >>> check_choice("region", "by", ("country", "item"))
    Traceback (most recent call last):
    ...
    wvsalign.errors.InputError: argument by='region'; expected one of ['country', 'item']
    """
    if value not in allowed:
        subject = f"unknown {what} {value!r} in {name}" if what else f"argument {name}={value!r}"
        raise InputError(f"{subject}; expected one of {list(allowed)}", value=value)
    return str(value)
