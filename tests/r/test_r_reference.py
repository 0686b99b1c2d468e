"""wvsalign's statistics against R: stored R outputs (r_results.csv, written by reference.R).

The stored values come from R 4.2.2 with sandwich 3.0.2, lmtest 0.9.40 and lme4 1.1.31 (see
r_versions.csv). ``test_stored_results_are_current`` re-runs reference.R when ``Rscript`` is
installed (skipped otherwise) and checks that R still gives the stored values, so the suite runs
against R where R is available and against the stored values everywhere else.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wvsalign.stats import correlate, logit, mixedlm, ols
from wvsalign.stats.regression import AliasedTermWarning

HERE = Path(__file__).resolve().parent
#: relative tolerances: closed forms agree to rounding; iterative fits to their optimisers' tolerances
EXACT = 1e-9
GLM = 1e-8  # R fits with glm.control(epsilon = 1e-14), statsmodels by Newton-Raphson
LMER = 3e-4  # lme4 (bobyqa) and statsmodels (BFGS) stop at slightly different variance estimates


def r_values(case: str, quantity: str, results: pd.DataFrame | None = None) -> pd.Series:
    frame = R if results is None else results
    rows = frame[(frame["case"] == case) & (frame["quantity"] == quantity)]
    assert len(rows), f"no stored R value for {case}/{quantity}"
    return pd.Series(rows["value"].to_numpy(float), index=rows["term"].fillna("").to_numpy())


def read_results(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=["NA"]).astype({"value": float})


R = read_results(HERE / "r_results.csv")
LINEAR = pd.read_csv(HERE / "linear.csv")
CROSSED = pd.read_csv(HERE / "crossed.csv")
CORRELATION = pd.read_csv(HERE / "correlation.csv")


def patsy_name(term: str) -> str:
    """R's coefficient name in patsy's spelling: (Intercept) -> Intercept, gb -> C(g)[T.b]."""
    if term == "(Intercept)":
        return "Intercept"
    if term.startswith("g") and len(term) == 2:
        return f"C(g)[T.{term[1]}]"
    return term


def check_table(tidy: pd.DataFrame, case: str, rtol: float, quantities=("estimate", "std_error", "statistic", "p")):
    ours = tidy.set_index("term")
    for quantity in quantities:
        ref = r_values(case, quantity)
        ref.index = [patsy_name(t) for t in ref.index]
        np.testing.assert_allclose(ours.loc[ref.index, quantity].to_numpy(float), ref.to_numpy(), rtol=rtol,
                                   atol=1e-300, err_msg=f"{case} {quantity}")


def check_glance(glance: pd.DataFrame, case: str, rtol: float, atol: float = 0.0):
    row = glance.iloc[0]
    for quantity in ("loglik", "aic", "bic", "n"):
        assert row[quantity] == pytest.approx(r_values(case, quantity).iloc[0], rel=rtol, abs=atol), quantity


# ---- correlations ------------------------------------------------------------------------------
def test_cor_test_pearson_and_spearman():
    p = correlate(CORRELATION["x"], CORRELATION["y"]).iloc[0]
    for quantity in ("estimate", "p", "ci_low", "ci_high"):
        assert p[quantity] == pytest.approx(r_values("cor_pearson", quantity).iloc[0], rel=EXACT)
    s = correlate(CORRELATION["x"], CORRELATION["y"], metric="spearman").iloc[0]
    for quantity in ("estimate", "p"):
        assert s[quantity] == pytest.approx(r_values("cor_spearman", quantity).iloc[0], rel=EXACT)


# ---- lm ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "HC1", "HC2", "HC3"])
def test_lm_coeftest_vcovhc(cov_type):
    fit = ols("y ~ x1 + x2 + C(g)", LINEAR, cov_type=cov_type)
    check_table(fit.tidy(), f"lm_{cov_type}", EXACT)


def test_lm_aic_bic_count_sigma():
    fit = ols("y ~ x1 + x2 + C(g)", LINEAR)
    check_glance(fit.glance(), "lm_nonrobust", EXACT)
    assert fit.glance().iloc[0]["r2"] == pytest.approx(r_values("lm_nonrobust", "r2").iloc[0], rel=EXACT)


def test_lm_vcovcl_with_g_minus_1_df():
    fit = ols("y ~ x1 + x2 + C(g)", LINEAR, cov_type="cluster", groups="cl")
    check_table(fit.tidy(), "lm_cluster", EXACT)
    assert "type HC1" in fit.cov_note and "t with 11 df" in fit.cov_note


def test_lm_rank_deficient_reports_na():
    with pytest.warns(AliasedTermWarning, match=r"'x3'.*reported as NA"):
        fit = ols("y ~ x1 + x2 + x3 + C(g)", LINEAR)
    tidy = fit.tidy().set_index("term")
    ref = r_values("lm_rank_deficient", "estimate")
    assert np.isnan(ref["x3"]) and fit.aliased == ["x3"]
    assert tidy.loc["x3"].isna().all()  # estimate, SE, t, p and CI all NA
    check_table(fit.tidy(), "lm_rank_deficient_se", EXACT)
    check_glance(fit.glance(), "lm_rank_deficient", EXACT)
    assert "not defined because of singularities (NA): x3" in str(fit.summary())


# ---- glm ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "cluster"])
def test_glm_coeftest_vcovhc_vcovcl(cov_type):
    groups = "cl" if cov_type == "cluster" else None
    fit = logit("yb ~ x1 + x2", LINEAR, cov_type=cov_type, groups=groups)
    check_table(fit.tidy(), f"glm_{cov_type}", GLM)
    if cov_type == "cluster":
        assert "type HC0 with factor G/(G-1)" in fit.cov_note


def test_glm_aic_bic():
    check_glance(logit("yb ~ x1 + x2", LINEAR).glance(), "glm_nonrobust", GLM)


# ---- lme4 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("reml", [True, False])
def test_lmer_fixed_effects_se_and_information_criteria(reml):
    case = "lmer_reml" if reml else "lmer_ml"
    fit = mixedlm("y ~ x + z", CROSSED, reml=reml)
    check_table(fit.tidy(), case, LMER, quantities=("estimate", "std_error", "statistic"))
    vc = fit.variance_components()
    ref = r_values(case, "variance")
    np.testing.assert_allclose(vc[["country", "item_id", "residual"]], ref[["country", "item_id", "Residual"]],
                               rtol=LMER)
    check_glance(fit.glance(), case, 1e-6)


def test_lmer_single_random_intercept():
    fit = mixedlm("y ~ x + z", CROSSED, random="country")
    check_table(fit.tidy(), "lmer_single", LMER, quantities=("estimate", "std_error"))
    check_glance(fit.glance(), "lmer_single", 1e-6)


# ---- R itself, when installed ------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R (Rscript) is not installed")
def test_stored_results_are_current(tmp_path):
    """Re-run reference.R: R's values equal the stored ones (so the tests above compare with R)."""
    load = "for (p in c('sandwich', 'lmtest', 'lme4')) library(p, character.only = TRUE)"
    check = subprocess.run(["Rscript", "-e", load], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip("R packages sandwich, lmtest or lme4 are not installed")
    subprocess.run(["Rscript", str(HERE / "reference.R"), str(tmp_path)], check=True, capture_output=True, text=True)
    fresh = read_results(tmp_path / "r_results.csv")
    keys = ["case", "term", "quantity"]
    merged = R.merge(fresh, on=keys, how="outer", suffixes=("_stored", "_r"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    # other R/BLAS/optimizer builds move the last digits of iterative fits only
    np.testing.assert_allclose(merged["value_r"], merged["value_stored"], rtol=1e-6, equal_nan=True)
