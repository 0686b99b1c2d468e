"""Distribution similarity of a model's answer distribution to a country's answer distribution.

- ``js_similarity(p, q)`` = 1 - Jensen-Shannon distance with base-2 logarithms, in [0, 1]
  (as GlobalOpinionQA, Durmus et al. 2023): 1 for identical distributions, 0 for disjoint ones.
- ``wasserstein_similarity(p, q)`` = 1 - W1 / (K - 1), W1 the earth mover's distance between
  the two distributions on the ordinal positions 0 .. K-1 of the options (as OpinionQA,
  Santurkar et al. 2023): 1 for identical distributions, 0 when all mass sits on opposite ends.
  Nominal items with more than two options have no order: the Wasserstein similarity leaves
  them out with a warning.

``distribution_similarity(probs, human, bank)`` computes either per model x country x item
(one value per prompt, averaged over prompts within the kept variant columns), and aggregated
(mean with a cluster-bootstrap CI) per country, category, item or overall in the vocabulary of
the alignment table. By default options without a score (don't know, refusal, codes the bank
drops) are removed from both sides and the rest renormalised.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import rel_entr

from ..errors import InputError, check_choice
from ..survey.items import ItemBank
from ._validation import bank_or_default, check_items, check_table, check_variants, codes_as_int, variant_columns
from .bootstrap import CI_METHODS, RESAMPLE_UNITS, check_count, check_level, cluster_sums, interval
from .correlation import ALIGNMENT_COLUMNS, BY, GROUP_COLUMN, alignment_frame, group_labels
from .scores import drop_nominal, nominal_items

METRICS = {"js": "js_similarity", "wasserstein": "wasserstein_similarity"}


def _as_dists(p: np.ndarray | Sequence, q: np.ndarray | Sequence) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise InputError(f"p and q must have the same shape; got {p.shape} and {q.shape}")
    if (p < 0).any() or (q < 0).any():
        raise InputError("probabilities must be non-negative")
    with np.errstate(invalid="ignore", divide="ignore"):
        return p / p.sum(axis=-1, keepdims=True), q / q.sum(axis=-1, keepdims=True)


def js_similarity(p: np.ndarray | Sequence, q: np.ndarray | Sequence) -> np.ndarray:
    """1 - Jensen-Shannon distance (base 2) along the last axis; p and q are renormalised first.

    Parameters
    ----------
    p, q : array-like
        Distributions (or non-negative weights) of equal shape; the last axis holds the options.

    Returns
    -------
    numpy.ndarray or float
        Values in [0, 1]: 1 for identical distributions, 0 for disjoint ones.

    Raises
    ------
    InputError
        When the shapes differ or a value is negative.

    Examples
    --------
    >>> float(js_similarity([0.5, 0.5], [0.5, 0.5])), float(js_similarity([1, 0], [0, 1]))
    (1.0, 0.0)
    """
    p, q = _as_dists(p, q)
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / (2.0 * np.log(2.0))
    return 1.0 - np.sqrt(np.clip(js, 0.0, 1.0))


def wasserstein_similarity(
    p: np.ndarray | Sequence,
    q: np.ndarray | Sequence,
    positions: np.ndarray | Sequence | None = None,
    *,
    span: np.ndarray | float | None = None,
) -> np.ndarray:
    """1 - W1(p, q) / span along the last axis, W1 the earth mover's distance on the option ``positions``.

    Parameters
    ----------
    p, q : array-like
        Distributions of equal shape; the last axis holds the options.
    positions : array-like, optional
        Positions of the options ((K,) or shaped like p); default 0 .. K-1.
    span : float or array-like, optional
        The normaliser; default max - min of the positions (K - 1 for the bank's positions).

    Returns
    -------
    numpy.ndarray or float
        1 for identical distributions, 0 when all mass sits on opposite ends.

    Raises
    ------
    InputError
        When the shapes differ or a value is negative.

    Examples
    --------
    >>> float(wasserstein_similarity([1, 0, 0], [0, 0, 1])), float(wasserstein_similarity([1, 0, 0], [0, 1, 0]))
    (0.0, 0.5)
    """
    p, q = _as_dists(p, q)
    pos = np.broadcast_to(np.arange(p.shape[-1], dtype=np.float64) if positions is None
                          else np.asarray(positions, dtype=np.float64), p.shape)
    order = np.argsort(pos, axis=-1, kind="stable")
    pos = np.take_along_axis(pos, order, axis=-1)
    cdf_gap = np.abs(np.cumsum(np.take_along_axis(p, order, axis=-1) - np.take_along_axis(q, order, axis=-1),
                               axis=-1))
    w1 = (cdf_gap[..., :-1] * np.diff(pos, axis=-1)).sum(axis=-1)
    if span is None:
        span = pos[..., -1] - pos[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - w1 / np.asarray(span, dtype=np.float64)


# ---- tables -------------------------------------------------------------------------------------
def _columns(bank: ItemBank, model: pd.DataFrame, human: pd.DataFrame, drop_refusals: bool) -> pd.DataFrame:
    """Column index per item x code: options at their ordinal position, other codes after them."""
    opts = bank.options_frame()[["item_id", "code", "position"]].copy()
    opts["code"] = opts["code"].astype(np.int64)
    opts["col"] = opts["position"].astype(np.int64)
    opts["k"] = opts.groupby("item_id")["code"].transform("size")
    if drop_refusals:
        return opts
    seen = pd.concat([model[["item_id", "code"]], human[["item_id", "code"]]]).drop_duplicates()
    extra = seen.merge(opts[["item_id", "code"]], how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge").sort_values(["item_id", "code"])
    if extra.empty:
        return opts
    extra = extra.merge(opts.drop_duplicates("item_id")[["item_id", "k"]], on="item_id", how="left")
    extra["col"] = extra["k"] + extra.groupby("item_id").cumcount()
    extra["position"] = np.nan
    return pd.concat([opts, extra[opts.columns]], ignore_index=True)


def _dense(df: pd.DataFrame, keys: list[str], value: str, cols: pd.DataFrame, n_cols: int):
    """(rows x n_cols) array of ``value`` per ``keys`` group, the group keys, renormalised."""
    merged = df.merge(cols[["item_id", "code", "col"]], on=["item_id", "code"], how="inner")
    codes = merged.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_rows = int(codes.max()) + 1 if len(codes) else 0
    uniques = merged[keys].assign(_c=codes).drop_duplicates("_c").sort_values("_c")[keys]
    arr = np.bincount(codes * n_cols + merged["col"].to_numpy(), weights=merged[value].to_numpy(dtype=np.float64),
                      minlength=n_rows * n_cols).reshape(n_rows, n_cols)
    mass = arr.sum(axis=1)
    keep = mass > 0
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} distribution(s) have no mass on the compared options; left out",
                      stacklevel=3)
    arr = arr[keep] / mass[keep, None]
    return arr, uniques.iloc[np.flatnonzero(keep)].reset_index(drop=True)


def similarity_cells(
    probs: pd.DataFrame,
    human: pd.DataFrame,
    bank: ItemBank | None = None,
    *,
    metric: str = "js",
    drop_refusals: bool = True,
    variants: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Similarity per model x kept variants x country x item (prompts averaged)."""
    check_choice(metric, "metric", tuple(METRICS))
    if metric == "wasserstein" and not drop_refusals:
        raise InputError("metric='wasserstein' needs drop_refusals=True: codes without an ordinal position "
                         "(don't know, refusal) cannot be placed on the scale")
    check_table(probs, "probs", argument="probs", function="distribution_similarity")
    check_table(human, "human", argument="human", function="distribution_similarity")
    bank = bank_or_default(bank)
    model = probs.copy()
    model["code"] = codes_as_int(model, "probs")
    check_items(model, bank, "probs")
    hum = human.copy()
    hum["code"] = codes_as_int(hum, "human")
    check_items(hum, bank, "human")
    if metric == "wasserstein":  # (a human row without a model row has nothing to be compared with)
        model = drop_nominal(model, bank, "their options have no order, so a distance between option positions "
                                          "means nothing (metric='js' compares them)")
        hum = hum[~hum["item_id"].isin(nominal_items(bank))]
    present = variant_columns(model, min_values=0)
    keep = check_variants(model, variants, "probs")
    cols = _columns(bank, model, hum, drop_refusals)
    n_cols = int(cols["col"].max()) + 1
    prompt_keys = ["model", "prompt_id", "country", "item_id"] + present
    p, pkeys = _dense(model, prompt_keys, "prob", cols, n_cols)
    q, hkeys = _dense(hum, ["country", "item_id"], "share", cols, n_cols)
    hkeys["_h"] = np.arange(len(hkeys))
    pkeys["_p"] = np.arange(len(pkeys))
    matched = pkeys.merge(hkeys, on=["country", "item_id"], how="inner")
    if matched.empty:
        raise InputError("no prompt shares a country and item with the human table; check country codes (ISO3) "
                         "and item ids", column="country")
    pi, hi = matched["_p"].to_numpy(), matched["_h"].to_numpy()
    if metric == "js":
        values = js_similarity(p[pi], q[hi])
    else:
        k = matched[["item_id"]].merge(cols.drop_duplicates("item_id")[["item_id", "k"]], how="left")["k"]
        values = wasserstein_similarity(p[pi], q[hi], span=k.to_numpy(dtype=np.float64) - 1.0)
    matched["estimate"] = values
    group = ["model"] + keep + ["country", "item_id"]
    out = (matched.groupby(group, sort=True, dropna=False)
           .agg(estimate=("estimate", "mean"), n_prompts=("estimate", "size")).reset_index())
    cats = pd.DataFrame({"item_id": bank.ids, "category": [bank[i].category for i in bank.ids]})
    out = out.merge(cats, on="item_id", how="left")
    out["metric"] = METRICS[metric]
    return out[["model"] + keep + ["country", "item_id", "category", "metric", "estimate", "n_prompts"]]


def aggregate_cells(
    cells: pd.DataFrame,
    *,
    by: str = "country",
    keys: Sequence[str] = ("model",),
    ci: str = "bootstrap",
    resample: str = "countries",
    n_boot: int = 2000,
    ci_method: str = "percentile",
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean of per country x item values (column ``estimate``) per ``keys`` x group, with a cluster-bootstrap CI."""
    by = check_choice(by, "by", BY)
    check_choice(ci, "ci", ("bootstrap", "none"))
    check_choice(resample, "resample", tuple(RESAMPLE_UNITS))
    ci_method = check_choice(ci_method, "ci_method", CI_METHODS)
    level = check_level(level)
    keys = list(keys)
    group_col = GROUP_COLUMN[by]
    grouping = keys + ([group_col] if group_col else [])
    cells = cells.dropna(subset=["estimate"])
    gid = cells.groupby(grouping, sort=True, dropna=False).ngroup().to_numpy()
    n_groups = int(gid.max()) + 1 if len(gid) else 0
    v = cells["estimate"].to_numpy(dtype=np.float64)
    n = np.bincount(gid, minlength=n_groups)
    estimate = np.bincount(gid, weights=v, minlength=n_groups) / n
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    units = np.full(n_groups, None, dtype=object)
    if ci == "bootstrap":
        n_boot = check_count(n_boot, "n_boot", 2)
        feats = np.column_stack([np.ones_like(v), v - estimate[gid]])
        country = pd.factorize(cells["country"], sort=True)[0]
        item = pd.factorize(cells["item_id"], sort=True)[0]
        for block in cluster_sums(feats, gid, country, item, resample=resample, n_boot=n_boot, seed=seed,
                                  jackknife=ci_method == "bca"):
            shift = estimate[block.groups]
            theta_b = block.replicates[..., 1] / block.replicates[..., 0] + shift
            jack = ([j[..., 1] / j[..., 0] + shift[:, None] for j in block.jackknife]
                    if block.jackknife else None)
            lo, hi = interval(theta_b, estimate[block.groups], level=level, method=ci_method, jackknife=jack)
            low[block.groups], high[block.groups] = lo, hi
            units[block.groups] = "+".join(block.units)
    labels = group_labels(cells, gid)
    return alignment_frame(
        labels[keys], group_by=by, group=labels[group_col] if group_col else "all",
        metric=labels["metric"] if "metric" in labels else "mean", estimate=estimate, ci_low=low, ci_high=high,
        p=np.nan, n=n, method="none", ci_method=ci_method if ci == "bootstrap" else "none", resampled=units,
        level=level)


def distribution_similarity(
    probs: pd.DataFrame,
    human: pd.DataFrame,
    bank: ItemBank | None = None,
    *,
    metric: str = "js",
    drop_refusals: bool = True,
    by: str | None = None,
    variants: Sequence[str] | None = None,
    ci: str = "bootstrap",
    resample: str = "countries",
    n_boot: int = 2000,
    ci_method: str = "percentile",
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Similarity of model and human answer distributions, per cell or aggregated per group.

    Prompts with country ``NONE`` have no human counterpart and are left out (see
    :func:`wvsalign.stats.default_ranking`).

    Parameters
    ----------
    probs : pandas.DataFrame
        A probs table (contract ``probs``).
    human : pandas.DataFrame
        A human table (contract ``human``).
    bank : ItemBank, optional
        The item bank (default: the embedded WVS-7 bank).
    metric : {"js", "wasserstein"}, default "js"
        1 - Jensen-Shannon distance, or 1 - W1/(K-1) (ordinal items only).
    drop_refusals : bool, default True
        Leave out codes without a score and renormalise; False keeps every code seen on either
        side (JS only).
    by : {"country", "category", "item", "overall"}, optional
        Grouping. None: one row per model x variants x country x item. Else the mean per group
        in the alignment vocabulary, with a cluster-bootstrap CI and p = NaN (method "none").
    variants : list of str, optional
        Variant columns kept apart (None: all present; []: averaged).
    ci : {"bootstrap", "none"}, default "bootstrap"
        Interval of the group means.
    resample : {"countries", "items", "both"}, default "countries"
        Bootstrap clusters (see :func:`wvsalign.stats.alignment`).
    n_boot, ci_method, level, seed
        As in :func:`wvsalign.stats.alignment`.

    Returns
    -------
    pandas.DataFrame
        ``by=None``: model, variants, country, item_id, category, metric, estimate, n_prompts.
        Else the alignment table (metric "js_similarity" or "wasserstein_similarity").

    Raises
    ------
    InputError
        When a table is not the one expected (its missing columns are named), a code or item
        is unknown, or no prompt shares a country and item with the human table.

    Examples
    --------
    >>> import wvsalign as wa
    >>> cells = wa.stats.distribution_similarity(probs, human, bank)  # doctest: +SKIP
    >>> per_country = wa.stats.distribution_similarity(probs, human, bank, by="country")  # doctest: +SKIP
    """
    cells = similarity_cells(probs, human, bank, metric=metric, drop_refusals=drop_refusals, variants=variants)
    if by is None:
        return cells
    keys = ["model"] + variant_columns(cells, min_values=0)
    out = aggregate_cells(cells, by=by, keys=keys, ci=ci, resample=resample, n_boot=n_boot, ci_method=ci_method,
                          level=level, seed=seed)
    return check_table(out[keys + [c for c in ALIGNMENT_COLUMNS if c != "model"]], "alignment",
                       argument="probs", function="distribution_similarity")
