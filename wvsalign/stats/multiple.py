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
    """Adjusted p-values of one family of tests; same type, shape and index as ``p``, NaNs kept.

    ``method``: "holm" (default), "bh" (Benjamini-Hochberg FDR), "bonferroni", "hochberg",
    "hommel", "by", "sidak", "holm-sidak", "tsbh". ``alpha`` matters only for "tsbh" (whose
    adjusted values depend on it); :func:`adjust_table` uses it to decide ``reject``.
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

    ``by`` names the column(s) that define families (each adjusted on its own); by default the
    whole table is one family. Rows with a missing p get p_adj NaN and reject False.
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
