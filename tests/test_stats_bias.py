"""Bias indices: Western / zone bias, default ranking, steerability against scipy and by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from scipy.spatial.distance import jensenshannon

from stats_helpers import make_bank, make_countries, make_human, make_probs, make_scores, western_map, zone_map
from wvsalign.errors import InputError
from wvsalign.stats import alignment, default_ranking, mean_scores, steerability, western_bias, zone_bias
from wvsalign.stats.bias import mean_difference

TOL = 1e-10


def _diff(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


@pytest.mark.parametrize("ci_method", ["percentile", "bca"])
def test_bootstrap_interval_matches_scipy_two_sample_bootstrap(ci_method):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 11))
    inside = np.array([True, False, True, False, False, True, False, False, True, False, False])
    got = mean_difference(values, inside, n_boot=400, n_perm=10, seed=8, ci_method=ci_method)
    for r in range(3):
        ref = ss.bootstrap((values[r, inside], values[r, ~inside]), _diff, n_resamples=400, method=ci_method,
                           rng=np.random.default_rng(8)).confidence_interval
        assert got["ci_low"][r] == pytest.approx(ref.low, abs=TOL)
        assert got["ci_high"][r] == pytest.approx(ref.high, abs=TOL)
        assert got["estimate"][r] == pytest.approx(_diff(values[r, inside], values[r, ~inside]), abs=1e-14)


def test_permutation_p_matches_scipy_exact_and_monte_carlo():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(4, 10)) + np.array([0.8] * 4 + [0.0] * 6)
    inside = np.arange(10) < 4
    exact = mean_difference(values, inside, n_boot=10, n_perm=1000, seed=0)  # C(10, 4) = 210 <= 1000: exact
    for r in range(4):
        ref = ss.permutation_test((values[r, inside], values[r, ~inside]), _diff, n_resamples=np.inf).pvalue
        assert exact["p"][r] == pytest.approx(ref, abs=1e-12)
    # 16 choose 8 = 12870 arrangements > 5000: Monte Carlo, within 4 standard errors of the exact p
    values = rng.normal(size=(3, 16)) + np.array([0.5] * 8 + [0.0] * 8)
    inside = np.arange(16) < 8
    mc = mean_difference(values, inside, n_boot=10, n_perm=5000, seed=0)
    for r in range(3):
        ref = ss.permutation_test((values[r, inside], values[r, ~inside]), _diff, n_resamples=np.inf).pvalue
        assert abs(mc["p"][r] - ref) < 4 * np.sqrt(ref * (1 - ref) / 5000) + 1e-3


@pytest.fixture(scope="module")
def scores():
    return make_scores(12, 10, seed=3, models=("m1", "m2"))


def _per_country_r(scores, model):
    h = scores[scores["model"] == "human"].set_index(["country", "item_id"])["mean_score"]
    m = scores[scores["model"] == model]
    out = {}
    for c, g in m.groupby("country"):
        out[c] = ss.pearsonr(g["mean_score"], h.loc[list(zip(g["country"], g["item_id"]))])[0]
    return pd.Series(out)


def test_western_bias_from_scores_equals_hand_computation(scores):
    countries = sorted(scores["country"].unique())
    west = western_map(countries)
    got = western_bias(scores, west, n_boot=200, n_perm=999, seed=2)
    assert list(got["model"]) == ["m1", "m2"]
    for row in got.itertuples():
        r = _per_country_r(scores, row.model)
        inside = np.array([west[c] for c in r.index])
        assert row.estimate == pytest.approx(r[inside].mean() - r[~inside].mean(), abs=TOL)
        assert (row.mean_in, row.n_in, row.n_out, row.n) == (pytest.approx(r[inside].mean()), 4, 8, 12)
        ref = ss.bootstrap((r[inside].to_numpy(), r[~inside].to_numpy()), _diff, n_resamples=200,
                           method="percentile", rng=np.random.default_rng(2)).confidence_interval
        assert row.ci_low == pytest.approx(ref.low, abs=TOL)
        assert row.ci_high == pytest.approx(ref.high, abs=TOL)
        assert 0 < row.p <= 1 and row.method == "permutation" and row.metric == "pearson"
    # the same from an alignment table with per-country rows (any metric)
    table = alignment(scores, by="country", ci="none")
    again = western_bias(table, west, n_boot=200, n_perm=999, seed=2)
    np.testing.assert_allclose(again["estimate"], got["estimate"], atol=1e-14)
    np.testing.assert_allclose(again["p"], got["p"], atol=0)


def test_western_bias_with_the_embedded_registry():
    codes = ["USA", "DEU", "JPN", "NGA", "BRA", "MAR"]
    s = make_scores(6, 8, seed=9)
    s["country"] = s["country"].map(dict(zip(sorted(s["country"].unique()), codes)))
    got = western_bias(s, n_boot=100, n_perm=100)
    assert (got["n_in"].iloc[0], got["n_out"].iloc[0]) == (2, 4)
    # the group sizes under their own names (USA, DEU western; JPN, NGA, BRA, MAR not)
    assert (got["n_western"].iloc[0], got["n_non_western"].iloc[0]) == (2, 4)
    assert list(got.columns[-2:]) == ["n_western", "n_non_western"]


def test_default_set_has_9_western_countries_and_says_so():
    from wvsalign.survey.countries import Countries

    reg = Countries.load()
    default = reg.set("default")
    western = [c for c in default if reg.get(c).western]
    assert (len(default), len(western)) == (55, 9)
    rule = " ".join(reg.set_rule("default").split())
    assert "Only 9 of the 55 are western" in rule and "n_western, n_non_western" in rule
    assert all(reg.get(c).name in rule for c in western), [reg.get(c).name for c in western]
    assert "only 9 are Western" in " ".join(western_bias.__doc__.split())


def test_zone_bias_has_one_row_per_zone(scores):
    countries = sorted(scores["country"].unique())
    zones = zone_map(countries)
    got = zone_bias(scores, zones, n_boot=100, n_perm=500)
    assert sorted(got["group"].unique()) == ["zone0", "zone1", "zone2"]
    row = got[(got["model"] == "m1") & (got["group"] == "zone1")].iloc[0]
    r = _per_country_r(scores, "m1")
    inside = np.array([zones[c] == "zone1" for c in r.index])
    assert row.estimate == pytest.approx(r[inside].mean() - r[~inside].mean(), abs=TOL)


def test_bias_bad_input(scores):
    with pytest.raises(InputError, match="not in the given western mapping"):
        western_bias(scores, {"XAA": True})
    with pytest.raises(InputError, match="both sides"):
        western_bias(scores, {c: True for c in scores["country"].unique()})
    with pytest.raises(InputError, match="per-country rows"):
        western_bias(alignment(scores, by="item"), {})
    with pytest.raises(InputError, match="n_perm=0"):
        western_bias(scores, western_map(sorted(scores["country"].unique())), n_perm=0)


def test_duplicated_per_country_values_are_an_error_not_silently_dropped(scores):
    west = western_map(sorted(scores["country"].unique()))
    table = alignment(scores, by="country", ci="none")
    # the same model, metric and country twice (two prompt variants without their variant column, say)
    twice = pd.concat([table, table.iloc[[3]].assign(estimate=0.99)], ignore_index=True)
    with pytest.raises(InputError, match=rf"more than one per-country value for .*'{table['group'].iloc[3]}'"):
        western_bias(twice, west, n_boot=10, n_perm=10)
    with pytest.raises(InputError, match="more than one per-country value"):
        zone_bias(twice, zone_map(sorted(west)), n_boot=10, n_perm=10)
    # told apart by a variant column, they are two configurations (the one-country one has no split)
    apart = twice.assign(instruction=["a"] * len(table) + ["b"])
    got = western_bias(apart, west, n_boot=10, n_perm=10)
    assert list(got["instruction"]) == ["a", "a"]
    np.testing.assert_allclose(got["estimate"], western_bias(table, west, n_boot=10, n_perm=10)["estimate"])


# ---- default condition ------------------------------------------------------------------------------
BANK = make_bank(10)
COUNTRIES = make_countries(5)


@pytest.fixture(scope="module")
def tables_with_default():
    human = make_human(BANK, COUNTRIES, seed=7)
    probs = make_probs(BANK, COUNTRIES, human, seed=70, models=("m1", "m2"), default=True, signal=0.5)
    return human, probs, mean_scores(probs, human, BANK)


def test_default_ranking_by_correlation(tables_with_default):
    human, probs, scores = tables_with_default
    got = default_ranking(scores)
    assert len(got) == 2 * len(COUNTRIES)
    h = scores[scores["model"] == "human"]
    for row in got.itertuples():
        d = scores[(scores["model"] == row.model) & (scores["country"] == "NONE")].set_index("item_id")["mean_score"]
        hc = h[h["country"] == row.group].set_index("item_id")["mean_score"]
        assert row.estimate == pytest.approx(ss.pearsonr(d.loc[hc.index], hc)[0], abs=TOL)
    for _, g in got.groupby("model"):
        assert list(g["rank"]) == list(range(1, len(COUNTRIES) + 1))
        assert g["estimate"].is_monotonic_decreasing


def test_default_ranking_by_distribution(tables_with_default):
    human, probs, _ = tables_with_default
    got = default_ranking(probs, human, BANK, metric="js", ci="none")
    row = got.iloc[0]
    vals = []
    for it in BANK:
        p = probs[(probs["model"] == row.model) & (probs["country"] == "NONE") & (probs["item_id"] == it.item_id)]
        q = human[(human["country"] == row.group) & (human["item_id"] == it.item_id)]
        vals.append(1 - jensenshannon(p.set_index("code")["prob"].loc[list(it.codes)],
                                      q.set_index("code")["share"].loc[list(it.codes)], base=2))
    assert row.estimate == pytest.approx(np.mean(vals), abs=TOL) and row["rank"] == 1
    with pytest.raises(InputError, match="human="):
        default_ranking(probs, metric="js")


def test_steerability_equals_difference_of_correlations(tables_with_default):
    _, _, scores = tables_with_default
    got = steerability(scores, n_boot=300, n_perm=2000, seed=3)
    assert len(got) == 2 * len(COUNTRIES) and (got["metric"] == "steerability").all()
    h = scores[scores["model"] == "human"]
    row = got[(got["model"] == "m2") & (got["group"] == COUNTRIES[1])].iloc[0]
    x = scores[(scores["model"] == "m2") & (scores["country"] == COUNTRIES[1])].set_index("item_id")["mean_score"]
    d = scores[(scores["model"] == "m2") & (scores["country"] == "NONE")].set_index("item_id")["mean_score"]
    y = h[h["country"] == COUNTRIES[1]].set_index("item_id")["mean_score"]
    items = sorted(y.index)
    x, d, y = x.loc[items].to_numpy(), d.loc[items].to_numpy(), y.loc[items].to_numpy()

    def stat(a, b):
        return ss.pearsonr(a, y)[0] - ss.pearsonr(b, y)[0]

    assert row.estimate == pytest.approx(stat(x, d), abs=TOL)
    assert row.r_persona == pytest.approx(ss.pearsonr(x, y)[0], abs=TOL)
    # paired bootstrap over items
    boot = ss.bootstrap((np.arange(len(items)),), lambda k: ss.pearsonr(x[k], y[k])[0] - ss.pearsonr(d[k], y[k])[0],
                        n_resamples=300, method="percentile", vectorized=False, rng=np.random.default_rng(3))
    assert row.ci_low == pytest.approx(boot.confidence_interval.low, abs=TOL)
    assert row.ci_high == pytest.approx(boot.confidence_interval.high, abs=TOL)
    # swapping persona and default answers item by item: 2^10 = 1024 <= 2000 arrangements, exact
    perm = ss.permutation_test((x, d), stat, permutation_type="samples", n_resamples=np.inf, vectorized=False)
    assert row.p == pytest.approx(perm.pvalue, abs=1e-12)


def test_steerability_needs_default_rows(tables_with_default):
    _, _, scores = tables_with_default
    with pytest.raises(InputError, match="default condition"):
        steerability(scores[scores["country"] != "NONE"])
