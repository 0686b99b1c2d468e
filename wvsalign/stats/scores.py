"""Mean scores: the expected option score of a model (sum_k p_k s_k) and of a country's people
(sum_k r_k s_k) per country x item, with the option scores of the item bank.

Scales (``scale=``):

- ``"unit"`` (default): the bank's scores, position / (K - 1), in [0, 1] for every item.
- ``"kim_baek"``: 2 s - 1, in [-1, 1] (Kim & Baek 2024).
- ``"position"``: the ordinal position 0 .. K-1, whose range differs between items (like raw
  WVS codes 1..4 vs 1..10). Offered to show what an unequal per-item range does; not for reports.

What the choice does to correlations. A Pearson r is unchanged by an affine map a + b x with
b > 0 of either variable. "unit" and "kim_baek" differ by one affine map common to all items
(and to models and humans), so every correlation (per item, per country, per category, pooled)
is identical under both. A per-item correlation (over countries) is also unchanged by any
per-item affine rescaling. A *pooled* correlation (over country x item pairs, as per category
or overall) is not: it mixes between-item and within-item variation, so an item scored on a
wider range (raw 1..10 codes next to 1..4 codes, or ``"position"``) weighs more, and an item
whose direction is flipped (first option scored high) changes the sign of its contribution.
wvsalign therefore scores every item on the same fixed range ([0, 1]) with a fixed direction
(the bank's ordinal order): pooled r then weighs items by their actual spread of answers, not
by how many answer points the questionnaire happened to offer.

Codes that have no score (don't know, no answer, spontaneous codes dropped by the bank) are
left out and the remaining probabilities or shares renormalised. Nominal items with more than
two options have no meaningful mean and are left out with a warning.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .. import tables
from ..errors import InputError, check_choice
from ..prompts import NO_COUNTRY
from ..survey.items import ItemBank
from ..tables import VARIANT_COLUMNS

SCALES = ("unit", "kim_baek", "position")
#: the country code of the no-country default condition
DEFAULT_COUNTRY = NO_COUNTRY


def variant_columns(frame: pd.DataFrame, *, min_values: int = 1) -> list[str]:
    """The variant columns of ``frame`` (in :data:`VARIANT_COLUMNS` order) with at least
    ``min_values`` distinct non-missing values: 0 every one present, 1 (default) those in use,
    2 those that vary."""
    def enough(col: pd.Series) -> bool:
        if min_values <= 1:
            return min_values <= 0 or bool(col.notna().any())
        return col.nunique() >= min_values

    return [c for c in VARIANT_COLUMNS if c in frame.columns and enough(frame[c])]


def _bank(bank: ItemBank | None) -> ItemBank:
    return ItemBank.wvs7() if bank is None else bank


def nominal_items(bank: ItemBank) -> list[str]:
    """Ids of the nominal items with more than two options: their option positions order nothing."""
    return [it.item_id for it in bank if it.scale == "nominal" and it.n_options > 2]


def drop_nominal(df: pd.DataFrame, bank: ItemBank, what: str, *, stacklevel: int = 3) -> pd.DataFrame:
    """``df`` without the rows of :func:`nominal_items`, with a warning naming them (``what``: why)."""
    left_out = df["item_id"].isin(nominal_items(bank))
    if not left_out.any():
        return df
    ids = sorted(df.loc[left_out, "item_id"].astype(str).unique())
    warnings.warn(f"nominal item(s) with more than two options left out ({len(ids)}: {ids[:10]}): {what}",
                  stacklevel=stacklevel)
    return df[~left_out]


def _option_table(bank: ItemBank, scale: str) -> pd.DataFrame:
    """item_id, code, category, score (on ``scale``) for every option of a meanable item."""
    check_choice(scale, "scale", SCALES)
    opts = bank.options_frame()
    opts = opts[~opts["item_id"].isin(nominal_items(bank))]
    if scale == "kim_baek":
        value = 2.0 * opts["score"] - 1.0
    elif scale == "position":
        value = opts["position"].astype(np.float64)
    else:
        value = opts["score"].astype(np.float64)
    out = opts[["item_id", "code", "category"]].copy()
    out["code"] = out["code"].astype(np.int64)
    out["value"] = value.to_numpy(dtype=np.float64)
    return out


def _codes_as_int(df: pd.DataFrame, source: str) -> pd.Series:
    codes = pd.to_numeric(df["code"], errors="coerce")
    bad = codes.isna() | (codes != np.round(codes))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("option codes must be integers (WVS codes)", file=source, column="code", row=row,
                         value=df["code"].iloc[row])
    return codes.astype(np.int64)


def _check_items(df: pd.DataFrame, bank: ItemBank, source: str) -> None:
    unknown = ~df["item_id"].isin(bank.ids)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(f"item not in the item bank {bank.name!r}; expected ids such as {bank.ids[:3]}",
                         file=source, column="item_id", row=row, value=df["item_id"].iloc[row])


def _expected_score(df: pd.DataFrame, weight: str, keys: list[str], options: pd.DataFrame) -> pd.DataFrame:
    """Per ``keys`` group: sum w s / sum w over scored codes (renormalised), as ``mean_score``."""
    merged = df.merge(options[["item_id", "code", "value"]], on=["item_id", "code"], how="left")
    w = merged[weight].to_numpy(dtype=np.float64)
    scored = ~merged["value"].isna().to_numpy()
    frame = merged[keys].copy()
    frame["_w"] = np.where(scored, w, 0.0)
    frame["_ws"] = np.where(scored, w * merged["value"].fillna(0.0).to_numpy(), 0.0)
    sums = frame.groupby(keys, sort=False, dropna=False)[["_w", "_ws"]].sum()
    empty = sums["_w"] <= 0
    if empty.any():
        warnings.warn(f"{int(empty.sum())} group(s) have no probability/share on a scored option "
                      f"(e.g. {sums.index[empty][0]}); they are left out", stacklevel=3)
        sums = sums[~empty]
    out = sums.reset_index()
    out["mean_score"] = out["_ws"] / out["_w"]
    return out.drop(columns=["_w", "_ws"])


_NO_MEAN = "their options have no order, so a mean score means nothing"


def _variant_keys(probs: pd.DataFrame, by: Sequence[str] | str | None) -> list[str]:
    present = variant_columns(probs, min_values=0)
    if by is None:
        return present
    wanted = [by] if isinstance(by, str) else list(by)
    missing = [c for c in wanted if c not in probs.columns]
    if missing:
        raise InputError(f"argument by={wanted!r}: column(s) {missing} not in the probs table; "
                         f"variant columns present: {present}")
    return wanted


def model_mean_scores(
    probs: pd.DataFrame,
    bank: ItemBank | None = None,
    *,
    scale: str = "unit",
    by: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """Model mean score per model x country x item (x prompt variant): the scores table.

    Each prompt's score is sum_k p_k s_k over the scored options (renormalised); prompts are
    then averaged with equal weight within model x country x item x ``by``. ``by=None`` keeps
    every variant column present (template, instruction, label_style, option_order, language:
    one row per variant combination); ``by=[]`` averages over all variants; a list keeps those.
    Country ``NONE`` rows (the no-country default condition) are kept as they are.
    Columns: source (the model), country, item_id, category, mean_score, the kept variant
    columns, n_prompts, scale.
    """
    tables.check(probs, "probs")
    bank = _bank(bank)
    options = _option_table(bank, scale)
    keep = _variant_keys(probs, by)
    df = probs.copy()
    df["code"] = _codes_as_int(df, "probs")
    _check_items(df, bank, "probs")
    df = drop_nominal(df, bank, _NO_MEAN)
    all_variants = variant_columns(df, min_values=0)
    prompt_keys = ["model", "prompt_id"]
    carry = ["country", "item_id"] + all_variants
    first = df.drop_duplicates(prompt_keys)[prompt_keys + carry]
    per_prompt = _expected_score(df, "prob", prompt_keys, options).merge(first, on=prompt_keys, how="left")
    group = ["model", "country", "item_id"] + keep
    out = (per_prompt.groupby(group, sort=False, dropna=False)
           .agg(mean_score=("mean_score", "mean"), n_prompts=("mean_score", "size")).reset_index())
    out = out.merge(options.drop_duplicates("item_id")[["item_id", "category"]], on="item_id", how="left")
    out = out.rename(columns={"model": "source"})
    out["scale"] = scale
    cols = ["source", "country", "item_id", "category", "mean_score"] + keep + ["n_prompts", "scale"]
    return out[cols].sort_values(["source"] + keep + ["country", "item_id"], kind="stable").reset_index(drop=True)


def human_mean_scores(human: pd.DataFrame, bank: ItemBank | None = None, *, scale: str = "unit") -> pd.DataFrame:
    """Human mean score per country x item: sum_k r_k s_k over scored options (renormalised).

    Columns: source ("human"), country, item_id, category, mean_score, n, n_eff (as given in the
    human table: respondents with a valid answer, Kish effective n), scale.
    """
    tables.check(human, "human")
    bank = _bank(bank)
    options = _option_table(bank, scale)
    df = human.copy()
    df["code"] = _codes_as_int(df, "human")
    _check_items(df, bank, "human")
    df = drop_nominal(df, bank, _NO_MEAN)
    keys = ["country", "item_id"]
    out = _expected_score(df, "share", keys, options)
    sizes = df.groupby(keys, sort=False)[["n", "n_eff"]].first().reset_index()
    out = out.merge(sizes, on=keys, how="left")
    out = out.merge(options.drop_duplicates("item_id")[["item_id", "category"]], on="item_id", how="left")
    out.insert(0, "source", "human")
    out["scale"] = scale
    cols = ["source", "country", "item_id", "category", "mean_score", "n", "n_eff", "scale"]
    return out[cols].sort_values(["country", "item_id"], kind="stable").reset_index(drop=True)


def mean_scores(
    probs: pd.DataFrame | None = None,
    human: pd.DataFrame | None = None,
    bank: ItemBank | None = None,
    *,
    scale: str = "unit",
    by: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """The scores table: human rows (source "human") and model rows (source = model name) stacked."""
    if probs is None and human is None:
        raise InputError("mean_scores needs a probs table, a human table or both")
    bank = _bank(bank)
    parts = []
    if human is not None:
        parts.append(human_mean_scores(human, bank, scale=scale))
    if probs is not None:
        parts.append(model_mean_scores(probs, bank, scale=scale, by=by))
    out = pd.concat(parts, ignore_index=True, sort=False)
    return tables.check(out, "scores")
