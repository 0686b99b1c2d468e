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

import csv
import io
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .countries import Countries
from .distributions import (
    NEGATIVE_CODES,
    DataWarning,
    check_codes,
    check_weights,
    human_distributions,
    numeric_column,
    parse_keep_missing,
)
from .items import ItemBank

COUNTRY_COLUMNS = ("B_COUNTRY_ALPHA", "B_COUNTRY")
WEIGHT_FALLBACKS = ("W_WEIGHT", "S018")
SYNTHETIC_COLUMN = "SYNTHETIC"
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".sav": "sav", ".zsav": "sav", ".dta": "dta", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = {".gz", ".bz2", ".zst", ".lz4"}


@dataclass
class WVSData:
    """Respondents read from a WVS file (or generated): one row per respondent.

    ``respondents`` has columns ``country`` (ISO3), ``weight`` (float) and one nullable
    integer column per item of ``bank`` (raw WVS codes; negative codes are missing unless
    kept), plus any extra columns; its index is the respondent's row number in the file.
    """

    respondents: pd.DataFrame
    bank: ItemBank
    source: str = ""
    synthetic: bool = False
    keep_missing: tuple[int, ...] = ()
    weight_column: str | None = None
    country_column: str = ""
    requested_countries: tuple[str, ...] | None = None
    strict: bool = False
    missing_counts: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def countries(self) -> list[str]:
        """ISO3 codes of the countries present, sorted."""
        return sorted(self.respondents["country"].unique().tolist())

    def distributions(self, bank: ItemBank | None = None, *, min_n: int = 30, weighted: bool = True,
                      hard_to_say: str = "drop") -> pd.DataFrame:
        """The ``human`` table of these respondents (see :func:`human_distributions`)."""
        bank = self.bank if bank is None else bank
        absent = [it.item_id for it in bank if it.item_id not in self.respondents.columns]
        if absent:
            raise InputError(f"item(s) {absent[:8]} were not read from the file; expected items of the bank read", file=self.source)
        if self.strict and self.requested_countries:
            self._check_requested(bank)
        human = human_distributions(
            self.respondents,
            bank,
            min_n=min_n,
            weighted=weighted and self.weight_column is not None,
            keep_missing=self.keep_missing,
            hard_to_say=hard_to_say,
            source=self.source,
            stacklevel=3,  # warnings point at the caller of this method
        )
        human.attrs["synthetic"] = bool(self.synthetic)
        human.attrs["weight_column"] = self.weight_column or ""
        return human

    def mean_scores(self, bank: ItemBank | None = None, *, min_n: int = 30, scale: str = "unit") -> pd.DataFrame:
        """Human mean scores per country x item (``wvsalign.stats.human_mean_scores``)."""
        from ..stats import human_mean_scores

        bank = self.bank if bank is None else bank
        return human_mean_scores(self.distributions(bank, min_n=min_n), bank, scale=scale)

    def _check_requested(self, bank: ItemBank) -> None:
        present = self.respondents.groupby("country", sort=False)[[it.item_id for it in bank]].count()
        for country in self.requested_countries or ():
            for item in bank:
                if present.loc[country, item.item_id] > 0:
                    continue
                counts = self.missing_counts
                sel = counts[(counts["country"] == country) & (counts["item_id"] == item.item_id)] if len(counts) else counts
                detail = ", ".join(f"{int(r.code)} {NEGATIVE_CODES[int(r.code)].lower()} {int(r.count)}" for r in sel.itertuples())
                raise InputError(
                    f"country {country} has no valid answer to item {item.item_id} ({detail or 'all missing'}); "
                    "expected at least one answer for a country and item asked for explicitly "
                    "(read with strict=False, or leave the countries or the items unspecified, "
                    "to drop such cells with a warning)",
                    file=self.source,
                    column=item.item_id,
                )


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

    ``path`` may also be a DataFrame in the WVS column layout (e.g. from
    :func:`~wvsalign.survey.synthetic.synthetic_respondents`); ``source`` names it in messages.

    ``items``: an ItemBank, item ids, or None for the embedded WVS-7 bank. ``countries``:
    ISO3/WVS codes, names or set names to keep (None = all). ``extra_columns``: more
    columns to carry along that are not items of the bank (e.g. ``["Q154", "Q155"]`` for
    the cultural map; see the module docstring for their negative codes). ``sep``: CSV
    delimiter (default: sniffed, comma or semicolon). ``strict``: True when the caller's
    user named both the items and the countries (see the module docstring); absent item
    columns and unasked country x item cells are then errors instead of warnings.
    """
    if isinstance(path, pd.DataFrame):
        reader: _Reader = _FrameReader(path)
        path = Path(source or path.attrs.get("source") or "<DataFrame>")
    else:
        path = Path(path)
        fmt = _format_of(path)
        if not path.exists():
            raise InputError("file not found; expected a WVS-7 file (.csv, .sav, .dta or .parquet)", file=path)
        if path.is_dir():
            raise InputError("is a folder; expected a WVS-7 file (.csv, .sav, .dta or .parquet)", file=path)
        reader = _READERS[fmt](path, sep)
    kept = parse_keep_missing(keep_missing)
    bank = _resolve_bank(items)
    registry = Countries.load()
    wanted = tuple(registry.resolve(countries)) if countries is not None else None
    if wanted is not None and not wanted:
        raise InputError(f"countries {countries!r} names no country; expected ISO3 codes, names or a set name")

    header = reader.columns
    by_upper = _index_columns(header, path)
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
        weights = numeric_column(raw[weight_col], column=weight_col, file=str(path))[keep]
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


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext not in FORMATS:
        raise InputError(f"unknown file type {ext or '(none)'!r}; expected one of {sorted(FORMATS)}", file=path)
    if FORMATS[ext] != "csv" and path.suffix.lower() in _COMPRESSED:
        raise InputError(f"compressed {ext} files are not supported; expected an uncompressed {ext}", file=path)
    return FORMATS[ext]


def _resolve_bank(items: ItemBank | Sequence[str] | str | None) -> ItemBank:
    if items is None:
        return ItemBank.wvs7()
    if isinstance(items, ItemBank):
        return items
    return ItemBank.wvs7().filter(ids=items)


def _index_columns(header: Sequence[str], path: Path) -> dict[str, str]:
    """Upper-case name -> actual name; duplicated names (also case-insensitively) are errors."""
    seen: dict[str, list[int]] = {}
    for pos, name in enumerate(header):
        seen.setdefault(str(name).strip().upper(), []).append(pos)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if dups:
        name, positions = next(iter(dups.items()))
        more = f" (and {len(dups) - 1} more duplicated name(s))" if len(dups) > 1 else ""
        raise InputError(
            f"appears {len(positions)} times in the header (columns {', '.join(str(p + 1) for p in positions)}){more}; "
            "expected unique column names",
            file=path,
            column=header[positions[0]],
        )
    return {k: header[v[0]] for k, v in seen.items()}


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


# ---- format readers ------------------------------------------------------------------------
class _Reader:
    """Header probe + column read for one file format."""

    columns: list[str]
    value_labels: dict[str, dict]
    synthetic_label: bool

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        raise NotImplementedError


class _CSVReader(_Reader):
    def __init__(self, path: Path, sep: str | None) -> None:
        import pyarrow as pa

        self.path = path
        self.value_labels = {}
        self.synthetic_label = False
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(1 << 20)
        if not head.strip():
            raise InputError("is empty; expected a header line of WVS column names and respondent rows", file=path)
        text = head.decode("utf-8-sig", errors="replace")
        first_line = text.splitlines()[0] if text.splitlines() else ""
        self.sep = sep or _sniff_sep(first_line, path)
        self.decimal = "," if self.sep == ";" and _DECIMAL_COMMA.search(text[len(first_line):]) else "."
        # the names as written (pyarrow selects columns by them); matching strips and ignores case
        self.columns = list(next(csv.reader([first_line], delimiter=self.sep)))
        if len(self.columns) == 1:
            found = {"\t": "tabs", ";": "semicolons", ",": "commas", "|": "pipes"}
            hint = [v for k, v in found.items() if k in first_line and k != self.sep]
            raise InputError(
                f"the header splits into a single column with delimiter {self.sep!r}"
                f"{' but contains ' + ', '.join(hint) if hint else ''}; expected a comma- or semicolon-separated WVS "
                "file (pass sep= for another delimiter)",
                file=path,
            )

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        wanted = numeric + other
        types = {c: pa.float64() for c in numeric}
        for attempt in ("fast", "text"):
            try:
                table = pacsv.read_csv(
                    str(self.path),
                    read_options=pacsv.ReadOptions(block_size=1 << 24),
                    parse_options=pacsv.ParseOptions(delimiter=self.sep),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=wanted, column_types=types, decimal_point=self.decimal
                    ),
                )
                break
            except pa.ArrowInvalid as exc:
                message = str(exc)
                if "Expected" in message and "columns" in message:
                    raise self._ragged_row_error() from None
                if attempt == "text" or "conversion error" not in message:
                    raise InputError(f"cannot be parsed as CSV: {message.splitlines()[0]}", file=self.path) from None
                types = {c: pa.string() for c in numeric}  # slow path: text, reported value by value
        out: dict[str, object] = {}
        for name in wanted:
            column = table.column(name)
            if pa.types.is_floating(column.type):
                out[name] = column.to_numpy()
            else:
                out[name] = column.to_pandas()
        return out

    def _ragged_row_error(self) -> InputError:
        """Find the first row whose field count differs from the header's (error path only)."""
        import pyarrow as pa

        expected = len(self.columns)
        with pa.input_stream(str(self.path), compression="detect") as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
            reader = csv.reader(text, delimiter=self.sep)
            next(reader, None)
            row = 0
            for fields in reader:
                if not fields:
                    continue
                row += 1
                if len(fields) != expected:
                    last = next(reader, None) is None
                    what = "the last row is cut short: the file looks truncated" if last and len(fields) < expected else "a row has the wrong number of fields"
                    return InputError(
                        f"{what} ({len(fields)} fields); expected {expected} fields as in the header",
                        file=self.path,
                        row=row,
                    )
        return InputError(f"rows with a field count other than the header's {expected}; expected a rectangular CSV", file=self.path)


#: a field such as ;1,25; in a semicolon file: decimal commas (European spreadsheet export)
_DECIMAL_COMMA = re.compile(r"(?:^|;)\s*\"?-?\d+,\d+\"?\s*(?:;|$)", re.MULTILINE)


def _sniff_sep(first_line: str, path: Path | str) -> str:
    """Comma or semicolon, whichever splits the header line more often (comma on a tie)."""
    commas, semis = first_line.count(","), first_line.count(";")
    if commas == 0 and semis == 0:
        return "\t" if str(path).lower().endswith((".tsv", ".tsv.gz")) else ","
    return "," if commas >= semis else ";"


class _StatReader(_Reader):
    """SPSS .sav and Stata .dta through pyreadstat."""

    def __init__(self, path: Path, sep: str | None) -> None:
        import pyreadstat

        self.path = path
        self._fn = pyreadstat.read_sav if path.suffix.lower() in {".sav", ".zsav"} else pyreadstat.read_dta
        if path.stat().st_size == 0:
            raise InputError(f"is empty; expected an {path.suffix} data file", file=path)
        try:
            _, meta = self._fn(str(path), metadataonly=True)
        except pyreadstat.ReadstatError as exc:
            raise InputError(f"cannot be read as {path.suffix} ({exc}); the file may be truncated or damaged", file=path) from None
        self.columns = list(meta.column_names)
        self.value_labels = dict(meta.variable_value_labels or {})
        self.synthetic_label = "SYNTHETIC" in str(meta.file_label or "").upper()
        self.n_rows = meta.number_rows
        if path.suffix.lower() == ".dta":
            self._check_dta_end()

    def _check_dta_end(self) -> None:
        with open(self.path, "rb") as fh:
            start = fh.read(11)
            fh.seek(max(0, self.path.stat().st_size - 16))
            end = fh.read()
        if start == b"<stata_dta>" and not end.rstrip().endswith(b"</stata_dta>"):
            raise InputError("ends before its closing </stata_dta> tag: the file looks truncated; expected a complete .dta file", file=self.path)

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        import pyreadstat

        try:
            frame, _ = self._fn(str(self.path), usecols=numeric + other, apply_value_formats=False, user_missing=True)
        except pyreadstat.ReadstatError as exc:
            raise InputError(f"cannot be read ({exc}); the file looks truncated or damaged", file=self.path) from None
        if self.n_rows not in (None, -1) and len(frame) != self.n_rows:
            raise InputError(f"holds {len(frame)} rows but its header promises {self.n_rows}: the file looks truncated", file=self.path)
        return {c: frame[c] for c in numeric + other}


class _ParquetReader(_Reader):
    def __init__(self, path: Path, sep: str | None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.value_labels = {}
        if path.stat().st_size == 0:
            raise InputError("is empty; expected a parquet file", file=path)
        try:
            self._file = pq.ParquetFile(str(path))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot be read as parquet ({exc}); the file may be truncated or damaged", file=path) from None
        self.columns = list(self._file.schema_arrow.names)
        meta = self._file.schema_arrow.metadata or {}
        try:
            attrs = json.loads(meta.get(b"PANDAS_ATTRS", b"{}"))
        except ValueError:
            attrs = {}
        self.synthetic_label = isinstance(attrs, dict) and attrs.get("synthetic") is True

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        import pyarrow as pa

        try:
            table = self._file.read(columns=numeric + other)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot be read ({exc}); the file looks truncated or damaged", file=self.path) from None
        return {c: table.column(c).to_pandas() for c in numeric + other}


class _FrameReader(_Reader):
    """A DataFrame already in memory, in the WVS column layout."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.columns = [str(c) for c in frame.columns]
        self.value_labels = {}
        self.synthetic_label = frame.attrs.get("synthetic") is True

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        return {c: self.frame[c].reset_index(drop=True) for c in numeric + other}


_READERS = {"csv": _CSVReader, "sav": _StatReader, "dta": _StatReader, "parquet": _ParquetReader}

