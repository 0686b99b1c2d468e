"""Dual evaluation: prompt language x cultural context (the "cultural-linguistic synergy").

The input is a long table of per-item alignment, one row per ``item_id`` x ``country`` x
``language`` (the language the prompt was asked in) with a value that is higher for closer
agreement with the country's people, e.g. ``1 - |model mean score - human mean score|`` on
the unit scale (:mod:`wvsalign.stats.scores`). ``native`` maps each country to its main
language. The functions here are pure statistics; :mod:`wvsalign.study.dual` builds the table
from a study.

- :func:`cell_alignment`: mean alignment per (language, country) cell with a bootstrap CI over items.
- :func:`synergy`: is alignment with country c higher when asked in c's language than in
  English, and than in the other languages? Per native language and overall, paired bootstrap
  over items (the same item draw for every cell), with d_z effect sizes.
- :func:`synergy_mixedlm`: ``value ~ same_language + C(language) + C(country)`` with random
  intercepts for item (:func:`wvsalign.stats.mixedlm`).
- :func:`variance_decomposition`: two-way ANOVA sums of squares of the language x country grid
  of cell means: the language effect, the cultural-context (country) effect and the rest
  (their interaction, where the synergy lives).
"""
from __future__ import annotations

import warnings
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from .bootstrap import check_count, check_level, interval

__all__ = ["cell_alignment", "synergy", "synergy_mixedlm", "variance_decomposition"]

KEYS = ("item_id", "country", "language")


def _check(data: pd.DataFrame, value: str) -> pd.DataFrame:
    missing = [c for c in (*KEYS, value) if c not in data.columns]
    if missing:
        raise InputError(f"dual-evaluation table lacks columns {missing}; expected {[*KEYS, value]}")
    if data.duplicated(list(KEYS)).any():
        dup = data.loc[data.duplicated(list(KEYS), keep=False), list(KEYS)].iloc[0].to_dict()
        raise InputError(f"dual-evaluation table has more than one row per item x country x language, e.g. {dup}")
    out = data[[*KEYS, value]].copy()
    out[value] = pd.to_numeric(out[value], errors="coerce")
    return out.dropna(subset=[value])


def _boot(per_item: np.ndarray, n_boot: int, seed: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile CIs of column means of ``per_item`` (items x G), items drawn with replacement (same draw per column)."""
    rng = np.random.default_rng(seed)
    n = per_item.shape[0]
    idx = rng.integers(0, n, size=(n_boot, n))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (cells without items) stay NaN
        theta_b = np.nanmean(per_item[idx], axis=1)  # (n_boot, G)
        theta = np.nanmean(per_item, axis=0)
    low, high = interval(theta_b, theta, level=level)
    return theta, np.asarray(low), np.asarray(high), theta_b


def cell_alignment(data: pd.DataFrame, *, value: str = "alignment", n_boot: int = 2000, seed: int = 0,
                   level: float = 0.95) -> pd.DataFrame:
    """Mean ``value`` per (language, country) cell with a percentile bootstrap CI over items.

    Parameters
    ----------
    data : DataFrame
        Columns ``item_id``, ``country``, ``language`` and ``value`` (one row per combination).
    value : str
        The per-item alignment column (higher is better).
    n_boot, seed, level : int, int, float
        Bootstrap replicates, seed (the items are drawn once for all cells), confidence level.

    Returns
    -------
    DataFrame
        ``language, country, estimate, ci_low, ci_high, n`` (n: items in the cell).

    Raises
    ------
    InputError
        For missing columns or duplicated rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"], ["CHN", "MEX", "USA"], ["en", "zh", "es"]],
    ...                                   names=["item_id", "country", "language"]).to_frame(index=False)
    >>> native = {"CHN": "zh", "MEX": "es", "USA": "en"}
    >>> own = grid["language"] == grid["country"].map(native)
    >>> grid["alignment"] = 0.6 + 0.1 * own + rng.normal(0, 0.02, len(grid))   # a planted same-language effect
    >>> cells = cell_alignment(grid, n_boot=200)
    >>> len(cells), bool((cells["ci_low"] <= cells["estimate"]).all())
    (9, True)
    """
    n_boot, level = check_count(n_boot, "n_boot"), check_level(level)
    table = _check(data, value)
    wide = table.pivot(index="item_id", columns=["language", "country"], values=value)
    theta, low, high, _ = _boot(wide.to_numpy(float), n_boot, seed, level)
    out = pd.DataFrame({"language": wide.columns.get_level_values(0), "country": wide.columns.get_level_values(1),
                        "estimate": theta, "ci_low": low, "ci_high": high, "n": wide.notna().sum().to_numpy()})
    return out.sort_values(["language", "country"], ignore_index=True)


def synergy(data: pd.DataFrame, native: Mapping[str, str], *, value: str = "alignment", english: str = "en",
            n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """The same-language advantage: alignment with country c asked in c's language minus asked in English / in other languages.

    For each country c whose native language L (``native[c]``) is not English and was asked:
    per item, ``d_en = v(L, c) - v(English, c)`` and ``d_other = v(L, c) - mean over the other
    asked languages L' (not L, not English) of v(L', c)``. A row per native language averages
    its countries per item, then the items; ``overall`` averages all such countries. The CI is
    a paired percentile bootstrap over items (one item draw shared by every country and
    language, seeded); p is the two-sided bootstrap p (twice the smaller share of replicates on
    either side of 0, at least 1/n_boot); ``effect_size`` is d_z = mean / sd of the per-item
    differences.

    Parameters
    ----------
    data : DataFrame
        Columns ``item_id``, ``country``, ``language``, ``value``.
    native : mapping
        Country -> its main language.
    value, english : str
        The alignment column; the code of the reference language.
    n_boot, seed, level : int, int, float
        Bootstrap settings.

    Returns
    -------
    DataFrame
        ``contrast`` (``vs_english`` / ``vs_other``), ``language`` (or ``overall``), ``estimate``,
        ``ci_low``, ``ci_high``, ``p``, ``effect_size``, ``n_items``, ``n_countries``.

    Raises
    ------
    InputError
        For bad tables, or when no country was asked in its own non-English language.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"], ["CHN", "MEX", "USA"], ["en", "zh", "es"]],
    ...                                   names=["item_id", "country", "language"]).to_frame(index=False)
    >>> native = {"CHN": "zh", "MEX": "es", "USA": "en"}
    >>> own = grid["language"] == grid["country"].map(native)
    >>> grid["alignment"] = 0.6 + 0.1 * own + rng.normal(0, 0.02, len(grid))   # a planted same-language effect
    >>> out = synergy(grid, native, n_boot=200)
    >>> row = out[(out["contrast"] == "vs_english") & (out["language"] == "overall")].iloc[0]
    >>> bool(row["ci_low"] > 0)
    True
    """
    n_boot, level = check_count(n_boot, "n_boot"), check_level(level)
    table = _check(data, value)
    wide = table.pivot(index="item_id", columns=["language", "country"], values=value)
    asked = set(wide.columns.get_level_values(0))
    countries = [c for c in dict.fromkeys(wide.columns.get_level_values(1))
                 if native.get(c, english) != english and (native[c], c) in wide.columns]
    if not countries:
        raise InputError("synergy needs countries asked in their own (non-English) language; none found "
                         f"(languages asked: {sorted(asked)})")
    diffs: dict[str, dict[str, np.ndarray]] = {"vs_english": {}, "vs_other": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for c in countries:
            own = wide[(native[c], c)].to_numpy(float)
            if (english, c) in wide.columns:
                diffs["vs_english"][c] = own - wide[(english, c)].to_numpy(float)
            others = [(lang, c) for lang in asked if lang not in (native[c], english) and (lang, c) in wide.columns]
            if others:
                diffs["vs_other"][c] = own - np.nanmean(wide[others].to_numpy(float), axis=1)
    rows = []
    for contrast, per_country in diffs.items():
        if not per_country:
            continue
        groups = {}
        for c in per_country:
            groups.setdefault(native[c], []).append(c)
        groups = dict(sorted(groups.items()))
        groups["overall"] = list(per_country)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_item = np.column_stack([np.nanmean(np.column_stack([per_country[c] for c in cs]), axis=1)
                                        for cs in groups.values()])
        theta, low, high, theta_b = _boot(per_item, n_boot, seed, level)
        for j, (name, cs) in enumerate(groups.items()):
            d = per_item[:, j][~np.isnan(per_item[:, j])]
            b = theta_b[:, j][~np.isnan(theta_b[:, j])]
            p = min(1.0, max(2 * min((b <= 0).mean(), (b >= 0).mean()), 1 / len(b))) if len(b) else np.nan
            sd = d.std(ddof=1) if len(d) > 1 else np.nan
            rows.append({"contrast": contrast, "language": name, "estimate": theta[j], "ci_low": low[j],
                         "ci_high": high[j], "p": p, "effect_size": theta[j] / sd if sd > 0 else np.nan,
                         "n_items": len(d), "n_countries": len(cs)})
    return pd.DataFrame(rows)


def _grid_frame(data: pd.DataFrame, native: Mapping[str, str], value: str) -> pd.DataFrame:
    table = _check(data, value)
    table["same_language"] = (table["language"] == table["country"].map(native)).astype(int)
    return table


def synergy_mixedlm(data: pd.DataFrame, native: Mapping[str, str], *, value: str = "alignment"):
    """Mixed model ``value ~ same_language + C(language) + C(country)``, random intercepts for item.

    ``same_language`` is 1 where the prompt's language is the country's main language; its
    coefficient is the synergy net of the language and country main effects. Fitted with
    :func:`wvsalign.stats.mixedlm` (REML, lme4's fixed-effect covariance).

    Parameters
    ----------
    data : DataFrame
        Columns ``item_id``, ``country``, ``language`` and ``value`` (one row per combination).
    native : mapping
        Country (ISO3) -> its main language (ISO 639-1).
    value : str
        The per-item alignment column.

    Returns
    -------
    RegressionResult
        ``.tidy()`` has the ``same_language`` row (estimate, CI, p).

    Raises
    ------
    InputError
        For bad tables or a grid where same_language does not vary.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"], ["CHN", "MEX", "USA"], ["en", "zh", "es"]],
    ...                                   names=["item_id", "country", "language"]).to_frame(index=False)
    >>> native = {"CHN": "zh", "MEX": "es", "USA": "en"}
    >>> own = grid["language"] == grid["country"].map(native)
    >>> grid["alignment"] = 0.6 + 0.1 * own + rng.normal(0, 0.02, len(grid))   # a planted same-language effect
    >>> fit = synergy_mixedlm(grid, native)
    >>> round(float(fit.tidy().set_index("term").loc["same_language", "estimate"]), 1)
    0.1
    """
    from .regression import mixedlm

    table = _grid_frame(data, native, value).rename(columns={value: "value"})
    if table["same_language"].nunique() < 2:
        raise InputError("same_language does not vary in the grid: ask countries in their own and in other languages")
    return mixedlm("value ~ same_language + C(language) + C(country)", table, random="item_id")


def variance_decomposition(data: pd.DataFrame, *, value: str = "alignment") -> pd.DataFrame:
    """Two-way ANOVA of the language x country grid of cell means: how much varies with language, with country, jointly.

    The cell means (mean over items per language x country) are fitted with
    ``value ~ C(language) + C(country)`` (statsmodels OLS, type II sums of squares); the residual
    is the language x country interaction (one mean per cell), where a same-language advantage shows.

    Parameters
    ----------
    data : DataFrame
        Columns ``item_id``, ``country``, ``language`` and ``value``.
    value : str
        The per-item alignment column.

    Returns
    -------
    DataFrame
        ``source`` (language, country, interaction), ``sum_sq``, ``df``, ``share`` (of the total
        sum of squares), ``F``, ``p`` (F and p of the main effects against the interaction).

    Raises
    ------
    InputError
        For bad tables or a grid with fewer than two languages or two countries.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"], ["CHN", "MEX", "USA"], ["en", "zh", "es"]],
    ...                                   names=["item_id", "country", "language"]).to_frame(index=False)
    >>> native = {"CHN": "zh", "MEX": "es", "USA": "en"}
    >>> own = grid["language"] == grid["country"].map(native)
    >>> grid["alignment"] = 0.6 + 0.1 * own + rng.normal(0, 0.02, len(grid))   # a planted same-language effect
    >>> list(variance_decomposition(grid)["source"])
    ['language', 'country', 'interaction']
    """
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    table = _check(data, value)
    cells = table.groupby(["language", "country"], as_index=False)[value].mean().rename(columns={value: "value"})
    if cells["language"].nunique() < 2 or cells["country"].nunique() < 2:
        raise InputError("variance decomposition needs at least two languages and two countries")
    fit = smf.ols("value ~ C(language) + C(country)", data=cells).fit()
    aov = anova_lm(fit, typ=2)
    out = pd.DataFrame({"source": ["language", "country", "interaction"], "sum_sq": aov["sum_sq"].to_numpy(),
                        "df": aov["df"].to_numpy(), "F": aov["F"].to_numpy(), "p": aov["PR(>F)"].to_numpy()})
    total = ((cells["value"] - cells["value"].mean()) ** 2).sum()
    out["share"] = out["sum_sq"] / total
    return out[["source", "sum_sq", "df", "share", "F", "p"]]
