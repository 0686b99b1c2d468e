"""Already-aggregated answer distributions (published tables) as a ``human`` table.

``read_aggregates(path)`` reads a CSV (comma or semicolon) or parquet table with one row
per country x item x option. Column names are matched case-insensitively; each role
accepts these names:

=========  ==============================================================
role       accepted column names
=========  ==============================================================
country    country, iso3, country_code, b_country_alpha, b_country, nation
item_id    item_id, item, question, variable, qid
code       code, option, option_code, answer, value, response
share      share, proportion, prop, fraction; or percent / pct (0-100)
count      count, freq, frequency (respondents per option; used when no share)
n          n, n_valid, n_total, respondents (respondents per country x item)
n_eff      n_eff, neff (Kish effective n)
=========  ==============================================================

Rules: countries are translated to ISO3 through the registry; items and codes must be in
the bank (unknown ones are named with their row; rows are counted from 1 at the first data
row). Rows with negative WVS codes (missing) or with extra codes the bank drops are removed;
extra codes the bank merges are added to their target option. Shares must then sum to 1 per
country x item within 1e-6, or are rescaled when ``renormalise=True``. An option missing
from the table gets share 0. ``n`` must be the same on every row of a country x item;
``n_eff = n`` when only ``n`` is given, NaN when neither is.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import contracts
from ..errors import InputError
from .countries import Countries
from .distributions import HUMAN_COLUMNS
from .items import ItemBank
from ._validation import index_columns, sniff_sep

ALIASES: dict[str, tuple[str, ...]] = {
    "country": ("country", "iso3", "country_code", "b_country_alpha", "b_country", "nation"),
    "item_id": ("item_id", "item", "question", "variable", "qid"),
    "code": ("code", "option", "option_code", "answer", "value", "response"),
    "share": ("share", "proportion", "prop", "fraction"),
    "percent": ("percent", "pct"),
    "count": ("count", "freq", "frequency"),
    "n": ("n", "n_valid", "n_total", "respondents"),
    "n_eff": ("n_eff", "neff"),
}
ATOL = 1e-6


def read_aggregates(path: str | Path, *, bank: ItemBank | None = None, renormalise: bool = False) -> pd.DataFrame:
    """Read a published aggregate table into a ``human`` table (see the module docstring).

    Parameters
    ----------
    path : str or Path
        A CSV (comma or semicolon) or parquet file, one row per country x item x option.
    bank : ItemBank, optional
        The items and codes allowed (default: the embedded WVS-7 bank).
    renormalise : bool, default False
        Rescale shares that do not sum to 1 per country x item (else an error).

    Returns
    -------
    pandas.DataFrame
        The human table (country, item_id, category, code, share, n, n_eff);
        ``attrs["synthetic"]`` is False and ``attrs["source"]`` the file.

    Raises
    ------
    InputError
        When a role has no column, a country, item or code is unknown, shares do not sum to 1
        (without ``renormalise``) or ``n`` differs within a country x item; the message names
        the file, column and row.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "agg.csv")
    >>> pd.DataFrame({"country": "USA", "item": "Q57", "code": [1, 2], "share": [0.4, 0.6],
    ...               "n": 100}).to_csv(path, index=False)
    >>> read_aggregates(path)[["country", "item_id", "code", "share", "n_eff"]].values.tolist()
    [['USA', 'Q57', 1, 0.4, 100.0], ['USA', 'Q57', 2, 0.6, 100.0]]
    """
    if not isinstance(path, (str, Path)):
        raise InputError(f"path must be a file path (str or Path) of an aggregate table, not a {type(path).__name__}")
    path = Path(path)
    bank = ItemBank.wvs7() if bank is None else bank
    if path.is_dir():
        raise InputError("is a folder; expected an aggregate table (.csv or .parquet)", file=path)
    raw = _read_table(path)
    roles = _roles(raw, path)
    if "share" not in roles and "percent" not in roles and "count" not in roles:
        raise InputError(
            f"no share column; expected one named {ALIASES['share'] + ALIASES['percent']} or counts named {ALIASES['count']}",
            file=path,
        )
    rows = np.arange(1, len(raw) + 1)
    frame = pd.DataFrame(index=raw.index)
    frame["country"] = _countries(raw[roles["country"]], roles["country"], path)
    frame["item_id"] = raw[roles["item_id"]].astype("string").str.strip()
    frame["code"] = _integers(raw[roles["code"]], roles["code"], path, "integer WVS option codes")
    if "share" in roles:
        frame["share"] = _numbers(raw[roles["share"]], roles["share"], path)
    elif "percent" in roles:
        frame["share"] = _numbers(raw[roles["percent"]], roles["percent"], path) / 100.0
    else:
        frame["count"] = _numbers(raw[roles["count"]], roles["count"], path)
    for role in ("n", "n_eff"):
        if role in roles:
            frame[role] = _numbers(raw[roles[role]], roles[role], path)
    value_col = "share" if "share" in frame else "count"
    source_col = roles.get("share") or roles.get("percent") or roles["count"]
    values = frame[value_col].to_numpy()
    bad = np.isnan(values) | (values < 0) | ((values > 1 + ATOL) if value_col == "share" else False)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        expected = "a share in [0, 1]" + (" (percent in [0, 100])" if "percent" in roles else "") if value_col == "share" else "a non-negative count"
        raise InputError(f"expected {expected}", file=path, column=source_col, row=int(rows[first]), value=raw[source_col].iloc[first])

    keys = ["country", "item_id", "code"]
    dup = frame.duplicated(keys, keep="first")
    if dup.any():
        first = frame.index[np.flatnonzero(dup.to_numpy())[0]]
        raise InputError(
            f"country {frame.at[first, 'country']}, item {frame.at[first, 'item_id']}, code {frame.at[first, 'code']} "
            "appears more than once; expected one row per country x item x option",
            file=path,
            row=int(first) + 1,
        )
    frame["target"] = _recode(frame, bank, roles, path, rows)
    frame = frame[frame["target"].notna()].copy()
    frame["code"] = frame.pop("target").astype(np.int64)
    group = ["country", "item_id"]
    agg = {value_col: "sum"}
    for role in ("n", "n_eff"):
        if role in frame:
            _same_within(frame, role, group, roles[role], path)
            agg[role] = "first"
    summed = frame.groupby(keys, sort=False, as_index=False).agg(agg)
    totals = summed.groupby(group, sort=False)[value_col].transform("sum")
    if value_col == "count":
        if (totals <= 0).any():
            first = summed[totals <= 0].iloc[0]
            raise InputError(f"country {first['country']}, item {first['item_id']}: counts sum to 0; expected some respondents", file=path)
        if "n" not in summed:
            summed["n"] = totals
        summed["share"] = summed.pop("count") / totals
    else:
        off = (totals - 1).abs() > ATOL
        if off.any() and not renormalise:
            first = summed[off].iloc[0]
            raise InputError(
                f"shares of country {first['country']}, item {first['item_id']} sum to {totals[off].iloc[0]:.6g} "
                f"(after removing missing codes); expected 1 within {ATOL:g} (pass renormalise=True, CLI --renormalise, to rescale)",
                file=path,
                column=source_col,
            )
        if (totals <= 0).any():
            first = summed[totals <= 0].iloc[0]
            raise InputError(f"country {first['country']}, item {first['item_id']}: shares sum to 0; cannot renormalise", file=path)
        summed["share"] = summed["share"] / totals
    human = _complete(summed, bank)
    human.attrs.update({"synthetic": False, "source": str(path), "weighted": None, "min_n": None, "keep_missing": [], "dropped": "[]"})
    return contracts.check(human, "human", source=str(path))


# ---- helpers --------------------------------------------------------------------------------
def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError("file not found; expected an aggregate table (.csv or .parquet)", file=path)
    ext = path.suffix.lower()
    if path.stat().st_size == 0:
        raise InputError("is empty; expected a header and one row per country x item x option", file=path)
    if ext == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(str(path))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot be read as parquet ({exc}); the file may be truncated", file=path) from None
        names = table.column_names
        index_columns(names, path)  # duplicated names (also case-insensitively) are errors
        frame = table.to_pandas()
    elif ext in {".csv", ".txt", ".tsv"}:
        from ._formats.csv import check_text

        with open(path, "rb") as fh:
            check_text(fh.read(1 << 20), path)
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
        sep = sniff_sep(first, path)
        names = [c.strip() for c in first.rstrip("\r\n").split(sep)]
        index_columns(names, path)  # duplicated names (also case-insensitively) are errors
        if len(names) == 1:
            raise InputError("the header splits into a single column; expected comma- or semicolon-separated columns", file=path)
        try:
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig", on_bad_lines="error")
        except pd.errors.ParserError as exc:
            raise InputError(f"cannot be parsed as CSV ({str(exc).strip()}); the file may be truncated", file=path) from None
        frame.columns = [c.strip() for c in frame.columns]
        frame = frame.replace({"": None})
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            unterminated = fh.read(1) not in (b"\n", b"\r")
        if unterminated and len(frame) and frame.iloc[-1].isna().any():
            raise InputError(f"the last row is cut short (no line end, empty {list(frame.columns[frame.iloc[-1].isna()])}): "
                             "the file looks truncated; expected complete rows", file=path, row=len(frame))
    else:
        raise InputError(f"unknown file type {ext or '(none)'!r}; expected .csv or .parquet", file=path)
    if frame.empty:
        raise InputError("has no data rows; expected one row per country x item x option", file=path)
    return frame.reset_index(drop=True)


def _roles(raw: pd.DataFrame, path: Path) -> dict[str, str]:
    by_lower = {str(c).strip().lower(): str(c) for c in raw.columns}
    roles: dict[str, str] = {}
    for role, names in ALIASES.items():
        found = [by_lower[n] for n in names if n in by_lower]
        if len(found) > 1:
            raise InputError(f"columns {found} all look like the {role!r} column; expected only one of them", file=path)
        if found:
            roles[role] = found[0]
    for role in ("country", "item_id", "code"):
        if role not in roles:
            raise InputError(f"no {role} column; expected one named {list(ALIASES[role])}", file=path)
    return roles


def _countries(values: pd.Series, column: str, path: Path) -> np.ndarray:
    registry = Countries.load()
    keys = values.astype("string").str.strip()  # the registry's look-up key drops a trailing ".0"
    out = np.empty(len(keys), dtype=object)
    for key, idx in keys.groupby(keys, dropna=False, sort=False).groups.items():
        if pd.isna(key) or key not in registry:
            row = int(min(idx)) + 1
            raise InputError("unknown country; expected an ISO3 code, WVS code, numeric code or name", file=path,
                             column=column, row=row, value=None if pd.isna(key) else str(key))
        out[np.asarray(idx)] = registry.get(key).iso3
    return out


def _numbers(values: pd.Series, column: str, path: Path) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(numbers) & values.notna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError("expected a number", file=path, column=column, row=first + 1, value=values.iloc[first])
    return numbers


def _integers(values: pd.Series, column: str, path: Path, what: str) -> np.ndarray:
    numbers = _numbers(values, column, path)
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < -5) | (numbers > 2**31)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"expected {what} (finite; negative only the WVS missing codes -1..-5)", file=path, column=column, row=first + 1,
                             value=values.iloc[first])
    return numbers.astype(np.int64)


def _recode(frame: pd.DataFrame, bank: ItemBank, roles: dict[str, str], path: Path, rows: np.ndarray) -> pd.Series:
    """Target option code per row (merge applied); None for rows to drop (missing / dropped codes)."""
    maps = {it.item_id: it.recode_map() for it in bank}
    unknown_item = ~frame["item_id"].isin(list(maps)).to_numpy()
    if unknown_item.any():
        first = int(np.flatnonzero(unknown_item)[0])
        raise InputError(f"unknown item; expected an item id of the {bank.name!r} bank (e.g. {bank.ids[:3]})",
                         file=path, column=roles["item_id"], row=int(rows[first]), value=frame["item_id"].iloc[first])
    targets = []
    for pos, (item_id, code) in enumerate(zip(frame["item_id"], frame["code"])):
        if code < 0:
            targets.append(None)
            continue
        mapping = maps[item_id]
        if code not in mapping:
            raise InputError(
                f"code {code} is not an option of item {item_id}; expected one of {sorted(mapping)} or a negative missing code",
                file=path, column=roles["code"], row=int(rows[pos]),
            )
        targets.append(mapping[code])
    return pd.Series(targets, index=frame.index, dtype=object)


def _same_within(frame: pd.DataFrame, role: str, group: list[str], column: str, path: Path) -> None:
    spread = frame.groupby(group, sort=False)[role].nunique(dropna=False)  # one value per country x item
    if (spread > 1).any():
        bad = spread[spread > 1].index
        in_bad = pd.MultiIndex.from_frame(frame[group]).isin(bad)
        first = frame.index[np.flatnonzero(in_bad)[0]]
        raise InputError(
            f"differs between rows of country {frame.at[first, 'country']}, item {frame.at[first, 'item_id']}; "
            f"expected one {role} per country x item",
            file=path, column=column, row=int(first) + 1,
        )


def _complete(summed: pd.DataFrame, bank: ItemBank) -> pd.DataFrame:
    """Add share-0 rows for options missing from the table; order by country, bank item order, option order."""
    options = bank.options_frame()[["item_id", "category", "code", "position"]]
    options["order"] = np.arange(len(options))
    cells = summed[["country", "item_id"]].drop_duplicates()
    full = cells.merge(options, on="item_id", how="left")
    extra_cols = [c for c in ("n", "n_eff") if c in summed]
    full = full.merge(summed[["country", "item_id", "code", "share"]], on=["country", "item_id", "code"], how="left")
    full["share"] = full["share"].fillna(0.0)
    if extra_cols:
        per_cell = summed.groupby(["country", "item_id"], as_index=False)[extra_cols].first()
        full = full.merge(per_cell, on=["country", "item_id"], how="left")
    if "n" not in full:
        full["n"] = np.nan
    if "n_eff" not in full:
        full["n_eff"] = full["n"]
    full = full.sort_values(["country", "order"], kind="stable").reset_index(drop=True)
    if full["n"].notna().all() and (full["n"] == np.round(full["n"])).all():
        full["n"] = full["n"].astype(np.int64)
    full = full[list(HUMAN_COLUMNS)]
    return full.astype({"country": str, "item_id": str, "category": str})
