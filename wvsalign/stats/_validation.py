"""Checks and small helpers shared by the statistics modules (private: scikit-learn style).

The public functions of :mod:`wvsalign.stats` validate their inputs with these, so that
every one of them says the same thing about the same mistake.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import contracts
from ..contracts import HUMAN, VARIANT_COLUMNS
from ..errors import InputError
from ..survey.items import ItemBank

#: what each contract table is, for error messages
_MADE_BY = {
    "probs": "a probs table (wvsalign.score / probs.parquet)",
    "human": "a human table (WVSData.distributions / read_aggregates / human.parquet)",
    "scores": "a scores table (wvsalign.stats.mean_scores / scores.parquet)",
    "alignment": "an alignment table (wvsalign.stats.alignment / alignment.csv)",
}


def bank_or_default(bank: ItemBank | None) -> ItemBank:
    """``bank``, or the embedded WVS-7 item bank when it is None."""
    return ItemBank.wvs7() if bank is None else bank


def check_table(df: object, table: str, *, argument: str, function: str) -> pd.DataFrame:
    """``df`` if it satisfies the ``table`` contract; else an :class:`InputError` that names the
    function, the argument, the table expected and the columns it lacks."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{function}({argument}=...) expects {_MADE_BY.get(table, table)} as a pandas DataFrame; "
                         f"got {type(df).__name__}")
    missing = [c for c in contracts.COLUMNS[table] if c not in df.columns]
    if missing:
        hint = ""
        if table == "scores" and "source" in df.columns and "model" in missing:
            hint = " (the scores column 'source' is now called 'model')"
        raise InputError(f"{function}({argument}=...) expects {_MADE_BY.get(table, table)} with columns "
                         f"{list(contracts.COLUMNS[table])}; it lacks column(s) {missing}{hint}")
    return contracts.check(df, table)


def codes_as_int(df: pd.DataFrame, source: str) -> pd.Series:
    """The ``code`` column as int64; an :class:`InputError` naming the first non-integer code."""
    codes = pd.to_numeric(df["code"], errors="coerce")
    bad = codes.isna() | (codes != np.round(codes))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("option codes must be integers (WVS codes)", file=source, column="code", row=row,
                         value=df["code"].iloc[row])
    return codes.astype(np.int64)


def check_items(df: pd.DataFrame, bank: ItemBank, source: str) -> None:
    """Raise :class:`InputError` at the first ``item_id`` of ``df`` that is not in ``bank``."""
    unknown = ~df["item_id"].isin(bank.ids)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(f"item not in the item bank {bank.name!r}; expected ids such as {bank.ids[:3]}",
                         file=source, column="item_id", row=row, value=df["item_id"].iloc[row])


def variant_columns(frame: pd.DataFrame, *, min_values: int = 1) -> list[str]:
    """The variant columns of ``frame`` (in :data:`~wvsalign.contracts.VARIANT_COLUMNS` order)
    with at least ``min_values`` distinct non-missing values: 0 every one present, 1 (default)
    those in use, 2 those that vary."""
    def enough(col: pd.Series) -> bool:
        if min_values <= 1:
            return min_values <= 0 or bool(col.notna().any())
        return col.nunique() >= min_values

    return [c for c in VARIANT_COLUMNS if c in frame.columns and enough(frame[c])]


def check_variants(frame: pd.DataFrame, variants: Sequence[str] | str | None, table: str) -> list[str]:
    """The variant columns to keep apart: every one present (``None``) or those named, which must
    be columns of ``frame``."""
    present = variant_columns(frame, min_values=0)
    if variants is None:
        return present
    wanted = [variants] if isinstance(variants, str) else list(variants)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise InputError(f"argument variants={wanted!r}: column(s) {missing} not in the {table} table; "
                         f"variant columns present: {present}")
    return wanted


def human_rows(scores: pd.DataFrame, human_model: str = HUMAN) -> np.ndarray:
    """Boolean mask of the people's rows of a scores table (``model == human_model``)."""
    return (scores["model"] == human_model).to_numpy()
