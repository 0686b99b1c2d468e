"""R-like regressions on statsmodels formulas: OLS (classical, HC or cluster-robust), logit, mixed models.

The specification is separate from the fit, as in statsmodels: ``OLSModel(formula, data)``
stores the formula and the data, ``.fit(cov_type=...)`` validates them, fits, and returns a
:class:`RegressionResult`. The functions :func:`ols`, :func:`logit` and :func:`mixedlm` do both
in one call. Every result has ``summary()`` (the statsmodels summary under a wvsalign header that
names the covariance type), ``tidy()`` (term, estimate, std_error, statistic, p, ci_low,
ci_high: wvsalign's one vocabulary, i.e. broom's std.error / p.value / conf.low / conf.high)
and ``glance()`` (one row of model-level figures), and keeps the statsmodels result as
``.result`` (its attributes, e.g. ``params`` or ``conf_int()``, are reachable on the result).

Formulas are evaluated with numpy as ``np`` and the namespace of the code that built the
specification, so ``np.log10(params)`` and the caller's own functions work.

Inference: OLS uses t statistics with the residual df (with ``cov_type="cluster"``: G - 1 df,
G clusters, and statsmodels' small-sample factor G/(G-1) (N-1)/(N-K)), as R's
``lmtest::coeftest`` does; HC3 is MacKinnon & White's (1985) sandwich, the definition of R's
``sandwich::vcovHC(type = "HC3")``. Logit and mixed models use z statistics.
"""
from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools import sm_exceptions

from ..errors import InputError
from .bootstrap import check_level

OLS_COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster")
#: statsmodels' discrete models compute only HC0 as a sandwich (HC1-HC3 silently equal HC0)
LOGIT_COV_TYPES = ("nonrobust", "HC0", "cluster")

COV_DESCRIPTIONS = {
    "nonrobust": "classical (homoskedastic)",
    "HC0": "HC0 heteroskedasticity-robust (White 1980)",
    "HC1": "HC1 heteroskedasticity-robust (n/(n-k) scaled)",
    "HC2": "HC2 heteroskedasticity-robust (leverage-adjusted)",
    "HC3": "HC3 heteroskedasticity-robust (MacKinnon & White 1985)",
    "cluster": "cluster-robust",
}

_NAME_ERROR = re.compile(r"name '([^']+)' is not defined")


def _caller_namespace(depth: int) -> dict[str, Any]:
    """numpy as ``np`` plus the globals and locals of the frame ``depth`` levels above the caller."""
    frame = sys._getframe(depth + 1)
    return {"np": np, **frame.f_globals, **frame.f_locals}


def _formula_error(exc: Exception, formula: str, data: pd.DataFrame) -> InputError:
    """One-line InputError for a formula that statsmodels/patsy could not evaluate."""
    text = str(exc)
    match = _NAME_ERROR.search(text)
    if match:
        name = match.group(1)
        columns = list(map(str, data.columns))
        shown = columns[:20] + (["..."] if len(columns) > 20 else [])
        return InputError(
            f"formula {formula!r} uses {name!r}, which is not a column of the data (columns: {shown}) "
            f"nor a known function",
            column=name,
        )
    if "zero-size array" in text:  # what statsmodels says when every row has a missing value
        return InputError(f"no complete rows left for formula {formula!r} after dropping missing values")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return InputError(f"cannot use formula {formula!r}: {first}")


@dataclass
class RegressionSummary:
    """A statsmodels summary under wvsalign's header; prints as text, renders as HTML in notebooks."""

    header: str
    statsmodels_summary: Any

    def as_text(self) -> str:
        return f"{self.header}\n{self.statsmodels_summary.as_text()}"

    def as_html(self) -> str:
        return f"<p>{self.header.replace(chr(10), '<br>')}</p>\n{self.statsmodels_summary.as_html()}"

    def as_latex(self) -> str:
        return f"% {self.header.replace(chr(10), chr(10) + '% ')}\n{self.statsmodels_summary.as_latex()}"

    def __str__(self) -> str:
        return self.as_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.as_html()


@dataclass
class RegressionResult:
    """A fitted regression: ``tidy()``, ``glance()``, ``summary()``; ``.result`` is the statsmodels result."""

    model: "_FormulaModel"
    result: Any
    cov_type: str = "nonrobust"
    cov_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("model", "result", "cov_type", "cov_note", "extra"):
            raise AttributeError(name)
        return getattr(self.result, name)

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def terms(self) -> list[str]:
        """Names of the coefficients that tidy() reports (fixed effects for mixed models)."""
        if self.kind == "mixedlm":
            return list(self.result.fe_params.index)
        return list(self.result.params.index)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per coefficient: term, estimate, std_error, statistic, p, ci_low, ci_high."""
        level = check_level(level)
        res, terms = self.result, self.terms
        ci = pd.DataFrame(res.conf_int(alpha=1 - level)).loc[terms]
        out = pd.DataFrame({
            "term": terms,
            "estimate": pd.Series(res.params).loc[terms].to_numpy(float),
            "std_error": pd.Series(res.bse).loc[terms].to_numpy(float),
            "statistic": pd.Series(res.tvalues).loc[terms].to_numpy(float),
            "p": pd.Series(res.pvalues).loc[terms].to_numpy(float),
            "ci_low": ci.iloc[:, 0].to_numpy(float),
            "ci_high": ci.iloc[:, 1].to_numpy(float),
        })
        return out

    def glance(self) -> pd.DataFrame:
        """One row of model-level figures (n, df, fit, information criteria, covariance type)."""
        res = self.result
        row: dict[str, Any] = {"model": self.kind, "n": int(res.nobs)}
        if self.kind == "ols":
            row.update(df_model=float(res.df_model), df_resid=float(res.df_resid), r2=float(res.rsquared),
                       adj_r2=float(res.rsquared_adj), statistic=_scalar(res.fvalue), p=_scalar(res.f_pvalue))
        elif self.kind == "logit":
            row.update(df_model=float(res.df_model), df_resid=float(res.df_resid), pseudo_r2=float(res.prsquared),
                       statistic=float(res.llr), p=float(res.llr_pvalue),
                       converged=bool(res.mle_retvals.get("converged", True)))
        else:
            row.update(df_model=len(self.terms))
            row.update({f"n_{k}": v for k, v in self.extra.get("levels", {}).items()})
            row.update({f"var_{k}": float(v) for k, v in self.variance_components().items()})
            row.update(reml=bool(res.method == "REML"), converged=bool(res.converged))
        row.update(loglik=float(res.llf), aic=float(res.aic), bic=float(res.bic), cov_type=self.cov_type)
        return pd.DataFrame([row])

    def variance_components(self) -> pd.Series:
        """Mixed models: the estimated variances of the random intercepts and of the residual."""
        if self.kind != "mixedlm":
            raise InputError(f"variance_components() needs a mixed model, not {self.kind!r}")
        res, out = self.result, {}
        group = self.extra.get("group")
        if group is not None:
            out[group] = float(np.asarray(res.cov_re)[0, 0])
        for name, value in zip(res.model.exog_vc.names, np.atleast_1d(res.vcomp)):
            out[name] = float(value)
        out["residual"] = float(res.scale)
        return pd.Series(out, name="variance")

    def summary(self) -> RegressionSummary:
        """The statsmodels summary with a header naming the model, the formula and the covariance type."""
        header = (f"wvsalign {self.kind}: {self.model.formula}\n"
                  f"n = {int(self.result.nobs)}; covariance type: {self.cov_type}"
                  + (f" ({self.cov_note})" if self.cov_note else ""))
        return RegressionSummary(header, self.result.summary())

    def __repr__(self) -> str:
        return (f"<RegressionResult {self.kind} {self.model.formula!r}, cov_type={self.cov_type!r}, "
                f"n={int(self.result.nobs)}>")


def _scalar(x) -> float:
    return float(np.asarray(x).squeeze())


class _FormulaModel:
    """A formula + data specification; ``fit()`` validates and fits."""

    kind = ""

    def __init__(self, formula: str, data: pd.DataFrame, *, eval_env: dict[str, Any] | None = None) -> None:
        self.formula = formula
        self.data = data
        self.eval_env = eval_env if eval_env is not None else _caller_namespace(1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.formula!r}, data=<{len(self.data)} rows>)"

    # -- shared helpers
    def _frame(self) -> pd.DataFrame:
        if not isinstance(self.formula, str) or "~" not in self.formula:
            raise InputError("formula must be a string of the form 'outcome ~ predictors'", value=self.formula)
        if not isinstance(self.data, pd.DataFrame):
            raise InputError(f"data must be a pandas DataFrame, got {type(self.data).__name__}")
        if self.data.empty:
            raise InputError("data has no rows")
        return self.data.reset_index(drop=True)

    def _env(self) -> dict[str, Any]:
        return dict(self.eval_env)

    def _build(self, cls, data: pd.DataFrame, **kwargs):
        try:
            model = cls.from_formula(self.formula, data, eval_env=self._env(), **kwargs)
        except InputError:
            raise
        except Exception as exc:  # patsy/formulaic errors carry the bad name in their text
            raise _formula_error(exc, self.formula, data) from None
        if model.endog.shape[0] == 0:
            raise InputError(f"no complete rows left for formula {self.formula!r} after dropping missing values")
        return model

    @property
    def outcome(self) -> str:
        return self.formula.split("~", 1)[0].strip()


def _cluster_groups(groups, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, str]:
    """Attach cluster labels to the rows of ``data``; rows with a missing label are dropped."""
    if isinstance(groups, str):
        if groups not in data.columns:
            raise InputError(f"groups names no column of the data (columns: {list(map(str, data.columns))})",
                             column=groups)
        labels, name = data[groups], groups
    else:
        values = np.asarray(groups)
        if values.ndim != 1 or len(values) != len(data):
            raise InputError(f"groups has {values.size} labels but data has {len(data)} rows; "
                             f"give one label per row or a column name")
        labels, name = pd.Series(values, index=data.index), "groups"
    keep = labels.notna()
    return data.loc[keep], labels.loc[keep], name


class OLSModel(_FormulaModel):
    """Ordinary least squares, ``OLSModel("y ~ x + C(g)", data).fit(cov_type="HC3")``."""

    kind = "ols"

    def fit(self, cov_type: str = "nonrobust", groups: str | Sequence | None = None) -> RegressionResult:
        """Fit; ``cov_type`` in nonrobust, HC0-HC3, cluster (``groups``: a column name or labels per row)."""
        return _fit_linear(self, sm.OLS, cov_type, groups, OLS_COV_TYPES, use_t=True)


class LogitModel(_FormulaModel):
    """Logistic regression of a 0/1 (or True/False) outcome, ``LogitModel("y ~ x", data).fit()``."""

    kind = "logit"

    def fit(self, cov_type: str = "nonrobust", groups: str | Sequence | None = None,
            maxiter: int = 100) -> RegressionResult:
        """Fit by Newton-Raphson; ``cov_type`` in nonrobust, HC0, cluster."""
        return _fit_linear(self, sm.Logit, cov_type, groups, LOGIT_COV_TYPES, use_t=False, maxiter=maxiter)


def _binary_outcome(spec: _FormulaModel, data: pd.DataFrame) -> pd.DataFrame:
    """Check (and turn booleans into 0/1) the outcome of a logit; an expression is checked after building."""
    name = spec.outcome
    if name in data.columns:
        col = data[name]
        if col.dtype == bool or str(col.dtype) == "boolean":
            return data.assign(**{name: col.astype(float)})
        values = pd.unique(col.dropna())
        numeric = pd.to_numeric(pd.Series(values), errors="coerce")
        if numeric.isna().any() or not numeric.isin([0, 1]).all():
            shown = [v.item() if hasattr(v, "item") else v for v in values[:6]]
            raise InputError(f"logit needs a binary outcome coded 0/1 or True/False; found values {shown}",
                             column=name)
    return data


def _fit_linear(spec, cls, cov_type, groups, allowed, *, use_t: bool, maxiter: int | None = None) -> RegressionResult:
    if cov_type not in allowed:
        raise InputError(f"cov_type must be one of {list(allowed)} for {spec.kind}", value=cov_type)
    if cov_type == "cluster" and groups is None:
        raise InputError("cov_type='cluster' needs groups= (a column name or one label per row)")
    if cov_type != "cluster" and groups is not None:
        raise InputError(f"groups= is only used with cov_type='cluster', not {cov_type!r}")
    data = spec._frame()
    if spec.kind == "logit":
        data = _binary_outcome(spec, data)
    labels = None
    if groups is not None:
        data, labels, group_name = _cluster_groups(groups, data)
    binary_error = InputError(f"logit needs a binary outcome coded 0/1; {spec.outcome!r} evaluates to other values",
                              column=spec.outcome)
    try:
        model = spec._build(cls, data)
    except InputError as exc:
        if spec.kind == "logit" and "unit interval" in str(exc):
            raise binary_error from None
        raise
    if spec.kind == "logit":
        endog = np.asarray(model.endog, dtype=float)
        if endog.ndim != 1 or not np.isin(endog, (0.0, 1.0)).all():
            raise binary_error
    fit_kwargs: dict[str, Any] = {"cov_type": cov_type, "use_t": use_t}
    note = COV_DESCRIPTIONS[cov_type]
    if cov_type == "cluster":
        codes = pd.factorize(labels.loc[model.data.row_labels])[0]
        n_clusters = int(codes.max()) + 1
        fit_kwargs["cov_kwds"] = {"groups": codes}
        note += (f" by {group_name}, {n_clusters} clusters, small-sample factor G/(G-1)(N-1)/(N-K)"
                 + (f", t with {n_clusters - 1} df" if use_t else ""))
    if spec.kind == "logit":
        fit_kwargs.update(disp=False, maxiter=maxiter, method="newton")
        fit_kwargs.pop("use_t")
        result = _fit_logit(model, spec.formula, fit_kwargs)
    else:
        result = model.fit(**fit_kwargs)
    return RegressionResult(spec, result, cov_type, note)


def _fit_logit(model, formula: str, fit_kwargs: dict[str, Any]):
    """Fit; perfect separation (no maximum-likelihood estimate exists) becomes an InputError."""
    separation = (getattr(sm_exceptions, "PerfectSeparationWarning", None), sm_exceptions.PerfectSeparationError)
    message = (f"the predictors of {formula!r} separate the outcome perfectly, so the logit estimates do "
               f"not exist; drop or merge the predictor(s) that predict it exactly")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(**fit_kwargs)
        except sm_exceptions.PerfectSeparationError:
            raise InputError(message) from None
    if any(w.category in separation for w in caught):
        raise InputError(message)
    for (text, category) in dict.fromkeys((str(w.message), w.category) for w in caught):
        warnings.warn(text, category, stacklevel=4)
    return result


class MixedLMModel(_FormulaModel):
    """Linear mixed model with random intercepts, ``MixedLMModel("y ~ x", data, random=("country", "item_id"))``.

    ``nested=False`` (default): crossed random intercepts, one per level of each ``random``
    column, fitted as statsmodels MixedLM with a single group holding all rows and one
    variance component per column (``vc_formula``). ``nested=True``: random intercepts for the
    first column (the groups) and for each level of the second within the first (variance
    components inside each group). One ``random`` column: an ordinary random-intercept model.
    """

    kind = "mixedlm"

    def __init__(self, formula: str, data: pd.DataFrame, *, random: str | Sequence[str] = ("country", "item_id"),
                 nested: bool = False, eval_env: dict[str, Any] | None = None) -> None:
        super().__init__(formula, data, eval_env=eval_env if eval_env is not None else _caller_namespace(1))
        self.random = (random,) if isinstance(random, str) else tuple(random)
        self.nested = nested

    def fit(self, reml: bool = True, method: str | Sequence[str] | None = None, maxiter: int = 200) -> RegressionResult:
        """Fit by REML (default) or ML; ``method`` is passed to statsmodels (default: its own sequence)."""
        data = self._frame()
        if not self.random:
            raise InputError("random= needs at least one grouping column")
        if self.nested and len(self.random) != 2:
            raise InputError("nested=True needs exactly two random columns (group, then the factor nested in it)",
                             value=self.random)
        for col in self.random:
            if col not in data.columns:
                raise InputError(f"random names no column of the data (columns: {list(map(str, data.columns))})",
                                 column=col)
        data = data.loc[data[list(self.random)].notna().all(axis=1)]
        levels = {col: int(data[col].nunique()) for col in self.random}
        if len(self.random) == 1 or self.nested:
            group = self.random[0]
            vcf = {col: f"0 + C(Q({col!r}))" for col in self.random[1:]}
            kwargs: dict[str, Any] = {"groups": group, "re_formula": "1"}
            note = (f"random intercepts: {group}" + (f", {self.random[1]} nested in {group}" if vcf else ""))
        else:
            group = None
            data = data.assign(_wvsalign_all=0)
            vcf = {col: f"0 + C(Q({col!r}))" for col in self.random}
            kwargs = {"groups": "_wvsalign_all", "re_formula": "0"}
            note = "crossed random intercepts: " + " + ".join(self.random)
        if vcf:
            kwargs["vc_formula"] = vcf
        if group is None:
            # one group holding every row: sparse variance-component design matrices give the same
            # estimates ~5x faster (64 countries x 239 items: 17 s instead of 86 s)
            kwargs["use_sparse"] = True
        model = self._build(sm.MixedLM, data, **kwargs)
        fit_kwargs: dict[str, Any] = {"reml": reml, "maxiter": maxiter}
        if method is not None:
            fit_kwargs["method"] = method
        result = model.fit(**fit_kwargs)
        return RegressionResult(self, result, "nonrobust", note, {"group": group, "levels": levels})


def ols(formula: str, data: pd.DataFrame, *, cov_type: str = "nonrobust",
        groups: str | Sequence | None = None) -> RegressionResult:
    """Fit OLS in one call: ``OLSModel(formula, data).fit(cov_type=cov_type, groups=groups)``."""
    return OLSModel(formula, data, eval_env=_caller_namespace(1)).fit(cov_type=cov_type, groups=groups)


def logit(formula: str, data: pd.DataFrame, *, cov_type: str = "nonrobust",
          groups: str | Sequence | None = None, maxiter: int = 100) -> RegressionResult:
    """Fit a logistic regression in one call: ``LogitModel(formula, data).fit(...)``."""
    return LogitModel(formula, data, eval_env=_caller_namespace(1)).fit(cov_type=cov_type, groups=groups,
                                                                          maxiter=maxiter)


def mixedlm(formula: str, data: pd.DataFrame, *, random: str | Sequence[str] = ("country", "item_id"),
            nested: bool = False, reml: bool = True) -> RegressionResult:
    """Fit a linear mixed model with random intercepts in one call (crossed by default; see MixedLMModel)."""
    spec = MixedLMModel(formula, data, random=random, nested=nested, eval_env=_caller_namespace(1))
    return spec.fit(reml=reml)
