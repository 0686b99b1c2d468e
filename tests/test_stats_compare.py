"""Comparing correlations (cocor) against worked examples published with each method.

Most published values below were collected, with their sources, in the test suite of the R
package cocor (Diedenhofen & Musch 2015; tests/testthat/tests.r); each test names the
original publication. A value printed with d decimals is compared to that precision
(|ours - printed| <= 0.5 * 10**-d).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from wvsalign.errors import InputError
from wvsalign.stats import compare_alignment, compare_correlations
from wvsalign.stats.compare import METHODS


def printed(value: float, published: float, decimals: int, slack: float = 0.0) -> bool:
    """True when ``value`` agrees with a number printed with ``decimals`` decimals."""
    return abs(value - published) <= 0.5 * 10.0**-decimals + 1e-12 + slack


def row(df: pd.DataFrame, method: str) -> pd.Series:
    sub = df[df["method"] == method]
    assert len(sub) == 1
    return sub.iloc[0]


def overlap(r1, r2, r12, n, method, **kw):
    return row(compare_correlations(r1=r1, r2=r2, r12=r12, n=n, design="overlapping", method=method, **kw), method)


def nonoverlap(n, method, **r):
    # cocor's names -> wvsalign's: r.jk=r1, r.hm=r2, r.jh=r_x1x2, r.jm=r_x1y2, r.kh=r_y1x2, r.km=r_y1y2
    df = compare_correlations(
        r1=r["jk"], r2=r["hm"], r_x1x2=r["jh"], r_x1y2=r["jm"], r_y1x2=r["kh"], r_y1y2=r["km"], n=n,
        design="nonoverlapping", method=method,
    )
    return row(df, method)


# ----------------------------------------------------------------------------- independent
def test_fisher_independent_matches_stat_help_spreadsheet():
    # Excel spreadsheet of stat-help.com (as cited in cocor's tests): r1=.4, r2=.5, n1=n2=100:
    # z = -0.8751012342, p = 0.3815188256 (10 decimals).
    r = row(compare_correlations(r1=0.4, r2=0.5, n=100, n2=100, method="fisher"), "fisher")
    assert printed(r["statistic"], -0.8751012342, 10)
    assert printed(r["p"], 0.3815188256, 10)
    assert r["estimate"] == pytest.approx(-0.1)
    assert np.isnan(r["df"])


def test_fisher_independent_matches_stata_cortesti():
    # Stata's cortesti help (Caci 2000; Cohen & Cohen 1983): r1=.84 (n=63), r2=.75 (n=42):
    # z = 1.207, Prob > |z| = 0.2275.
    r = row(compare_correlations(r1=0.84, r2=0.75, n=63, n2=42, method="fisher"), "fisher")
    assert printed(r["statistic"], 1.207, 3)
    assert printed(r["p"], 0.2275, 4)


def test_fisher_independent_matches_cohen_et_al():
    # Cohen, Cohen, West & Aiken (2003), formulas 2.8.4 and 2.8.11: .657 (n=62) vs .430 (n=143).
    # The book rounds the z's to two decimals (2.13); the exact statistic is 2.110737 (cocor).
    r = row(compare_correlations(r1=0.657, r2=0.430, n=62, n2=143, method="fisher"), "fisher")
    assert printed(r["statistic"], 2.110737, 6)


def test_zou_independent_interval_matches_zou_2007():
    # Zou (2007, Psychological Methods 12, pp. 406 and 409), example 1: r1=.49 (n=145), r2=.36 (n=87):
    # 95% CI for r1 - r2 = (-.087, .359).
    r = row(compare_correlations(r1=0.49, r2=0.36, n=145, n2=87, method="zou"), "zou")
    assert printed(r["ci_low"], -0.087, 3) and printed(r["ci_high"], 0.359, 3)
    assert np.isnan(r["statistic"]) and np.isnan(r["p"])


# ----------------------------------------------------------------------------- overlapping
def test_steiger_case_a():
    # Steiger (1980, Psychological Bulletin 87, p. 249), Case A: r.jk=.4, r.jh=.5, r.kh=.1, n=103.
    # Printed Z = -.8913, computed there with a covariance rounded to .0042; exact value -0.8887185.
    r = overlap(0.4, 0.5, 0.1, 103, "steiger")
    assert printed(r["statistic"], -0.8913, 2)
    assert printed(r["statistic"], -0.8887185, 7)


def test_overlapping_methods_match_depcor():
    # DEPCOR (Silver, Hittner & May 2006, Applied Psychological Measurement 30, 152-153) on
    # r.jk=.3, r.jh=.4, r.kh=.5, n=100, 4 decimals (statistic, p).
    expected = {
        "williams": (-1.0767, 0.2843),
        "steiger": (-1.0718, 0.2838),
        "hittner": (-1.0715, 0.2839),
        "meng": (-1.0707, 0.2843),
        "dunn_clark": (-1.0730, 0.2833),  # also Dunn & Clark (1969)
    }
    df = compare_correlations(r1=0.3, r2=0.4, r12=0.5, n=100, design="overlapping")
    for method, (stat, p) in expected.items():
        r = row(df, method)
        assert printed(r["statistic"], stat, 4), method
        assert printed(r["p"], p, 4), method
    assert row(df, "williams")["df"] == 97


def test_dunn_clark_overlapping_matches_stat_help_spreadsheet():
    # stat-help.com spreadsheet: r.jk=.5, r.jh=.6, r.kh=.7, n=100: z = -1.5838851123, p = 0.1132198659.
    r = overlap(0.5, 0.6, 0.7, 100, "dunn_clark")
    assert printed(r["statistic"], -1.5838851123, 10)
    assert printed(r["p"], 0.1132198659, 10)


# May & Hittner (1997, Psychological Reports 80, 475-480), tables for n = 50 and r12 = 0, .1, ..., .8
MAY_HITTNER_HOTELLING = {
    (0.5, 0.2): [1.73, 1.80, 1.89, 2.01, 2.17, 2.38, 2.68, 3.16, 4.07],
    (0.7, 0.4): [2.46, 2.42, 2.45, 2.53, 2.67, 2.89, 3.22, 3.78, 4.91],
}
MAY_HITTNER_MENG = {
    # 2.24 at r12=.5 is 2.2451 truncated in the paper (hence the slack for that one entry)
    (0.5, 0.2): [1.62, 1.70, 1.80, 1.91, 2.06, 2.24, 2.50, 2.87, 3.50],
    (0.7, 0.4): [2.03, 2.10, 2.20, 2.32, 2.47, 2.66, 2.94, 3.35, 4.05],
}


@pytest.mark.parametrize("table,method", [(MAY_HITTNER_HOTELLING, "hotelling"), (MAY_HITTNER_MENG, "meng")])
def test_may_hittner_tables(table, method):
    r12 = np.round(np.arange(9) * 0.1, 1)
    for (r1, r2), values in table.items():
        df = compare_correlations(r1=r1, r2=r2, r12=r12, n=50, design="overlapping", method=method)
        for stat, published, c in zip(df["statistic"], values, r12):
            slack = 0.001 if (method == "meng" and published == 2.24) else 0.0
            assert printed(stat, published, 2, slack), (r1, r2, c, stat, published)


def test_hendrickson_and_olkin_match_may_hittner():
    # May & Hittner (1997, p. 477): r.jk=.5, r.jh=.2, r.kh=.3, n=50: Williams-Hendrickson t = 2.01, Olkin z = 2.00.
    assert printed(overlap(0.5, 0.2, 0.3, 50, "hendrickson")["statistic"], 2.01, 2)
    assert printed(overlap(0.5, 0.2, 0.3, 50, "olkin")["statistic"], 2.00, 2)


def test_hotelling_matches_textbooks():
    # Glass & Stanley (1984, p. 311): r.jk=.612, r.jh=.541, r.kh=.466, n=157: t = 1.158.
    assert printed(overlap(0.612, 0.541, 0.466, 157, "hotelling")["statistic"], 1.158, 3)
    # Guilford & Fruchter (1978, p. 164): r.jk=.55, r.jh=.45, r.kh=.60, n=200: t = 1.91.
    assert printed(overlap(0.55, 0.45, 0.60, 200, "hotelling")["statistic"], 1.91, 2)


def test_meng_one_sided_example():
    # Meng, Rosenthal & Rubin (1992, Psychological Bulletin 111, p. 173): r.jk=.63, r.jh=-.03,
    # r.kh=-.19, n=15, one-sided: z = 1.68, p = .047.
    r = overlap(0.63, -0.03, -0.19, 15, "meng", alternative="greater")
    assert printed(r["statistic"], 1.68, 2)
    assert printed(r["p"], 0.047, 3)


def test_zou_overlapping_interval_matches_zou_2007():
    # Zou (2007), overlapping example: r.jk=.396, r.jh=.179, r.kh=.088, n=66: 95% CI (-.093, .517).
    r = overlap(0.396, 0.179, 0.088, 66, "zou")
    assert printed(r["ci_low"], -0.093, 3) and printed(r["ci_high"], 0.517, 3)


# -------------------------------------------------------------------------- nonoverlapping
def test_nonoverlapping_methods_match_depcor():
    # DEPCOR (Silver, Hittner & May 2006): r.jk=.3, r.hm=.4, r.jh=.5, r.kh=.6, r.km=.7, r.jm=.8, n=100.
    r = dict(jk=0.3, hm=0.4, jh=0.5, kh=0.6, km=0.7, jm=0.8)
    expected = {"dunn_clark": (-1.0723, 0.2836), "steiger": (-1.0744, 0.2827), "silver": (-1.0737, 0.2830)}
    for method, (stat, p) in expected.items():
        res = nonoverlap(100, method, **r)
        assert printed(res["statistic"], stat, 4), method
        assert printed(res["p"], p, 4), method


def test_dunn_clark_nonoverlapping_matches_stat_help_spreadsheet():
    # stat-help.com spreadsheet: r.jk=.3, r.hm=.4, r.jh=.5, r.jm=.6, r.kh=.7, r.km=.8, n=100:
    # z = -1.06, p = 0.2892685563.
    res = nonoverlap(100, "dunn_clark", jk=0.3, hm=0.4, jh=0.5, jm=0.6, kh=0.7, km=0.8)
    assert printed(res["statistic"], -1.06, 2)
    assert printed(res["p"], 0.2892685563, 10)


def test_pearson_filon_matches_raghunathan_et_al():
    # Raghunathan, Rosenthal & Rubin (1996, Psychological Methods 1, p. 180): r.jk=.38, r.hm=.25,
    # r.jh=.45, r.jm=.53, r.kh=.31, r.km=.55, n=603: Pearson-Filon z = 2.88.
    r = dict(jk=0.38, hm=0.25, jh=0.45, jm=0.53, kh=0.31, km=0.55)
    assert printed(nonoverlap(603, "pearson_filon", **r)["statistic"], 2.88, 2)
    # Their own z (formula 3) is 2.869174 exactly (the paper prints 2.98, from z's rounded to two
    # decimals); it equals Dunn & Clark's z, since their k is twice Dunn & Clark's covariance.
    rag = nonoverlap(603, "raghunathan", **r)["statistic"]
    assert printed(rag, 2.869174, 6)
    assert rag == pytest.approx(nonoverlap(603, "dunn_clark", **r)["statistic"], abs=1e-12)


def test_steiger_case_b():
    # Steiger (1980, p. 249), Case B: r.jk=.5, r.hm=.6, r.jh=.8, r.jm=.5, r.kh=.5, r.km=.7, n=103.
    # The paper prints Z = -1.4045 (from rounded intermediate values); exact: -1.4050.
    res = nonoverlap(103, "steiger", jk=0.5, hm=0.6, jh=0.8, jm=0.5, kh=0.5, km=0.7)
    assert printed(res["statistic"], -1.4045, 3)


def test_zou_nonoverlapping_interval_matches_zou_2007():
    # Zou (2007), nonoverlapping example: r.jk=.396, r.hm=.189, r.jh=.208, r.kh=.023, r.km=.423,
    # r.jm=.143, n=66: 95% CI (-.096, .500). Zou's printed covariance (.0917) has a slip (the
    # formula gives .0891), which moves the upper limit to .5009.
    res = nonoverlap(66, "zou", jk=0.396, hm=0.189, jh=0.208, kh=0.023, km=0.423, jm=0.143)
    assert printed(res["ci_low"], -0.096, 3)
    assert printed(res["ci_high"], 0.500, 3, slack=0.001)


# ---------------------------------------------------------------- hand computations and shape
def test_williams_t_by_hand_and_p_from_scipy():
    # Williams' t (Steiger 1980, formula 7), written out here independently.
    r1, r2, r12, n = 0.62, 0.41, 0.33, 57
    det = 1 - r1**2 - r2**2 - r12**2 + 2 * r1 * r2 * r12
    rbar = (r1 + r2) / 2
    t = (r1 - r2) * np.sqrt((n - 1) * (1 + r12) / (2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r12) ** 3))
    res = overlap(r1, r2, r12, n, "williams")
    assert res["statistic"] == pytest.approx(t, abs=1e-12)
    assert res["p"] == pytest.approx(2 * stats.t.sf(abs(t), n - 3), abs=1e-12)
    less = overlap(r1, r2, r12, n, "williams", alternative="less")["p"]
    assert less == pytest.approx(stats.t.cdf(t, n - 3), abs=1e-12)


def test_all_methods_and_columns():
    df = compare_correlations(r1=0.5, r2=0.3, r12=0.4, n=80, design="overlapping")
    assert list(df["method"]) == list(METHODS["overlapping"])
    assert list(df.columns) == ["design", "method", "r1", "r2", "estimate", "statistic", "df", "p",
                                "ci_low", "ci_high", "n", "n2", "alternative"]
    np.testing.assert_allclose(df["estimate"], 0.2, atol=1e-12)
    # cocor's method names are accepted
    alias = compare_correlations(r1=0.5, r2=0.3, r12=0.4, n=80, design="overlapping", method="steiger1980")
    assert alias["statistic"].iloc[0] == row(df, "steiger")["statistic"]


def test_arrays_equal_scalar_calls():
    r1 = np.array([0.1, 0.5, -0.3])
    r2 = np.array([0.2, 0.1, 0.0])
    r12 = np.array([0.3, 0.6, 0.1])
    n = np.array([20, 100, 45])
    vec = compare_correlations(r1=r1, r2=r2, r12=r12, n=n, design="overlapping")
    assert list(vec["comparison"].unique()) == [0, 1, 2]
    for i in range(3):
        one = compare_correlations(r1=r1[i], r2=r2[i], r12=r12[i], n=int(n[i]), design="overlapping")
        part = vec[vec["comparison"] == i].drop(columns="comparison").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, one)


correlation = st.floats(-0.95, 0.95)


@settings(max_examples=60, deadline=None)
@given(r1=correlation, r2=correlation, r12=st.floats(-0.5, 0.9), n=st.integers(5, 500))
def test_overlapping_properties(r1, r2, r12, n):
    # only valid (positive semi-definite) correlation matrices
    if 1 + 2 * r1 * r2 * r12 - r1**2 - r2**2 - r12**2 <= 1e-6:
        return
    ab = compare_correlations(r1=r1, r2=r2, r12=r12, n=n, design="overlapping")
    ba = compare_correlations(r1=r2, r2=r1, r12=r12, n=n, design="overlapping")
    tests = ab["method"] != "zou"
    # only Hittner's pooled covariance can break down (NaN) at extreme correlations
    assert ab.loc[tests & ab["p"].isna(), "method"].isin(["hittner"]).all()
    tests &= ab["p"].notna()
    # swapping the correlations flips the statistic and keeps the two-sided p
    np.testing.assert_allclose(ab.loc[tests, "statistic"], -ba.loc[tests, "statistic"], atol=1e-9)
    np.testing.assert_allclose(ab.loc[tests, "p"], ba.loc[tests, "p"], atol=1e-9)
    assert ((ab.loc[tests, "p"] >= 0) & (ab.loc[tests, "p"] <= 1)).all()
    # one-sided p's add up to one
    g = compare_correlations(r1=r1, r2=r2, r12=r12, n=n, design="overlapping", alternative="greater")
    l_ = compare_correlations(r1=r1, r2=r2, r12=r12, n=n, design="overlapping", alternative="less")
    np.testing.assert_allclose(g.loc[tests, "p"] + l_.loc[tests, "p"], 1.0, atol=1e-9)
    # Zou's interval contains the difference
    z = row(ab, "zou")
    assert z["ci_low"] <= z["estimate"] <= z["ci_high"]


@settings(max_examples=40, deadline=None)
@given(r=correlation, n=st.integers(5, 300), n2=st.integers(5, 300))
def test_equal_correlations_give_zero_statistic(r, n, n2):
    ind = compare_correlations(r1=r, r2=r, n=n, n2=n2)
    assert row(ind, "fisher")["statistic"] == pytest.approx(0, abs=1e-12)
    assert row(ind, "fisher")["p"] == pytest.approx(1)


def test_wider_level_gives_wider_zou_interval():
    a = row(compare_correlations(r1=0.4, r2=0.2, n=50, n2=60, method="zou", level=0.90), "zou")
    b = row(compare_correlations(r1=0.4, r2=0.2, n=50, n2=60, method="zou", level=0.99), "zou")
    assert b["ci_low"] < a["ci_low"] < a["ci_high"] < b["ci_high"]


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(r1=1.2, r2=0.1, n=50, n2=50), "r1 must be a correlation"),
        (dict(r1=0.2, r2=-1.0, n=50, n2=50), "r2 must be a correlation"),
        (dict(r1=0.2, r2=0.1, n=3, n2=50), "n must be a whole number"),
        (dict(r1=0.2, r2=0.1, n=50.5, n2=50), "n must be a whole number"),
        (dict(r1=0.2, r2=0.1, n=50), "needs n2"),
        (dict(r1=0.2, r2=0.1, n=50, n2=40, r12=0.3), "r12 does not belong"),
        (dict(r1=0.2, r2=0.1, n=50, design="overlapping"), "needs r12"),
        (dict(r1=0.9, r2=-0.9, r12=0.9, n=50, design="overlapping"), "valid correlation matrix"),
        (dict(r1=0.2, r2=0.1, n=50, n2=50, method="williams"), "does not apply to the independent"),
        (dict(r1=0.2, r2=0.1, n=50, n2=50, design="paired"), "design must be one of"),
        (dict(r1=0.2, r2=0.1, n=50, n2=50, alternative="bigger"), "argument alternative='bigger'; expected one of"),
        (dict(r1=0.2, r2=0.1, n=50, n2=50, level=95), "argument level=95; expected a confidence level"),
        (dict(r1="a", r2=0.1, n=50, n2=50), "r1 must be a number"),
    ],
)
def test_bad_input_is_one_line_input_error(kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        compare_correlations(**kwargs)
    assert "\n" not in str(info.value)


def test_nonoverlapping_rejects_impossible_matrix():
    with pytest.raises(InputError, match="valid correlation matrix"):
        compare_correlations(r1=0.9, r2=0.9, r_x1x2=-0.9, r_x1y2=0.9, r_y1x2=0.9, r_y1y2=-0.9, n=40,
                             design="nonoverlapping")


# ------------------------------------------------------------------------- data level helper
def _scores(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    countries = [f"C{i:02d}" for i in range(12)]
    items = [f"Q{i}" for i in range(1, 31)]
    idx = pd.MultiIndex.from_product([countries, items], names=["country", "item_id"]).to_frame(index=False)
    idx["category"] = np.where(idx["item_id"].str[1:].astype(int) <= 15, "social", "religion")
    human = rng.uniform(0, 1, len(idx))
    model_a = 0.7 * human + 0.3 * rng.uniform(0, 1, len(idx))
    model_b = 0.3 * human + 0.7 * rng.uniform(0, 1, len(idx))
    frames = [idx.assign(model=s, mean_score=v) for s, v in (("human", human), ("A", model_a), ("B", model_b))]
    return pd.concat(frames, ignore_index=True)


def test_compare_alignment_equals_correlations_then_test():
    scores = _scores()
    # drop a few model rows: only complete pairs may be used
    scores = scores.drop(index=scores.index[(scores["model"] == "B")][:5])
    out = compare_alignment(scores, "A", "B", by="category", method=("steiger", "williams", "zou"))
    assert set(out["group"]) == {"social", "religion"}
    for cat in ("social", "religion"):
        wide = scores[scores["category"] == cat].pivot(index=["country", "item_id"], columns="model",
                                                       values="mean_score").dropna()
        r_ah = stats.pearsonr(wide["A"], wide["human"])[0]
        r_bh = stats.pearsonr(wide["B"], wide["human"])[0]
        r_ab = stats.pearsonr(wide["A"], wide["B"])[0]
        expected = compare_correlations(r1=r_ah, r2=r_bh, r12=r_ab, n=len(wide), design="overlapping",
                                        method=("steiger", "williams", "zou"))
        got = out[out["group"] == cat].reset_index(drop=True)
        assert (got["n"] == len(wide)).all()
        assert got["r12"].iloc[0] == pytest.approx(r_ab, abs=1e-12)
        for col in ("r1", "r2", "estimate", "statistic", "df", "p", "ci_low", "ci_high"):
            np.testing.assert_allclose(got[col], expected[col], atol=1e-12, equal_nan=True)
    assert (out["model_a"] == "A").all() and (out["group_by"] == "category").all()
    # A tracks humans more closely than B: the Steiger test says so
    steiger = out[out["method"] == "steiger"]
    assert (steiger["estimate"] > 0).all() and (steiger["p"] < 0.05).all()


def test_compare_alignment_overall_and_small_groups():
    scores = _scores()
    overall = compare_alignment(scores, "A", "B", by="overall", method="williams")
    assert list(overall["group"]) == ["all"] and overall["n"].iloc[0] == 360
    per_item = compare_alignment(scores.loc[scores["country"].isin(["C00", "C01", "C02"])], "A", "B",
                                 by="item", method="steiger")
    # three countries per item: too few pairs, reported as NaN rather than an error
    assert (per_item["n"] == 3).all() and per_item["p"].isna().all()


def test_compare_alignment_errors():
    scores = _scores()
    with pytest.raises(InputError, match="model 'C' is not in the scores table"):
        compare_alignment(scores, "A", "C")
    doubled = pd.concat([scores, scores.iloc[:1]], ignore_index=True)
    with pytest.raises(InputError, match="'human' has several mean scores per country x item_id"):
        compare_alignment(doubled, "A", "B")
    # the same check as alignment's (by="item_id" is not one of alignment's choices either)
    for by in ("zone", "item_id"):
        with pytest.raises(InputError, match=f"argument by='{by}'; expected one of"):
            compare_alignment(scores, "A", "B", by=by)
    with pytest.raises(InputError, match="lacks column"):
        compare_alignment(scores.drop(columns="category"), "A", "B")
