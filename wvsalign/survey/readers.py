"""Readers of WVS-7 respondent files: CSV (comma or semicolon), SPSS .sav, Stata .dta, parquet.

``read_wvs(path)`` reads only the columns it needs (country, weight, the bank's item
columns, ``SYNTHETIC`` when present, and any ``extra_columns``) and returns a
:class:`WVSData`. Column names are matched case-insensitively.

Rules (documented here once):

- **Country**: ``B_COUNTRY_ALPHA`` (the file's alpha codes, e.g. ``MOR``), else numeric
  ``B_COUNTRY``; both are translated to ISO3 through :class:`Countries`. Where the file
  has value labels for the country column (.sav/.dta), a code the registry does not know
  is looked up by its label. An unknown country is an error when no ``countries`` filter
  is given; with a filter, rows of other countries (known or not) are read, then left out.
- **Weight**: ``weight="W_WEIGHT"`` (default) uses ``W_WEIGHT``; if the file lacks it,
  ``S018`` (the equilibrated weight; within a country it differs from W_WEIGHT at most
  by a constant factor, which leaves shares unchanged), else equal weights; each fallback
  issues a :class:`DataWarning`. ``weight=None`` asks for equal weights; any other name
  must exist. Weights must be positive and finite.
- **Codes**: item columns must hold the item's codes, its extra codes or the negative WVS
  missing codes (-1 don't know, -2 no answer, -3 not applicable, -4 not asked,
  -5 missing); anything else is an error that counts each bad value and names its first
  row. Negative codes become missing unless ``keep_missing`` keeps them (True or a list).
  Extra codes (e.g. Q119's 0) stay raw here; the distributions merge or drop them.
- **Extra columns** (``extra_columns``, not items of the bank): numeric columns lose
  negative values to missing unless ``keep_missing`` keeps that code (integer-valued
  columns become nullable Int16 codes, others stay float); other columns are carried as
  they are.
- **Countries**: every country of a ``countries`` filter must have rows in the file.
- **Strictness**: by default (``strict=False``) item columns the file lacks are skipped,
  and a country x item with no valid answer (an item not asked in a country) is left out
  of :meth:`WVSData.distributions`, each with a :class:`DataWarning`. ``strict=True`` is
  for callers whose user named both the items and the countries: then every item column
  must be in the file, and each requested country must have a valid answer to each item
  (an error in :meth:`WVSData.distributions` otherwise). Strictness is never inferred
  from the type of ``items``.
- **Rows** in messages are counted from 1 at the first respondent (for CSV: the line
  after the header); ``WVSData.respondents`` keeps that number as its index.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataWarning, InputError
from ._formats import FORMATS, FrameReader, Reader, open_reader
from ._validation import index_columns
from .countries import Countries
from .distributions import check_codes, check_weights, numeric_column, parse_keep_missing
from .items import ItemBank
from .wvsdata import WVSData

__all__ = ["read_wvs", "WVSData", "FORMATS", "COUNTRY_COLUMNS", "WEIGHT_FALLBACKS", "SYNTHETIC_COLUMN"]

COUNTRY_COLUMNS = ("B_COUNTRY_ALPHA", "B_COUNTRY")
WEIGHT_FALLBACKS = ("W_WEIGHT", "S018")
SYNTHETIC_COLUMN = "SYNTHETIC"


# ---- public entry point -----------------------------------------------------------------
def read_wvs(
    path: str | Path | pd.DataFrame,
    *,
    items: ItemBank | Sequence[str] | str | None = None,
    countries: Sequence[str] | str | None = None,
    weight: str | None = "W_WEIGHT",
    keep_missing: bool | str | Iterable[int] | None = False,
    extra_columns: Sequence[str] = (),
    sep: str | None = None,
    source: str | None = None,
    strict: bool = False,
) -> WVSData:
    """Read a WVS-7 respondent file (.csv, .sav, .dta, .parquet); see the module docstring.

    Parameters
    ----------
    path : str, Path or pandas.DataFrame
        The file, or a DataFrame in the WVS column layout (e.g. from
        :func:`~wvsalign.survey.synthetic_respondents`).
    items : ItemBank, list of str or str, optional
        The items to read (default: the embedded WVS-7 bank).
    countries : list of str or str, optional
        ISO3/WVS codes, names or set names to keep (default: all).
    weight : str or None, default "W_WEIGHT"
        The weight column (with fallbacks, see the module docstring); None: equal weights.
    keep_missing : bool, str or iterable of int, default False
        Negative codes kept as answers.
    extra_columns : list of str, default ()
        More columns to carry along that are not items of the bank (e.g. ``["Q154", "Q155"]``
        for the cultural map).
    sep : str, optional
        CSV delimiter (default: sniffed, comma or semicolon).
    source : str, optional
        The name of a DataFrame ``path`` in messages.
    strict : bool, default False
        True when the user named both the items and the countries: absent item columns and
        unasked country x item cells are then errors instead of warnings.

    Returns
    -------
    WVSData
        The respondents (``.respondents``) and what was read; ``.distributions()`` gives the
        human table.

    Raises
    ------
    InputError
        When the file is missing, of an unknown type, damaged or truncated, lacks the country
        column, holds unknown countries or codes, or bad weights; the message names the file,
        column and first bad row.

    Examples
    --------
    >>> import wvsalign as wa
    >>> bank = wa.ItemBank.wvs7().filter(ids=["Q46", "Q57"])
    >>> frame = wa.survey.synthetic_respondents(bank, ["USA", "JPN"], n_per_country=50)
    >>> data = read_wvs(frame, items=bank, countries="JPN")
    >>> data.countries, len(data.respondents)
    (['JPN'], 50)
    """
    if isinstance(path, pd.DataFrame):
        reader: Reader = FrameReader(path)
        path = Path(source or path.attrs.get("source") or "<DataFrame>")
    else:
        if not isinstance(path, (str, os.PathLike)):
            raise InputError(f"path must be a file path (str or Path) or a DataFrame, not {type(path).__name__}",
                             value=path)
        if sep is not None and (not isinstance(sep, str) or len(sep) != 1 or sep in '."\'\r\n' or sep.isalnum()):
            raise InputError(f"sep={sep!r}; expected one delimiter character such as ',' ';' '|' or a tab")
        if weight is not None and not isinstance(weight, str):
            raise InputError(f"weight={weight!r}; expected a column name (str) or None")
        if isinstance(extra_columns, str):
            raise InputError(f"extra_columns={extra_columns!r} is a string; expected a list of column names, "
                             f"e.g. [{extra_columns!r}]")
        path = Path(path)
        reader = open_reader(path, sep)  # (one-line errors for missing, unreadable, binary or non-UTF-8 files)
    kept = parse_keep_missing(keep_missing)
    bank = _resolve_bank(items)
    registry = Countries.load()
    wanted = tuple(registry.resolve(countries)) if countries is not None else None
    if wanted is not None and not wanted:
        raise InputError(f"countries {countries!r} names no country; expected ISO3 codes, names or a set name")

    header = reader.columns
    by_upper = index_columns(header, path)
    country_col = next((by_upper[c] for c in COUNTRY_COLUMNS if c in by_upper), None)
    if country_col is None:
        raise InputError(
            f"no country column; expected {' or '.join(COUNTRY_COLUMNS)} among the {len(header)} column(s) "
            f"(first: {header[:5]})",
            file=path,
        )
    weight_col = _resolve_weight(weight, by_upper, path)
    extra_cols = _extra_columns(extra_columns, by_upper, bank, path)
    bank, item_cols = _item_columns(bank, by_upper, bool(strict), path)
    synthetic_col = by_upper.get(SYNTHETIC_COLUMN)
    numeric = list(item_cols.values()) + ([weight_col] if weight_col else []) + ([synthetic_col] if synthetic_col else [])
    others = [country_col] + [c for c in extra_cols.values() if c not in numeric]
    raw = reader.read(numeric=list(dict.fromkeys(numeric)), other=list(dict.fromkeys(others)))
    n_rows = len(raw[country_col])
    if n_rows == 0:
        raise InputError("has no respondent rows; expected at least one row after the header", file=path)

    rows = np.arange(1, n_rows + 1)
    iso3 = _country_iso3(raw[country_col], reader.value_labels.get(country_col), registry, country_col, path, rows, wanted)
    keep = _selected_rows(iso3, wanted, country_col, path)
    rows = rows[keep]
    iso3 = iso3[keep]
    if weight_col:
        weights = numeric_column(raw[weight_col], column=weight_col, file=str(path),
                                 expected="numbers (survey weights)")[keep]
        check_weights(weights, column=weight_col, file=str(path), rows=rows)
    else:
        weights = np.ones(len(rows), dtype=np.float64)

    columns: dict[str, object] = {"country": iso3, "weight": weights}
    missing_parts = []
    country_idx, country_names = pd.factorize(pd.Series(iso3, dtype=object), sort=True)
    for item in bank:
        col = item_cols[item.item_id]
        values = numeric_column(raw[col], column=col, file=str(path))[keep]
        check_codes(values, item, column=col, file=str(path), rows=rows)
        missing_parts.append(_missing_counts(values, country_idx, len(country_names)))
        columns[item.item_id] = _to_codes(values, kept)
        raw[col] = None  # free memory as we go
    for name, col in extra_cols.items():
        columns[name] = _extra_column(raw[col], kept, keep)
    synthetic = bool(reader.synthetic_label)
    if synthetic_col:
        marker = numeric_column(raw[synthetic_col], column=synthetic_col, file=str(path))
        synthetic = synthetic or bool((marker == 1).any())
    respondents = pd.DataFrame(columns, index=pd.Index(rows, name="row"))
    return WVSData(
        respondents=respondents,
        bank=bank,
        source=str(path),
        synthetic=synthetic,
        keep_missing=kept,
        weight_column=weight_col,
        country_column=country_col,
        requested_countries=wanted,
        strict=bool(strict),
        missing_counts=_missing_table(missing_parts, country_names, bank.ids),
    )


# ---- helpers ------------------------------------------------------------------------------
def _item_columns(bank: ItemBank, by_upper: dict[str, str], strict: bool, path: Path) -> tuple[ItemBank, dict[str, str]]:
    """The file column of each item; absent items are an error when strict, else skipped with a warning."""
    item_cols = {it.item_id: by_upper[it.item_id.upper()] for it in bank if it.item_id.upper() in by_upper}
    absent = [i for i in bank.ids if i not in item_cols]
    if absent and strict:
        raise InputError(
            f"lacks the column(s) of requested item(s) {absent}; expected one column per item "
            "(read with strict=False to skip absent items with a warning)",
            file=path,
        )
    if not item_cols:
        raise InputError(f"none of the {len(bank)} item columns (e.g. {bank.ids[:3]}) is in the file; expected WVS-7 Q-columns", file=path)
    if absent:
        warnings.warn(f"{path}: {len(absent)} item column(s) not in the file, skipped: {absent[:10]}", DataWarning, stacklevel=3)
        bank = bank.filter(ids=list(item_cols))
    return bank, item_cols


def _extra_columns(names: Sequence[str], by_upper: dict[str, str], bank: ItemBank, path: Path) -> dict[str, str]:
    """Extra name -> file column; names of the bank's items are errors (items are read as items)."""
    items = {i.upper() for i in bank.ids}
    extra: dict[str, str] = {}
    for name in names:
        if str(name).strip().upper() in items:
            raise InputError(
                f"extra column {name!r} is an item of the bank read; expected extra columns outside the items "
                f"(the item's codes are in WVSData.respondents[{str(name).strip().upper()!r}] already)",
                file=path,
            )
        actual = by_upper.get(str(name).strip().upper())
        if actual is None:
            raise InputError(f"lacks the extra column {name!r}; expected it among the file's columns", file=path)
        extra[str(name)] = actual
    return extra


def _selected_rows(iso3: np.ndarray, wanted: tuple[str, ...] | None, column: str, path: Path) -> np.ndarray:
    """Mask of the rows of the wanted countries; each wanted country must have rows."""
    if wanted is None:
        return np.ones(len(iso3), dtype=bool)
    keep = np.isin(iso3, np.array(wanted, dtype=object))
    found = set(iso3[keep])
    lacking = [c for c in wanted if c not in found]
    if lacking:
        raise InputError(
            f"has no respondents of requested countr{'y' if len(lacking) == 1 else 'ies'} {lacking}; "
            f"expected rows with these codes in {column}",
            file=path,
            column=column,
        )
    return keep


def _resolve_bank(items: ItemBank | Sequence[str] | str | None) -> ItemBank:
    if items is None:
        return ItemBank.wvs7()
    if isinstance(items, ItemBank):
        return items
    return ItemBank.wvs7().filter(ids=items)


def _resolve_weight(weight: str | None, by_upper: dict[str, str], path: Path) -> str | None:
    if weight is None or str(weight).strip().lower() in {"", "none"}:
        return None
    name = str(weight).strip().upper()
    if name in by_upper:
        return by_upper[name]
    if name != WEIGHT_FALLBACKS[0]:
        raise InputError(f"no weight column {weight!r}; expected a column of that name, or weight=None for equal weights", file=path)
    for fallback in WEIGHT_FALLBACKS[1:]:
        if fallback in by_upper:
            warnings.warn(f"{path}: no W_WEIGHT column; using {fallback} as the weight", DataWarning, stacklevel=3)
            return by_upper[fallback]
    warnings.warn(f"{path}: no W_WEIGHT or S018 column; all respondents get equal weight", DataWarning, stacklevel=3)
    return None


def _country_iso3(
    values: object,
    labels: dict | None,
    registry: Countries,
    column: str,
    path: Path,
    rows: np.ndarray,
    wanted: tuple[str, ...] | None,
) -> np.ndarray:
    """ISO3 per row; unknown codes are errors unless a ``wanted`` filter skips them (-> "")."""
    series = pd.Series(values)
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(numbers)
        keys = pd.Series(np.where(missing, 0, numbers)).astype(np.int64).astype(str).to_numpy(dtype=object)
    else:
        text = series.astype("string").str.strip()
        missing = (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)
        keys = text.fillna("").to_numpy(dtype=object)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise InputError(
            f"{int(missing.sum())} row(s) without a country code; expected a code in every row",
            file=path,
            column=column,
            row=int(rows[first]),
        )
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
    label_of = {str(int(k)) if isinstance(k, float) and k.is_integer() else str(k): str(v) for k, v in (labels or {}).items()}
    translated = []
    unknown = []
    for key in uniques:
        iso = None
        for candidate in (key, label_of.get(key)):
            if candidate is not None and candidate in registry:
                iso = registry.get(candidate).iso3
                break
        if iso is None:
            unknown.append(key)
            iso = ""
        translated.append(iso)
    if unknown and wanted is None:
        bad = np.isin(keys, np.array(unknown, dtype=object))
        raise InputError(
            f"{len(unknown)} unknown country code(s): {', '.join(repr(u) for u in unknown[:6])} "
            f"(first at row {int(rows[np.flatnonzero(bad)[0]])}); expected codes of the WVS-7/EVS countries in "
            "wvsalign/data/countries.csv (pass countries=... to read only known ones)",
            file=path,
            column=column,
        )
    return np.asarray(translated, dtype=object)[codes]


def _to_codes(values: np.ndarray, kept: tuple[int, ...]) -> pd.arrays.IntegerArray:
    """Nullable Int16 codes; negative codes not in ``kept`` become missing."""
    mask = np.isnan(values)
    negative = ~mask & (values < 0)
    if negative.any():
        drop = negative & ~np.isin(values, np.array(kept, dtype=np.float64)) if kept else negative
        mask = mask | drop
    data = np.where(mask, 0, values).astype(np.int16)
    return pd.arrays.IntegerArray(data, mask)


def _missing_counts(values: np.ndarray, country_idx: np.ndarray, n_countries: int) -> np.ndarray:
    """Counts of each negative code per country for one item: array (countries x 5), column k = code -(k+1)."""
    neg = values < 0
    slot = (-values[neg]).astype(np.int64) - 1  # -1 -> 0 ... -5 -> 4
    return np.bincount(country_idx[neg] * 5 + slot, minlength=n_countries * 5).reshape(n_countries, 5)


def _missing_table(counts: list[np.ndarray], names: pd.Index, item_ids: list[str]) -> pd.DataFrame:
    """One row per country x item x negative code that occurs: country, item_id, code, count."""
    if not counts:
        return pd.DataFrame(columns=["country", "item_id", "code", "count"])
    stacked = np.stack(counts, axis=1)  # countries x items x 5 (countries sorted, items in bank order)
    c, i, k = np.nonzero(stacked)
    return pd.DataFrame(
        {"country": np.asarray(names, dtype=object)[c], "item_id": np.asarray(item_ids, dtype=object)[i],
         "code": -(k + 1), "count": stacked[c, i, k]}
    )


def _extra_column(values: object, kept: tuple[int, ...], keep: np.ndarray) -> object:
    """One extra column, rows ``keep``: numeric -> negative values missing unless their code is in
    ``kept`` (integer-valued -> nullable Int16 codes, else float); other types as they are."""
    series = pd.Series(values)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)[keep]
        finite = numbers[np.isfinite(numbers)]
        if np.array_equal(finite, np.round(finite)) and (np.abs(finite) < 32768).all():
            return _to_codes(numbers, kept)
        drop = (numbers < 0) & ~np.isin(numbers, np.array(kept, dtype=np.float64))
        return np.where(drop, np.nan, numbers)
    return series.to_numpy(dtype=object)[keep]
