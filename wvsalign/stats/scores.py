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

from ..contracts import HUMAN, NO_COUNTRY
from ..errors import InputError, check_choice
from ..survey.items import ItemBank
from ._validation import (
    bank_or_default, check_items, check_table, check_variants, codes_as_int, variant_columns,
)

__all__ = ["SCALES", "DEFAULT_COUNTRY", "variant_columns", "nominal_items", "drop_nominal", "model_mean_scores",
           "human_mean_scores", "mean_scores"]

SCALES = ("unit", "kim_baek", "position")
#: the country code of the no-country default condition
DEFAULT_COUNTRY = NO_COUNTRY


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


def model_mean_scores(
    probs: pd.DataFrame,
    bank: ItemBank | None = None,
    *,
    scale: str = "unit",
    variants: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """Model mean score per model x country x item (x prompt variant): the model rows of the scores table.

    Each prompt's score is sum_k p_k s_k over the scored options (renormalised); prompts are
    then averaged with equal weight within model x country x item x ``variants``. Country
    ``NONE`` rows (the no-country default condition) are kept as they are.

    Parameters
    ----------
    probs : pandas.DataFrame
        A probs table (contract ``probs``: model, prompt_id, item_id, country, template,
        code, label, prob, logprob, valid_mass).
    bank : ItemBank, optional
        The item bank holding the option scores (default: the embedded WVS-7 bank).
    scale : {"unit", "kim_baek", "position"}, default "unit"
        The score scale (see the module docstring).
    variants : str or list of str, optional
        The prompt-variant columns kept apart: ``None`` (default) keeps every variant
        column present (template, instruction, label_style, option_order, language: one
        row per variant combination), ``[]`` averages over all variants, a list keeps
        those named.

    Returns
    -------
    pandas.DataFrame
        Columns model, country, item_id, category, mean_score, the kept variant columns,
        n_prompts (prompts averaged), scale.

    Raises
    ------
    InputError
        When ``probs`` is not a probs table (the missing columns are named), a code is not
        an integer, an item is not in ``bank``, ``scale`` is unknown or a ``variants``
        column is absent.

    Examples
    --------
    >>> import wvsalign as wa
    >>> scores = wa.stats.model_mean_scores(probs, bank, variants=[])  # doctest: +SKIP
    """
    check_table(probs, "probs", argument="probs", function="model_mean_scores")
    bank = bank_or_default(bank)
    options = _option_table(bank, scale)
    keep = check_variants(probs, variants, "probs")
    df = probs.copy()
    df["code"] = codes_as_int(df, "probs")
    check_items(df, bank, "probs")
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
    out["scale"] = scale
    cols = ["model", "country", "item_id", "category", "mean_score"] + keep + ["n_prompts", "scale"]
    return out[cols].sort_values(["model"] + keep + ["country", "item_id"], kind="stable").reset_index(drop=True)


def human_mean_scores(human: pd.DataFrame, bank: ItemBank | None = None, *, scale: str = "unit") -> pd.DataFrame:
    """Human mean score per country x item: sum_k r_k s_k over the scored options (renormalised).

    Parameters
    ----------
    human : pandas.DataFrame
        A human table (contract ``human``: country, item_id, code, share, n, n_eff).
    bank : ItemBank, optional
        The item bank holding the option scores (default: the embedded WVS-7 bank).
    scale : {"unit", "kim_baek", "position"}, default "unit"
        The score scale (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns model ("human"), country, item_id, category, mean_score, n, n_eff (as given
        in the human table: respondents with a valid answer, Kish effective n), scale.

    Raises
    ------
    InputError
        When ``human`` is not a human table, a code is not an integer, an item is not in
        ``bank`` or ``scale`` is unknown.

    Examples
    --------
    >>> import wvsalign as wa
    >>> human = wa.synthetic_human(wa.ItemBank.wvs7().filter(ids=["Q46"]), ["USA", "JPN"])
    >>> sorted(wa.stats.human_mean_scores(human)[["model", "country"]].itertuples(index=False, name=None))
    [('human', 'JPN'), ('human', 'USA')]
    """
    check_table(human, "human", argument="human", function="human_mean_scores")
    bank = bank_or_default(bank)
    options = _option_table(bank, scale)
    df = human.copy()
    df["code"] = codes_as_int(df, "human")
    check_items(df, bank, "human")
    df = drop_nominal(df, bank, _NO_MEAN)
    keys = ["country", "item_id"]
    out = _expected_score(df, "share", keys, options)
    sizes = df.groupby(keys, sort=False)[["n", "n_eff"]].first().reset_index()
    out = out.merge(sizes, on=keys, how="left")
    out = out.merge(options.drop_duplicates("item_id")[["item_id", "category"]], on="item_id", how="left")
    out.insert(0, "model", HUMAN)
    out["scale"] = scale
    cols = ["model", "country", "item_id", "category", "mean_score", "n", "n_eff", "scale"]
    return out[cols].sort_values(["country", "item_id"], kind="stable").reset_index(drop=True)


def mean_scores(
    probs: pd.DataFrame | None = None,
    human: pd.DataFrame | None = None,
    bank: ItemBank | None = None,
    *,
    scale: str = "unit",
    variants: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """The scores table: the people's rows (model "human") and the model rows stacked.

    Parameters
    ----------
    probs : pandas.DataFrame, optional
        A probs table (see :func:`model_mean_scores`).
    human : pandas.DataFrame, optional
        A human table (see :func:`human_mean_scores`).
    bank : ItemBank, optional
        The item bank (default: the embedded WVS-7 bank).
    scale : {"unit", "kim_baek", "position"}, default "unit"
        The score scale.
    variants : str or list of str, optional
        Variant columns kept apart in the model rows (see :func:`model_mean_scores`).

    Returns
    -------
    pandas.DataFrame
        The scores table (contract ``scores``: model, country, item_id, category,
        mean_score), human rows first, plus the columns of the two parts.

    Raises
    ------
    InputError
        When neither table is given, or as :func:`model_mean_scores` and
        :func:`human_mean_scores`.

    Examples
    --------
    >>> import wvsalign as wa
    >>> scores = wa.stats.mean_scores(probs, human, bank)  # doctest: +SKIP
    >>> al = wa.stats.alignment(scores, by="category")  # doctest: +SKIP
    """
    if probs is None and human is None:
        raise InputError("mean_scores needs a probs table, a human table or both")
    bank = bank_or_default(bank)
    parts = []
    if human is not None:
        parts.append(human_mean_scores(human, bank, scale=scale))
    if probs is not None:
        parts.append(model_mean_scores(probs, bank, scale=scale, variants=variants))
    out = pd.concat(parts, ignore_index=True, sort=False)
    return check_table(out, "scores", argument="probs", function="mean_scores")
