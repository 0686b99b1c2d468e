"""R-like regressions: equal to statsmodels, to hand computations and to published results."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from wvsalign.errors import InputError
from wvsalign.stats import LogitModel, MixedLMModel, OLSModel, logit, mixedlm, ols
from wvsalign.stats.regression import AliasedTermWarning

TIDY = ["term", "estimate", "std_error", "statistic", "p", "ci_low", "ci_high"]


@pytest.fixture(scope="module")
def models_frame() -> pd.DataFrame:
    """One row per model x category, as in `alignment ~ np.log10(params) + ... + C(category)`."""
    rng = np.random.default_rng(7)
    models = [f"m{i}" for i in range(16)]
    cats = ["social", "religion", "politics", "ethics", "science"]
    frame = pd.MultiIndex.from_product([models, cats], names=["model", "category"]).to_frame(index=False)
    info = pd.DataFrame({
        "model": models,
        "params": 10 ** rng.uniform(8, 11, len(models)),
        "multilingual": rng.integers(0, 2, len(models)),
        "instruction_tuned": rng.integers(0, 2, len(models)).astype(bool),
    })
    frame = frame.merge(info, on="model")
    effect = frame["category"].map(dict(zip(cats, [0.0, -0.1, 0.05, 0.02, -0.04])))
    noise = rng.normal(0, 0.05 + 0.05 * frame["multilingual"], len(frame))  # heteroskedastic
    frame["alignment"] = 0.1 * np.log10(frame["params"]) + 0.05 * frame["multilingual"] + effect + noise
    return frame


FORMULA = "alignment ~ np.log10(params) + multilingual + instruction_tuned + C(category)"


def design(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The design matrix of FORMULA built by hand (treatment coding, first category level as base)."""
    cats = sorted(frame["category"].unique())
    cols = [np.ones(len(frame)), np.log10(frame["params"]), frame["multilingual"],
            frame["instruction_tuned"].astype(float)]
    # patsy's column order: intercept, the categorical terms (a bool is one), then the numeric ones
    dummies = [(frame["category"] == c).astype(float) for c in cats[1:]]
    x = np.column_stack([cols[0], cols[3], *dummies, cols[1], cols[2]])
    return x, frame["alignment"].to_numpy(float)


def test_tidy_equals_statsmodels(models_frame):
    fit = ols(FORMULA, models_frame, cov_type="HC3")
    direct = smf.ols(FORMULA, models_frame).fit(cov_type="HC3", use_t=True)
    tidy = fit.tidy()
    assert list(tidy.columns) == TIDY
    assert list(tidy["term"]) == list(direct.params.index)
    for res in (fit.result, direct):
        np.testing.assert_allclose(tidy["estimate"], res.params, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(tidy["std_error"], res.bse, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(tidy["statistic"], res.tvalues, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(tidy["p"], res.pvalues, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(tidy[["ci_low", "ci_high"]], res.conf_int(), rtol=1e-12, atol=1e-14)
    ci90 = fit.tidy(level=0.90)
    np.testing.assert_allclose(ci90[["ci_low", "ci_high"]], direct.conf_int(alpha=0.10), rtol=1e-12)
    with pytest.raises(InputError, match="argument level=90; expected a confidence level between 0 and 1"):
        fit.tidy(level=90)
    # the statsmodels result stays reachable
    pd.testing.assert_series_equal(fit.params, fit.result.params)


def test_hc3_equals_hand_sandwich(models_frame):
    x, y = design(models_frame)
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    e = y - x @ beta
    h = np.einsum("ij,jk,ik->i", x, bread, x)
    meat = x.T @ (x * (e**2 / (1 - h) ** 2)[:, None])
    se = np.sqrt(np.diag(bread @ meat @ bread))
    tidy = ols(FORMULA, models_frame, cov_type="HC3").tidy()
    np.testing.assert_allclose(tidy["estimate"], beta, atol=1e-10)
    np.testing.assert_allclose(tidy["std_error"], se, atol=1e-10)
    # R-like inference: t with the residual df
    t = beta / se
    np.testing.assert_allclose(tidy["p"], 2 * stats.t.sf(np.abs(t), len(y) - x.shape[1]), atol=1e-10)


def test_classical_se_and_glance_by_hand(models_frame):
    x, y = design(models_frame)
    n, k = x.shape
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    e = y - x @ beta
    sigma2 = e @ e / (n - k)
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    fit = ols(FORMULA, models_frame)
    np.testing.assert_allclose(fit.tidy()["std_error"], se, atol=1e-10)
    g = fit.glance().iloc[0]
    r2 = 1 - e @ e / np.sum((y - y.mean()) ** 2)
    assert g["n"] == n and g["df_resid"] == n - k
    assert g["r2"] == pytest.approx(r2, abs=1e-12)
    assert g["adj_r2"] == pytest.approx(1 - (1 - r2) * (n - 1) / (n - k), abs=1e-12)
    loglik = -n / 2 * (np.log(2 * np.pi) + np.log(e @ e / n) + 1)
    assert g["loglik"] == pytest.approx(loglik, abs=1e-9)
    # R's AIC(lm)/BIC(lm): the error variance is a parameter too (k + 1)
    assert g["aic"] == pytest.approx(-2 * loglik + 2 * (k + 1), abs=1e-9)
    assert g["bic"] == pytest.approx(-2 * loglik + np.log(n) * (k + 1), abs=1e-9)
    assert g["cov_type"] == "nonrobust"


def test_cluster_robust_equals_hand_computation(models_frame):
    # some outcomes missing: the clusters must follow the rows that the formula keeps
    frame = models_frame.copy()
    frame.loc[[3, 17, 40], "alignment"] = np.nan
    kept = frame.dropna(subset=["alignment"]).reset_index(drop=True)
    x, y = design(kept)
    n, k = x.shape
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    e = y - x @ beta
    groups = kept["model"].to_numpy()
    labels = np.unique(groups)
    g = len(labels)
    meat = np.zeros((k, k))
    for lab in labels:
        s = x[groups == lab].T @ e[groups == lab]
        meat += np.outer(s, s)
    factor = g / (g - 1) * (n - 1) / (n - k)  # statsmodels' (and Stata's) small-sample correction
    se = np.sqrt(np.diag(factor * bread @ meat @ bread))
    fit = ols(FORMULA, frame, cov_type="cluster", groups="model")
    tidy = fit.tidy()
    np.testing.assert_allclose(tidy["std_error"], se, atol=1e-10)
    np.testing.assert_allclose(tidy["p"], 2 * stats.t.sf(np.abs(beta / se), g - 1), atol=1e-10)
    q = stats.t.isf(0.025, g - 1)
    np.testing.assert_allclose(tidy["ci_low"], beta - q * se, atol=1e-10)
    # the same clusters given as one label per row of the data
    by_array = ols(FORMULA, frame, cov_type="cluster", groups=frame["model"].to_numpy()).tidy()
    pd.testing.assert_frame_equal(by_array, tidy)
    text = str(fit.summary())
    assert text.startswith(f"wvsalign ols: {FORMULA}")
    assert "cluster-robust by model, 16 clusters" in text and "OLS Regression Results" in text


def test_spec_is_separate_from_fit(models_frame):
    spec = OLSModel(FORMULA, models_frame)
    a, b = spec.fit(), spec.fit(cov_type="HC3")
    assert a.model is spec and b.model is spec
    np.testing.assert_allclose(a.tidy()["estimate"], b.tidy()["estimate"])
    assert not np.allclose(a.tidy()["std_error"], b.tidy()["std_error"])
    assert "HC3" in str(b.summary()).splitlines()[1]


def test_formula_sees_caller_functions(models_frame):
    def doubled(v):
        return 2 * v

    fit = ols("alignment ~ doubled(multilingual)", models_frame)
    direct = ols("alignment ~ multilingual", models_frame)
    assert fit.tidy()["estimate"].iloc[1] == pytest.approx(direct.tidy()["estimate"].iloc[1] / 2)


# ------------------------------------------------------------------------------ logit
@pytest.fixture(scope="module")
def spector() -> pd.DataFrame:
    # Spector & Mazzeo (1980) data, shipped with statsmodels (Greene, Econometric Analysis)
    return sm.datasets.spector.load_pandas().data


def newton_raphson_logit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ beta))
        hessian = x.T @ (x * (p * (1 - p))[:, None])
        step = np.linalg.solve(hessian, x.T @ (y - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-14:
            break
    p = 1 / (1 + np.exp(-x @ beta))
    cov = np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))
    return beta, np.sqrt(np.diag(cov))


def test_logit_equals_hand_newton_raphson_and_published(spector):
    fit = logit("GRADE ~ GPA + TUCE + PSI", spector)
    x = np.column_stack([np.ones(len(spector)), spector[["GPA", "TUCE", "PSI"]].to_numpy()])
    beta, se = newton_raphson_logit(x, spector["GRADE"].to_numpy())
    tidy = fit.tidy()
    np.testing.assert_allclose(tidy["estimate"], beta, atol=1e-8)
    np.testing.assert_allclose(tidy["std_error"], se, atol=1e-8)
    np.testing.assert_allclose(tidy["p"], 2 * stats.norm.sf(np.abs(beta / se)), atol=1e-8)
    # Stata, `glm grade gpa tuce psi, family(binomial)` (statsmodels' stored Stata results):
    # _cons -13.021345912635 (4.931323890811), gpa 2.8261124216999 (1.2629410221647),
    # tuce .09515765001172 (.141554201358), psi 2.3786875040587 (1.0645642078703), ll -12.889634222131.
    stata_b = [-13.021345912635, 2.8261124216999, 0.09515765001172, 2.3786875040587]
    stata_se = [4.931323890811, 1.2629410221647, 0.141554201358, 1.0645642078703]
    # (Stata stops its iterations at about 1e-8, hence 1e-6 here)
    np.testing.assert_allclose(tidy["estimate"], stata_b, atol=1e-6)
    np.testing.assert_allclose(tidy["std_error"], stata_se, atol=1e-6)
    g = fit.glance().iloc[0]
    assert g["loglik"] == pytest.approx(-12.889634222131, abs=1e-8)
    assert g["converged"] and g["n"] == 32
    assert g["pseudo_r2"] == pytest.approx(1 - g["loglik"] / fit.result.llnull, abs=1e-12)


def test_logit_hc0_matches_stata_robust(spector):
    # Stata `vce(robust)` SEs (same stored results): HC0 times sqrt(n / (n - 1)).
    fit = logit("GRADE ~ GPA + TUCE + PSI", spector, cov_type="HC0")
    stata_robust = np.array([5.2807513766642, 1.287827879216, 0.1198091371814, 0.97985082470462])
    np.testing.assert_allclose(fit.tidy()["std_error"] * np.sqrt(32 / 31), stata_robust, rtol=1e-6)


def test_logit_cluster_is_vcovcl_default_hc0(spector):
    # sandwich::vcovCL(glm, cluster) default: HC0 meat summed per cluster, times G/(G-1) (no (N-1)/(N-K))
    groups = np.arange(len(spector)) % 8
    fit = logit("GRADE ~ GPA + TUCE + PSI", spector, cov_type="cluster", groups=groups)
    x = np.column_stack([np.ones(len(spector)), spector[["GPA", "TUCE", "PSI"]].to_numpy()])
    y = spector["GRADE"].to_numpy()
    beta, _ = newton_raphson_logit(x, y)
    p = 1 / (1 + np.exp(-x @ beta))
    bread = np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))
    scores = x * (y - p)[:, None]
    meat = sum(np.outer(scores[groups == g].sum(0), scores[groups == g].sum(0)) for g in range(8))
    se = np.sqrt(np.diag(8 / 7 * bread @ meat @ bread))
    tidy = fit.tidy()
    np.testing.assert_allclose(tidy["std_error"], se, rtol=1e-7)
    np.testing.assert_allclose(tidy["p"], 2 * stats.norm.sf(np.abs(beta / se)), rtol=1e-6)
    np.testing.assert_allclose(tidy["ci_low"], beta - stats.norm.isf(0.025) * se, rtol=1e-7)
    assert "type HC0 with factor G/(G-1)" in str(fit.summary())


def test_rank_deficient_terms_are_na_with_a_warning(models_frame, spector):
    frame = models_frame.assign(ml2=2 * models_frame["multilingual"] - 1, zero=0.0)
    with pytest.warns(AliasedTermWarning, match=r"'ml2', 'zero'") as record:
        fit = ols("alignment ~ multilingual + ml2 + np.log10(params) + zero", frame, cov_type="HC3")
    assert len(record) == 1
    tidy = fit.tidy().set_index("term")
    assert fit.aliased == ["ml2", "zero"] and tidy.loc[["ml2", "zero"]].isna().all().all()
    # the other terms are those of the model without the aliased ones (which R's lm fits)
    reduced = ols("alignment ~ multilingual + np.log10(params)", frame, cov_type="HC3").tidy().set_index("term")
    pd.testing.assert_frame_equal(tidy.loc[reduced.index], reduced, rtol=1e-10)
    g = fit.glance().iloc[0]
    assert g["df_model"] == 2 and g["df_resid"] == len(frame) - 3
    # logit too (glm's NA): an aliased copy of a predictor
    with pytest.warns(AliasedTermWarning, match="'GPA2'"):
        lfit = logit("GRADE ~ GPA + GPA2 + PSI", spector.assign(GPA2=spector["GPA"] * 3))
    assert np.isnan(lfit.tidy().set_index("term").loc["GPA2", "estimate"])


def test_full_rank_fit_gives_no_aliased_warning(models_frame):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AliasedTermWarning)
        fit = ols(FORMULA, models_frame)
    assert fit.aliased == [] and not fit.tidy().isna().any().any()


def test_logit_accepts_boolean_outcome(spector):
    as_bool = spector.assign(GRADE=spector["GRADE"].astype(bool))
    a = logit("GRADE ~ GPA + PSI", as_bool).tidy()
    b = LogitModel("GRADE ~ GPA + PSI", spector).fit().tidy()
    pd.testing.assert_frame_equal(a, b)


def test_logit_rejects_non_binary_outcome(spector):
    with pytest.raises(InputError, match=r"column 'TUCE'.*binary outcome") as info:
        logit("TUCE ~ GPA", spector)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="binary outcome"):
        logit("np.log(TUCE) ~ GPA", spector)
    with pytest.raises(InputError, match="binary outcome"):
        logit("I(TUCE / 100) ~ GPA", spector)  # inside [0, 1], still not 0/1
    with pytest.raises(InputError, match="cov_type must be one of"):
        logit("GRADE ~ GPA", spector, cov_type="HC3")


def test_logit_perfect_separation_is_input_error():
    data = pd.DataFrame({"x": np.arange(20.0), "y": (np.arange(20) >= 10).astype(int)})
    with pytest.raises(InputError, match="separate the outcome perfectly"):
        logit("y ~ x", data)


# ------------------------------------------------------------------------------ mixed
@pytest.fixture(scope="module")
def crossed() -> pd.DataFrame:
    """Crossed design: 25 countries x 40 items, random intercepts for both."""
    rng = np.random.default_rng(2024)
    nc, ni = 25, 40
    country = np.repeat(np.arange(nc), ni)
    item = np.tile(np.arange(ni), nc)
    x = rng.normal(size=nc * ni)
    z = rng.integers(0, 2, nc * ni)
    y = (0.5 + 0.8 * x - 0.3 * z + rng.normal(0, 0.6, nc)[country] + rng.normal(0, 0.4, ni)[item]
         + rng.normal(0, 0.3, nc * ni))
    return pd.DataFrame({"y": y, "x": x, "z": z, "country": [f"C{c}" for c in country],
                         "item_id": [f"Q{i}" for i in item]})


@pytest.fixture(scope="module")
def crossed_fit(crossed):
    return mixedlm("y ~ x + z", crossed)


def test_mixedlm_recovers_truth_and_equals_statsmodels(crossed, crossed_fit):
    tidy = crossed_fit.tidy()
    assert list(tidy["term"]) == ["Intercept", "x", "z"]
    est = tidy.set_index("term")["estimate"]
    assert est["x"] == pytest.approx(0.8, abs=0.03)
    assert est["z"] == pytest.approx(-0.3, abs=0.05)
    assert est["Intercept"] == pytest.approx(0.5, abs=0.4)  # random country/item means blur it
    direct = sm.MixedLM.from_formula(
        "y ~ x + z", crossed.assign(one=1), groups="one", re_formula="0",
        vc_formula={"country": "0 + C(country)", "item_id": "0 + C(item_id)"},
    ).fit(reml=True)
    np.testing.assert_allclose(est.to_numpy(), direct.fe_params.to_numpy(), atol=1e-8)
    # lme4's standard errors: (X' V^-1 X)^-1 with V built densely by hand at the estimated variances
    # (statsmodels' own bse_fe invert the full Hessian and differ slightly)
    x = np.column_stack([np.ones(len(crossed)), crossed["x"], crossed["z"]])
    zc = pd.get_dummies(crossed["country"]).to_numpy(float)
    zi = pd.get_dummies(crossed["item_id"]).to_numpy(float)
    v = direct.vcomp[0] * zc @ zc.T + direct.vcomp[1] * zi @ zi.T + direct.scale * np.eye(len(crossed))
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ np.linalg.solve(v, x))))
    np.testing.assert_allclose(tidy["std_error"], se, rtol=1e-6)
    assert not np.allclose(se, direct.bse_fe.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(tidy["statistic"], tidy["estimate"] / se, rtol=1e-6)
    np.testing.assert_allclose(tidy["p"], 2 * stats.norm.sf(np.abs(tidy["estimate"] / se)), rtol=1e-5)
    vc = crossed_fit.variance_components()
    np.testing.assert_allclose(vc[["country", "item_id"]], direct.vcomp, atol=1e-8)
    assert vc["country"] == pytest.approx(0.36, rel=0.6) and vc["residual"] == pytest.approx(0.09, rel=0.2)
    g = crossed_fit.glance().iloc[0]
    assert g["n"] == 1000 and g["n_country"] == 25 and g["n_item_id"] == 40 and g["reml"]
    assert "crossed random intercepts: country + item_id" in str(crossed_fit.summary())


def test_mixedlm_nested_equals_statsmodels(crossed):
    fit = MixedLMModel("y ~ x", crossed, random=("country", "item_id"), nested=True).fit()
    direct = sm.MixedLM.from_formula("y ~ x", crossed, groups="country", re_formula="1",
                                     vc_formula={"item_id": "0 + C(item_id)"}).fit(reml=True)
    np.testing.assert_allclose(fit.tidy()["estimate"], direct.fe_params, atol=1e-8)
    # lme4's SEs by hand: V = s2_country Zc Zc' + s2_cell Zcell Zcell' + s2 I
    x = np.column_stack([np.ones(len(crossed)), crossed["x"]])
    zc = pd.get_dummies(crossed["country"]).to_numpy(float)
    zcell = pd.get_dummies(crossed["country"] + "/" + crossed["item_id"]).to_numpy(float)
    v = (float(direct.cov_re.iloc[0, 0]) * zc @ zc.T + direct.vcomp[0] * zcell @ zcell.T
         + direct.scale * np.eye(len(crossed)))
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ np.linalg.solve(v, x))))
    np.testing.assert_allclose(fit.tidy()["std_error"], se, rtol=1e-6)
    single = mixedlm("y ~ x", crossed, random="country")
    ref = sm.MixedLM.from_formula("y ~ x", crossed, groups="country").fit(reml=True)
    np.testing.assert_allclose(single.tidy()["estimate"], ref.fe_params, atol=1e-8)
    assert single.variance_components()["country"] == pytest.approx(float(ref.cov_re.iloc[0, 0]), abs=1e-8)


def test_formula_words_are_patsys_whatever_the_caller_defines(crossed, models_frame):
    expected = mixedlm("y ~ x + z", crossed).tidy()
    expected_ols = ols(FORMULA, models_frame).tidy()
    nested = MixedLMModel("y ~ x", crossed, random=("country", "item_id"), nested=True)
    expected_nested = nested.fit().tidy()
    C, Q, I = 3, "x", None  # noqa: E741 (names that hide patsy's C(), Q() and I() in the caller's frame)
    assert (C, Q, I) == (3, "x", None)
    pd.testing.assert_frame_equal(mixedlm("y ~ x + z", crossed).tidy(), expected)
    pd.testing.assert_frame_equal(MixedLMModel("y ~ x", crossed, random=("country", "item_id"), nested=True)
                                  .fit().tidy(), expected_nested)
    pd.testing.assert_frame_equal(ols(FORMULA, models_frame).tidy(), expected_ols)
    # random columns whose names are not Python names, and numeric codes
    odd = crossed.rename(columns={"country": "country code"}).assign(item_id=crossed["item_id"].str[1:].astype(int))
    fit = mixedlm("y ~ x + z", odd, random=("country code", "item_id"))
    np.testing.assert_allclose(fit.tidy()["estimate"], expected["estimate"], rtol=1e-6)
    assert list(fit.variance_components().index) == ["country code", "item_id", "residual"]


def test_mixedlm_reml_information_criteria(crossed_fit):
    g = crossed_fit.glance().iloc[0]
    # lme4's df: 3 fixed effects + 2 variance components + the residual variance
    assert g["aic"] == pytest.approx(-2 * g["loglik"] + 2 * 6, abs=1e-9)
    assert g["bic"] == pytest.approx(-2 * g["loglik"] + np.log(1000) * 6, abs=1e-9)
    assert np.isfinite(g["aic"]) and g["reml"]


# ------------------------------------------------------------------------------ errors
def test_unknown_column_in_formula_names_it(models_frame):
    with pytest.raises(InputError, match=r"column 'size'.*uses 'size', which is not a column") as info:
        ols("alignment ~ np.log10(size) + multilingual", models_frame)
    assert "\n" not in str(info.value) and info.value.column == "size"
    with pytest.raises(InputError, match="'regionx'"):
        mixedlm("alignment ~ C(regionx)", models_frame, random="model")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(cov_type="HC9"), "cov_type must be one of"),
        (dict(cov_type="cluster"), "needs groups"),
        (dict(cov_type="HC3", groups="model"), "only used with cov_type='cluster'"),
        (dict(cov_type="cluster", groups="team"), "groups names no column"),
        (dict(cov_type="cluster", groups=[1, 2, 3]), "groups has 3 labels"),
    ],
)
def test_ols_argument_errors(models_frame, kwargs, match):
    with pytest.raises(InputError, match=match):
        ols(FORMULA, models_frame, **kwargs)


def test_other_input_errors(models_frame, crossed):
    with pytest.raises(InputError, match="outcome ~ predictors"):
        ols("alignment", models_frame)
    with pytest.raises(InputError, match="cannot use formula"):
        ols("alignment ~ multilingual +", models_frame)
    with pytest.raises(InputError, match="random names no column"):
        mixedlm("y ~ x", crossed, random=("country", "wave"))
    with pytest.raises(InputError, match="no complete rows"):
        ols("alignment ~ multilingual", models_frame.assign(alignment=np.nan))
