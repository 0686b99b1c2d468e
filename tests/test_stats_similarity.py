"""Distribution similarity: JS and Wasserstein against scipy, properties (hypothesis), tables."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon

from stats_helpers import make_bank, make_countries, make_human, make_probs
from wvsalign.errors import InputError
from wvsalign.stats import distribution_similarity, js_similarity, wasserstein_similarity

TOL = 1e-10
BANK = make_bank(10)
COUNTRIES = make_countries(6)


@pytest.fixture(scope="module")
def human():
    return make_human(BANK, COUNTRIES, seed=5, dont_know=True)


@pytest.fixture(scope="module")
def probs(human):
    return make_probs(BANK, COUNTRIES, human, seed=50, models=("m1", "m2"), variants={"instruction": ["a", "b"]})


def test_js_and_wasserstein_match_scipy_row_by_row():
    rng = np.random.default_rng(0)
    for k in (2, 3, 4, 5, 10):
        p = rng.dirichlet(np.ones(k), size=30)
        q = rng.dirichlet(np.ones(k), size=30)
        p[0, 0] = 0.0  # zeros are fine
        got_js = js_similarity(p, q)
        got_w = wasserstein_similarity(p, q)
        pos = np.arange(k)
        for i in range(30):
            assert got_js[i] == pytest.approx(1 - jensenshannon(p[i], q[i], base=2), abs=TOL)
            want = 1 - ss.wasserstein_distance(pos, pos, p[i], q[i]) / (k - 1)
            assert got_w[i] == pytest.approx(want, abs=TOL)
    # positions given out of order (an item whose ordinal order differs from code order)
    p, q = np.array([0.5, 0.2, 0.3]), np.array([0.1, 0.6, 0.3])
    pos = np.array([0, 2, 1])
    want = 1 - ss.wasserstein_distance(pos, pos, p, q) / 2
    assert wasserstein_similarity(p, q, pos) == pytest.approx(want, abs=TOL)


def test_hand_worked_values():
    assert js_similarity([1, 0], [0, 1]) == pytest.approx(0.0, abs=1e-15)
    assert js_similarity([0.5, 0.5], [0.5, 0.5]) == pytest.approx(1.0)
    # all mass at opposite ends of a 4-point scale: W1 = 3 = K - 1
    assert wasserstein_similarity([1, 0, 0, 0], [0, 0, 0, 1]) == pytest.approx(0.0)
    # one step on a 5-point scale: W1 = 1 -> 1 - 1/4
    assert wasserstein_similarity([0, 1, 0, 0, 0], [0, 0, 1, 0, 0]) == pytest.approx(0.75)
    # JS divergence of (1,0) vs (0.5,0.5): 0.5*log2(2) + 0.5*(0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25))
    jsd = 0.5 * 1 * np.log2(1 / 0.75) + 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25))
    assert js_similarity([1, 0], [0.5, 0.5]) == pytest.approx(1 - np.sqrt(jsd), abs=1e-15)


dist = st.integers(2, 10).flatmap(
    lambda k: st.tuples(arrays(np.float64, k, elements=st.floats(0, 1)), arrays(np.float64, k, elements=st.floats(0, 1)))
).filter(lambda pq: pq[0].sum() > 1e-3 and pq[1].sum() > 1e-3)


@settings(max_examples=200, deadline=None)
@given(pq=dist)
def test_similarities_are_bounded_and_js_is_symmetric(pq):
    p, q = pq
    js, js_rev = js_similarity(p, q), js_similarity(q, p)
    w = wasserstein_similarity(p, q)
    assert -1e-12 <= js <= 1 + 1e-12 and -1e-12 <= w <= 1 + 1e-12
    assert js == pytest.approx(js_rev, abs=1e-12)
    assert w == pytest.approx(wasserstein_similarity(q, p), abs=1e-12)
    assert js_similarity(p, p) == pytest.approx(1.0, abs=1e-7)


def _hand_cell(probs, human, model, instruction, country, item_id, metric, drop=True):
    item = BANK[item_id]
    h = human[(human["country"] == country) & (human["item_id"] == item_id)]
    m = probs[(probs["model"] == model) & (probs["instruction"] == instruction) & (probs["country"] == country)
              & (probs["item_id"] == item_id)]
    codes = list(item.codes) if drop else sorted(set(h["code"]) | set(m["code"]))
    q = np.array([h.loc[h["code"] == c, "share"].sum() for c in codes])
    p = np.array([m.loc[m["code"] == c, "prob"].sum() for c in codes])
    if metric == "js":
        return 1 - jensenshannon(p, q, base=2)
    pos = np.array([item.options[item.codes.index(c)].position for c in codes])
    return 1 - ss.wasserstein_distance(pos, pos, p / p.sum(), q / q.sum()) / (item.n_options - 1)


@pytest.mark.parametrize("metric", ["js", "wasserstein"])
def test_cells_equal_hand_computation(probs, human, metric):
    got = distribution_similarity(probs, human, BANK, metric=metric)
    assert len(got) == 2 * 2 * len(COUNTRIES) * len(BANK)
    assert (got["metric"] == f"{metric}_similarity").all()
    for row in got.sample(25, random_state=1).itertuples():
        want = _hand_cell(probs, human, row.model, row.instruction, row.country, row.item_id, metric)
        assert row.estimate == pytest.approx(want, abs=TOL)


def test_refusals_can_be_kept(probs, human):
    got = distribution_similarity(probs, human, BANK, drop_refusals=False)
    kept = distribution_similarity(probs, human, BANK)
    assert (got["estimate"] < kept["estimate"] + 1e-12).mean() > 0.5  # don't-know mass the model never gives
    for row in got.sample(10, random_state=2).itertuples():
        want = _hand_cell(probs, human, row.model, row.instruction, row.country, row.item_id, "js", drop=False)
        assert row.estimate == pytest.approx(want, abs=TOL)
    with pytest.raises(InputError, match="drop_refusals=True"):
        distribution_similarity(probs, human, BANK, metric="wasserstein", drop_refusals=False)


def test_country_aggregate_is_the_mean_with_a_bootstrap_over_items(probs, human):
    cells = distribution_similarity(probs, human, BANK)
    agg = distribution_similarity(probs, human, BANK, by="country", n_boot=300, seed=4)
    assert (agg["group_by"] == "country").all() and agg["p"].isna().all()
    row = agg[(agg["model"] == "m2") & (agg["instruction"] == "b") & (agg["group"] == COUNTRIES[2])].iloc[0]
    v = cells[(cells["model"] == "m2") & (cells["instruction"] == "b") & (cells["country"] == COUNTRIES[2])]
    v = v.sort_values("item_id")["estimate"].to_numpy()
    assert row.estimate == pytest.approx(v.mean(), abs=TOL) and row.n == len(BANK)
    ref = ss.bootstrap((v,), np.mean, n_resamples=300, method="percentile", rng=np.random.default_rng(4))
    assert row.ci_low == pytest.approx(ref.confidence_interval.low, abs=TOL)
    assert row.ci_high == pytest.approx(ref.confidence_interval.high, abs=TOL)
    assert row.resampled == "item"
    # other levels and averaging over variants
    overall = distribution_similarity(probs, human, BANK, by="overall", variants=[], ci="none")
    assert len(overall) == 2 and overall["ci_low"].isna().all()
    pooled_cells = distribution_similarity(probs, human, BANK, variants=[])
    m1 = pooled_cells[pooled_cells["model"] == "m1"]["estimate"].mean()
    assert overall.loc[overall["model"] == "m1", "estimate"].iloc[0] == pytest.approx(m1, abs=TOL)


def test_default_condition_prompts_have_no_human_counterpart(human):
    probs = make_probs(BANK, COUNTRIES[:2], human, seed=51, models=("m1",), default=True)
    got = distribution_similarity(probs, human, BANK)
    assert "NONE" not in set(got["country"])


def test_bad_input_is_named(probs, human):
    with pytest.raises(InputError, match="metric='kl'"):
        distribution_similarity(probs, human, BANK, metric="kl")
    with pytest.raises(InputError, match="by='model'"):
        distribution_similarity(probs, human, BANK, by="model")
    with pytest.raises(InputError, match="same shape"):
        js_similarity([0.5, 0.5], [1.0])
    with pytest.raises(InputError, match="non-negative"):
        js_similarity([1.5, -0.5], [0.5, 0.5])
    with pytest.raises(InputError, match="no prompt shares a country"):
        distribution_similarity(probs.assign(country="ZZZ"), human, BANK)


def test_wasserstein_leaves_out_nominal_items_with_more_than_two_options():
    bank = make_bank(10, nominal=("T1", "T2", "T4"))
    human = make_human(bank, COUNTRIES[:3], seed=6)
    probs = make_probs(bank, COUNTRIES[:3], human, seed=7, models=("m1",))
    with pytest.warns(UserWarning, match=r"nominal item\(s\) with more than two options left out "
                                         r"\(2: \['T2', 'T4'\]\).*metric='js'"):
        w = distribution_similarity(probs, human, bank, metric="wasserstein")
    assert set(w["item_id"]) == set(bank.ids) - {"T2", "T4"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # JS does not need an order
        js = distribution_similarity(probs, human, bank, metric="js")
    assert set(js["item_id"]) == set(bank.ids)
