"""Weighted answer distributions per country x item: the ``human`` table.

``human_distributions(respondents, bank)`` turns respondent rows (one column per item,
WVS codes) into one row per country x item x option with

- ``share``: the weighted share of respondents who chose the option, among those who gave
  a valid answer (after the item's extra codes are merged or dropped, see
  :meth:`Item.recode_map`); an option nobody chose has share 0;
- ``n``: the unweighted number of valid answers of the country to the item;
- ``n_eff``: Kish's effective sample size ``(sum w)^2 / sum w^2`` over those answers.

An item not asked in a country (no valid answers) is absent, not zero. A country whose
``n`` for an item is below ``min_n`` is dropped for that item. The dropped cells are kept in
``human.attrs["dropped"]`` as a JSON string (a string, so that pandas' copying of attrs on
every operation stays cheap); :func:`dropped_cells` returns them as a table (country,
item_id, n, reason). One summary :class:`DataWarning` is issued.

``hard_to_say="midpoint"`` counts an extra code labelled "Hard to say" (Q119's 0, which the
item bank drops like a don't know) as the scale midpoint instead, as WorldValuesBench does: on
an odd scale as the middle option, on an even scale half as each of the two middle options
(Q119: half "Agree", half "Disagree"), so that it adds the midpoint score 0.5 to a mean score.

Negative WVS codes (-1 don't know, -2 no answer, -3 not applicable, -4 not asked,
-5 missing) are missing values unless ``keep_missing`` names them: then they become
options (after the item's own codes, in the order -1, -2, ...).

The work is vectorised with ``np.bincount`` per item over all countries at once.
"""
from __future__ import annotations

import json
import warnings
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataWarning, InputError, check_choice  # noqa: F401  (DataWarning re-exported)
from .items import Item, ItemBank

#: WVS-7 negative missing codes and their meaning
NEGATIVE_CODES: dict[int, str] = {
    -1: "Don't know",
    -2: "No answer",
    -3: "Not applicable",
    -4: "Not asked",
    -5: "Missing",
}

#: column order of the human table built here
HUMAN_COLUMNS = ("country", "item_id", "category", "code", "share", "n", "n_eff")
#: ways to count a "Hard to say" extra code: dropped as the item bank says, or as the scale midpoint
HARD_TO_SAY = ("drop", "midpoint")


def parse_keep_missing(keep_missing: bool | str | Iterable[int] | None) -> tuple[int, ...]:
    """Normalise ``keep_missing`` to a tuple of negative codes (``True``/"all" = all five)."""
    if keep_missing is None or keep_missing is False:
        return ()
    if keep_missing is True:
        return tuple(NEGATIVE_CODES)
    if isinstance(keep_missing, str):
        text = keep_missing.strip().lower()
        if text in {"", "none", "no", "false"}:
            return ()
        if text in {"all", "true", "yes"}:
            return tuple(NEGATIVE_CODES)
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            keep_missing = [int(p) for p in parts]
        except ValueError:
            raise InputError(
                f"keep_missing {keep_missing!r}; expected 'all' or a comma-separated list of codes among "
                f"{list(NEGATIVE_CODES)}"
            ) from None
    if isinstance(keep_missing, (int, float, np.number)) or not isinstance(keep_missing, Iterable):
        raise InputError(f"keep_missing={keep_missing!r}; expected True, False, 'all' or a list of codes among "
                         f"{list(NEGATIVE_CODES)}")
    codes = []
    for code in keep_missing:
        if isinstance(code, bool) or not isinstance(code, (int, float, np.number)) or int(code) != code or int(code) not in NEGATIVE_CODES:
            raise InputError(f"keep_missing code {code!r}; expected codes among {list(NEGATIVE_CODES)}")
        codes.append(int(code))
    return tuple(sorted(set(codes), reverse=True))


def _describe_bad(values: np.ndarray, bad: np.ndarray, rows: np.ndarray, *, limit: int = 6) -> str:
    """'7 (10 rows, first row 345), 99 (2 rows, first row 12)' for the bad entries."""
    bad_values = values[bad]
    bad_rows = rows[bad]
    frame = pd.DataFrame({"value": bad_values, "row": bad_rows})
    summary = frame.groupby("value", sort=True, dropna=False)["row"].agg(["size", "min"])
    parts = [
        f"{_fmt(value)} ({int(size)} row{'s' if size != 1 else ''}, first row {int(first)})"
        for value, (size, first) in summary.iterrows()
    ]
    more = f", and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def numeric_column(
    values: pd.Series | np.ndarray, *, column: str, file: str | None = None, rows: np.ndarray | None = None,
    expected: str = "integer WVS codes",
) -> np.ndarray:
    """Codes as float64 (NaN = empty); non-numeric entries raise an InputError with counts per value."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if pd.api.types.is_bool_dtype(series.dtype):
        raise InputError(f"holds true/false values; expected {expected}", file=file, column=column)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    text = series.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    blank = text.isna().to_numpy() | (text == "").fillna(True).to_numpy()
    bad = np.isnan(numbers) & ~blank
    if bad.any():
        rows = np.arange(1, len(series) + 1) if rows is None else np.asarray(rows)
        raw = text.to_numpy(dtype=object, na_value=None)
        raise InputError(
            f"{int(bad.sum())} non-numeric value(s): {_describe_bad(raw, bad, rows)}; expected {expected}",
            file=file,
            column=column,
        )
    return numbers


def check_codes(
    values: np.ndarray,
    item: Item,
    *,
    column: str | None = None,
    file: str | None = None,
    rows: np.ndarray | None = None,
) -> None:
    """Raise an InputError if ``values`` (float64, NaN = empty) hold codes that ``item`` does not know.

    Known codes: the item's option codes, its extra codes, and the negative WVS missing codes.
    The message counts each unknown value and names its first row.
    """
    allowed = np.array(sorted(set(item.recode_map()) | set(NEGATIVE_CODES)), dtype=np.float64)
    ok = np.isnan(values) | np.isin(values, allowed)
    if ok.all():
        return
    bad = ~ok
    rows = np.arange(1, len(values) + 1) if rows is None else np.asarray(rows)
    extra = [e.code for e in item.extra_codes]
    expected = f"the item's codes {list(item.codes)}"
    if extra:
        expected += f", its extra codes {extra}"
    raise InputError(
        f"{int(bad.sum())} value(s) that are not codes of item {item.item_id}: "
        f"{_describe_bad(values, bad, rows)}; expected {expected} or a missing code -1..-5",
        file=file,
        column=column or item.item_id,
    )


def check_weights(
    weights: np.ndarray, *, column: str | None, file: str | None = None, rows: np.ndarray | None = None
) -> None:
    """Raise an InputError naming the first zero, negative, missing or infinite weight."""
    bad = ~(np.isfinite(weights) & (weights > 0))
    if not bad.any():
        return
    rows = np.arange(1, len(weights) + 1) if rows is None else np.asarray(rows)
    first = int(np.flatnonzero(bad)[0])
    kinds = []
    for label, mask in (
        ("missing", np.isnan(weights)),
        ("zero", weights == 0),
        ("negative", weights < 0),
        ("infinite", np.isinf(weights)),
    ):
        if mask.any():
            kinds.append(f"{int(mask.sum())} {label}")
    raise InputError(
        f"{int(bad.sum())} bad weight(s) ({', '.join(kinds)}); first at row {int(rows[first])}: "
        f"{weights[first]!r}; expected positive numbers",
        file=file,
        column=column,
    )


def _slot_lookup(item: Item, kept: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Lookup (raw code + offset -> option slot or -1) and the option codes of the slots."""
    slot_codes = list(item.codes) + [c for c in kept]
    slot_of = {code: i for i, code in enumerate(slot_codes)}
    mapping: dict[int, int] = {}
    for raw, target in item.recode_map().items():
        mapping[raw] = -1 if target is None else slot_of[target]
    for code in kept:
        mapping[code] = slot_of[code]
    offset = -min(min(mapping), -5)
    table = np.full(max(mapping) + offset + 1, -1, dtype=np.int64)
    for raw, slot in mapping.items():
        table[raw + offset] = slot
    return table, np.array(slot_codes, dtype=np.int64), offset


def _midpoint_split(item: Item) -> tuple[int | None, list[int]]:
    """The item's "Hard to say" extra code (or None) and the option codes that share its midpoint."""
    code = next((e.code for e in item.extra_codes if e.label.strip().lower() == "hard to say"), None)
    order = item.order
    k = len(order)
    middle = [order[k // 2]] if k % 2 else [order[k // 2 - 1], order[k // 2]]
    return code, middle


def human_distributions(
    respondents: pd.DataFrame,
    bank: ItemBank | Iterable[Item],
    *,
    min_n: int = 30,
    weighted: bool = True,
    keep_missing: bool | str | Iterable[int] | None = False,
    hard_to_say: str = "drop",
    country_col: str = "country",
    weight_col: str | None = "weight",
    source: str | None = None,
    stacklevel: int = 2,
) -> pd.DataFrame:
    """The ``human`` table (country, item_id, category, code, share, n, n_eff) of respondent rows.

    See the module docstring for the rules.

    Parameters
    ----------
    respondents : pandas.DataFrame
        A country column, a weight column (ignored when ``weighted`` is False or ``weight_col``
        is None) and one column of WVS codes per item of ``bank``.
    bank : ItemBank or iterable of Item
        The items to tabulate.
    min_n : int, default 30
        A country x item with fewer valid answers is dropped (listed by :func:`dropped_cells`).
    weighted : bool, default True
        Weighted shares (else every respondent counts once).
    keep_missing : bool, str or iterable of int, default False
        Negative WVS codes kept as options (True or "all": the five of them).
    country_col, weight_col : str
        The country and weight columns of ``respondents``.
    source : str, optional
        Where the respondents came from, put in messages and ``attrs["source"]``.
    stacklevel : int, default 2
        Stack level of the :class:`~wvsalign.errors.DataWarning` on dropped cells (as in
        :func:`warnings.warn`; wrappers add one per frame of their own).
    hard_to_say : {"drop", "midpoint"}, default "drop"
        How an item's "Hard to say" extra code counts: dropped as the item bank says, or as the
        scale midpoint (see the module docstring); recorded in ``attrs``.

    Returns
    -------
    pandas.DataFrame
        The human table; ``attrs`` holds ``dropped``, ``min_n``, ``weighted``, ``source`` and
        ``synthetic`` (False unless the caller sets it).

    Raises
    ------
    InputError
        When a column is missing, a code is not a code of its item or a weight is not positive
        and finite (the message names the column and the first bad row).

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> from wvsalign import ItemBank
    >>> resp = pd.DataFrame({"country": ["USA"] * 3 + ["JPN"] * 2, "weight": [1.0, 1.0, 2.0, 1.0, 1.0],
    ...                      "Q57": [1, 2, 2, 1, 1]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # JPN has fewer than min_n answers: dropped, with a warning
    ...     human = human_distributions(resp, ItemBank.wvs7().filter(ids=["Q57"]), min_n=3)
    >>> human[["country", "code", "share", "n"]].values.tolist()
    [['USA', 1, 0.25, 3], ['USA', 2, 0.75, 3]]
    """
    items = list(bank)
    hard_to_say = check_choice(hard_to_say, "hard_to_say", HARD_TO_SAY)
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise InputError(f"min_n {min_n!r}; expected a positive integer")
    kept = parse_keep_missing(keep_missing)
    for col in [country_col] + ([weight_col] if weighted and weight_col else []):
        if col not in respondents.columns:
            raise InputError(f"no column {col!r}; expected it among the respondent columns", file=source, column=col)
    missing_items = [it.item_id for it in items if it.item_id not in respondents.columns]
    if missing_items:
        raise InputError(
            f"respondent table lacks item column(s) {missing_items[:8]}{' ...' if len(missing_items) > 8 else ''}; "
            "expected one column of codes per item of the bank",
            file=source,
        )
    rows = _row_labels(respondents)
    country = respondents[country_col]
    if country.isna().any():
        first = int(np.flatnonzero(country.isna().to_numpy())[0])
        raise InputError("missing country code", file=source, column=country_col, row=int(rows[first]))
    country_idx, country_names = pd.factorize(country.astype(str), sort=True)
    n_countries = len(country_names)
    if weighted and weight_col:
        weights = pd.to_numeric(respondents[weight_col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        check_weights(weights, column=weight_col, file=source, rows=rows)
    else:
        weights = np.ones(len(respondents), dtype=np.float64)
    weights_sq = weights * weights

    blocks: list[pd.DataFrame] = []
    dropped: list[dict] = []
    for item_pos, item in enumerate(items):
        values = numeric_column(respondents[item.item_id], column=item.item_id, file=source, rows=rows)
        check_codes(values, item, file=source, rows=rows)
        table, slot_codes, offset = _slot_lookup(item, kept)
        n_slots = len(slot_codes)
        hts_code, middle = _midpoint_split(item) if hard_to_say == "midpoint" else (None, [])
        n_cells = n_slots
        if hts_code is not None:  # one more slot, folded into the middle option(s) below
            table = table.copy()
            table[hts_code + offset] = n_slots
            n_cells += 1
        present = ~np.isnan(values)
        slot = np.full(len(values), -1, dtype=np.int64)
        slot[present] = table[values[present].astype(np.int64) + offset]
        valid = slot >= 0
        cell = country_idx[valid] * n_cells + slot[valid]
        size = n_countries * n_cells
        counts = np.bincount(cell, minlength=size).reshape(n_countries, n_cells)
        wsum = np.bincount(cell, weights=weights[valid], minlength=size).reshape(n_countries, n_cells)
        if hts_code is not None:
            for code in middle:
                wsum[:, list(slot_codes).index(code)] += wsum[:, n_slots] / len(middle)
            wsum = wsum[:, :n_slots]
        w2 = np.bincount(country_idx[valid], weights=weights_sq[valid], minlength=n_countries)
        n = counts.sum(axis=1)
        total = wsum.sum(axis=1)
        keep = n >= min_n
        for c in np.flatnonzero(~keep):
            reason = "no valid answers" if n[c] == 0 else f"n below min_n={min_n}"
            dropped.append({"country": str(country_names[c]), "item_id": item.item_id, "n": int(n[c]), "reason": reason})
        idx = np.flatnonzero(keep)
        if not len(idx):
            continue
        share = wsum[idx] / total[idx, None]
        n_eff = total[idx] ** 2 / w2[idx]
        blocks.append(
            pd.DataFrame(
                {
                    "_c": np.repeat(idx, n_slots),
                    "_i": item_pos,
                    "item_id": item.item_id,
                    "category": item.category,
                    "code": np.tile(slot_codes, len(idx)),
                    "share": share.ravel(),
                    "n": np.repeat(n[idx], n_slots),
                    "n_eff": np.repeat(n_eff, n_slots),
                }
            )
        )
    if blocks:
        human = pd.concat(blocks, ignore_index=True)
        order = np.lexsort((human["_i"].to_numpy(), human["_c"].to_numpy()))  # stable: codes stay in order
        human = human.iloc[order].reset_index(drop=True)
        human.insert(0, "country", np.asarray(country_names, dtype=object)[human.pop("_c").to_numpy()])
        human = human.drop(columns="_i")
    else:
        human = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(HUMAN_COLUMNS, (str, str, str, "int64", float, "int64", float))})
    human = human[list(HUMAN_COLUMNS)]
    human["country"] = human["country"].astype(str)
    human.attrs.update(
        {
            "synthetic": False,
            "source": source or "",
            "weighted": bool(weighted and weight_col),
            "min_n": int(min_n),
            "keep_missing": list(kept),
            "hard_to_say": hard_to_say,
            "dropped": json.dumps(dropped),
        }
    )
    if dropped:
        no_answers = sum(d["reason"] == "no valid answers" for d in dropped)
        warnings.warn(
            f"{len(dropped)} country x item cell(s) dropped ({no_answers} with no valid answers, e.g. not asked; "
            f"{len(dropped) - no_answers} with n below min_n={min_n}); see wvsalign.survey.dropped_cells(human)",
            DataWarning,
            stacklevel=stacklevel,
        )
    return human


def dropped_cells(human: pd.DataFrame) -> pd.DataFrame:
    """The country x item cells a human table left out, as a table.

    Parameters
    ----------
    human : pandas.DataFrame
        A human table made by :func:`human_distributions` (its ``attrs["dropped"]``).

    Returns
    -------
    pandas.DataFrame
        Columns country, item_id, n (valid answers), reason.

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> from wvsalign import ItemBank
    >>> resp = pd.DataFrame({"country": ["USA"] * 3 + ["JPN"] * 2, "weight": 1.0, "Q57": [1, 2, 2, 1, 1]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     human = human_distributions(resp, ItemBank.wvs7().filter(ids=["Q57"]), min_n=3)
    >>> dropped_cells(human)[["country", "item_id", "reason"]].values.tolist()
    [['JPN', 'Q57', 'n below min_n=3']]
    """
    records = human.attrs.get("dropped") or "[]"
    if isinstance(records, str):
        records = json.loads(records)
    return pd.DataFrame(records, columns=["country", "item_id", "n", "reason"])


def _row_labels(frame: pd.DataFrame) -> np.ndarray:
    """Row numbers used in error messages: the index when it is integer (files: 1 = first respondent)."""
    if pd.api.types.is_integer_dtype(frame.index.dtype):
        return frame.index.to_numpy()
    return np.arange(1, len(frame) + 1)
