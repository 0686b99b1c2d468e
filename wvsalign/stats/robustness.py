"""Robustness across prompt variants ("Randomness, not representation").

A model's mean score for one country and item should not depend on how the question was put.
Two checks on a scores table that keeps the variant columns (``model_mean_scores(probs, bank)``
with ``variants=None``, the default):

- ``format_effects``: per model x item x format factor (instruction, label_style,
  option_order, template, language), the shift of the model's mean score across the factor's
  levels (range of the level means, averaged over countries and the other factors), next to
  the between-country SD of the human mean scores of that item: a ratio above 1 means the
  prompt format moves the answer more than the difference between countries does. p is a
  permutation test of "the level does not matter": level labels are shuffled within each
  stratum (country x the other factors); statistic = sum over levels of (level mean - grand
  mean)^2; one-sided; exact when there are at most ``n_perm`` arrangements. Many items and
  factors are tested at once: correct the p-values (Holm / Benjamini-Hochberg) before
  reading them as a family.
- ``variant_agreement``: agreement of the model's mean scores across variant combinations
  ("raters") over targets (countries x items, or countries within an item, ...): ICC(2,1)
  (two-way random effects, absolute agreement, single rater; McGraw & Wong's ICC(A,1): can a
  score obtained with one format stand for the score under any other?), ICC(3,1) (two-way
  mixed, consistency: do the formats rank the targets alike?), both with F-test p and
  McGraw-Wong CI, and Krippendorff's alpha with the interval metric (all pairable values,
  so targets missing some variants still count).
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..contracts import HUMAN, VARIANT_COLUMNS
from ..errors import InputError, check_choice
from ._validation import check_table, human_rows, variant_columns
from .bootstrap import BLOCK_BYTES, check_count, check_level, permutation_pvalue
from .correlation import ALIGNMENT_COLUMNS, BY, GROUP_COLUMN
from .scores import DEFAULT_COUNTRY

#: format factors tested by default (language too, when present)
FACTORS = ("instruction", "label_style", "option_order", "template", "language")
_ONEHOT_MAX_PERMUTATIONS = 24  # up to 4 levels: level means by one matmul per level permutation
_MAX_RANKED_LEVELS = 20  # 20! < 2**63: random level orders drawn as int64 ranks up to 20 levels


def _model_rows(scores: pd.DataFrame, human_model: str, function: str) -> pd.DataFrame:
    check_table(scores, "scores", argument="scores", function=function)
    models = scores[~human_rows(scores, human_model) & (scores["country"] != DEFAULT_COUNTRY).to_numpy()]
    if models.empty:
        raise InputError("the scores table has no model rows for a country", column="model")
    return models


# ---- format effects ---------------------------------------------------------------------------------
def level_permutation_test(
    cube: np.ndarray, *, n_perm: int = 9999, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Within-stratum permutation test of level effects for each row of ``cube`` (I, S, L).

    Statistic: sum_l (mean over strata of level l - grand mean)^2. Each stratum's L values are
    permuted independently (scipy.stats.permutation_test(permutation_type="samples") with the
    levels as samples); all (L!)^S arrangements when there are at most ``n_perm``. Returns the
    statistic (I,), the one-sided p (I,) and whether the test was exact.

    A random arrangement draws, per stratum, the rank of its level order among the L! orders in
    lexicographic order (L <= 20; the order is decoded from the rank, the L! orders are never
    listed) or, for more levels, a random order directly.
    """
    cube = np.asarray(cube, dtype=np.float64)
    n_items, n_strata, n_levels = cube.shape
    observed = _level_ss(cube.mean(axis=1))
    n_orders = math.factorial(n_levels)
    exact = n_orders**n_strata <= n_perm
    rng = np.random.default_rng([3, seed])
    if exact:
        # ranks of the level orders of every arrangement (n_orders**n_strata <= n_perm rows)
        choice = np.array(list(itertools.product(range(n_orders), repeat=n_strata)), dtype=np.int64)
    elif n_levels <= _MAX_RANKED_LEVELS:
        choice = rng.integers(0, n_orders, (n_perm, n_strata))
    else:
        choice = None
        orders = np.empty((n_perm, n_strata, n_levels), dtype=np.int16)
        for s in range(n_strata):
            orders[:, s] = np.argsort(rng.random((n_perm, n_levels)), axis=-1)
    n_draws = n_perm if choice is None else len(choice)
    null = np.empty((n_draws, n_items))
    onehot = choice is not None and n_orders <= _ONEHOT_MAX_PERMUTATIONS
    perms = _unrank_orders(np.arange(n_orders), n_levels) if onehot else None  # (L!, L)
    bytes_per_draw = n_items * n_levels * 8 * (1 if onehot else n_strata)
    step = max(1, BLOCK_BYTES // bytes_per_draw)
    for start in range(0, n_draws, step):
        if onehot:
            ch = choice[start:start + step]
            means = np.zeros((len(ch), n_items, n_levels))
            for k, perm in enumerate(perms):
                a = (ch == k).astype(np.float64)  # (P, S)
                means += np.einsum("ps,isl->pil", a, cube[:, :, perm], optimize=True)
        else:
            idx = orders[start:start + step] if choice is None else _unrank_orders(choice[start:start + step],
                                                                                   n_levels)  # (P, S, L)
            gathered = cube[:, np.arange(n_strata)[None, :, None], idx]  # (I, P, S, L)
            means = gathered.sum(axis=2).transpose(1, 0, 2)
        null[start:start + step] = _level_ss(means / n_strata)
    return observed, permutation_pvalue(null, observed, exact=exact, alternative="greater"), exact


def _unrank_orders(rank: np.ndarray, n_levels: int) -> np.ndarray:
    """The orders of ``range(n_levels)`` with the given lexicographic ranks: shape rank.shape + (L,).

    Rank k is the k-th tuple of ``itertools.permutations(range(n_levels))`` (factorial number
    system: digit i, k // (L-1-i)! mod (L-i), picks among the levels not yet placed).
    """
    rank = np.asarray(rank, dtype=np.int64)
    remaining = np.broadcast_to(np.arange(n_levels, dtype=np.int64), rank.shape + (n_levels,))
    out = np.empty(rank.shape + (n_levels,), dtype=np.int64)
    for i in range(n_levels):
        base = math.factorial(n_levels - 1 - i)
        digit = (rank // base) % (n_levels - i)
        out[..., i] = np.take_along_axis(remaining, digit[..., None], axis=-1)[..., 0]
        after = np.arange(n_levels - i - 1) >= digit[..., None]  # drop the level just placed
        remaining = np.where(after, remaining[..., 1:], remaining[..., :-1])
    return out


def _level_ss(level_means: np.ndarray) -> np.ndarray:
    return ((level_means - level_means.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)


def format_effects(
    scores: pd.DataFrame,
    *,
    factors: Sequence[str] | None = None,
    n_perm: int = 9999,
    seed: int = 0,
    human_model: str = HUMAN,
) -> pd.DataFrame:
    """Shift of model mean scores across the levels of each prompt-format factor, per item.

    Parameters
    ----------
    scores : pandas.DataFrame
        A scores table that keeps the variant columns (``model_mean_scores(probs)``).
    factors : list of str, optional
        Format factors to test (default: instruction, label_style, option_order, template,
        language; those that vary).
    n_perm : int, default 9999
        Permutations of the level labels within strata (exact when there are fewer arrangements).
    seed : int, default 0
        Seed.
    human_model : str, default "human"
        The ``model`` value of the people's rows.

    Returns
    -------
    pandas.DataFrame
        Columns model, factor, item_id, category, metric ("format_shift"), estimate (max - min
        of the level means), level_min / level_max (the levels with the lowest / highest mean),
        level_sd, human_sd (between-country SD of the human mean scores), ratio (estimate /
        human_sd), p (permutation, one-sided), n (strata), levels, method.

    Raises
    ------
    InputError
        When ``scores`` is not a scores table, a factor is not a variant column, or no factor
        varies.

    Examples
    --------
    >>> import wvsalign as wa
    >>> effects = wa.stats.format_effects(wa.stats.mean_scores(probs, human, bank))  # doctest: +SKIP
    """
    n_perm = check_count(n_perm, "n_perm", 1)
    models = _model_rows(scores, human_model, "format_effects")
    present = variant_columns(models)
    wanted = [f for f in (FACTORS if factors is None else factors)]
    unknown = [f for f in wanted if f not in VARIANT_COLUMNS]
    if unknown:
        raise InputError(f"argument factors={list(wanted)!r}: {unknown} are not variant columns; "
                         f"expected some of {list(VARIANT_COLUMNS)}")
    tested = [f for f in wanted if f in present and models[f].nunique() > 1]
    if not tested:
        raise InputError(f"no prompt-format factor varies in the scores table (variant columns present: {present}); "
                         "score several variants and keep them with model_mean_scores(..., variants=None)")
    human = scores[human_rows(scores, human_model)]
    human_sd = human.groupby("item_id")["mean_score"].std(ddof=1) if len(human) else pd.Series(dtype=float)
    out = []
    for (model,), rows in models.groupby(["model"], sort=True):
        for factor in tested:
            if rows[factor].nunique() < 2:
                continue
            out.extend(_factor_effects(rows, model, factor, [c for c in present if c != factor], n_perm, seed))
    if not out:
        raise InputError(f"no item was asked at every level of the varying factor(s) {tested} within one country and "
                         "setting of the other variant columns, so no format effect can be measured")
    result = pd.DataFrame(out)
    result["human_sd"] = result["item_id"].map(human_sd).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        result["ratio"] = result["estimate"] / result["human_sd"]
    cols = ["model", "factor", "item_id", "category", "metric", "estimate", "level_min", "level_max", "level_sd",
            "human_sd", "ratio", "p", "n", "levels", "method"]
    return result[cols].sort_values(["model", "factor", "item_id"], kind="stable").reset_index(drop=True)


def _factor_effects(rows: pd.DataFrame, model: str, factor: str, others: list[str], n_perm: int, seed: int) -> list:
    levels = sorted(rows[factor].dropna().unique(), key=str)
    strata = ["country"] + others
    wide = rows.pivot_table(index=["item_id"] + strata, columns=factor, values="mean_score", aggfunc="mean",
                            dropna=False)
    wide = wide.reindex(columns=levels).dropna()  # strata with every level present
    if wide.empty:  # no item x stratum was asked at every level (e.g. each country in its own language)
        return []
    category = rows.drop_duplicates("item_id").set_index("item_id")["category"]
    records = []
    # items sharing their strata are tested together
    stratum_sets = wide.reset_index().groupby("item_id")[strata].apply(lambda f: tuple(map(tuple, f.to_numpy())))
    for _, items in stratum_sets.groupby(stratum_sets, sort=False).groups.items():
        items = list(items)
        cube = np.stack([wide.loc[item].to_numpy(dtype=np.float64) for item in items])  # (I, S, L)
        if cube.shape[1] < 1:
            continue
        stat, p, exact = level_permutation_test(cube, n_perm=n_perm, seed=seed)
        means = cube.mean(axis=1)
        for k, item in enumerate(items):
            records.append({
                "model": model, "factor": factor, "item_id": item, "category": category.get(item),
                "metric": "format_shift", "estimate": float(means[k].max() - means[k].min()),
                "level_min": levels[int(means[k].argmin())], "level_max": levels[int(means[k].argmax())],
                "level_sd": float(means[k].std(ddof=1)), "p": float(p[k]), "n": cube.shape[1],
                "levels": len(levels), "method": "permutation (exact)" if exact else "permutation",
            })
    return records


# ---- agreement across variants ------------------------------------------------------------------------
def icc_from_mean_squares(msb, msj, mse, n, k, level: float = 0.95) -> dict[str, np.ndarray]:
    """ICC(2,1), ICC(3,1), F test and McGraw-Wong intervals from two-way ANOVA mean squares (vectorised).

    msb: between targets, msj: between raters, mse: residual; n targets, k raters.
    """
    msb, msj, mse, n, k = (np.asarray(v, dtype=np.float64) for v in (msb, msj, mse, n, k))
    df1, df2 = n - 1, (n - 1) * (k - 1)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
        icc3 = (msb - mse) / (msb + (k - 1) * mse)
        f_stat = msb / mse
        p = sps.f.sf(f_stat, df1, df2)
        f3l = f_stat / sps.f.ppf(1 - alpha / 2, df1, df2)
        f3u = f_stat * sps.f.ppf(1 - alpha / 2, df2, df1)
        fj = msj / mse
        vn = df2 * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2u = sps.f.ppf(1 - alpha / 2, n - 1, v)
        f2l = sps.f.ppf(1 - alpha / 2, v, n - 1)
        return {
            "icc2_1": icc2,
            "icc2_1_low": n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb),
            "icc2_1_high": n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb),
            "icc3_1": icc3, "icc3_1_low": (f3l - 1) / (f3l + (k - 1)), "icc3_1_high": (f3u - 1) / (f3u + (k - 1)),
            "p": p, "F": f_stat,
        }


def _mean_squares(x: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, ...]:
    """Two-way ANOVA mean squares per group of complete rows of ``x`` (targets x raters)."""
    k = x.shape[1]
    n = np.bincount(group, minlength=n_groups).astype(np.float64)
    col_sums = np.stack([np.bincount(group, weights=x[:, r], minlength=n_groups) for r in range(k)], axis=1)
    col_means = col_sums / n[:, None]
    grand = col_means.mean(axis=1)
    row_means = x.mean(axis=1)
    ss_rows = k * np.bincount(group, weights=(row_means - grand[group]) ** 2, minlength=n_groups)
    ss_cols = n * ((col_means - grand[:, None]) ** 2).sum(axis=1)
    ss_total = np.bincount(group, weights=((x - grand[group][:, None]) ** 2).sum(axis=1), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        msb = ss_rows / (n - 1)
        msj = ss_cols / (k - 1)
        mse = (ss_total - ss_rows - ss_cols) / ((n - 1) * (k - 1))
    return msb, msj, mse, n


def icc_table(matrix: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """ICC(2,1) and ICC(3,1) with F-test p and McGraw-Wong CI for a complete (targets x raters) matrix."""
    x = np.asarray(matrix, dtype=np.float64)
    msb, msj, mse, n = _mean_squares(x, np.zeros(len(x), dtype=np.int64), 1)
    return {key: float(val[0]) for key, val in icc_from_mean_squares(msb, msj, mse, n, x.shape[1], level).items()}


def _alpha_parts(x: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Krippendorff's alpha (interval) per group of units (rows of ``x``, NaN = missing)."""
    m = (~np.isnan(x)).sum(axis=1).astype(np.float64)
    s1 = np.nansum(x, axis=1)
    s2 = np.nansum(x**2, axis=1)
    pairable = m >= 2
    w = pairable.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(pairable, (2 * m * s2 - 2 * s1**2) / (m - 1), 0.0)
        total = np.bincount(group, weights=m * w, minlength=n_groups)
        d_o = np.bincount(group, weights=within, minlength=n_groups) / total
        t1 = np.bincount(group, weights=s1 * w, minlength=n_groups)
        t2 = np.bincount(group, weights=s2 * w, minlength=n_groups)
        d_e = (2 * total * t2 - 2 * t1**2) / (total * (total - 1))
        alpha = 1 - d_o / d_e
    return np.where((total >= 2) & (d_e > 0), alpha, np.nan)


def krippendorff_alpha_interval(matrix: np.ndarray) -> float:
    """Krippendorff's alpha, interval metric, for a (units x coders) matrix; NaN = missing.

    alpha = 1 - D_o / D_e over pairable values (units with at least two values):
    D_o = (1/N) sum_u sum_{i != j in u} (v_i - v_j)^2 / (m_u - 1),
    D_e = sum_{i != j over all N pairable values} (v_i - v_j)^2 / (N (N - 1)).
    """
    x = np.asarray(matrix, dtype=np.float64)
    return float(_alpha_parts(x, np.zeros(len(x), dtype=np.int64), 1)[0])


def variant_agreement(
    scores: pd.DataFrame,
    *,
    by: str = "item",
    variants: Sequence[str] | None = None,
    level: float = 0.95,
    human_model: str = HUMAN,
) -> pd.DataFrame:
    """Agreement of model mean scores across prompt variants, per model and group.

    Raters: the combinations of the ``variants`` columns. Targets: the country x item pairs of
    the group. ICC uses targets rated under every variant; alpha uses all pairable values.

    Parameters
    ----------
    scores : pandas.DataFrame
        A scores table that keeps the variant columns.
    by : {"item", "country", "category", "overall"}, default "item"
        Grouping: the countries of an item (does the format keep the between-country
        pattern?), the items of a country, a category, or all (dominated by between-item
        differences).
    variants : list of str, optional
        The variant columns whose combinations are the raters (default: those that vary).
    level : float, default 0.95
        Confidence level of the ICC intervals.
    human_model : str, default "human"
        The ``model`` value of the people's rows.

    Returns
    -------
    pandas.DataFrame
        Rows per model x group x metric (icc2_1, icc3_1: method "F-test", ci_method
        "mcgraw-wong"; krippendorff_alpha: no p) in the alignment vocabulary plus n_raters.

    Raises
    ------
    InputError
        When ``scores`` is not a scores table or no variant column varies.

    Examples
    --------
    >>> import wvsalign as wa
    >>> icc = wa.stats.variant_agreement(scores, by="item")  # doctest: +SKIP
    """
    by = check_choice(by, "by", BY)
    level = check_level(level)
    models = _model_rows(scores, human_model, "variant_agreement")
    present = variant_columns(models, min_values=2)
    raters = present if variants is None else list(variants)
    bad = [c for c in raters if c not in models.columns]
    if bad:
        raise InputError(f"argument variants={raters!r}: column(s) {bad} not in the scores table")
    if not raters:
        raise InputError("no variant column varies: agreement across variants needs scores of several prompt "
                         "variants (model_mean_scores(..., variants=None))")
    group_col = GROUP_COLUMN[by]
    rater = models.groupby(raters, sort=True, dropna=False).ngroup()  # one rater per variant combination
    out = []
    for (model,), mrows in models.assign(_rater=rater).groupby(["model"], sort=True):
        wide = mrows.pivot_table(index=["country", "item_id"], columns="_rater", values="mean_score", aggfunc="mean")
        targets = wide.index.to_frame(index=False)
        if group_col == "category":
            labels = targets["item_id"].map(mrows.drop_duplicates("item_id").set_index("item_id")["category"])
        else:
            labels = targets[group_col] if group_col else pd.Series("all", index=targets.index)
        labels = labels.to_numpy()
        codes, groups = pd.factorize(labels, sort=True)
        x = wide.to_numpy(dtype=np.float64)
        k = x.shape[1]
        complete = ~np.isnan(x).any(axis=1)
        msb, msj, mse, n = _mean_squares(x[complete], codes[complete], len(groups))
        icc = icc_from_mean_squares(msb, msj, mse, n, k, level)
        alpha = _alpha_parts(x, codes, len(groups))
        n_alpha = np.bincount(codes, weights=(~np.isnan(x)).sum(axis=1) >= 2, minlength=len(groups))
        usable = (n >= 2) & (k >= 2)
        base = pd.DataFrame({"model": model, "group_by": by, "group": list(groups), "resampled": None,
                             "level": level, "n_raters": k})
        for name in ("icc2_1", "icc3_1"):
            out.append(base.assign(metric=name, estimate=icc[name], ci_low=icc[f"{name}_low"],
                                   ci_high=icc[f"{name}_high"], p=icc["p"], n=n.astype(np.int64), method="F-test",
                                   ci_method="mcgraw-wong")[usable])
        out.append(base.assign(metric="krippendorff_alpha", estimate=alpha, ci_low=np.nan, ci_high=np.nan, p=np.nan,
                               n=n_alpha.astype(np.int64), method="none", ci_method="none"))
    result = pd.concat(out, ignore_index=True)
    order = {"icc2_1": 0, "icc3_1": 1, "krippendorff_alpha": 2}
    result = result.sort_values(["model", "group"], kind="stable")
    result = result.iloc[np.lexsort((result["metric"].map(order), result["group"].astype(str), result["model"]))]
    return check_table(result[list(ALIGNMENT_COLUMNS) + ["n_raters"]].reset_index(drop=True), "alignment",
                       argument="scores", function="variant_agreement")
