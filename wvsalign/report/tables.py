"""Publication tables computed from the tidy tables with :mod:`wvsalign.stats`.

Each function returns a :class:`Table`: ``data`` is the tidy result of the statistics (written
as CSV), ``display`` a formatted frame (estimates with CIs, stars) written as Markdown, LaTeX
and HTML. No statistic is computed here except by calling :mod:`wvsalign.stats`; this module
only selects, joins and formats.

Stars: ``*`` p < 0.05, ``**`` p < 0.01, ``***`` p < 0.001 (:data:`STARS`).
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .._io import write_text_atomic
from ..contracts import HUMAN, NO_COUNTRY
from ..errors import InputError
from ..study.results import DEFAULT_TERMS

#: significance thresholds and their marks, strictest first
STARS: tuple[tuple[float, str], ...] = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
STAR_NOTE = "* p < 0.05, ** p < 0.01, *** p < 0.001"
#: formats each table is written in
FORMATS = ("csv", "md", "tex", "html")


@dataclass
class Table:
    """A report table: tidy ``data`` (CSV) and its formatted ``display`` (Markdown, LaTeX, HTML).

    Parameters
    ----------
    name : str
        File stem and HTML id (``table-<name>``).
    title : str
        The table's title (Markdown heading, LaTeX caption).
    data : pandas.DataFrame
        The tidy result of the statistics (written as CSV).
    display : pandas.DataFrame
        The formatted table (written as Markdown, LaTeX and HTML).
    note : str, optional
        What the cells mean (written under the table).

    Examples
    --------
    >>> import pandas as pd
    >>> t = Table("demo", "Demo", pd.DataFrame({"r": [0.5]}), pd.DataFrame({"r": ["0.50"]}))
    >>> print(t.to_markdown())
    | r    |
    |:-----|
    | 0.50 |
    """

    name: str  # file stem and HTML id
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    note: str = ""

    def to_markdown(self) -> str:
        # the display cells are already formatted: tabulate must not re-parse "0.50" into 0.5
        return self.display.to_markdown(index=False, disable_numparse=True)

    def to_latex(self) -> str:
        caption = self.title + (f". {self.note}" if self.note else "")
        return self.display.to_latex(index=False, caption=_latex_escape(caption), label=f"tab:{self.name}",
                                     escape=True)

    def to_html(self) -> str:
        return self.display.to_html(index=False, table_id=f"table-{self.name}", classes="report-table", border=0,
                                    na_rep="", escape=True)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``<name>.csv`` (tidy), ``.md``, ``.tex`` and ``.html`` (display) into ``folder``."""
        folder = Path(folder)
        texts = {"csv": self.data.to_csv(index=False), "md": f"{self.title}\n\n{self.to_markdown()}\n"
                 + (f"\n{self.note}\n" if self.note else ""), "tex": self.to_latex(), "html": self.to_html()}
        paths = {}
        for ext, text in texts.items():
            paths[ext] = write_text_atomic(text, folder / f"{self.name}.{ext}")
        return paths


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


# ---- formatting ---------------------------------------------------------------------------------
def stars(p: float) -> str:
    """Significance stars of a p-value (:data:`STARS`); "" for NaN or p >= 0.05.

    Parameters
    ----------
    p : float
        A p-value (NaN or None: no stars).

    Returns
    -------
    str
        ``"***"`` (p < 0.001), ``"**"`` (p < 0.01), ``"*"`` (p < 0.05) or ``""``.

    Examples
    --------
    >>> stars(0.0004), stars(0.01), stars(0.049), stars(0.05)
    ('***', '*', '*', '')
    """
    if p is None or not np.isfinite(p):
        return ""
    for threshold, mark in STARS:
        if p < threshold:
            return mark
    return ""


def fmt(value: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals; "" for NaN."""
    return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def fmt_ci(estimate: float, low: float, high: float, digits: int = 2, p: float | None = None) -> str:
    """``0.41 [0.30, 0.52]`` (with stars when ``p`` is given)."""
    if estimate is None or not np.isfinite(estimate):
        return ""
    text = fmt(estimate, digits) + (stars(p) if p is not None else "")
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{fmt(low, digits)}, {fmt(high, digits)}]"
    return text


def fmt_p(p: float) -> str:
    """A p-value as in papers: ``< .001`` or three decimals."""
    if p is None or not np.isfinite(p):
        return ""
    return "< .001" if p < 0.001 else f"{p:.3f}"


def _wide(data: pd.DataFrame, index: str | list[str], cell: pd.Series, columns: str = "model") -> pd.DataFrame:
    frame = data.assign(_cell=cell.to_numpy())
    wide = frame.pivot_table(index=index, columns=columns, values="_cell", aggfunc="first", sort=False)
    wide.columns.name = None
    return wide.reset_index().fillna("")


def _category_order(groups: Sequence[str]) -> list[str]:
    from ..survey.items import CATEGORIES

    known = [c for c in CATEGORIES if c in set(groups)]
    return known + sorted(g for g in set(groups) if g not in known and g != "all") + (["all"] if "all" in
                                                                                     set(groups) else [])


# ---- alignment ----------------------------------------------------------------------------------
def alignment_table(scores: pd.DataFrame, *, metric: str = "pearson", level: float = 0.95,
                    human_model: str = HUMAN) -> Table:
    """Alignment per category x model with CIs, and overall (the core paper's main table).

    Parameters
    ----------
    scores : DataFrame
        The scores table: human rows and model rows, one per model x country x item (prompt
        variants averaged: ``wvsalign.stats.mean_scores(probs, human, variants=[])``).
    metric : {"pearson", "spearman"}
        The correlation of model and human mean scores.
    level : float
        Confidence level of the Fisher-z intervals.
    human_model : str
        The ``model`` value of the people's rows (default ``"human"``).

    Returns
    -------
    Table
        ``data``: :func:`wvsalign.stats.alignment` rows for ``by="category"`` and ``by="overall"``
        (group "all"); ``display``: one row per category and "overall", one column per model
        ("r*** [low, high]") and the number of pairs.

    Raises
    ------
    InputError
        When the scores table keeps prompt variants apart, or has no human or model rows.

    Examples
    --------
    >>> table = alignment_table(wvsalign.stats.mean_scores(probs, human, variants=[]))  # doctest: +SKIP
    >>> table.write("tables")                                                      # doctest: +SKIP
    """
    from .. import stats

    data = pd.concat([stats.alignment(scores, by="category", metric=metric, level=level, human_model=human_model),
                      stats.alignment(scores, by="overall", metric=metric, level=level, human_model=human_model)],
                     ignore_index=True)
    data = _one_config(data)
    order = _category_order(data["group"].astype(str).tolist())
    data = data.assign(_o=data["group"].map({g: i for i, g in enumerate(order)})).sort_values(
        ["_o", "model"], kind="stable").drop(columns="_o").reset_index(drop=True)
    cell = pd.Series([fmt_ci(r.estimate, r.ci_low, r.ci_high, p=r.p) for r in data.itertuples()])
    display = _wide(data, "group", cell)
    n = data.groupby("group", sort=False)["n"].agg(lambda s: "/".join(dict.fromkeys(s.astype(int).astype(str))))
    display.insert(1, "n", display["group"].map(n))
    display["group"] = display["group"].replace({"all": "overall"})
    display = display.rename(columns={"group": "category"})
    note = (f"{_metric_name(metric)} of model and human mean scores over country x item pairs, "
            f"{int(level * 100)}% CI (Fisher z) in brackets; n = pairs. {STAR_NOTE}.")
    return Table("alignment_by_category", "Alignment per category and model", data, display, note)


def _metric_name(metric: str) -> str:
    """How a table's note names the correlation (``pearson`` -> "Pearson r")."""
    return {"pearson": "Pearson r", "spearman": "Spearman rho"}.get(metric, metric)


def _one_config(data: pd.DataFrame) -> pd.DataFrame:
    """Refuse tables with several rows per model and group (prompt variants kept apart)."""
    if data.duplicated(["model", "group_by", "group"]).any():
        raise InputError("the scores table keeps prompt variants apart; average them first "
                         "(wvsalign.stats.mean_scores(..., variants=[]))", column="model")
    return data


def country_table(scores: pd.DataFrame, countries: Any = None, *, metric: str = "pearson",
                  level: float = 0.95, human_model: str = HUMAN) -> Table:
    """Alignment per country (over items) and model, with the country's cultural zone.

    Parameters
    ----------
    scores : DataFrame
        The scores table (as for :func:`alignment_table`).
    countries : Countries, optional
        The country registry (default: the embedded one); gives names, zones and the Western flag.
    metric, level, human_model
        As :func:`wvsalign.stats.alignment`.

    Returns
    -------
    Table
        ``data``: ``alignment(scores, by="country")`` plus country_name, zone and western;
        ``display``: one row per country (sorted by zone), one column per model.
    """
    from .. import stats
    from ..survey.countries import Countries

    registry = Countries.load() if countries is None else countries
    data = _one_config(stats.alignment(scores, by="country", metric=metric, level=level, human_model=human_model))
    codes = data["group"].astype(str)
    data["country_name"] = codes.map(lambda c: registry.name(c) if c in registry else c)
    data["zone"] = codes.map(lambda c: registry.get(c).zone if c in registry else "")
    data["western"] = codes.map(lambda c: bool(registry.get(c).western) if c in registry else np.nan)
    data = data.sort_values(["zone", "group", "model"], kind="stable").reset_index(drop=True)
    cell = pd.Series([fmt_ci(r.estimate, r.ci_low, r.ci_high, p=r.p) for r in data.itertuples()])
    display = _wide(data, ["zone", "country_name", "group"], cell).rename(
        columns={"group": "ISO3", "country_name": "country"})
    note = (f"{_metric_name(metric)} of model and human mean scores over the items of each country, "
            f"{int(level * 100)}% CI in brackets. {STAR_NOTE}.")
    return Table("alignment_by_country", "Alignment per country (with cultural zone)", data, display, note)


def bias_table(country_alignment: pd.DataFrame, countries: Any = None, *, n_boot: int = 2000, n_perm: int = 9999,
               seed: int = 0, level: float = 0.95) -> Table:
    """Western bias and cultural-zone bias per model, with bootstrap CIs and permutation p.

    Parameters
    ----------
    country_alignment : DataFrame
        Per-country alignment rows (``country_table(scores).data``).
    countries : Countries or mapping, optional
        As :func:`wvsalign.stats.western_bias` / :func:`wvsalign.stats.zone_bias`.
    n_boot, n_perm, seed, level
        Bootstrap replicates, permutations, seed and confidence level.

    Returns
    -------
    Table
        ``data``: the western_bias row and the zone_bias rows of each model; zone p-values are
        Holm-adjusted within each model (``p_adj``; the Western row keeps ``p``). ``display``:
        one row per split, one column per model ("difference [CI] p").
    """
    from .. import stats

    west = stats.western_bias(country_alignment, countries, n_boot=n_boot, n_perm=n_perm, seed=seed, level=level)
    zone = stats.adjust_table(
        stats.zone_bias(country_alignment, countries, n_boot=n_boot, n_perm=n_perm, seed=seed, level=level),
        "holm", by="model")
    data = pd.concat([west, zone], ignore_index=True, sort=False)
    p_shown = data["p_adj"].where(data["group_by"] == "zone", data["p"])
    cell = pd.Series([f"{fmt_ci(r.estimate, r.ci_low, r.ci_high)} p {fmt_p(pv)}{stars(pv)}"
                      for r, pv in zip(data.itertuples(), p_shown)])
    display = _wide(data, ["group_by", "group"], cell)
    display["n in/out"] = _wide(data, ["group_by", "group"], data["n_in"].astype(int).astype(str) + "/"
                                + data["n_out"].astype(int).astype(str)).iloc[:, 2:].apply(
        lambda row: next(iter(dict.fromkeys(row))), axis=1)
    display = display.rename(columns={"group_by": "split", "group": "countries"})
    note = (f"Mean per-country alignment inside minus outside the group, {int(level * 100)}% stratified bootstrap "
            f"CI in brackets, permutation p (zones: Holm-adjusted per model). {STAR_NOTE}.")
    return Table("bias", "Western and cultural-zone bias", data, display, note)


def comparison_table(scores: pd.DataFrame, models: Sequence[str] | None = None, *,
                     by: Sequence[str] = ("overall", "category"), level: float = 0.95,
                     human_model: str = HUMAN) -> Table | None:
    """Every pair of models compared on the shared human scores (Steiger's z, Zou's CI), Holm-adjusted.

    Parameters
    ----------
    scores : DataFrame
        The scores table (as for :func:`alignment_table`).
    models : sequence of str, optional
        The models to compare (default: every model of ``scores`` but ``human_model``, in order).
    by : sequence of str
        Groupings of :func:`wvsalign.stats.compare_alignment` ("overall", "category", ...).
    level : float
        Confidence level of Zou's intervals.
    human_model : str
        The ``model`` value of the people's rows (default ``"human"``).

    Returns
    -------
    Table or None
        ``data``: one row per pair x group with r1, r2, r12, the difference (``estimate``),
        Steiger's z and p, Zou's CI and ``p_adj`` (Holm over all rows). None with fewer than
        two models.
    """
    from .. import stats

    if models is None:
        models = [m for m in scores["model"].unique() if m != human_model]
    pairs = list(itertools.combinations(list(models), 2))
    if not pairs:
        return None
    parts = []
    for a, b in pairs:
        for group_by in by:
            res = stats.compare_alignment(scores, a, b, by=group_by, method=("steiger", "zou"), level=level,
                                          human_model=human_model)
            steiger = res[res["method"] == "steiger"].set_index("group")
            zou = res[res["method"] == "zou"].set_index("group")
            steiger = steiger.assign(ci_low=zou["ci_low"], ci_high=zou["ci_high"])
            parts.append(steiger.reset_index())
    data = stats.adjust_table(pd.concat(parts, ignore_index=True), "holm")
    data["method"] = "steiger z, zou CI"
    order = _category_order(data["group"].astype(str).tolist())
    data = data.assign(_o=data["group"].map({g: i for i, g in enumerate(order)})).sort_values(
        ["model_a", "model_b", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    display = pd.DataFrame({
        "model A": data["model_a"], "model B": data["model_b"],
        "category": data["group"].replace({"all": "overall"}),
        "r A": data["r1"].map(fmt), "r B": data["r2"].map(fmt),
        "difference [CI]": [fmt_ci(r.estimate, r.ci_low, r.ci_high) for r in data.itertuples()],
        "z": data["statistic"].map(fmt), "p": data["p"].map(fmt_p),
        "p (Holm)": [fmt_p(p) + stars(p) for p in data["p_adj"]], "n": data["n"].astype("Int64").astype(str),
    })
    note = (f"r A - r B on the same country x item pairs: Steiger's z test of overlapping correlations, "
            f"Zou's {int(level * 100)}% CI; p Holm-adjusted over all rows. {STAR_NOTE}.")
    return Table("model_comparisons", "Pairwise model comparisons", data, display, note)


# ---- regressions ----------------------------------------------------------------------------------
def regression_table(fits: Mapping[str, Any], *, name: str = "regressions",
                     title: str = "Regressions of alignment", level: float = 0.95) -> Table:
    """Several regressions side by side (as R's modelsummary / stargazer).

    Parameters
    ----------
    fits : mapping of str to RegressionResult
        Column name -> a fitted :func:`wvsalign.stats.ols` / ``mixedlm`` / ``logit`` result.
    name, title : str
        File stem and title of the table.
    level : float
        Confidence level of the tidy CIs.

    Returns
    -------
    Table
        ``data``: every fit's ``tidy()`` rows with its ``glance()`` figures; ``display``: per
        term a row "estimate + stars" and a row "(standard error)", the intercept last, then N,
        R2 and adjusted R2 (OLS) and the log-likelihood. Aliased terms (``fit.aliased``) show
        "NA", as R's ``lm``.

    Raises
    ------
    InputError
        When ``fits`` is empty.

    Examples
    --------
    >>> fits = {"(1)": wvsalign.stats.ols("y ~ x", df), "(2)": wvsalign.stats.ols("y ~ x + z", df)}  # doctest: +SKIP
    >>> print(regression_table(fits).to_markdown())                                                  # doctest: +SKIP
    """
    if not fits:
        raise InputError("regression_table needs at least one fitted regression")
    tidy = []
    glance = []
    for label, fit in fits.items():
        tidy.append(fit.tidy(level=level).assign(fit=label, formula=fit.model.formula, cov_type=fit.cov_type))
        glance.append(fit.glance().assign(fit=label, formula=fit.model.formula))
    data = pd.concat(tidy, ignore_index=True)
    stats_rows = pd.concat(glance, ignore_index=True)
    terms = list(dict.fromkeys(data["term"]))
    if "Intercept" in terms:
        terms = [t for t in terms if t != "Intercept"] + ["Intercept"]
    rows = []
    for term in terms:
        est = {"term": term}
        se = {"term": ""}
        for label in fits:
            hit = data[(data["fit"] == label) & (data["term"] == term)]
            if hit.empty:
                est[label] = se[label] = ""
            elif term in getattr(fits[label], "aliased", ()):
                est[label], se[label] = "NA", ""
            else:
                r = hit.iloc[0]
                est[label] = fmt(r["estimate"], 3) + stars(r["p"])
                se[label] = f"({fmt(r['std_error'], 3)})" if np.isfinite(r["std_error"]) else ""
        rows += [est, se]
    for key, shown in (("n", "N"), ("r2", "R2"), ("adj_r2", "R2 adj."), ("loglik", "Log lik.")):
        if key not in stats_rows.columns or stats_rows[key].isna().all():
            continue
        row = {"term": shown}
        for label in fits:
            value = stats_rows.loc[stats_rows["fit"] == label, key].iloc[0]
            row[label] = str(int(value)) if key == "n" else fmt(value, 3)
        rows.append(row)
    display = pd.DataFrame(rows).fillna("")
    covs = sorted(set(data["cov_type"]))
    note = f"Standard errors in parentheses ({', '.join(covs)}). {STAR_NOTE}."
    if any(getattr(fit, "aliased", ()) for fit in fits.values()):
        note += " NA: not defined (the term is a linear combination of earlier terms, as R's lm)."
    fit_stats = stats_rows.drop(columns=["formula"]).rename(
        columns={"p": "model_p", "statistic": "model_statistic", "model": "kind"})
    data = data.merge(fit_stats, on="fit", how="left")
    return Table(name, title, data, display, note)


#: the regressions of alignment across models the report fits, in order: (label, model-level terms,
#: category fixed effects). Model-level terms are kept as :func:`wvsalign.stats.estimable_terms` says
#: (as :meth:`wvsalign.study.Study.regression`); (3) is the study's regression.
SIZE_REGRESSIONS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("(1) size", (DEFAULT_TERMS[0],), False),
    ("(2) size + category", (DEFAULT_TERMS[0],), True),
    ("(3) size + training", DEFAULT_TERMS, True),
)


@dataclass
class SizeRegressions:
    """What :func:`size_regressions` fitted.

    Parameters
    ----------
    fits : dict of str to RegressionResult
        Label -> fit, for the regressions of :data:`SIZE_REGRESSIONS` that could be fitted.
    notes : list of str
        One line per regression not fitted or with terms dropped, saying why.
    rows : DataFrame
        The model x category rows with the models' metadata (params, log10_params, multilingual,
        instruction_tuned as 0/1).
    terms : EstimableTerms or None
        The model-level terms of the last regression (:data:`~wvsalign.study.results.DEFAULT_TERMS`)
        that can be estimated, the dropped ones with the reason and the note, as
        :meth:`wvsalign.study.Study.regression` reports them; None with fewer than two models.
    """

    fits: dict[str, Any]
    notes: list[str]
    rows: pd.DataFrame
    terms: Any = None


def size_formula(terms: Sequence[str], category_effects: bool, rows: pd.DataFrame) -> str:
    """``estimate ~ terms (+ C(group))``: category effects only where the rows have two categories or more."""
    rhs = " + ".join(terms)
    if category_effects and rows["group"].nunique() > 1:
        rhs += " + C(group)"
    return f"estimate ~ {rhs}"


def size_regressions(category_alignment: pd.DataFrame, models: pd.DataFrame, *,
                     cov_type: str = "HC3") -> SizeRegressions:
    """Fit :data:`SIZE_REGRESSIONS` on model x category alignment rows (OLS, HC3) where they can be fitted.

    The model-level terms (log10 parameters, multilingual, instruction tuning) vary only between
    models: each regression keeps those :func:`wvsalign.stats.estimable_terms` finds estimable
    across the models (in order, while they add information), as
    :meth:`wvsalign.study.Study.regression` does, and says what it dropped. A regression whose
    terms are all dropped, or whose terms equal those of the one before, is not fitted.

    Parameters
    ----------
    category_alignment : DataFrame
        Alignment rows (those with group_by "category" are used), e.g. ``alignment_table(...).data``.
    models : DataFrame
        One row per model: model, params (and log10_params), multilingual, instruction_tuned (the
        report's ``ReportData.models``); with ``unit`` and ``condition`` (a study's runs: one model
        in several conditions), the model-level terms are judged across units and the regressions
        add condition effects (``C(condition)``), as :meth:`~wvsalign.study.Study.regression`.
    cov_type : str
        Covariance type of :func:`wvsalign.stats.ols` (default HC3).

    Returns
    -------
    SizeRegressions
        ``fits``, ``notes``, ``rows`` and ``terms`` (the estimable terms of the last regression with
        the note :meth:`~wvsalign.study.Study.regression` gives).
    """
    from .. import stats

    unit = "unit" if "unit" in models.columns else "model"
    meta = models[["model"] + [c for c in ("unit", "condition") if c in models.columns]].copy()
    meta["params"] = pd.to_numeric(models["params"], errors="coerce") if "params" in models else np.nan
    meta["params"] = meta["params"].where(meta["params"] > 0)
    meta["log10_params"] = np.log10(meta["params"])
    for col in ("multilingual", "instruction_tuned"):
        values = models[col] if col in models else pd.Series(np.nan, index=models.index)
        meta[col] = values.map(_as_flag)
    rows = category_alignment[category_alignment["group_by"] == "category"].merge(meta, on="model", how="left")
    used = rows[np.isfinite(rows["estimate"].to_numpy(float))]
    # a model seen in several conditions (a study's runs): condition effects, as Study.regression
    conditions = "condition" in used.columns and used.groupby(unit)["condition"].nunique().max() > 1
    fits: dict[str, Any] = {}
    notes: list[str] = []
    chosen = None
    previous: tuple[list[str], bool] | None = None
    for label, terms, category_effects in SIZE_REGRESSIONS:
        try:
            chosen = stats.estimable_terms(used, list(terms), unit=unit, unit_label="models")
        except InputError as exc:
            chosen = None
            notes.append(f"{label} not fitted: {exc}")
            continue
        formula = size_formula(chosen.kept, category_effects, used) + (" + C(condition)" if conditions else "")
        if not chosen.kept:
            notes.append(f"{label} not fitted: {'; '.join(chosen.dropped.values())}; add models that differ in it")
            continue
        if previous == (chosen.kept, category_effects):
            notes.append(f"{label} not fitted: with these models it is {formula}, the regression before it"
                         + (f". {chosen.note}" if chosen.note else ""))
            continue
        previous = (chosen.kept, category_effects)
        n_terms = (1 + len(chosen.kept) + (used["group"].nunique() - 1 if "C(group)" in formula else 0)
                   + (used["condition"].nunique() - 1 if conditions else 0))
        if len(used) <= n_terms + 1:
            notes.append(f"{label} `{formula}` not fitted: {len(used)} rows for {n_terms} terms")
            continue
        with warnings.catch_warnings():  # statsmodels' notices; an aliased term becomes a note below
            warnings.simplefilter("ignore")
            fit = stats.ols(formula, used, cov_type=cov_type)
        if chosen.dropped:
            notes.append(f"{label} `{formula}`: {chosen.note}")
        if fit.aliased:
            notes.append(f"{label} `{formula}`: {', '.join(fit.aliased)} not defined (NA): a linear combination of "
                         f"earlier terms across these {chosen.n_units} models")
        fits[label] = fit
    return SizeRegressions(fits=fits, notes=notes, rows=rows, terms=chosen)


def _as_flag(value: Any) -> float:
    """A recorded true/false flag as 1.0/0.0 (strings "true"/"false" too); NaN when not recorded."""
    if isinstance(value, str):
        return {"true": 1.0, "false": 0.0}.get(value.strip().lower(), np.nan)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    return float(bool(value))


def size_line(fit: Any, rows: pd.DataFrame, *, level: float = 0.95, points: int = 50) -> pd.DataFrame:
    """The fitted line of the one-predictor size regression with its confidence band (for the figure).

    ``fit`` is ``size_regressions(...).fits["(1) size"]`` (``estimate ~ np.log10(params)``, plus
    ``C(condition)`` when a study's models ran in several conditions: the line is then drawn for
    the reference, i.e. first sorted, condition); ``rows`` the rows it was fitted on (their
    ``log10_params`` span the line).
    """
    grid = pd.DataFrame({"log10_params": np.linspace(rows["log10_params"].min(), rows["log10_params"].max(),
                                                     points)})
    grid["params"] = 10.0 ** grid["log10_params"]
    if any(str(n).startswith("C(condition)") for n in fit.result.model.exog_names) and "condition" in rows.columns:
        grid["condition"] = sorted(rows["condition"].dropna().astype(str).unique())[0]
    pred = fit.result.get_prediction(grid).summary_frame(alpha=1 - level)
    return grid[["log10_params"]].assign(fit=pred["mean"].to_numpy(), ci_low=pred["mean_ci_lower"].to_numpy(),
                                         ci_high=pred["mean_ci_upper"].to_numpy())


# ---- robustness and similarity -------------------------------------------------------------------
def format_table(variant_scores: pd.DataFrame, *, n_perm: int = 999, seed: int = 0) -> Table | None:
    """How far prompt-format factors move answers (:func:`wvsalign.stats.format_effects`).

    Parameters
    ----------
    variant_scores : DataFrame
        The scores table with prompt variants kept apart
        (``wvsalign.stats.mean_scores(probs, human, variants=None)``).
    n_perm, seed : int
        Permutations of each item's test and their seed.

    Returns
    -------
    Table or None
        ``data``: one row per model x factor x item. ``display``: per model x factor, the median
        shift of the item mean score across the factor's levels, the median of that shift over
        the between-country SD of human mean scores, and the items whose shift is significant
        (permutation p < 0.05). None when no format factor varies.
    """
    from .. import stats

    try:
        data = stats.format_effects(variant_scores, n_perm=n_perm, seed=seed)
    except InputError:
        return None
    grouped = data.groupby(["model", "factor"], sort=True)
    display = pd.DataFrame({
        "items": grouped.size(),
        "median shift": grouped["estimate"].median().map(lambda v: fmt(v, 3)),
        "median shift / human SD": grouped["ratio"].median().map(fmt),
        "items p < .05": grouped["p"].apply(lambda p: f"{int((p < 0.05).sum())}"),
    }).reset_index()
    note = ("Shift: max - min of an item's mean score (0-1 scale) over the factor's levels; human SD: SD of the "
            "human mean scores across countries (a ratio above 1 means the format moves answers more than real "
            "between-country differences); p: permutation test per item.")
    return Table("format_robustness", "Format robustness", data, display, note)


def similarity_table(probs: pd.DataFrame, human: pd.DataFrame, bank: Any = None, *, n_boot: int = 1000,
                     seed: int = 0, level: float = 0.95) -> Table:
    """Distribution similarity per category and model: 1 - JSD and 1 - W/(K-1), with cluster-bootstrap CIs.

    Parameters
    ----------
    probs, human : DataFrame
        The probs and human tables (contracts ``probs`` and ``human``).
    bank : ItemBank, optional
        The item bank (default: the embedded WVS-7 bank).
    n_boot, seed, level
        Bootstrap replicates (countries resampled), seed and confidence level.

    Returns
    -------
    Table
        ``data``: :func:`wvsalign.stats.distribution_similarity` rows per category and overall,
        prompt variants averaged; ``display``: one row per category, one column per model x
        measure.
    """
    from .. import stats

    parts = []
    for metric in ("js", "wasserstein"):
        for by in ("category", "overall"):
            parts.append(stats.distribution_similarity(probs, human, bank, metric=metric, by=by, variants=[],
                                                       n_boot=n_boot, seed=seed, level=level))
    data = pd.concat(parts, ignore_index=True)
    label = {"js_similarity": "1 - JSD", "wasserstein_similarity": "1 - W/(K-1)"}
    data["column"] = data["model"].astype(str) + ": " + data["metric"].map(label)
    order = _category_order(data["group"].astype(str).tolist())
    data = data.assign(_o=data["group"].map({g: i for i, g in enumerate(order)})).sort_values(
        ["_o", "model", "metric"], kind="stable").drop(columns="_o").reset_index(drop=True)
    cell = pd.Series([fmt_ci(r.estimate, r.ci_low, r.ci_high) for r in data.itertuples()])
    display = _wide(data, "group", cell, columns="column")
    display["group"] = display["group"].replace({"all": "overall"})
    display = display.rename(columns={"group": "category"})
    note = (f"Mean over country x item cells of 1 - Jensen-Shannon distance and 1 - Wasserstein-1 / (K - 1) "
            f"between model and human answer distributions; {int(level * 100)}% CI from a bootstrap over countries.")
    return Table("distribution_similarity", "Distribution similarity", data, display, note)


def cultural_distance_table(distances: pd.DataFrame, countries: Any = None) -> Table:
    """Cultural distance of each model to each country on the map (:meth:`CultureMap.distances`).

    Parameters
    ----------
    distances : DataFrame
        :meth:`wvsalign.stats.CultureMap.distances` rows (model, group = ISO3, estimate, rank).
    countries : Countries, optional
        The country registry (default: the embedded one); gives the zones.

    Returns
    -------
    Table
        ``data``: the distances with the zone; ``display``: one row per country (ordered by
        the first model's rank), one column per model ("distance (rank)").
    """
    from ..survey.countries import Countries

    registry = Countries.load() if countries is None else countries
    data = distances.copy()
    data["zone"] = data["group"].map(lambda c: registry.get(c).zone if c in registry else "")
    data = data.sort_values(["model", "rank"], kind="stable").reset_index(drop=True)
    cell = pd.Series([f"{fmt(r.estimate)} ({int(r.rank)})" for r in data.itertuples()])
    display = _wide(data, ["zone", "group"], cell).rename(columns={"group": "ISO3"})
    first = data["model"].iloc[0]
    order = data[data["model"] == first].set_index("group")["rank"]
    display = display.assign(_r=display["ISO3"].map(order)).sort_values("_r").drop(columns="_r")
    note = "Euclidean distance on the Inglehart-Welzel map between a model's position and each country (rank)."
    return Table("cultural_distance", "Cultural distance of each model to each country", data, display, note)


def ranking_table(scores: pd.DataFrame, *, top: int = 10, metric: str = "pearson", level: float = 0.95,
                  human_model: str = HUMAN) -> Table:
    """Whose opinions does the model hold by default? Countries ranked by the similarity of the
    model's no-country answers (country ``NONE``, :data:`wvsalign.contracts.NO_COUNTRY`) to each
    country's people.

    Parameters
    ----------
    scores : DataFrame
        The scores table with the human rows and the models' no-country rows.
    top : int
        Countries shown per model in ``display`` (``data`` keeps them all).
    metric : {"pearson", "spearman"}
        The correlation over items.
    level : float
        Confidence level of the Fisher-z intervals.
    human_model : str
        The ``model`` value of the people's rows (default ``"human"``).

    Returns
    -------
    Table
        ``data``: :func:`wvsalign.stats.default_ranking` (r over items, Fisher CI, rank);
        ``display``: the ``top`` closest countries of each model.

    Raises
    ------
    InputError
        When no model has no-country answers.
    """
    from .. import stats

    data = stats.default_ranking(scores, metric=metric, level=level, human_model=human_model,
                                 default_country=NO_COUNTRY)
    shown = data[data["rank"] <= top]
    display = pd.DataFrame({
        "model": shown["model"].astype(str), "rank": shown["rank"].astype(str),
        "country": shown["group"].astype(str),
        "r [CI]": [fmt_ci(r.estimate, r.ci_low, r.ci_high, p=r.p) for r in shown.itertuples()],
        "n": shown["n"].astype("Int64").astype(str)})
    note = (f"{_metric_name(metric)} over items between the model's answers with no country named and each country's "
            f"people, {int(level * 100)}% CI; rank 1 = closest; the {top} closest countries per model. {STAR_NOTE}.")
    return Table("default_ranking", "Whose opinions does the model hold by default?", data, display, note)


# ---- tables behind figures ------------------------------------------------------------------------
def category_means(scores: pd.DataFrame, *, human_model: str = HUMAN) -> pd.DataFrame:
    """Mean score per model x country x category against the people's, over the category's items.

    The data of the model-vs-human scatter.

    Parameters
    ----------
    scores : DataFrame
        The scores table (model, country, item_id, category, mean_score), prompt variants
        averaged.
    human_model : str
        The ``model`` value of the people's rows (default ``"human"``).

    Returns
    -------
    DataFrame
        One row per model x country x category: model, country, category, ``model_score`` (the
        model's mean), ``human_score`` (the people's mean over the same items) and ``items``.
        Countries the people have no rows for (the no-country condition) are left out.
    """
    human = scores[scores["model"] == human_model][["country", "item_id", "mean_score"]]
    models = scores[(scores["model"] != human_model) & (scores["country"].isin(human["country"]))]
    pairs = models.merge(human, on=["country", "item_id"], suffixes=("", "_human"))
    return (pairs.groupby(["model", "country", "category"], sort=True)
            .agg(model_score=("mean_score", "mean"), human_score=("mean_score_human", "mean"),
                 items=("item_id", "size")).reset_index())


def write_tables(tables: Sequence[Table], folder: str | Path) -> list[Path]:
    """Write every table in every format (:data:`FORMATS`); returns the paths written.

    Parameters
    ----------
    tables : sequence of Table
        The tables.
    folder : str or Path
        Where ``<name>.csv``, ``.md``, ``.tex`` and ``.html`` are written (atomically).

    Returns
    -------
    list of Path
    """
    written = []
    for table in tables:
        written.extend(table.write(folder).values())
    return written
