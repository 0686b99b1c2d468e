"""Comparing two correlations, as R's cocor does (Diedenhofen & Musch 2015).

Three designs, cocor's notation mapped to wvsalign's argument names:

============== ======================================= ==========================================
design         cocor arguments                         wvsalign arguments
============== ======================================= ==========================================
independent    ``r1.jk, r2.hm, n1, n2``                ``r1, r2, n, n2``
overlapping    ``r.jk, r.jh, r.kh, n`` (j shared)      ``r1 = r(x, y1)``, ``r2 = r(x, y2)``,
                                                       ``r12 = r(y1, y2)``, ``n``
nonoverlapping ``r.jk, r.hm, r.jh, r.jm, r.kh, r.km``  ``r1 = r(x1, y1)``, ``r2 = r(x2, y2)``,
                                                       ``r_x1x2`` (r.jh), ``r_x1y2`` (r.jm),
                                                       ``r_y1x2`` (r.kh), ``r_y1y2`` (r.km), ``n``
============== ======================================= ==========================================

(cocor's j, k = x1, y1 and h, m = x2, y2; in the overlapping design x1 = x2 = x.)
Typical wvsalign use of the overlapping design: x = human mean scores, y1 = model A's,
y2 = model B's, on the same country x item pairs (:func:`compare_alignment` does this).

Methods (the cocor name in brackets; any cocor name is accepted as an alias):

- independent: ``fisher`` (fisher1925) z test, ``zou`` (zou2007) CI.
- overlapping: ``pearson_filon`` (pearson1898), ``hotelling`` (hotelling1940) t,
  ``williams`` (williams1959) t, ``hendrickson`` (hendrickson1970) t, ``olkin`` (olkin1967),
  ``dunn_clark`` (dunn1969), ``steiger`` (steiger1980) Z, ``meng`` (meng1992),
  ``hittner`` (hittner2003), ``zou`` (zou2007) CI.
- nonoverlapping: ``pearson_filon`` (pearson1898), ``dunn_clark`` (dunn1969),
  ``steiger`` (steiger1980), ``raghunathan`` (raghunathan1996), ``silver`` (silver2004),
  ``zou`` (zou2007) CI.

Every result is a tidy DataFrame in wvsalign's one vocabulary: design, method, r1, r2,
estimate (= r1 - r2), statistic, df (t tests only), p, ci_low, ci_high (Zou's interval, on
the row of method ``zou``; a test row has no interval and the Zou row no statistic or p), n,
n2 (independent design only), alternative. Zou's interval is always two-sided at ``level``
(as cocor's). Inputs may be arrays (broadcast against each other): then every comparison
gets one row per method and a leading ``comparison`` column holds its position.

Where a method's variance formula breaks down (possible at extreme correlations, e.g. Hittner's
z with one r near +-0.99: its pooled covariance term exceeds 1), its statistic and p are NaN.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError, check_choice
from ..contracts import HUMAN
from ._validation import check_table
from .bootstrap import check_level
from .correlation import BY, GROUP_COLUMN, correlation_table

DESIGNS = ("independent", "overlapping", "nonoverlapping")

#: methods of each design, in the order in which ``method="all"`` reports them
METHODS: dict[str, tuple[str, ...]] = {
    "independent": ("fisher", "zou"),
    "overlapping": (
        "pearson_filon", "hotelling", "williams", "hendrickson", "olkin", "dunn_clark",
        "steiger", "meng", "hittner", "zou",
    ),
    "nonoverlapping": ("pearson_filon", "dunn_clark", "steiger", "raghunathan", "silver", "zou"),
}

#: cocor's method names -> wvsalign's
COCOR_NAMES: dict[str, str] = {
    "fisher1925": "fisher", "zou2007": "zou", "pearson1898": "pearson_filon",
    "hotelling1940": "hotelling", "williams1959": "williams", "hendrickson1970": "hendrickson",
    "olkin1967": "olkin", "dunn1969": "dunn_clark", "steiger1980": "steiger", "meng1992": "meng",
    "hittner2003": "hittner", "raghunathan1996": "raghunathan", "silver2004": "silver",
}

#: the methods whose statistic follows a t distribution with n - 3 df (the rest are z)
T_METHODS = frozenset({"hotelling", "williams", "hendrickson"})

ALTERNATIVES = {"two-sided": "two-sided", "two.sided": "two-sided", "greater": "greater", "less": "less"}

NONOVERLAP_ARGS = ("r_x1x2", "r_x1y2", "r_y1x2", "r_y1y2")


# --------------------------------------------------------------------------- vectorised core
def _fz(r: np.ndarray) -> np.ndarray:
    """Fisher's r-to-z transformation."""
    return np.arctanh(r)


def _overlap_k(r1, r2, r12):
    """Asymptotic covariance numerator of r(x, y1) and r(x, y2) (Steiger 1980, formula 3)."""
    return r12 * (1 - r1**2 - r2**2) - 0.5 * r1 * r2 * (1 - r1**2 - r2**2 - r12**2)


def _overlap_c(r, r12):
    """Correlation of the two Fisher z's with both r's set to ``r`` (Steiger 1980, formula 10)."""
    return (r12 * (1 - 2 * r**2) - 0.5 * r**2 * (1 - 2 * r**2 - r12**2)) / (1 - r**2) ** 2


def _nonoverlap_psi(a, b, jh, jm, kh, km):
    """Covariance numerator of r(j, k) = a and r(h, m) = b (Steiger 1980, formula 2; Dunn & Clark 1969)."""
    return (
        0.5 * a * b * (jh**2 + jm**2 + kh**2 + km**2) + jh * km + jm * kh
        - (a * jh * jm + a * kh * km + jh * kh * b + jm * km * b)
    )


def _nonoverlap_c_pooled(r, jh, jm, kh, km):
    """Steiger's (1980, formula 11) correlation of the two z's with both r's set to ``r``."""
    return _nonoverlap_psi(r, r, jh, jm, kh, km) / (1 - r**2) ** 2


def _zou_ci(r1, r2, n1, n2, c, level):
    """Zou's (2007) interval for r1 - r2 from the two Fisher-z intervals and their correlation c."""
    q = stats.norm.isf((1 - level) / 2)
    l1, u1 = np.tanh(_fz(r1) - q / np.sqrt(n1 - 3)), np.tanh(_fz(r1) + q / np.sqrt(n1 - 3))
    l2, u2 = np.tanh(_fz(r2) - q / np.sqrt(n2 - 3)), np.tanh(_fz(r2) + q / np.sqrt(n2 - 3))
    d = r1 - r2
    low = d - np.sqrt((r1 - l1) ** 2 + (u2 - r2) ** 2 - 2 * c * (r1 - l1) * (u2 - r2))
    high = d + np.sqrt((u1 - r1) ** 2 + (r2 - l2) ** 2 - 2 * c * (u1 - r1) * (r2 - l2))
    return low, high


def independent_statistic(method: str, r1, r2, n1, n2) -> np.ndarray:
    """Test statistic of two correlations from independent groups (vectorised)."""
    if method == "fisher":
        return (_fz(r1) - _fz(r2)) / np.sqrt(1 / (n1 - 3) + 1 / (n2 - 3))
    raise ValueError(f"no test statistic for method {method!r} in the independent design")


def overlapping_statistic(method: str, r1, r2, r12, n) -> np.ndarray:
    """Test statistic of r(x, y1) = r1 vs r(x, y2) = r2 with r(y1, y2) = r12 on n cases (vectorised)."""
    det = 1 + 2 * r1 * r2 * r12 - r1**2 - r2**2 - r12**2  # |R| of the 3 x 3 correlation matrix
    zdiff = _fz(r1) - _fz(r2)
    if method == "pearson_filon":  # Pearson & Filon (1898); Steiger (1980, formula 4)
        k = _overlap_k(r1, r2, r12)
        return np.sqrt(n) * (r1 - r2) / np.sqrt((1 - r1**2) ** 2 + (1 - r2**2) ** 2 - 2 * k)
    if method == "hotelling":  # Hotelling (1940, formula 7)
        return (r1 - r2) * np.sqrt((n - 3) * (1 + r12)) / np.sqrt(2 * det)
    if method == "williams":  # Williams (1959); Steiger (1980, formula 7)
        rbar = (r1 + r2) / 2
        return (r1 - r2) * np.sqrt(
            (n - 1) * (1 + r12) / (2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r12) ** 3)
        )
    if method == "hendrickson":  # Hendrickson, Stanley & Hills (1970, p. 193)
        return (r1 - r2) * np.sqrt((n - 3) * (1 + r12)) / np.sqrt(
            2 * det + (r1 - r2) ** 2 * (1 - r12) ** 3 / (4 * (n - 1))
        )
    if method == "olkin":  # Olkin (1967) as corrected by Hendrickson & Collins (1970)
        return (r1 - r2) * np.sqrt(n) / np.sqrt(
            (1 - r1**2) ** 2 + (1 - r2**2) ** 2 - 2 * r12**3
            - (2 * r12 - r1 * r2) * (1 - r12**2 - r1**2 - r2**2)
        )
    if method == "dunn_clark":  # Dunn & Clark (1969, formulas 8 and 15)
        c = _overlap_k(r1, r2, r12) / ((1 - r1**2) * (1 - r2**2))
        return zdiff * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
    if method == "steiger":  # Steiger (1980, formulas 10 and 14): pooled r in the covariance
        c = _overlap_c((r1 + r2) / 2, r12)
        return zdiff * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
    if method == "hittner":  # Hittner, May & Silver (2003): pooled r = tanh(mean z)
        c = _overlap_c(np.tanh((_fz(r1) + _fz(r2)) / 2), r12)
        return zdiff * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
    if method == "meng":  # Meng, Rosenthal & Rubin (1992, formulas 1-3)
        mean_sq = (r1**2 + r2**2) / 2
        f = np.minimum((1 - r12) / (2 * (1 - mean_sq)), 1.0)
        h = (1 - f * mean_sq) / (1 - mean_sq)
        return zdiff * np.sqrt((n - 3) / (2 * (1 - r12) * h))
    raise ValueError(f"no test statistic for method {method!r} in the overlapping design")


def nonoverlapping_statistic(method: str, r1, r2, r_x1x2, r_x1y2, r_y1x2, r_y1y2, n) -> np.ndarray:
    """Test statistic of r(x1, y1) = r1 vs r(x2, y2) = r2 measured on the same n cases (vectorised)."""
    jh, jm, kh, km = r_x1x2, r_x1y2, r_y1x2, r_y1y2
    zdiff = _fz(r1) - _fz(r2)
    if method in ("pearson_filon", "raghunathan"):
        # Raghunathan, Rosenthal & Rubin (1996, formula 2); equals 2 * psi(r1, r2)
        k = (
            (jh - r1 * kh) * (km - kh * r2) + (jm - jh * r2) * (kh - r1 * jh)
            + (jh - jm * r2) * (km - r1 * jm) + (jm - r1 * km) * (kh - km * r2)
        )
        if method == "pearson_filon":  # Pearson & Filon (1898); Raghunathan et al. (1996, formula 1)
            return np.sqrt(n) * (r1 - r2) / np.sqrt((1 - r1**2) ** 2 + (1 - r2**2) ** 2 - k)
        # Raghunathan et al. (1996, formula 3)
        return np.sqrt((n - 3) / 2) * zdiff / np.sqrt(1 - k / (2 * (1 - r1**2) * (1 - r2**2)))
    if method == "dunn_clark":  # Dunn & Clark (1969, formulas 9 and 15)
        c = _nonoverlap_psi(r1, r2, jh, jm, kh, km) / ((1 - r1**2) * (1 - r2**2))
        return zdiff * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
    if method == "steiger":  # Steiger (1980, formulas 11 and 15)
        c = _nonoverlap_c_pooled((r1 + r2) / 2, jh, jm, kh, km)
        return zdiff * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
    if method == "silver":  # Silver, Hittner & May (2004): pooled r = tanh(mean z)
        c = _nonoverlap_c_pooled(np.tanh((_fz(r1) + _fz(r2)) / 2), jh, jm, kh, km)
        return zdiff * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
    raise ValueError(f"no test statistic for method {method!r} in the nonoverlapping design")


def zou_interval(design: str, r1, r2, n, *, n2=None, r12=None, cross=None, level: float = 0.95):
    """Zou's (2007) confidence interval for r1 - r2 (vectorised); returns (low, high).

    ``cross`` is the tuple (r_x1x2, r_x1y2, r_y1x2, r_y1y2) of the nonoverlapping design.
    """
    if design == "independent":
        return _zou_ci(r1, r2, n, n2, 0.0, level)
    if design == "overlapping":
        c = _overlap_k(r1, r2, r12) / ((1 - r1**2) * (1 - r2**2))
    else:
        c = _nonoverlap_psi(r1, r2, *cross) / ((1 - r1**2) * (1 - r2**2))
    return _zou_ci(r1, r2, n, n, c, level)


def p_value(statistic, alternative: str, df=None) -> np.ndarray:
    """p of a z (``df`` None) or t statistic; ``greater`` means H1: r1 > r2."""
    dist = stats.norm if df is None else stats.t(df)
    if alternative == "two-sided":
        return 2 * dist.sf(np.abs(statistic))
    if alternative == "greater":
        return dist.sf(statistic)
    return dist.cdf(statistic)


# --------------------------------------------------------------------------- validation
def _as_float(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or an array of numbers", value=value) from None
    return arr


def _check_r(name: str, arr: np.ndarray) -> None:
    bad = ~((arr > -1) & (arr < 1))
    if bad.any():
        value = arr.flat[int(np.flatnonzero(bad.ravel())[0])]
        raise InputError(f"{name} must be a correlation strictly between -1 and 1", value=float(value))


def _check_n(name: str, arr: np.ndarray) -> None:
    bad = ~((arr > 3) & (arr == np.round(arr)))
    if bad.any():
        value = arr.flat[int(np.flatnonzero(bad.ravel())[0])]
        raise InputError(f"{name} must be a whole number of cases greater than 3", value=float(value))


def _check_psd(matrices: np.ndarray, names: str) -> None:
    """Raise unless every stacked correlation matrix is positive semi-definite."""
    eig = np.linalg.eigvalsh(matrices)
    bad = eig[..., 0] < -1e-12
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(
            f"{names} do not form a valid correlation matrix (smallest eigenvalue "
            f"{eig.reshape(-1, eig.shape[-1])[i, 0]:.3g} < 0)" + (f" in comparison {i}" if bad.size > 1 else "")
        )


def _resolve_methods(method: str | Sequence[str], design: str) -> list[str]:
    names = [method] if isinstance(method, str) else list(method)
    if names == ["all"]:
        return list(METHODS[design])
    out = []
    for name in names:
        key = COCOR_NAMES.get(str(name).lower(), str(name).lower())
        if key not in METHODS[design]:
            raise InputError(
                f"method {name!r} does not apply to the {design} design; expected 'all' or one of "
                f"{list(METHODS[design])} (or cocor's names)",
            )
        if key not in out:
            out.append(key)
    return out


def _resolve_alternative(alternative: str) -> str:
    return ALTERNATIVES[check_choice(alternative, "alternative", tuple(ALTERNATIVES))]


# --------------------------------------------------------------------------- public API
def compare_correlations(
    *,
    r1,
    r2,
    n,
    n2=None,
    design: str = "independent",
    r12=None,
    r_x1x2=None,
    r_x1y2=None,
    r_y1x2=None,
    r_y1y2=None,
    method: str | Sequence[str] = "all",
    alternative: str = "two-sided",
    level: float = 0.95,
) -> pd.DataFrame:
    """Compare two correlations r1 and r2 (cocor); one tidy row per method (test).

    Arguments may be arrays of equal (broadcastable) shape for many comparisons at once.

    Parameters
    ----------
    r1, r2 : float or array-like
        The correlations compared.
    n : int or array-like
        Cases of r1 (of both in the dependent designs).
    n2 : int or array-like, optional
        Cases of r2 (independent design only).
    design : {"independent", "overlapping", "nonoverlapping"}, default "independent"
        Independent samples; r1 = r(x, y1), r2 = r(x, y2) on the same cases; or r1 = r(x1, y1),
        r2 = r(x2, y2) on the same cases.
    r12 : float or array-like, optional
        r(y1, y2) (overlapping design).
    r_x1x2, r_x1y2, r_y1x2, r_y1y2 : float or array-like, optional
        The four cross correlations (nonoverlapping design; cocor's r.jh, r.jm, r.kh, r.km).
    method : str or list of str, default "all"
        The tests (see the module doc; cocor's names are accepted as aliases).
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        "greater" tests H1: r1 > r2.
    level : float, default 0.95
        Level of Zou's interval.

    Returns
    -------
    pandas.DataFrame
        Columns design, method, r1, r2, estimate (r1 - r2), statistic, df, p, ci_low,
        ci_high, n, n2, alternative (and a leading ``comparison`` column for array input).

    Raises
    ------
    InputError
        When a correlation is not in (-1, 1), n is not a whole number above 3, an argument
        does not belong to the design, the correlations form no valid correlation matrix, or
        a method does not apply to the design.

    Examples
    --------
    >>> row = compare_correlations(r1=0.5, r2=0.3, n=100, n2=120, method="fisher").iloc[0]
    >>> row.method, round(float(row.statistic), 4), round(float(row.p), 4)
    ('fisher', 1.7462, 0.0808)
    """
    if design == "non-overlapping":
        design = "nonoverlapping"
    if design not in DESIGNS:
        raise InputError(f"design must be one of {list(DESIGNS)}", value=design)
    alternative = _resolve_alternative(alternative)
    level = check_level(level)
    methods = _resolve_methods(method, design)

    given = {"n2": n2, "r12": r12, "r_x1x2": r_x1x2, "r_x1y2": r_x1y2, "r_y1x2": r_y1x2, "r_y1y2": r_y1y2}
    needed = {"independent": ("n2",), "overlapping": ("r12",), "nonoverlapping": NONOVERLAP_ARGS}[design]
    for name, value in given.items():
        if name in needed and value is None:
            raise InputError(f"design={design!r} needs {name}")
        if name not in needed and value is not None:
            raise InputError(f"{name} does not belong to design={design!r}; it takes {list(needed)}")

    r_names = ["r1", "r2"] + [x for x in needed if x != "n2"]
    n_names = ["n"] + (["n2"] if design == "independent" else [])
    raw = {"r1": r1, "r2": r2, "n": n, **{k: given[k] for k in needed}}
    arrays = dict(zip(raw, np.broadcast_arrays(*(_as_float(k, v) for k, v in raw.items()))))
    for name in r_names:
        _check_r(name, arrays[name])
    for name in n_names:
        _check_n(name, arrays[name])
    if design == "overlapping":
        a, b, c = arrays["r1"], arrays["r2"], arrays["r12"]
        one = np.ones_like(a)
        _check_psd(np.stack([np.stack([one, a, b], -1), np.stack([a, one, c], -1), np.stack([b, c, one], -1)], -2),
                   "r1, r2 and r12")
    elif design == "nonoverlapping":
        a, b = arrays["r1"], arrays["r2"]
        jh, jm, kh, km = (arrays[k] for k in NONOVERLAP_ARGS)
        one = np.ones_like(a)
        # variable order x1 (j), y1 (k), x2 (h), y2 (m)
        rows = [[one, a, jh, jm], [a, one, kh, km], [jh, kh, one, b], [jm, km, b, one]]
        _check_psd(np.stack([np.stack(row, -1) for row in rows], -2), "r1, r2 and the cross correlations")

    scalar = all(np.ndim(v) == 0 for v in raw.values())
    flat = {k: v.ravel() for k, v in arrays.items()}
    return _table(design, methods, flat, alternative, level, scalar=scalar)


def _method_block(design: str, meth: str, a: dict[str, np.ndarray], alternative: str, level: float,
                  nan: np.ndarray) -> pd.DataFrame:
    """The rows of one method for every comparison."""
    m = len(nan)
    stat, df, p, low, high = nan, nan, nan, nan, nan
    if meth == "zou":
        cross = tuple(a[k] for k in NONOVERLAP_ARGS) if design == "nonoverlapping" else None
        low, high = zou_interval(design, a["r1"], a["r2"], a["n"], n2=a.get("n2"), r12=a.get("r12"),
                                 cross=cross, level=level)
    else:
        if design == "independent":
            stat = independent_statistic(meth, a["r1"], a["r2"], a["n"], a["n2"])
        elif design == "overlapping":
            stat = overlapping_statistic(meth, a["r1"], a["r2"], a["r12"], a["n"])
        else:
            stat = nonoverlapping_statistic(meth, a["r1"], a["r2"], *(a[k] for k in NONOVERLAP_ARGS), a["n"])
        if meth in T_METHODS:
            df = a["n"] - 3
        p = p_value(stat, alternative, None if meth not in T_METHODS else df)
    return pd.DataFrame({
        "comparison": np.arange(m), "design": design, "method": meth,
        "r1": a["r1"], "r2": a["r2"], "estimate": a["r1"] - a["r2"],
        "statistic": stat, "df": df, "p": p, "ci_low": low, "ci_high": high,
        "n": a["n"].astype(int), "n2": a["n2"].astype(int) if "n2" in a else pd.array([pd.NA] * m, "Int64"),
        "alternative": alternative,
    })


def _table(design: str, methods: list[str], a: dict[str, np.ndarray], alternative: str, level: float,
           *, scalar: bool) -> pd.DataFrame:
    """Tidy rows (comparison-major, then method) from flat arrays of validated inputs."""
    nan = np.full(len(a["r1"]), np.nan)
    blocks = []
    with np.errstate(invalid="ignore", divide="ignore"):  # undefined statistics become NaN (module doc)
        for meth in methods:
            blocks.append(_method_block(design, meth, a, alternative, level, nan))
    out = pd.concat(blocks, ignore_index=True)
    order = {meth: i for i, meth in enumerate(methods)}
    out = out.sort_values(["comparison", "method"], key=lambda s: s.map(order) if s.name == "method" else s,
                          kind="stable", ignore_index=True)
    if scalar:
        out = out.drop(columns="comparison")
    out["n2"] = out["n2"].astype("Int64")
    return out


# --------------------------------------------------------------------------- data level
def compare_alignment(
    scores: pd.DataFrame,
    model_a: str,
    model_b: str,
    *,
    by: str = "category",
    human_model: str = HUMAN,
    on: Iterable[str] = ("country", "item_id"),
    method: str | Sequence[str] = ("steiger", "williams", "zou"),
    alternative: str = "two-sided",
    level: float = 0.95,
) -> pd.DataFrame:
    """Does model A align with people better than model B? Overlapping-correlation tests on a scores table.

    Within each group, the pairs ``on`` (country x item) that all three models (A, B, the
    people) have are used: r1 = r(A, human), r2 = r(B, human), r12 = r(A, B), n = their
    number; then :func:`compare_correlations` with ``design="overlapping"``. Groups with fewer
    than 4 pairs or a constant column get NaN.

    Parameters
    ----------
    scores : pandas.DataFrame
        A scores table (contract ``scores``) with one mean score per model x ``on``.
    model_a, model_b : str
        The two models (values of the ``model`` column).
    by : {"category", "country", "item", "overall"}, default "category"
        Grouping, as in :func:`wvsalign.stats.alignment`.
    human_model : str, default "human"
        The ``model`` value of the people's rows.
    on : iterable of str, default ("country", "item_id")
        The columns that pair the three models' scores.
    method : str or list of str, default ("steiger", "williams", "zou")
        The tests.
    alternative, level
        As in :func:`compare_correlations`.

    Returns
    -------
    pandas.DataFrame
        One row per group and method: model_a, model_b, group_by, group ("all" for
        ``by="overall"``), r12 and the columns of :func:`compare_correlations`.

    Raises
    ------
    InputError
        When ``scores`` is not a scores table, a model is absent, or a model has several mean
        scores per pair (prompt variants: keep or average one first).

    Examples
    --------
    >>> import wvsalign as wa
    >>> tests = wa.stats.compare_alignment(scores, "smollm2-135m", "gemma3-270m", by="overall")  # doctest: +SKIP
    """
    check_table(scores, "scores", argument="scores", function="compare_alignment")
    on = list(on)
    missing = [c for c in on if c not in scores.columns]
    if missing:
        raise InputError(f"the scores table lacks the key column(s) {missing} named in on=", column=missing[0])
    by_col = GROUP_COLUMN[check_choice(by, "by", BY)]
    sources = [human_model, model_a, model_b]
    if len(set(sources)) < 3:
        raise InputError("model_a, model_b and human_model must be three different models", value=sources)
    present = set(scores["model"].unique())
    for src in sources:
        if src not in present:
            raise InputError(f"model {src!r} is not in the scores table; it has {sorted(map(str, present))}",
                             column="model")
    methods = _resolve_methods(method, "overlapping")
    alternative = _resolve_alternative(alternative)
    level = check_level(level)

    keys = on + ([by_col] if by_col and by_col not in on else [])
    sub = scores.loc[scores["model"].isin(sources), ["model", *keys, "mean_score"]]
    dup = sub.duplicated(["model", *keys])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            f"model {sub['model'].iloc[row]!r} has several mean scores per {' x '.join(keys)} (prompt "
            f"variants?): keep one variant of each model, or average over the variants, first",
            row=int(sub.index[row]) if isinstance(sub.index, pd.RangeIndex) else None,
            value=tuple(sub.iloc[row][keys]),
        )
    wide = sub.pivot(index=keys, columns="model", values="mean_score").dropna(subset=sources).reset_index()
    codes, groups = pd.factorize(wide[by_col].astype(str) if by_col else pd.Series("all", index=wide.index),
                                 sort=True)
    h, x, y = (wide[s].to_numpy(float) for s in sources)
    no_cluster = np.zeros(len(codes), dtype=np.int64)  # clusters matter for bootstrap intervals only

    def pearson(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
        return correlation_table(a, b, codes, no_cluster, no_cluster, ci="none")

    r_ah = pearson(x, h)
    r1, r2, r12 = (t["estimate"].to_numpy() for t in (r_ah, pearson(y, h), pearson(x, y)))
    n = r_ah["n"].to_numpy(float)
    valid = (n > 3) & np.isfinite(r1) & np.isfinite(r2) & np.isfinite(r12)
    valid &= (np.abs(r1) < 1) & (np.abs(r2) < 1) & (np.abs(r12) < 1)
    flat = {"r1": np.where(valid, r1, np.nan), "r2": np.where(valid, r2, np.nan),
            "r12": np.where(valid, r12, np.nan), "n": n}
    out = _table("overlapping", methods, flat, alternative, level, scalar=False)
    idx = out.pop("comparison").to_numpy()
    out["r1"], out["r2"] = r1[idx], r2[idx]
    out["estimate"] = out["r1"] - out["r2"]
    out.insert(0, "group", np.asarray(groups)[idx])
    out.insert(0, "group_by", by)
    out.insert(0, "model_b", model_b)
    out.insert(0, "model_a", model_a)
    out.insert(out.columns.get_loc("r2") + 1, "r12", r12[idx])
    return out.drop(columns="n2")
