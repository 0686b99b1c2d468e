"""Multiple-testing corrections for families of tests (R's ``p.adjust``, via statsmodels).

:func:`adjust_pvalues` returns adjusted p-values aligned with the input (a Series keeps its
index, NaNs stay where they were and do not count towards the family size, as in R's
``p.adjust(..., n = sum(!is.na(p)))``). :func:`adjust_table` adds ``p_adj`` and ``reject``
columns to a tidy table, family by family.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from ..errors import InputError
from .bootstrap import check_level

#: wvsalign / R method names -> statsmodels' multipletests names
METHODS: dict[str, str] = {
    "holm": "holm",
    "bh": "fdr_bh", "fdr": "fdr_bh", "fdr_bh": "fdr_bh",  # Benjamini & Hochberg (1995)
    "by": "fdr_by", "fdr_by": "fdr_by",  # Benjamini & Yekutieli (2001)
    "bonferroni": "bonferroni",
    "hochberg": "simes-hochberg", "simes-hochberg": "simes-hochberg",
    "hommel": "hommel",
    "sidak": "sidak",
    "holm-sidak": "holm-sidak",
    # two-stage BH (Benjamini, Krieger & Yekutieli 2006): the adjusted values depend on alpha
    "tsbh": "fdr_tsbh", "fdr_tsbh": "fdr_tsbh",
}


def _method(method: str) -> str:
    key = str(method).lower()
    if key not in METHODS:
        raise InputError(f"method must be one of {sorted(METHODS)}", value=method)
    return METHODS[key]


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (R: pmin(1, cummax((n - i + 1) * p[o]))[ro]).

    Written out because statsmodels' holm branch calls gc.collect() on every call, which costs
    tens of milliseconds per family in a large session.
    """
    order = np.argsort(p, kind="stable")
    n = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * p[order]))
    out = np.empty(n)
    out[order] = adjusted
    return out


def adjust_pvalues(p, method: str = "holm", alpha: float = 0.05):
    """Adjusted p-values of one family of tests (R's ``p.adjust``); NaNs kept and not counted.

    Parameters
    ----------
    p : float, array-like or pandas.Series
        The p-values of the family.
    method : str, default "holm"
        The correction: "holm", "bh" (Benjamini-Hochberg FDR), "bonferroni", "hochberg",
        "hommel", "by", "sidak", "holm-sidak", "tsbh" (R's names are accepted too).
    alpha : float, default 0.05
        Matters only for "tsbh" (whose adjusted values depend on it).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Adjusted p-values of the same type, shape and index as ``p``.

    Raises
    ------
    InputError
        When a p-value is not a number in [0, 1] or ``method`` is unknown.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03]).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_pvalues([0.01, 0.04, 0.03], "bonferroni").round(2).tolist()
    [0.03, 0.12, 0.09]
    """
    sm_method = _method(method)
    alpha = check_level(alpha, "alpha")
    is_series = isinstance(p, pd.Series)
    try:
        values = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise InputError("p-values must be numbers", value=p) from None
    flat = values.ravel()
    ok = ~np.isnan(flat)
    bad = ok & ((flat < 0) | (flat > 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"p-values must lie in [0, 1]; position {i}", value=float(flat[i]))
    out = np.full(flat.shape, np.nan)
    if ok.any():
        out[ok] = _holm(flat[ok]) if sm_method == "holm" else multipletests(flat[ok], alpha=alpha,
                                                                             method=sm_method)[1]
    out = out.reshape(values.shape)
    if is_series:
        return pd.Series(out, index=p.index, name=p.name)
    return out if values.ndim else float(out)


def adjust_table(
    table: pd.DataFrame,
    method: str = "holm",
    *,
    alpha: float = 0.05,
    by: str | Sequence[str] | None = None,
    p: str = "p",
) -> pd.DataFrame:
    """A copy of ``table`` with ``p_adj`` (adjusted ``p``) and ``reject`` (p_adj <= alpha) columns.

    Parameters
    ----------
    table : pandas.DataFrame
        A tidy table with a p-value column.
    method : str, default "holm"
        The correction (see :func:`adjust_pvalues`).
    alpha : float, default 0.05
        Level of ``reject``.
    by : str or list of str, optional
        Grouping: the column(s) whose values define the families, each adjusted on its own
        (default: the whole table is one family).
    p : str, default "p"
        The p-value column.

    Returns
    -------
    pandas.DataFrame
        ``table`` plus p_adj and reject; rows with a missing p get p_adj NaN and reject False.

    Raises
    ------
    InputError
        When ``p`` or a ``by`` column is missing or a p-value is not a number.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"family": ["a", "a", "b"], "p": [0.01, 0.04, 0.04]})
    >>> adjust_table(t, by="family")[["p_adj", "reject"]].values.tolist()
    [[0.02, True], [0.04, True], [0.04, True]]
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"expected a DataFrame, got {type(table).__name__}")
    if p not in table.columns:
        raise InputError(f"the table has no p-value column (columns: {list(table.columns)})", column=p)
    _method(method)
    pvals = pd.to_numeric(table[p], errors="coerce").astype(float)
    bad = pvals.isna() & table[p].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("p-values must be numbers", column=p, row=row, value=table[p].iloc[row])
    out = table.copy()
    if by is None:
        out["p_adj"] = adjust_pvalues(pvals, method, alpha)
    else:
        keys = [by] if isinstance(by, str) else list(by)
        missing = [k for k in keys if k not in table.columns]
        if missing:
            raise InputError(f"by names no column of the table (columns: {list(table.columns)})", column=missing[0])
        out["p_adj"] = pvals.groupby([table[k] for k in keys], dropna=False, sort=False).transform(
            lambda s: adjust_pvalues(s, method, alpha)
        )
    out["reject"] = (out["p_adj"] <= alpha).fillna(False).astype(bool)
    return out
