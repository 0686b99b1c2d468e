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
specification, so ``np.log10(params)`` and the caller's own functions work; the formula words
``C``, ``Q`` and ``I`` always mean patsy's (a variable of that name in the caller's code is
ignored), and the random-effect designs of mixed models do not depend on the caller at all.

Equality with R (checked against stored R 4.2 outputs in ``tests/r/``):

- OLS: estimates, classical and HC0-HC3 standard errors with t on the residual df equal
  ``lmtest::coeftest(fit, vcov = sandwich::vcovHC(fit, type = "HC3"))``; ``glance()``'s
  ``aic``/``bic`` equal ``AIC(fit)``/``BIC(fit)`` (the error variance counts as a parameter).
  ``cov_type="cluster"``: sandwich's ``vcovCL(fit, cluster = ~g)`` (type HC1: G/(G-1) (N-1)/(N-K))
  with t on G - 1 df, i.e. ``coeftest(fit, vcov = vcovCL(fit, cluster = ~g), df = G - 1)``.
  Rank-deficient designs: a term that is a linear combination of earlier terms is aliased and
  reported as NA (NaN estimate, standard error and p, with a warning naming it), as ``lm``.
- Logit: z statistics as ``coeftest`` on a ``glm``; ``HC0`` equals ``vcovHC(fit, type = "HC0")``
  and ``cov_type="cluster"`` equals ``vcovCL(fit, cluster = ~g)``'s default for a glm (type HC0
  with the G/(G-1) cluster adjustment).
- Mixed models: fixed-effect standard errors are lme4's ``vcov(fit)``, i.e.
  ``(X' V^-1 X)^-1`` at the estimated variances (not the full-Hessian inverse statsmodels
  reports), with z statistics; ``aic``/``bic`` of REML and ML fits equal ``AIC(fit)``/``BIC(fit)``
  of ``lme4::lmer`` (REML fits: from the REML log-likelihood, as R).
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
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg
from statsmodels.tools import sm_exceptions

from ..errors import InputError
from ..errors import AliasedTermWarning  # noqa: F401  (re-exported)
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
#: formula words that are patsy's own: a variable of the same name in the caller's code must not hide them
FORMULA_WORDS = ("C", "Q", "I")
#: relative tolerance below which a column counts as a linear combination of earlier ones (R's lm.fit)
ALIAS_TOL = 1e-7


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
        """Names of the coefficients that tidy() reports (fixed effects for mixed models; aliased terms included)."""
        if self.kind == "mixedlm":
            return list(self.result.fe_params.index)
        return list(self.extra.get("all_terms") or self.result.params.index)

    @property
    def aliased(self) -> list[str]:
        """Terms left out as linear combinations of earlier terms (R's NA coefficients)."""
        return list(self.extra.get("aliased", []))

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per coefficient: term, estimate, std_error, statistic, p, ci_low, ci_high.

        Aliased terms (see :attr:`aliased`) have NaN in every numeric column, as R's NA.
        """
        level = check_level(level)
        res, terms = self.result, self.terms

        def col(values) -> np.ndarray:
            return pd.Series(values).reindex(terms).to_numpy(float)

        ci = pd.DataFrame(res.conf_int(alpha=1 - level)).reindex(terms)
        out = pd.DataFrame({
            "term": terms,
            "estimate": col(res.params),
            "std_error": col(res.bse),
            "statistic": col(res.tvalues),
            "p": col(res.pvalues),
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
        loglik, n_par = float(res.llf), self._n_parameters()
        row.update(loglik=loglik, aic=-2 * loglik + 2 * n_par, bic=-2 * loglik + np.log(float(res.nobs)) * n_par,
                   cov_type=self.cov_type)
        return pd.DataFrame([row])

    def _n_parameters(self) -> int:
        """Parameters counted by R's AIC/BIC: coefficients (+ the error variance of OLS), as ``logLik``'s df.

        OLS: rank + 1 (sigma); logit: rank; mixed models: fixed effects + variance parameters +
        the residual variance (lme4's ``length(beta) + length(theta) + 1``).
        """
        res = self.result
        if self.kind == "ols":
            return len(res.params) + 1
        if self.kind == "logit":
            return len(res.params)
        if res.freepat is not None:
            return int(res.freepat.get_packed(use_sqrt=False, has_fe=True).sum()) + 1
        return int(np.asarray(res.params).size) + 1

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
        if self.aliased:
            header += (f"\n{len(self.aliased)} coefficient(s) not defined because of singularities (NA): "
                       + ", ".join(self.aliased))
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
        env = dict(self.eval_env)
        for word in FORMULA_WORDS:  # patsy's C(), Q() and I() win over the caller's variables
            env.pop(word, None)
        return env

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
    n_clusters = 0
    if cov_type == "cluster":
        codes = pd.factorize(labels.loc[model.data.row_labels])[0]
        n_clusters = int(codes.max()) + 1
        if n_clusters < 2:
            raise InputError(f"cov_type='cluster' needs at least 2 clusters; {group_name} has {n_clusters}",
                             column=group_name if isinstance(groups, str) else None)
        fit_kwargs["cov_kwds"] = {"groups": codes}
        if spec.kind == "logit":  # sandwich::vcovCL's default for a glm: HC0 with the G/(G-1) adjustment
            fit_kwargs["cov_kwds"]["use_correction"] = False
            note += f" by {group_name}, {n_clusters} clusters, type HC0 with factor G/(G-1) (vcovCL's glm default)"
        else:  # vcovCL's default for lm: HC1, i.e. G/(G-1) (N-1)/(N-K); t with G - 1 df
            note += (f" by {group_name}, {n_clusters} clusters, type HC1: factor G/(G-1)(N-1)/(N-K)"
                     f", t with {n_clusters - 1} df")
    all_terms = list(model.exog_names)
    aliased_idx = _aliased_columns(np.asarray(model.exog, dtype=float))
    extra: dict[str, Any] = {}
    if aliased_idx:
        aliased = [all_terms[j] for j in aliased_idx]
        keep = [j for j in range(len(all_terms)) if j not in set(aliased_idx)]
        exog = pd.DataFrame(np.asarray(model.exog)[:, keep], columns=[all_terms[j] for j in keep])
        model = cls(np.asarray(model.endog, dtype=float), exog)
        extra = {"all_terms": all_terms, "aliased": aliased}
        warnings.warn(f"{spec.kind} {spec.formula!r}: {len(aliased)} coefficient(s) not defined because of "
                      f"singularities (a linear combination of earlier terms): {', '.join(map(repr, aliased))}; "
                      f"reported as NA, as R's lm/glm", AliasedTermWarning, stacklevel=4)
    if spec.kind == "logit":
        fit_kwargs.update(disp=False, maxiter=maxiter, method="newton")
        fit_kwargs.pop("use_t")
        result = _fit_logit(model, spec.formula, fit_kwargs)
        if cov_type == "cluster":
            _set_cov(result, np.asarray(result.cov_params_default) * n_clusters / (n_clusters - 1),
                     default=True)
    else:
        result = model.fit(**fit_kwargs)
    return RegressionResult(spec, result, cov_type, note, extra)


def _aliased_columns(exog: np.ndarray, tol: float = ALIAS_TOL) -> list[int]:
    """Columns of ``exog`` that are linear combinations of earlier columns, in order.

    As R's ``lm.fit`` (LINPACK dqrdc2 with ``tol = 1e-7``): a column whose part orthogonal to the
    earlier kept columns has a norm below ``tol`` times its own norm is aliased.
    """
    n, k = exog.shape
    basis = np.zeros((n, 0))
    aliased = []
    for j in range(k):
        column = exog[:, j]
        norm = float(np.linalg.norm(column))
        resid = column - basis @ (basis.T @ column)
        resid = resid - basis @ (basis.T @ resid)  # twice is enough (Gram-Schmidt re-orthogonalisation)
        rnorm = float(np.linalg.norm(resid))
        if norm == 0.0 or rnorm < tol * norm:
            aliased.append(j)
        else:
            basis = np.column_stack([basis, resid / rnorm])
    return aliased


def _set_cov(result, cov: np.ndarray, *, default: bool) -> None:
    """Replace the parameter covariance of a statsmodels result and drop its cached bse/t/p."""
    inner = getattr(result, "_results", result)
    if default:
        inner.cov_params_default = cov
    else:
        inner.normalized_cov_params = cov / inner.scale
    inner._cache = {}


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

    Fixed-effect standard errors are lme4's, ``(X' V^-1 X)^-1`` at the estimated variances
    (:func:`fixed_effects_vcov`), with z statistics; ``glance()``'s AIC/BIC are R's, also for
    REML fits (from the REML log-likelihood).
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
        # the random-effect designs use string copies of the grouping columns under names of our own:
        # "0 + _wvsalign_re1" is a full set of indicators without C() or Q(), whatever the caller defines
        re_cols = {col: f"_wvsalign_re{i}" for i, col in enumerate(self.random)}
        data = data.assign(**{name: data[col].astype(str) for col, name in re_cols.items()})
        if len(self.random) == 1 or self.nested:
            group = self.random[0]
            vcf = {col: f"0 + {re_cols[col]}" for col in self.random[1:]}
            kwargs: dict[str, Any] = {"groups": group, "re_formula": "1"}
            note = (f"random intercepts: {group}" + (f", {self.random[1]} nested in {group}" if vcf else ""))
        else:
            group = None
            data = data.assign(_wvsalign_all=0)
            vcf = {col: f"0 + {re_cols[col]}" for col in self.random}
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
        k_fe = model.k_fe
        cov = np.array(result.cov_params(), dtype=float)  # the full-Hessian inverse
        cov[:k_fe, :] = 0.0
        cov[:, :k_fe] = 0.0
        cov[:k_fe, :k_fe] = fixed_effects_vcov(result)
        _set_cov(result, cov, default=False)
        note += "; fixed-effect SEs from (X'V^-1 X)^-1, as lme4"
        return RegressionResult(self, result, "nonrobust", note, {"group": group, "levels": levels})


def fixed_effects_vcov(result) -> np.ndarray:
    """lme4's covariance of the fixed effects of a statsmodels MixedLM fit: ``(X' V^-1 X)^-1``.

    ``V = Z D Z' + sigma^2 I`` at the estimated variances (``D``: the random-effect covariance and
    the variance components). With ``Lambda = D^(1/2) / sigma`` (a symmetric square root, so that
    a variance at zero is allowed), per group of the model
    ``X' V^-1 X = (X'X - B' (I + Lambda' Z'Z Lambda)^-1 B) / sigma^2`` with ``B = Lambda' Z'X``
    (Woodbury), computed with sparse matrices.

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fitted model (REML or ML).

    Returns
    -------
    numpy.ndarray
        The (k_fe, k_fe) covariance matrix of the fixed effects, as R's ``vcov(lmer_fit)``.
    """
    model = getattr(result, "model")
    scale = float(result.scale)
    k_fe = model.k_fe
    lam_re = None
    if model.k_re > 0:
        w, u = np.linalg.eigh(np.asarray(result.cov_re_unscaled, dtype=float))
        lam_re = (u * np.sqrt(np.clip(w, 0.0, None))) @ u.T
    vcomp = np.sqrt(np.clip(np.atleast_1d(np.asarray(result.vcomp, dtype=float)) / scale, 0.0, None))
    xvx = np.zeros((k_fe, k_fe))
    for g in range(len(model.group_labels)):
        x = np.asarray(model.exog_li[g], dtype=float)
        blocks = []
        if lam_re is not None:
            blocks.append(sparse.csr_array(np.asarray(model.exog_re_li[g], dtype=float) @ lam_re))
        for k in range(model.k_vc):
            blocks.append(sparse.csr_array(model.exog_vc.mats[k][g]) * vcomp[k])
        xvx += x.T @ x
        if not blocks:
            continue
        zl = sparse.hstack(blocks, format="csc")
        inner = (sparse.identity(zl.shape[1], format="csc") + zl.T @ zl).tocsc()
        b = np.asarray((zl.T @ x), dtype=float)
        xvx -= b.T @ sparse_linalg.splu(inner).solve(b)
    return scale * np.linalg.inv(xvx)


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


# ---- which unit-level terms a regression can estimate ----------------------------------------------
@dataclass(frozen=True)
class EstimableTerms:
    """The unit-level terms (e.g. model metadata) a regression across few units can estimate.

    Parameters
    ----------
    kept : list of str
        The terms kept, in the order given: each adds a dimension to the unit-level design
        (intercept and the terms kept before it).
    dropped : dict of str to str
        Term -> why it was dropped (missing for some unit, or no information beyond the
        intercept and the terms kept before it), in the order given.
    note : str
        A plain note on what was dropped and what the kept effects mean ("" when nothing was
        dropped).
    n_units : int
        The number of distinct units (e.g. models).
    """

    kept: list[str]
    dropped: dict[str, str]
    note: str
    n_units: int


def _term_columns(term: str, units: pd.DataFrame, unit: str, env: dict[str, Any]) -> tuple[np.ndarray | None, str]:
    """The design columns of one term on the unit-level rows (no intercept), or None and why not."""
    frame = units.assign(__outcome__=0.0)
    spec = OLSModel(f"__outcome__ ~ {term}", frame, eval_env=env)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = spec._build(sm.OLS, frame)
    except InputError as exc:
        if exc.column is not None:
            return None, f"{term}: no metadata '{exc.column}'"
        if "no complete rows" in str(exc):
            return None, f"{term}: not recorded for any of the {len(units)} units"
        return None, f"{term}: cannot be evaluated ({exc})"
    exog = np.asarray(model.exog, dtype=float)
    names = list(model.exog_names)
    keep = [i for i, name in enumerate(names) if name != "Intercept"]
    labels = model.data.row_labels
    labels = list(range(len(exog))) if labels is None else list(labels)
    finite = np.isfinite(exog[:, keep]).all(axis=1) if keep else np.ones(len(exog), bool)
    present = {labels[i] for i in np.flatnonzero(finite)}
    if len(present) < len(units):
        missing = [str(name) for i, name in enumerate(units[unit]) if i not in present]
        shown = missing[:5] + (["..."] if len(missing) > 5 else [])
        return None, f"{term}: not recorded for {shown}"
    return exog[:, keep], ""


def estimable_terms(data: pd.DataFrame, terms: Sequence[str], *, unit: str = "model",
                    unit_label: str = "models") -> EstimableTerms:
    """Which unit-level terms a regression across few units (e.g. models) can estimate.

    Terms whose values are constant within each ``unit`` (model size, training flags) are
    identified only by the differences between units: with few units, some are constant or a
    linear combination of others. The terms are kept in the order given while each raises the
    rank (:func:`numpy.linalg.matrix_rank`) of the unit-level design (an intercept and the
    columns of the terms kept so far); a term whose values are missing or not finite for some
    unit is dropped too. The kept terms therefore span the same columns as the full design:
    ``1 + len(kept) == matrix_rank`` of the design of every term without missing values (for
    one-column terms).

    Parameters
    ----------
    data : DataFrame
        Rows of the regression (e.g. model x category); one row per ``unit`` is used (the first).
    terms : sequence of str
        Candidate terms as formula terms (``"np.log10(params)"``, ``"multilingual"``,
        ``"C(family)"``), in order of priority.
    unit : str
        The column naming the units (default ``"model"``).
    unit_label : str
        How the note names the units (default ``"models"``).

    Returns
    -------
    EstimableTerms
        ``kept``, ``dropped`` (term -> reason), ``note`` and ``n_units``. The note (only when
        something was dropped) reads: "With N models, k model-level term(s) can be estimated
        besides the intercept (kept [...]); dropped: ...: no information beyond [...] across N
        models; ... Effects of kept terms are confounded with every other difference between
        the models: add models to separate them."

    Raises
    ------
    InputError
        When ``data`` has no column ``unit``, or fewer than two distinct units.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"model": ["a", "a", "b", "b"], "params": [1e8, 1e8, 1e9, 1e9],
    ...                      "multilingual": [0.0, 0.0, 1.0, 1.0]})
    >>> sel = estimable_terms(rows, ["np.log10(params)", "multilingual"])
    >>> sel.kept, list(sel.dropped)
    (['np.log10(params)'], ['multilingual'])
    >>> sel.dropped["multilingual"]
    "multilingual: no information beyond ['intercept', 'np.log10(params)'] across 2 models"
    """
    if not isinstance(data, pd.DataFrame) or unit not in data.columns:
        raise InputError(f"data needs a column {unit!r} naming the units of the regression", column=unit)
    units = data.drop_duplicates(unit).reset_index(drop=True)
    n_units = len(units)
    if n_units < 2:
        raise InputError(f"a regression across {unit_label} needs at least two {unit_label} with data",
                         value=list(units[unit]))
    singular = unit_label[:-1] if unit_label.endswith("s") else unit_label
    env = {"np": np, **_caller_namespace(1)}
    columns = np.ones((n_units, 1))
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for term in terms:
        values, why = _term_columns(term, units, unit, env)
        if values is None:
            dropped[term] = why
            continue
        trial = np.column_stack([columns, values])
        if np.linalg.matrix_rank(trial) == columns.shape[1] + values.shape[1]:
            columns = trial
            kept.append(term)
        else:
            dropped[term] = f"{term}: no information beyond {['intercept'] + kept} across {n_units} {unit_label}"
    note = ""
    if dropped:
        what = (f"{len(kept)} {singular}-level term(s) can be estimated besides the intercept (kept {kept})" if kept
                else f"no {singular}-level term can be estimated besides the intercept")
        note = (f"With {n_units} {unit_label}, {what}; dropped: " + "; ".join(dropped.values())
                + f". Effects of kept terms are confounded with every other difference between the {unit_label}: "
                f"add {unit_label} to separate them.")
    return EstimableTerms(kept=kept, dropped=dropped, note=note, n_units=n_units)
