"""Multiple-testing corrections: hand-worked examples, Benjamini & Hochberg's own example, R's rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from wvsalign.errors import InputError
from wvsalign.stats import adjust_pvalues, adjust_table

# Benjamini & Hochberg (1995, J. R. Statist. Soc. B 57, p. 295): 15 p-values from a clinical trial;
# at q = .05 their procedure rejects the 4 smallest, Bonferroni (.05/15) only the 3 smallest.
BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
           0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]


def test_holm_hand_worked():
    # sorted: .005 x 4 = .02, .01 x 3 = .03, .03 x 2 = .06, .04 x 1 = .04 -> running max: .02 .03 .06 .06
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02], atol=1e-15)


def test_bonferroni_hand_worked_and_capped():
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.2, 0.5], "bonferroni"), [0.03, 0.6, 1.0], atol=1e-15)


def test_bh_on_benjamini_hochberg_example():
    adj = adjust_pvalues(BH_1995, "bh")
    # by hand: p_(i) * 15 / i, then the running minimum from the largest p down
    expected = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.063857142857142857, 0.063857142857142857,
                0.0645, 0.0765, 0.486, 0.58118181818181818, 0.71487500, 0.75323076923076923,
                0.81321428571428571, 1.0]
    np.testing.assert_allclose(adj, expected, atol=1e-12)
    assert (adj <= 0.05).sum() == 4
    assert (adjust_pvalues(BH_1995, "bonferroni") <= 0.05).sum() == 3
    assert (adjust_pvalues(BH_1995, "holm") <= 0.05).sum() == 3


def test_r_rules_for_missing_values_and_names():
    # R's p.adjust removes NAs and sets n to the number of non-missing p-values; names are kept.
    p = pd.Series([0.01, np.nan, 0.03, 0.02], index=["a", "b", "c", "d"], name="p")
    out = adjust_pvalues(p, "bonferroni")
    assert isinstance(out, pd.Series) and list(out.index) == ["a", "b", "c", "d"] and out.name == "p"
    np.testing.assert_allclose(out.to_numpy(), [0.03, np.nan, 0.09, 0.06], atol=1e-15)
    # R's method names are accepted ("BH", "fdr" and "BY" as in p.adjust.methods)
    np.testing.assert_allclose(adjust_pvalues(BH_1995, "BH"), adjust_pvalues(BH_1995, "fdr"))
    np.testing.assert_allclose(adjust_pvalues(BH_1995, "BY"), multipletests(BH_1995, method="fdr_by")[1])


@pytest.mark.parametrize("method,sm_method", [
    ("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni"), ("hochberg", "simes-hochberg"),
    ("hommel", "hommel"), ("by", "fdr_by"), ("sidak", "sidak"), ("holm-sidak", "holm-sidak"),
])
def test_equals_statsmodels_multipletests(method, sm_method):
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 1, 40), rng.uniform(0, 0.01, 10)])
    np.testing.assert_allclose(adjust_pvalues(p, method), multipletests(p, method=sm_method)[1], atol=1e-15)
    # with NaNs: the non-missing ones are one family on their own
    with_nan = p.copy()
    with_nan[[0, 7, 33]] = np.nan
    out = adjust_pvalues(with_nan, method)
    assert np.isnan(out[[0, 7, 33]]).all()
    keep = ~np.isnan(with_nan)
    np.testing.assert_allclose(out[keep], multipletests(with_nan[keep], method=sm_method)[1], atol=1e-15)


def test_two_stage_bh_uses_alpha():
    a = adjust_pvalues(BH_1995, "tsbh", alpha=0.05)
    np.testing.assert_allclose(a, multipletests(BH_1995, alpha=0.05, method="fdr_tsbh")[1])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_adjusted_properties(p):
    p = np.array(p)
    for method in ("holm", "bh", "bonferroni"):
        adj = adjust_pvalues(p, method)
        assert ((adj >= p - 1e-15) & (adj <= 1)).all()
        # adjustment keeps the order of the p-values
        order = np.argsort(p, kind="stable")
        assert (np.diff(adj[order]) >= -1e-15).all()
    assert (adjust_pvalues(p, "bh") <= adjust_pvalues(p, "holm") + 1e-15).all()


def test_adjust_table_by_family():
    table = pd.DataFrame({
        "metric": ["r", "r", "r", "js", "js"],
        "estimate": [0.1, 0.2, 0.3, 0.4, 0.5],
        "p": [0.01, 0.04, 0.03, 0.2, np.nan],
    })
    out = adjust_table(table, "holm", by="metric")
    np.testing.assert_allclose(out["p_adj"], [0.03, 0.06, 0.06, 0.2, np.nan], atol=1e-15)
    assert list(out["reject"]) == [True, False, False, False, False]
    assert "p_adj" not in table.columns  # the input is left alone
    whole = adjust_table(table, "bonferroni", alpha=0.1)
    np.testing.assert_allclose(whole["p_adj"], [0.04, 0.16, 0.12, 0.8, np.nan], atol=1e-15)
    assert list(whole["reject"]) == [True, False, False, False, False]


@pytest.mark.parametrize("call,match", [
    (lambda: adjust_pvalues([0.1, 1.2]), r"must lie in \[0, 1\]"),
    (lambda: adjust_pvalues([0.1], "fdr2"), "method must be one of"),
    (lambda: adjust_pvalues([0.1], alpha=1.5), "argument alpha=1.5; expected a significance level"),
    (lambda: adjust_table(pd.DataFrame({"p": [0.1]}), alpha=0), "argument alpha=0; expected a significance level"),
    (lambda: adjust_pvalues(["a"]), "must be numbers"),
    (lambda: adjust_table(pd.DataFrame({"q": [0.1]})), "column 'p'"),
    (lambda: adjust_table(pd.DataFrame({"p": [0.1, "x"]})), "row 1"),
    (lambda: adjust_table(pd.DataFrame({"p": [0.1]}), by="family"), "column 'family'"),
])
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()
