"""Alignment: correlation of model mean scores with human mean scores, with CI, p and n.

``alignment(scores, by=...)`` pairs every model row of the scores table with the human row of
the same country and item and correlates them:

- ``by="category"``: over the country x item pairs of each category (pooled),
- ``by="country"``: over the items of each country,
- ``by="item"``: over the countries of each item,
- ``by="overall"``: over all country x item pairs.

Pearson r (p from the exact t test, i.e. scipy.stats.pearsonr; CI from Fisher's z) or Spearman
rho (p from the t approximation, as scipy.stats.spearmanr; Fisher-z CI with the Fieller et al.
variance 1.06 / (n - 3)). Pooled p-values treat pairs as independent, which they are not
(answers cluster by country and by item): for inference on pooled correlations use the
cluster bootstrap (``ci="bootstrap"``), which resamples countries, items or both (see
:mod:`wvsalign.stats.bootstrap`) and gives percentile or BCa intervals.

Rows of the no-country default condition (country ``NONE``) have no human counterpart and are
left out here; :func:`wvsalign.stats.default_ranking` and :func:`wvsalign.stats.steerability`
compare them with each country. Each model configuration (model plus any prompt-variant
columns of the scores table) gets its own rows, so several models are handled at once.

Vocabulary (:mod:`wvsalign.contracts`): ``metric`` is the correlation ("pearson",
"spearman"), ``method`` the test behind p ("t-test"), ``ci_method`` the interval
("fisher", "percentile", "bca"), ``by`` the grouping.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.special import ndtri

from ..contracts import HUMAN
from ..errors import InputError, check_choice
from ..survey.items import ItemBank
from ._validation import check_table, human_rows, variant_columns
from .bootstrap import (
    BLOCK_BYTES, CI_METHODS, CORRELATION_BOUNDS, RESAMPLE_UNITS, check_count, check_level, cluster_sums, draw_design,
    interval, resampled_units, signature_blocks,
)
from .scores import mean_scores

#: the correlations (values of ``metric``)
METRICS = ("pearson", "spearman")
CI_KINDS = ("fisher", "bootstrap", "none")
BY = ("category", "country", "item", "overall")
#: scores column that defines the groups of each ``by``
GROUP_COLUMN = {"category": "category", "country": "country", "item": "item_id", "overall": None}
#: columns of every alignment-style table, in order (variant columns go after ``model``)
ALIGNMENT_COLUMNS = ("model", "group_by", "group", "metric", "estimate", "ci_low", "ci_high", "p", "n",
                     "method", "ci_method", "resampled", "level")


# ---- output frames ---------------------------------------------------------------------------
def group_labels(frame: pd.DataFrame, gid: np.ndarray) -> pd.DataFrame:
    """The first row of ``frame`` for each group code 0..G-1 in ``gid``, in code order."""
    return frame.assign(_g=gid).drop_duplicates("_g").sort_values("_g").reset_index(drop=True)


def alignment_frame(keys: pd.DataFrame, **columns) -> pd.DataFrame:
    """An alignment-style table: the ``keys`` columns (one row per result), then ``columns``
    (scalars or one value per row): those of the alignment vocabulary in its order
    (:data:`ALIGNMENT_COLUMNS`), then the others in the order given."""
    out = keys.reset_index(drop=True)
    for col in [c for c in ALIGNMENT_COLUMNS if c in columns] + [c for c in columns if c not in ALIGNMENT_COLUMNS]:
        value = columns[col]
        out[col] = value.to_numpy() if isinstance(value, pd.Series) else value
    return out


# ---- statistics from sums --------------------------------------------------------------------
def pearson_from_sums(s: np.ndarray) -> np.ndarray:
    """Pearson r from sums [sum w, sum wx, sum wy, sum wx^2, sum wy^2, sum wxy] on the last axis.

    Use centred x and y (any constant shift) to keep the moments well conditioned. r is NaN
    where a variable has no variance (below 1e-13 of its mean square: rounding noise, e.g. a
    replicate that drew one cluster only).
    """
    sw = s[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = s[..., 1] / sw, s[..., 2] / sw
        mxx, myy = s[..., 3] / sw, s[..., 4] / sw
        vx, vy = mxx - mx * mx, myy - my * my
        r = (s[..., 5] / sw - mx * my) / np.sqrt(vx * vy)
        flat = (vx <= 1e-13 * mxx) | (vy <= 1e-13 * myy)
    return np.clip(np.where(flat, np.nan, r), -1.0, 1.0)


def pearson_features(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-observation features whose sums give a Pearson r (see :func:`pearson_from_sums`)."""
    return np.column_stack([np.ones_like(x), x, y, x * x, y * y, x * y])


def weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-ranks of ``values`` in the data set that repeats observation i ``weights[b, i]`` times.

    ``weights`` is (B, n); returns (B, n) (ranks of zero-weight observations are irrelevant).
    """
    order = np.argsort(values, kind="stable")
    v = values[order]
    new = np.r_[True, v[1:] != v[:-1]]
    starts = np.flatnonzero(new)
    tie = np.cumsum(new) - 1
    total = np.add.reduceat(weights[:, order], starts, axis=1)
    mid = np.cumsum(total, axis=1) - total + (total + 1.0) / 2.0
    ranks = np.empty_like(weights, dtype=np.float64)
    ranks[:, order] = mid[:, tie]
    return ranks


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman rho of the data set repeating pair i ``weights[b, i]`` times, for every row b."""
    rx = weighted_ranks(x, weights)
    ry = weighted_ranks(y, weights)
    rx -= (len(x) + 1) / 2.0
    ry -= (len(x) + 1) / 2.0
    s = np.stack([weights.sum(1), (weights * rx).sum(1), (weights * ry).sum(1), (weights * rx * rx).sum(1),
                  (weights * ry * ry).sum(1), (weights * rx * ry).sum(1)], axis=-1)
    return pearson_from_sums(s)


def correlation_pvalue(r: np.ndarray, n: np.ndarray, metric: str) -> np.ndarray:
    """Two-sided p of H0: no correlation (Pearson: exact beta/t test; Spearman: t approximation)."""
    r = np.asarray(r, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    p = np.full(r.shape, np.nan)
    ok = (n > 2) & ~np.isnan(r)
    if metric == "pearson":
        a = n[ok] / 2 - 1
        p[ok] = 2 * sps.beta.sf(np.abs(r[ok]), a, a, loc=-1, scale=2)
    else:
        dof = n[ok] - 2
        with np.errstate(divide="ignore", invalid="ignore"):
            t = r[ok] * np.sqrt((dof / ((r[ok] + 1.0) * (1.0 - r[ok]))).clip(0))
        p[ok] = 2 * sps.t.sf(np.abs(t), dof)
    return np.clip(p, 0.0, 1.0)


def fisher_interval(r: np.ndarray, n: np.ndarray, level: float, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Fisher-z interval tanh(atanh r -+ z se); se = sqrt(1/(n-3)) (Pearson) or sqrt(1.06/(n-3)) (Spearman)."""
    r = np.asarray(r, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    h = ndtri(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (1.0 if metric == "pearson" else 1.06) / (n - 3)  # undefined (NaN CI) for n <= 3
        z = np.arctanh(r)
        se = np.sqrt(np.where(n > 3, var, np.nan))
        return np.tanh(z - h * se), np.tanh(z + h * se)


# ---- the engine ----------------------------------------------------------------------------
def correlation_table(
    x: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    country: np.ndarray,
    item: np.ndarray,
    *,
    metric: str = "pearson",
    ci: str = "fisher",
    resample: str = "countries",
    n_boot: int = 2000,
    ci_method: str = "percentile",
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Correlation of ``x`` and ``y`` within each group code (0..G-1), one row per group.

    ``country`` and ``item`` are integer cluster codes per observation (for the bootstrap).
    Returns columns estimate, ci_low, ci_high, p, n, method ("t-test": the test behind p),
    ci_method, resampled, level.
    """
    metric = check_choice(metric, "metric", METRICS)
    ci = check_choice(ci, "ci", CI_KINDS)
    check_choice(resample, "resample", tuple(RESAMPLE_UNITS))
    ci_method = check_choice(ci_method, "ci_method", CI_METHODS)
    level = check_level(level)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    country = np.asarray(country, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    n_groups = int(group.max()) + 1 if len(group) else 0
    n = np.bincount(group, minlength=n_groups).astype(np.int64)
    if metric == "spearman":
        frame = pd.DataFrame({"g": group, "x": x, "y": y})
        x = frame.groupby("g")["x"].rank(method="average").to_numpy()
        y = frame.groupby("g")["y"].rank(method="average").to_numpy()
        raw = frame[["x", "y"]].to_numpy()
    # centre per group for well-conditioned sums
    xc = x - (np.bincount(group, weights=x, minlength=n_groups) / np.maximum(n, 1))[group]
    yc = y - (np.bincount(group, weights=y, minlength=n_groups) / np.maximum(n, 1))[group]
    feats = pearson_features(xc, yc)
    sums = np.stack([np.bincount(group, weights=feats[:, f], minlength=n_groups) for f in range(6)], axis=-1)
    estimate = pearson_from_sums(sums)
    constant = np.isnan(estimate) & (n >= 2)
    if constant.any():  # R's cor() and cor.test() warn "the standard deviation is zero"
        warnings.warn(f"{int(constant.sum())} of {n_groups} correlation(s) undefined (NaN): x or y is constant "
                      f"(the standard deviation is zero)", sps.ConstantInputWarning, stacklevel=3)
    p = correlation_pvalue(estimate, n, metric)
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    units_col = np.full(n_groups, None, dtype=object)
    if ci == "fisher":
        low, high = fisher_interval(estimate, n, level, metric)
        ci_label = "fisher"
    elif ci == "bootstrap":
        n_boot = check_count(n_boot, "n_boot", 2)
        ci_label = ci_method
        if metric == "pearson":
            for block in cluster_sums(feats, group, country, item, resample=resample, n_boot=n_boot, seed=seed,
                                      jackknife=ci_method == "bca"):
                theta_b = pearson_from_sums(block.replicates)
                jack = [pearson_from_sums(j) for j in block.jackknife] if block.jackknife else None
                lo, hi = interval(theta_b, estimate[block.groups], level=level, method=ci_method, jackknife=jack,
                                  bounds=CORRELATION_BOUNDS)
                low[block.groups], high[block.groups] = lo, hi
                units_col[block.groups] = "+".join(block.units)
        else:
            _spearman_bootstrap(raw[:, 0], raw[:, 1], group, country, item, estimate, resample, n_boot, seed,
                                ci_method, level, low, high, units_col)
    else:
        ci_label = "none"
    return pd.DataFrame({
        "estimate": estimate, "ci_low": low, "ci_high": high, "p": p, "n": n,
        "method": "t-test", "ci_method": ci_label, "resampled": units_col, "level": level,
    })


def _spearman_bootstrap(x, y, group, country, item, estimate, resample, n_boot, seed, ci_method, level,
                        low, high, units_col) -> None:
    """Cluster bootstrap of Spearman rho: ranks recomputed in every replicate (weighted mid-ranks)."""
    n_groups = len(estimate)
    units_per_group = resampled_units(group, country, item, n_groups, resample)
    labels = {"country": country, "item": item}
    for units, groups, codes in signature_blocks(group, country, item, units_per_group):
        counts = draw_design({u: len(codes[u]) for u in units}, n_boot, seed)
        for g in groups:
            rows = np.flatnonzero(group == g)
            local = {u: np.searchsorted(codes[u], labels[u][rows]) for u in units}
            step = max(1, BLOCK_BYTES // (len(rows) * 8 * 8))
            theta_b = np.empty(n_boot)
            for start in range(0, n_boot, step):
                w = np.ones((min(step, n_boot - start), len(rows)))
                for u in units:
                    w = w * counts[u][start:start + step][:, local[u]]
                theta_b[start:start + step] = weighted_spearman(x[rows], y[rows], w)
            jack = None
            if ci_method == "bca":
                jack = []
                for u in units:
                    keep = 1.0 - (local[u][None, :] == np.arange(len(codes[u]))[:, None])
                    jack.append(weighted_spearman(x[rows], y[rows], keep)[None, :])
            lo, hi = interval(theta_b[:, None], estimate[[g]], level=level, method=ci_method, jackknife=jack,
                              bounds=CORRELATION_BOUNDS)
            low[g], high[g] = lo[0], hi[0]
            units_col[g] = "+".join(units)


# ---- public API ------------------------------------------------------------------------------
def model_keys(scores: pd.DataFrame, human_model: str = HUMAN) -> list[str]:
    """Columns that identify a model configuration: model plus the variant columns used by model rows."""
    return ["model"] + variant_columns(scores[~human_rows(scores, human_model)])


def pair_scores(scores: pd.DataFrame, human_model: str = HUMAN, *, function: str = "alignment",
                argument: str = "scores") -> tuple[pd.DataFrame, list[str]]:
    """Model rows joined with the human row of the same country and item (x = model, y = human)."""
    check_table(scores, "scores", argument=argument, function=function)
    is_human = human_rows(scores, human_model)
    if not is_human.any():
        raise InputError(f"the scores table has no human rows (model == {human_model!r}); "
                         f"models present: {sorted(scores['model'].astype(str).unique())[:5]}", column="model")
    if is_human.all():
        raise InputError(f"the scores table has no model rows (every row has model == {human_model!r})",
                         column="model")
    human = scores.loc[is_human, ["country", "item_id", "mean_score"]]
    dup = human.duplicated(["country", "item_id"])
    if dup.any():
        row = int(np.flatnonzero(is_human)[np.flatnonzero(dup.to_numpy())[0]])
        raise InputError("more than one human mean score for one country x item", column="item_id", row=row,
                         value=f"{human['country'].iloc[int(np.flatnonzero(dup.to_numpy())[0])]}/"
                               f"{human['item_id'].iloc[int(np.flatnonzero(dup.to_numpy())[0])]}")
    keys = model_keys(scores, human_model)
    models = scores.loc[~is_human, keys + ["country", "item_id", "category", "mean_score"]]
    dup = models.duplicated(keys + ["country", "item_id"])
    if dup.any():
        first = models[dup].iloc[0]
        raise InputError(
            f"more than one model mean score for {dict(first[keys + ['country', 'item_id']])}; "
            f"pass the variant columns that distinguish them (or average them with model_mean_scores(variants=[]))",
            column="mean_score")
    pairs = models.rename(columns={"mean_score": "x"}).merge(
        human.rename(columns={"mean_score": "y"}), on=["country", "item_id"], how="inner")
    pairs = pairs.dropna(subset=["x", "y"])
    if pairs.empty:
        raise InputError("no model row shares a country and item with a human row; check the country codes "
                         "(ISO3) and item ids of both sides", column="country")
    return pairs, keys


def alignment(
    data: pd.DataFrame,
    human: pd.DataFrame | None = None,
    bank: ItemBank | None = None,
    *,
    by: str = "category",
    metric: str = "pearson",
    ci: str = "fisher",
    resample: str = "countries",
    n_boot: int = 2000,
    ci_method: str = "percentile",
    level: float = 0.95,
    seed: int = 0,
    human_model: str = HUMAN,
) -> pd.DataFrame:
    """Correlation of model and human mean scores per model (configuration) and group.

    Parameters
    ----------
    data : pandas.DataFrame
        A scores table (contract ``scores``: model, country, item_id, category, mean_score;
        people's rows have ``model == human_model``) when ``human`` is None; a probs table
        (contract ``probs``) when ``human`` is given: then the mean scores are computed first
        (:func:`wvsalign.stats.mean_scores`, unit scale, every variant kept).
    human : pandas.DataFrame, optional
        The human table (contract ``human``), only with a probs table as ``data``.
    bank : ItemBank, optional
        The item bank for the mean scores (default: the embedded WVS-7 bank).
    by : {"category", "country", "item", "overall"}, default "category"
        Grouping: pooled over the country x item pairs of each category, over the items of
        each country, over the countries of each item, or over all pairs.
    metric : {"pearson", "spearman"}, default "pearson"
        The correlation.
    ci : {"fisher", "bootstrap", "none"}, default "fisher"
        The interval: Fisher z, cluster bootstrap, or none.
    resample : {"countries", "items", "both"}, default "countries"
        Bootstrap clusters; a unit that does not vary within a group (countries within
        ``by="country"``) is replaced by the one that does (column ``resampled``).
    n_boot : int, default 2000
        Bootstrap replicates.
    ci_method : {"percentile", "bca"}, default "percentile"
        Bootstrap interval.
    level : float, default 0.95
        Confidence level.
    seed : int, default 0
        Seed of the bootstrap draws.
    human_model : str, default "human"
        The ``model`` value of the people's rows.

    Returns
    -------
    pandas.DataFrame
        The alignment table: model, [variant columns], group_by, group, metric, estimate,
        ci_low, ci_high, p, n, method ("t-test"), ci_method, resampled, level.

    Raises
    ------
    InputError
        When ``data`` is not the table expected (the message names the missing columns and
        the table expected), an argument is not one of its values, or no model row has a
        human counterpart.

    Examples
    --------
    >>> import wvsalign as wa
    >>> al = wa.alignment(scores, by="country", metric="spearman")  # doctest: +SKIP
    >>> al = wa.alignment(probs, human, bank, ci="bootstrap", ci_method="bca")  # doctest: +SKIP
    """
    by = check_choice(by, "by", BY)
    if human is not None:
        if isinstance(data, pd.DataFrame) and "mean_score" in data.columns and "prob" not in data.columns:
            raise InputError("alignment(data, human): with human= the first argument must be a probs table; "
                             "a scores table already holds the human rows: call alignment(scores)")
        check_table(data, "probs", argument="data", function="alignment")
        check_table(human, "human", argument="human", function="alignment")
        data = mean_scores(data, human, bank)
    elif isinstance(data, pd.DataFrame) and "prob" in data.columns and "mean_score" not in data.columns:
        raise InputError("alignment(probs) needs the human table to compare with: alignment(probs, human, bank); "
                         "or pass a scores table (wvsalign.stats.mean_scores)")
    pairs, keys = pair_scores(data, human_model, argument="data")
    group_col = GROUP_COLUMN[by]
    grouping = keys + ([group_col] if group_col else [])
    gid = pairs.groupby(grouping, sort=True, dropna=False).ngroup().to_numpy()
    country = pd.factorize(pairs["country"], sort=True)[0]
    item = pd.factorize(pairs["item_id"], sort=True)[0]
    res = correlation_table(pairs["x"].to_numpy(), pairs["y"].to_numpy(), gid, country, item, metric=metric,
                            ci=ci, resample=resample, n_boot=n_boot, ci_method=ci_method, level=level, seed=seed)
    labels = group_labels(pairs, gid)
    out = alignment_frame(labels[keys], group_by=by, group=labels[group_col] if group_col else "all", metric=metric,
                          **res)
    return check_table(out, "alignment", argument="data", function="alignment")


def correlate(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    metric: str = "pearson",
    ci: str = "fisher",
    n_boot: int = 2000,
    ci_method: str = "percentile",
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Correlation of two vectors as a one-row frame, with CI and p.

    Pairs with a missing value on either side are left out. The bootstrap resamples pairs.

    Parameters
    ----------
    x, y : array-like of float
        The two variables, of equal length.
    metric : {"pearson", "spearman"}, default "pearson"
        The correlation.
    ci : {"fisher", "bootstrap", "none"}, default "fisher"
        The interval.
    n_boot : int, default 2000
        Bootstrap replicates.
    ci_method : {"percentile", "bca"}, default "percentile"
        Bootstrap interval.
    level : float, default 0.95
        Confidence level.
    seed : int, default 0
        Seed of the bootstrap draws.

    Returns
    -------
    pandas.DataFrame
        One row: metric, estimate, ci_low, ci_high, p, n, method, ci_method, resampled, level.

    Raises
    ------
    InputError
        When x and y differ in length, fewer than 2 complete pairs remain, or an argument is
        not one of its values.

    Examples
    --------
    >>> from wvsalign.stats import correlate
    >>> row = correlate([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]).iloc[0]
    >>> round(float(row.estimate), 3), row.metric, row.method
    (0.8, 'pearson', 't-test')
    """
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if xa.shape != ya.shape:
        raise InputError(f"x and y must have the same length; got {len(xa)} and {len(ya)}")
    ok = ~(np.isnan(xa) | np.isnan(ya))
    xa, ya = xa[ok], ya[ok]
    if len(xa) < 2:
        raise InputError(f"a correlation needs at least 2 complete pairs; got {len(xa)}")
    res = correlation_table(xa, ya, np.zeros(len(xa), dtype=np.int64), np.arange(len(xa)),
                            np.zeros(len(xa), dtype=np.int64), metric=metric, ci=ci, resample="countries",
                            n_boot=n_boot, ci_method=ci_method, level=level, seed=seed)
    res.insert(0, "metric", metric)
    if ci == "bootstrap":
        res["resampled"] = "pairs"
    return res
