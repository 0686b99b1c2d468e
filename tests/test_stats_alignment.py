"""Alignment: correlations per category / country / item / overall against scipy; bootstrap CIs
against scipy.stats.bootstrap on the same draws; scale properties (hypothesis); bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_helpers import make_scores
from wvsalign.errors import InputError
from wvsalign.stats import alignment, correlate
from wvsalign.stats.bootstrap import DegenerateBootstrapWarning, interval

TOL = 1e-10


@pytest.fixture(scope="module")
def scores():
    return make_scores(9, 8, seed=4, models=("m1", "m2"), categories=2)


def _pairs(scores, model):
    h = scores[scores["model"] == "human"].set_index(["country", "item_id"])["mean_score"]
    m = scores[scores["model"] == model].set_index(["country", "item_id"])
    return m.assign(y=h.reindex(m.index).to_numpy()).reset_index().rename(columns={"mean_score": "x"})


@pytest.mark.parametrize("by,col", [("category", "category"), ("country", "country"), ("item", "item_id"),
                                    ("overall", None)])
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_estimates_p_and_fisher_ci_match_scipy(scores, by, col, method):
    got = alignment(scores, by=by, metric=method)
    assert set(got["model"]) == {"m1", "m2"} and (got["group_by"] == by).all()
    for model in ("m1", "m2"):
        pairs = _pairs(scores, model)
        groups = pairs.groupby(col) if col else [("all", pairs)]
        for group, g in groups:
            row = got[(got["model"] == model) & (got["group"] == group)].iloc[0]
            assert row.n == len(g)
            if method == "pearson":
                res = ss.pearsonr(g["x"], g["y"])
                ci = res.confidence_interval(0.95)
                assert row.ci_low == pytest.approx(ci.low, abs=TOL)
                assert row.ci_high == pytest.approx(ci.high, abs=TOL)
            else:
                res = ss.spearmanr(g["x"], g["y"])
                z = np.arctanh(res.statistic)
                se = np.sqrt(1.06 / (len(g) - 3))  # Fieller et al.: hand-worked
                assert row.ci_low == pytest.approx(np.tanh(z - 1.959963984540054 * se), abs=TOL)
                assert row.ci_high == pytest.approx(np.tanh(z + 1.959963984540054 * se), abs=TOL)
            assert row.estimate == pytest.approx(res.statistic, abs=TOL)
            assert row.p == pytest.approx(res.pvalue, abs=TOL)


def _scipy_bootstrap(g, method, resample, ci_method, n_boot, seed):
    """scipy.stats.bootstrap over cluster indices with the same seed: an independent computation."""
    cc = pd.factorize(g["country"], sort=True)[0]
    ii = pd.factorize(g["item_id"], sort=True)[0]
    x, y = g["x"].to_numpy(), g["y"].to_numpy()
    corr = (lambda a, b: ss.pearsonr(a, b)[0]) if method == "pearson" else (lambda a, b: ss.spearmanr(a, b)[0])
    rows_c = [np.flatnonzero(cc == c) for c in range(cc.max() + 1)]
    rows_i = [np.flatnonzero(ii == i) for i in range(ii.max() + 1)]
    cell = {(c, i): np.flatnonzero((cc == c) & (ii == i)) for c in range(cc.max() + 1) for i in range(ii.max() + 1)}
    if resample == "countries":
        data, stat = (np.arange(len(rows_c)),), lambda k: corr(*[v[np.concatenate([rows_c[j] for j in k])] for v in (x, y)])
    elif resample == "items":
        data, stat = (np.arange(len(rows_i)),), lambda k: corr(*[v[np.concatenate([rows_i[j] for j in k])] for v in (x, y)])
    else:
        data = (np.arange(len(rows_c)), np.arange(len(rows_i)))

        def stat(kc, ki):
            rows = np.concatenate([cell[(c, i)] for c in kc for i in ki])
            return corr(x[rows], y[rows])
    res = ss.bootstrap(data, stat, n_resamples=n_boot, method=ci_method, vectorized=False, paired=False,
                       rng=np.random.default_rng(seed))
    return res.confidence_interval


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("resample", ["countries", "items", "both"])
@pytest.mark.parametrize("ci_method", ["percentile", "bca"])
def test_bootstrap_intervals_match_scipy_bootstrap(scores, method, resample, ci_method):
    n_boot, seed = 199, 11
    got = alignment(scores, by="category", metric=method, ci="bootstrap", resample=resample, n_boot=n_boot,
                    ci_method=ci_method, seed=seed)
    g = _pairs(scores, "m2")
    g = g[g["category"] == "cat1"]
    row = got[(got["model"] == "m2") & (got["group"] == "cat1")].iloc[0]
    ci = _scipy_bootstrap(g, method, resample, ci_method, n_boot, seed)
    assert row.ci_low == pytest.approx(ci.low, abs=TOL)
    assert row.ci_high == pytest.approx(ci.high, abs=TOL)
    assert row.ci_method == ci_method
    assert row.resampled == {"countries": "country", "items": "item", "both": "country+item"}[resample]


def test_bootstrap_of_a_group_does_not_depend_on_other_models(scores):
    both = alignment(scores, by="overall", ci="bootstrap", n_boot=300, seed=5)
    alone = alignment(scores[scores["model"] != "m1"], by="overall", ci="bootstrap", n_boot=300, seed=5)
    a = both[both["model"] == "m2"].iloc[0]
    b = alone.iloc[0]
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    other_seed = alignment(scores, by="overall", ci="bootstrap", n_boot=300, seed=6)
    assert other_seed["ci_low"].iloc[0] != both["ci_low"].iloc[0]


def test_unit_that_does_not_vary_is_replaced(scores):
    got = alignment(scores, by="country", ci="bootstrap", resample="countries", n_boot=50)
    assert (got["resampled"] == "item").all()
    got = alignment(scores, by="item", ci="bootstrap", resample="both", n_boot=50)
    assert (got["resampled"] == "country").all()


def test_correlate_matches_scipy_and_bootstraps_pairs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 0.4 * x + rng.normal(size=40)
    row = correlate(x, y).iloc[0]
    res = ss.pearsonr(x, y)
    assert row.estimate == pytest.approx(res.statistic, abs=TOL) and row.p == pytest.approx(res.pvalue, abs=TOL)
    boot = correlate(x, y, ci="bootstrap", n_boot=500, ci_method="bca", seed=3).iloc[0]
    ref = ss.bootstrap((x, y), lambda a, b: ss.pearsonr(a, b)[0], paired=True, vectorized=False, n_resamples=500,
                       method="bca", rng=np.random.default_rng(3)).confidence_interval
    assert boot.ci_low == pytest.approx(ref.low, abs=TOL) and boot.ci_high == pytest.approx(ref.high, abs=TOL)
    with pytest.raises(InputError, match="same length"):
        correlate([1, 2, 3], [1, 2])


def test_default_condition_rows_are_left_out(scores):
    extra = scores[scores["model"] == "m1"].assign(country="NONE").drop_duplicates("item_id")
    got = alignment(pd.concat([scores, extra]), by="overall")
    assert got.loc[got["model"] == "m1", "n"].iloc[0] == 9 * 8


def test_variant_columns_give_separate_rows(scores):
    m = scores[scores["model"] == "m1"]
    two = pd.concat([scores[scores["model"] == "human"], m.assign(instruction="a"),
                     m.assign(instruction="b", mean_score=m["mean_score"][::-1].to_numpy())])
    got = alignment(two, by="overall")
    assert list(got["instruction"]) == ["a", "b"]
    assert got["estimate"].iloc[0] != got["estimate"].iloc[1]


def test_bad_input_is_named(scores):
    with pytest.raises(InputError, match="by='region'"):
        alignment(scores, by="region")
    with pytest.raises(InputError, match="metric='kendall'"):
        alignment(scores, metric="kendall")
    with pytest.raises(InputError, match="ci='jackknife'"):
        alignment(scores, ci="jackknife")
    with pytest.raises(InputError, match="resample='rows'"):
        alignment(scores, ci="bootstrap", resample="rows")
    with pytest.raises(InputError, match="level=1.5"):
        alignment(scores, level=1.5)
    with pytest.raises(InputError, match="n_boot=0"):
        alignment(scores, ci="bootstrap", n_boot=0)
    with pytest.raises(InputError, match="no human rows"):
        alignment(scores[scores["model"] != "human"])
    with pytest.raises(InputError, match="more than one model mean score"):
        alignment(pd.concat([scores, scores[scores["model"] == "m1"]]))
    with pytest.raises(InputError, match="no model row shares"):
        alignment(pd.concat([scores[scores["model"] == "human"],
                             scores[scores["model"] == "m1"].assign(country=lambda f: "Z" + f["country"])]))


# ---- properties of the scale (hypothesis) -----------------------------------------------------------
def _two_item_scores(x1, y1, x2, y2):
    n = len(x1)
    countries = [f"C{i}" for i in range(n)]
    rows = []
    for item, xs, ys in (("A", x1, y1), ("B", x2, y2)):
        for c, xv, yv in zip(countries, xs, ys):
            rows.append({"model": "m", "country": c, "item_id": item, "category": "k", "mean_score": xv})
            rows.append({"model": "human", "country": c, "item_id": item, "category": "k", "mean_score": yv})
    return pd.DataFrame(rows)


values = st.lists(st.floats(0, 1, allow_nan=False), min_size=6, max_size=6)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")  # generated constant inputs
@settings(max_examples=40, deadline=None)
@given(x1=values, y1=values, x2=values, y2=values, a=st.floats(-3, 3), b=st.floats(0.1, 10))
def test_per_item_r_is_invariant_to_affine_rescaling_of_that_item(x1, y1, x2, y2, a, b):
    base = _two_item_scores(x1, y1, x2, y2)
    scaled = base.copy()
    on_a = scaled["item_id"] == "A"
    scaled.loc[on_a, "mean_score"] = a + b * scaled.loc[on_a, "mean_score"]  # both sides, item A only
    r0 = alignment(base, by="item", ci="none").set_index("group")["estimate"]
    r1 = alignment(scaled, by="item", ci="none").set_index("group")["estimate"]
    both = r0.notna() & r1.notna()
    np.testing.assert_allclose(r1[both], r0[both], atol=1e-8)
    assert (r0.isna() == r1.isna()).all()


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")  # generated constant inputs
@settings(max_examples=40, deadline=None)
@given(x1=values, y1=values, x2=values, y2=values, a=st.floats(-3, 3), b=st.floats(0.1, 10))
def test_pooled_r_is_invariant_to_one_affine_map_of_all_items(x1, y1, x2, y2, a, b):
    base = _two_item_scores(x1, y1, x2, y2)
    scaled = base.assign(mean_score=a + b * base["mean_score"])  # e.g. unit -> kim_baek (a=-1, b=2)
    r0 = alignment(base, by="overall", ci="none")["estimate"].iloc[0]
    r1 = alignment(scaled, by="overall", ci="none")["estimate"].iloc[0]
    assert (np.isnan(r0) and np.isnan(r1)) or r1 == pytest.approx(r0, abs=1e-8)


def test_pooled_r_changes_under_per_item_rescaling():
    # item A: 4-point item scored 0..3 ("position"), item B: 10-point item scored 0..9, same answers in [0, 1]
    rng = np.random.default_rng(1)
    x1, y1, x2, y2 = (rng.uniform(0, 1, 6) for _ in range(4))
    y2 = 1 - x2 + rng.normal(0, 0.05, 6)  # item B disagrees with the model across countries
    unit = _two_item_scores(x1, y1, x2, y2)
    wide = unit.copy()
    wide.loc[wide["item_id"] == "A", "mean_score"] *= 3
    wide.loc[wide["item_id"] == "B", "mean_score"] *= 9
    r_unit = alignment(unit, by="overall", ci="none")["estimate"].iloc[0]
    r_wide = alignment(wide, by="overall", ci="none")["estimate"].iloc[0]
    assert abs(r_unit - r_wide) > 0.1
    # the per-item correlations are the same under both
    np.testing.assert_allclose(alignment(unit, by="item", ci="none")["estimate"],
                               alignment(wide, by="item", ci="none")["estimate"], atol=1e-12)
    # flipping one item's direction changes pooled r as well: item A sits low, item B high on both sides
    unit = _two_item_scores(0.2 + 0.1 * x1, 0.2 + 0.1 * y1, 0.8 + 0.1 * x2, 0.8 + 0.1 * y2)
    r_unit = alignment(unit, by="overall", ci="none")["estimate"].iloc[0]
    flipped = unit.copy()
    flipped.loc[flipped["item_id"] == "B", "mean_score"] = 1 - flipped.loc[flipped["item_id"] == "B", "mean_score"]
    assert abs(alignment(flipped, by="overall", ci="none")["estimate"].iloc[0] - r_unit) > 0.1


def test_public_names_stay_functions_after_their_modules_load():
    import importlib

    import wvsalign.stats as stats

    importlib.import_module("wvsalign.stats.bias")  # loads the correlation and similarity modules first
    importlib.import_module("wvsalign.stats.cultural_map")
    assert stats.alignment.__name__ == "alignment" and callable(stats.alignment)
    assert stats.culture_map.__name__ == "culture_map"
    assert stats.alignment is alignment


def test_alignment_accepts_probs_and_human_tables():
    from stats_helpers import make_bank, make_countries, make_human, make_probs
    from wvsalign.stats import mean_scores

    bank, countries = make_bank(8), make_countries(5)
    human = make_human(bank, countries, seed=1)
    probs = make_probs(bank, countries, human, seed=10, models=("m1",))
    direct = alignment(probs, human, bank, by="overall")
    via_scores = alignment(mean_scores(probs, human, bank), by="overall")
    pd.testing.assert_frame_equal(direct, via_scores)
    with pytest.raises(InputError, match="needs the human table"):
        alignment(probs)


# ---- degenerate inputs: R warns, scipy warns; so does wvsalign --------------------------------------
def test_constant_vector_warns_like_r():
    with pytest.warns(ss.ConstantInputWarning, match=r"x or y is constant \(the standard deviation is zero\)"):
        res = correlate([1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]).iloc[0]
    assert np.isnan(res.estimate) and np.isnan(res.p) and np.isnan(res.ci_low)
    with pytest.warns(ss.ConstantInputWarning):  # scipy says the same
        ss.pearsonr([1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        correlate([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0])  # no warning otherwise


@pytest.mark.parametrize("ci_method", ["percentile", "bca"])
def test_bootstrap_at_r_equal_1_is_the_point_with_a_warning(ci_method):
    x = np.arange(10.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = correlate(x, 2 * x + 1, ci="bootstrap", ci_method=ci_method, n_boot=500).iloc[0]
    assert (res.estimate, res.ci_low, res.ci_high) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
    kinds = {w.category for w in caught}
    assert DegenerateBootstrapWarning in kinds and RuntimeWarning not in kinds  # no numpy cast warning
    assert any("every replicate equal" in str(w.message) for w in caught)


@pytest.mark.parametrize("n", [3, 4, 5])
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_bootstrap_of_tiny_samples_is_declined_with_a_warning(n, method):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=n), rng.normal(size=n)
    with pytest.warns(DegenerateBootstrapWarning, match=r"not computed \(NaN\): \d+% of the resamples are degenerate"):
        res = correlate(x, y, metric=method, ci="bootstrap", n_boot=1000).iloc[0]
    assert np.isnan(res.ci_low) and np.isnan(res.ci_high) and np.isfinite(res.estimate)
    # why: the share of resamples with at most two distinct pairs (r undefined or +-1), counted exactly
    n_two = n + n * (n - 1) // 2 * (2**n - 2)
    assert n_two / n**n > 0.025


def test_bootstrap_of_enough_pairs_is_computed():
    rng = np.random.default_rng(8)
    x = rng.normal(size=12)
    y = x + rng.normal(size=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = correlate(x, y, ci="bootstrap", ci_method="bca", n_boot=500).iloc[0]
    assert -1 < res.ci_low < res.estimate < res.ci_high < 1
    ci = ss.bootstrap((x, y), lambda a, b: ss.pearsonr(a, b)[0], paired=True, vectorized=False, n_resamples=500,
                      method="BCa", rng=np.random.default_rng(0)).confidence_interval
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-10)


def test_interval_bounds_rule_directly():
    # 3 replicates of 40 at a bound (7.5%) > 2.5%: NaN; 0 at a bound: the percentile interval
    theta_hat = np.array([0.3, 0.3])
    theta_b = np.tile(np.linspace(0.1, 0.5, 40)[:, None], (1, 2))
    theta_b[:3, 0] = 1.0
    with pytest.warns(DegenerateBootstrapWarning, match="1 not computed"):
        low, high = interval(theta_b, theta_hat, bounds=(-1.0, 1.0))
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert (low[1], high[1]) == pytest.approx(tuple(np.quantile(theta_b[:, 1], [0.025, 0.975])))
