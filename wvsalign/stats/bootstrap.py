"""Shared resampling: seeded cluster bootstrap over countries, items or both; percentile and
BCa intervals; permutation p-values. Vectorised over replicates and groups.

Observations (country x item pairs, say) fall into *groups* (one correlation each) and each
observation belongs to one country cluster and one item cluster. A bootstrap replicate draws
the clusters of a group with replacement; an observation enters the replicate once per draw
of its cluster (of its country times its item when both are resampled). A statistic that is a
function of per-group sums of per-observation features (a Pearson r, a mean) is then computed
for all replicates at once: replicate sums = multiplicities (n_boot x clusters) @ cluster sums.

Draws follow :func:`scipy.stats.bootstrap` exactly: a fresh ``numpy.random.default_rng(seed)``
per cluster set, ``rng.integers(0, n, (n_boot, n))`` for the countries, then for the items.
So a group's interval depends only on the seed and its own clusters (not on which other
groups or models are in the table), models scored on the same countries share their
resamples, and a one-group result equals ``scipy.stats.bootstrap(..., rng=default_rng(seed))``
on the cluster indices. Replicates in which the statistic is undefined (NaN, e.g. no variance)
are left out of the interval.

Degenerate cases give a clear result and one :class:`DegenerateBootstrapWarning` (scipy warns
``DegenerateDataWarning`` in the same cases; R's ``boot.ci`` declines the BCa interval):

- every valid replicate equals the estimate (e.g. r = 1 in every resample): the interval is
  [estimate, estimate] for both methods (every quantile of a one-point distribution is that
  point; BCa's acceleration would be 0/0);
- BCa with an undefined bias correction or acceleration (no valid replicates, or jackknife
  estimates that do not vary while the replicates do): NaN;
- a statistic with bounds (a correlation: -1 and 1; callers pass ``bounds``) whose degenerate
  replicates (undefined, or at a bound the estimate is not at) are more than the (1 - level)/2
  tail: NaN. Such replicates come from resamples that repeat too few distinct observations
  (two distinct pairs always give r = +-1), so the interval would be made of them: with 5
  single-pair clusters about 10% of the resamples repeat at most two pairs and the interval of
  a weak correlation is [-1, 1]; with 3 pairs it is 78%; with 6 pairs 2%.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ..errors import InputError, check_choice
from ..errors import DegenerateBootstrapWarning  # noqa: F401  (re-exported)

#: resampling choice -> the units it resamples
RESAMPLE_UNITS: dict[str, tuple[str, ...]] = {
    "countries": ("country",),
    "items": ("item",),
    "both": ("country", "item"),
}
CI_METHODS = ("percentile", "bca")
#: memory budget of one block of replicate sums, in bytes
BLOCK_BYTES = 64 * 2**20
#: bounds of a correlation: replicates at a bound the estimate is not at are degenerate
CORRELATION_BOUNDS = (-1.0, 1.0)


# ---- argument checks ------------------------------------------------------------------------
def check_level(level: float, name: str = "level") -> float:
    """A confidence level (``name`` "level") or significance level (``name`` "alpha") strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
        kind, example = ("significance", 0.05) if name == "alpha" else ("confidence", 0.95)
        raise InputError(f"argument {name}={level!r}; expected a {kind} level between 0 and 1, e.g. {example}")
    return float(level)


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """A positive integer (number of replicates or permutations)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise InputError(f"argument {name}={value!r}; expected an integer >= {minimum}")
    return int(value)


# ---- draws -----------------------------------------------------------------------------------
def draw_counts(n_units: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicity of each of ``n_units`` units in each of ``n_boot`` replicates (float64).

    The draw is ``rng.integers(0, n_units, (n_boot, n_units))``, as in scipy.stats.bootstrap.
    """
    idx = rng.integers(0, n_units, (n_boot, n_units))
    flat = idx + (np.arange(n_boot) * n_units)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_boot * n_units)
    return counts.reshape(n_boot, n_units).astype(np.float64)


def draw_design(sizes: dict[str, int], n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Counts per resampled unit from a fresh generator: countries first, then items."""
    rng = np.random.default_rng(seed)
    return {unit: draw_counts(sizes[unit], n_boot, rng) for unit in ("country", "item") if unit in sizes}


# ---- intervals ---------------------------------------------------------------------------------
def quantiles(theta_b: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles (numpy's default) of each column of ``theta_b``.

    ``theta_b`` is (n_boot, G); ``probs`` is (k, G) or (k,). NaN replicates are ignored.
    Returns (k, G).
    """
    theta_b = np.asarray(theta_b, dtype=np.float64)
    b, g = theta_b.shape
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        probs = np.repeat(probs[:, None], g, axis=1)
    ordered = np.sort(theta_b, axis=0)  # NaN sorts last
    valid = (~np.isnan(theta_b)).sum(axis=0)
    out = np.full(probs.shape, np.nan)
    ok = valid > 0
    h = (valid - 1)[None, :] * probs
    h = np.where(np.isnan(h), 0.0, h)  # undefined probabilities give NaN below, without a cast warning
    lo = np.clip(np.floor(h).astype(np.int64), 0, np.maximum(valid - 1, 0)[None, :])
    hi = np.clip(lo + 1, 0, np.maximum(valid - 1, 0)[None, :])
    cols = np.arange(g)[None, :]
    a = ordered[lo, cols]
    c = ordered[hi, cols]
    t = h - lo
    val = a + (c - a) * t
    out[:, ok] = val[:, ok]
    out[np.isnan(probs)] = np.nan
    return out


def percentile_of_score(theta_b: np.ndarray, theta_hat: np.ndarray) -> np.ndarray:
    """Fraction of replicates below ``theta_hat`` (ties count half), per column; NaN ignored.

    Replicates within 100 machine epsilons (relative) of ``theta_hat`` are ties: a replicate
    that redraws the original sample computes the same value along another floating-point path.
    """
    valid = (~np.isnan(theta_b)).sum(axis=0)
    gamma = np.abs(np.finfo(np.float64).eps * 100 * theta_hat)[None, :]
    below = (theta_b < theta_hat[None, :] - gamma).sum(axis=0) + (theta_b <= theta_hat[None, :] + gamma).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return below / (2.0 * valid)


def acceleration(jackknife: Sequence[np.ndarray]) -> np.ndarray:
    """BCa acceleration from leave-one-cluster-out estimates, one (G, n_j) array per resampled unit.

    With one unit this is Efron's a = sum(U^3) / (6 sum(U^2)^1.5), U = (n-1)(mean - theta_i).
    With two (countries and items both resampled) the per-unit terms are pooled as
    scipy.stats.bootstrap pools the samples of a multi-sample statistic:
    a = sum_j sum(U_j^3)/n_j^3 / (6 (sum_j sum(U_j^2)/n_j^2)^1.5).
    """
    nums = 0.0
    dens = 0.0
    for theta_i in jackknife:
        n = float(theta_i.shape[-1])
        u = (n - 1) * (np.nanmean(theta_i, axis=-1, keepdims=True) - theta_i)
        nums = nums + np.nansum(u**3, axis=-1) / n**3
        dens = dens + np.nansum(u**2, axis=-1) / n**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return nums / (6.0 * dens**1.5)


def interval(
    theta_b: np.ndarray,
    theta_hat: np.ndarray,
    *,
    level: float = 0.95,
    method: str = "percentile",
    jackknife: Sequence[np.ndarray] | None = None,
    bounds: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided bootstrap interval per column of ``theta_b`` (n_boot, G).

    Parameters
    ----------
    theta_b : numpy.ndarray
        Replicates (n_boot, G); NaN replicates are left out.
    theta_hat : numpy.ndarray
        The estimates (G,).
    level : float
        Confidence level.
    method : str
        ``percentile``: the (1-level)/2 and (1+level)/2 quantiles. ``bca``: Efron's
        bias-corrected and accelerated interval (z0 from the share of replicates below
        ``theta_hat``, the acceleration from ``jackknife``), as scipy.stats.bootstrap(method="BCa").
    jackknife : sequence of numpy.ndarray, optional
        Leave-one-cluster-out estimates per resampled unit (needed by ``bca``).
    bounds : tuple of float, optional
        The statistic's range (a correlation: (-1, 1)): columns with more than (1 - level)/2 of
        degenerate replicates (NaN, or at a bound that the estimate is not at) get NaN.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper ends (G,). Degenerate cases (see the module docstring) give
        [estimate, estimate] or NaN with one :class:`DegenerateBootstrapWarning`.
    """
    check_choice(method, "ci_method", CI_METHODS)
    theta_b = np.asarray(theta_b, dtype=np.float64)
    theta_hat = np.asarray(theta_hat, dtype=np.float64).reshape(-1)
    alpha = (1 - level) / 2
    g = theta_b.shape[1]
    if method == "percentile":
        probs = np.array([[alpha] * g, [1 - alpha] * g])
    else:
        if jackknife is None:
            raise ValueError("the BCa interval needs jackknife estimates")
        with np.errstate(invalid="ignore", divide="ignore"):
            z0 = ndtri(percentile_of_score(theta_b, theta_hat))
            a = acceleration(jackknife)
            za = ndtri(alpha)
            num1 = z0 + za
            num2 = z0 - za
            p1 = ndtr(z0 + num1 / (1 - a * num1))
            p2 = ndtr(z0 + num2 / (1 - a * num2))
        probs = np.vstack([p1, p2])
    q = quantiles(theta_b, probs)
    low, high = q[0], q[1]
    notes = []
    few = np.zeros(g, dtype=bool)
    if bounds is not None:
        eps = 1e-12
        at_bound = np.zeros(theta_b.shape, dtype=bool)
        for bound in bounds:
            estimate_there = np.abs(theta_hat - bound) <= eps
            at_bound |= (np.abs(theta_b - bound) <= eps) & ~estimate_there[None, :]
        share = (np.isnan(theta_b) | at_bound).mean(axis=0)
        few = ~np.isnan(theta_hat) & (share > alpha)
        if few.any():
            notes.append(f"{int(few.sum())} not computed (NaN): {share[few].max():.0%} of the resamples are "
                         f"degenerate (undefined or at {bounds[0]:g}/{bounds[1]:g}: they repeat too few distinct "
                         f"observations), more than the {alpha:.1%} tail, so the interval would be made of them")
    # a one-point bootstrap distribution: every quantile (BCa's too) is that point
    valid = (~np.isnan(theta_b)).sum(axis=0)
    b_min = np.min(np.where(np.isnan(theta_b), np.inf, theta_b), axis=0)
    b_max = np.max(np.where(np.isnan(theta_b), -np.inf, theta_b), axis=0)
    tol = 100 * np.finfo(np.float64).eps * np.maximum(np.abs(np.where(valid > 0, b_min, 0.0)), 1.0)
    single = (valid > 0) & (b_max - b_min <= tol) & ~few
    if single.any():
        low = np.where(single, b_min, low)
        high = np.where(single, b_min, high)
        notes.append(f"{int(single.sum())} with every replicate equal (interval [value, value], "
                     f"which reflects no sampling variation)")
    undefined = ~single & ~few & ~np.isnan(theta_hat) & (np.isnan(low) | np.isnan(high))
    if undefined.any():
        why = ("no valid replicate" if method == "percentile" else
               "no valid replicate, or BCa's bias correction or acceleration is undefined (e.g. leave-one-out "
               "estimates that do not vary)")
        notes.append(f"{int(undefined.sum())} NaN: {why}")
    low = np.where(few, np.nan, low)
    high = np.where(few, np.nan, high)
    if notes:
        warnings.warn(f"bootstrap {method} interval of {g} estimate(s): " + "; ".join(notes),
                      DegenerateBootstrapWarning, stacklevel=3)
    return low, high


# ---- permutation p-values ----------------------------------------------------------------------
def permutation_pvalue(
    null: np.ndarray, observed: np.ndarray, *, exact: bool, alternative: str = "two-sided"
) -> np.ndarray:
    """p-value per column of ``null`` (n_perm, G), as scipy.stats.permutation_test.

    "greater": share of null values >= observed; "less": <=; "two-sided": min(1, 2 min(less,
    greater)). A Monte Carlo null counts the observed arrangement once more ((1 + count) /
    (1 + n_perm)); an exact null (all arrangements, the observed one included) does not. Null
    values within 100 machine epsilons (relative) of the observed value count as ties.
    """
    check_choice(alternative, "alternative", ("two-sided", "greater", "less"))
    observed = np.asarray(observed, dtype=np.float64).reshape(1, -1)
    gamma = np.abs(np.finfo(np.float64).eps * 100 * observed)
    adjust = 0 if exact else 1
    n = null.shape[0]
    p_less = ((null <= observed + gamma).sum(axis=0) + adjust) / (n + adjust)
    p_greater = ((null >= observed - gamma).sum(axis=0) + adjust) / (n + adjust)
    p = {"less": p_less, "greater": p_greater}.get(alternative)
    if p is None:
        p = 2 * np.minimum(p_less, p_greater)
    p = np.clip(p, 0.0, 1.0)
    p[np.isnan(observed[0])] = np.nan
    return p


# ---- cluster sums --------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """Sums for groups that share their clusters (and so their bootstrap draws).

    ``groups``: group codes (g,); ``units``: the resampled units; ``full``: (g, F) sums over all
    observations; ``replicates``: (n_boot, g, F); ``jackknife``: per unit, (g, n_j, F) sums
    with one cluster left out, or None.
    """

    groups: np.ndarray
    units: tuple[str, ...]
    full: np.ndarray
    replicates: np.ndarray
    jackknife: list[np.ndarray] | None


def resampled_units(
    group: np.ndarray, country: np.ndarray, item: np.ndarray, n_groups: int, resample: str
) -> list[tuple[str, ...]]:
    """Units resampled per group: the requested ones that vary within the group, else the one that does.

    A correlation over one country's items cannot resample countries: it resamples its items
    (and a correlation over one item's countries resamples countries) whatever was asked.
    """
    requested = RESAMPLE_UNITS[check_choice(resample, "resample", tuple(RESAMPLE_UNITS))]
    n_country = _distinct_per_group(group, country, n_groups)
    n_item = _distinct_per_group(group, item, n_groups)
    out = []
    for nc, ni in zip(n_country, n_item):
        varies = {"country": nc > 1, "item": ni > 1}
        chosen = tuple(u for u in requested if varies[u])
        if not chosen:
            chosen = tuple(u for u in ("country", "item") if varies[u]) or requested
        out.append(chosen)
    return out


def _distinct_per_group(group: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    pairs = np.unique(np.stack([group, labels]), axis=1)
    return np.bincount(pairs[0], minlength=n_groups)


def signature_blocks(
    group: np.ndarray,
    country: np.ndarray,
    item: np.ndarray,
    units_per_group: list[tuple[str, ...]],
) -> Iterator[tuple[tuple[str, ...], np.ndarray, dict[str, np.ndarray]]]:
    """Yield (units, group codes, {unit: sorted cluster codes}) for groups with identical clusters."""
    frame = pd.DataFrame({"group": group, "country": country, "item": item})
    clusters: dict[str, dict[int, tuple]] = {}
    for unit in ("country", "item"):
        uniq = frame[["group", unit]].drop_duplicates().sort_values(["group", unit])
        clusters[unit] = {int(g): tuple(v) for g, v in uniq.groupby("group", sort=True)[unit]}
    by_signature: dict[tuple, list[int]] = {}
    for g in sorted(clusters["country"]):
        units = units_per_group[g]
        key = (units,) + tuple(clusters[u][g] for u in units)
        by_signature.setdefault(key, []).append(g)
    for key, groups in by_signature.items():
        units = key[0]
        codes = {u: np.asarray(c, dtype=np.int64) for u, c in zip(units, key[1:])}
        yield units, np.asarray(groups, dtype=np.int64), codes


def cluster_sums(
    features: np.ndarray,
    group: np.ndarray,
    country: np.ndarray,
    item: np.ndarray,
    *,
    resample: str = "countries",
    n_boot: int = 2000,
    seed: int = 0,
    jackknife: bool = False,
) -> Iterator[Block]:
    """Bootstrap replicate sums of per-observation ``features`` (n, F) for every group.

    ``group``, ``country``, ``item`` are integer codes per observation (groups 0..G-1).
    Yields :class:`Block` objects (groups sharing clusters, split to stay within
    :data:`BLOCK_BYTES`). Replicate sums equal the feature sums of the data set in which every
    observation is repeated (multiplicity of its country) x (multiplicity of its item) times.
    """
    features = np.asarray(features, dtype=np.float64)
    n_obs, n_feat = features.shape
    group = np.asarray(group, dtype=np.int64)
    n_groups = int(group.max()) + 1 if n_obs else 0
    units_per_group = resampled_units(group, country, item, n_groups, resample)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    for units, groups, codes in signature_blocks(group, country, item, units_per_group):
        sizes = {u: len(codes[u]) for u in units}
        counts = draw_design(sizes, n_boot, seed)
        step = max(1, BLOCK_BYTES // max(1, n_boot * n_feat * 8))
        for start in range(0, len(groups), step):
            chunk = groups[start:start + step]
            rows = np.concatenate([order[bounds[g]:bounds[g + 1]] for g in chunk])
            local_g = np.repeat(np.arange(len(chunk)), [bounds[g + 1] - bounds[g] for g in chunk])
            yield _block(features[rows], local_g, country[rows], item[rows], chunk, units, codes, counts,
                         jackknife)


def _block(
    feats: np.ndarray,
    local_g: np.ndarray,
    country: np.ndarray,
    item: np.ndarray,
    groups: np.ndarray,
    units: tuple[str, ...],
    codes: dict[str, np.ndarray],
    counts: dict[str, np.ndarray],
    jackknife: bool,
) -> Block:
    g = len(groups)
    n_feat = feats.shape[1]
    labels = {"country": country, "item": item}
    local = {u: np.searchsorted(codes[u], labels[u]) for u in units}
    shape = (g,) + tuple(len(codes[u]) for u in units)
    flat = local_g
    for u in units:
        flat = flat * len(codes[u]) + local[u]
    size = int(np.prod(shape))
    cells = np.stack([np.bincount(flat, weights=feats[:, f], minlength=size) for f in range(n_feat)], axis=-1)
    cells = cells.reshape(shape + (n_feat,))
    full = cells.reshape(g, -1, n_feat).sum(axis=1)
    if len(units) == 1:
        m = counts[units[0]]  # (B, C)
        k = cells.shape[1]
        replicates = (m @ cells.transpose(1, 0, 2).reshape(k, g * n_feat)).reshape(-1, g, n_feat)
    else:
        mc, mi = counts["country"], counts["item"]
        c, j = shape[1], shape[2]
        replicates = np.empty((mc.shape[0], g, n_feat))
        for k in range(g):
            tmp = (mc @ cells[k].reshape(c, j * n_feat)).reshape(-1, j, n_feat)
            replicates[:, k, :] = np.einsum("bjf,bj->bf", tmp, mi)
    jack = None
    if jackknife:
        jack = []
        for axis, u in enumerate(units, start=1):
            other = tuple(a for a in range(1, len(units) + 1) if a != axis)
            per_cluster = cells.sum(axis=other) if other else cells  # (g, n_u, F)
            jack.append(full[:, None, :] - per_cluster)
    return Block(groups=groups, units=units, full=full, replicates=replicates, jackknife=jack)
