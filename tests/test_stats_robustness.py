"""Robustness across prompt variants: format effects (permutation tests against scipy) and
agreement across variants (ICC against pingouin, Krippendorff's alpha against krippendorff)."""
from __future__ import annotations

import itertools
import math
import time

import krippendorff
import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.stats as ss

from wvsalign.errors import InputError
from wvsalign.stats import format_effects, variant_agreement
from wvsalign.stats.robustness import (
    _unrank_orders, icc_table, krippendorff_alpha_interval, level_permutation_test,
)

TOL = 1e-10
# pingouin 0.7 calls a pandas API that pandas 3.1 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning",
                                        "ignore:The inplace keyword")


def _ss_stat(*levels, axis=-1):
    means = np.stack([np.mean(lv, axis=axis) for lv in levels], axis=-1)
    return ((means - means.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)


@pytest.mark.parametrize("n_levels,n_strata", [(2, 6), (3, 4), (4, 3)])
def test_exact_level_permutation_test_matches_scipy(n_levels, n_strata):
    rng = np.random.default_rng(n_levels)
    cube = rng.normal(size=(3, n_strata, n_levels)) + np.linspace(0, 0.8, n_levels)
    stat, p, exact = level_permutation_test(cube, n_perm=10**6)
    assert exact
    for i in range(3):
        ref = ss.permutation_test(tuple(cube[i, :, l] for l in range(n_levels)), _ss_stat,
                                  permutation_type="samples", n_resamples=np.inf, alternative="greater")
        assert stat[i] == pytest.approx(ref.statistic, abs=1e-12)
        assert p[i] == pytest.approx(ref.pvalue, abs=1e-12)


@pytest.mark.parametrize("n_levels", [2, 3, 5])
def test_monte_carlo_level_test_is_close_to_the_exact_p(n_levels):
    rng = np.random.default_rng(10 + n_levels)
    n_strata = {2: 14, 3: 6, 5: 2}[n_levels]  # more arrangements than n_perm
    cube = rng.normal(size=(2, n_strata, n_levels)) + np.linspace(0, 0.5, n_levels)
    _, p, exact = level_permutation_test(cube, n_perm=4000, seed=1)
    assert not exact
    for i in range(2):
        ref = ss.permutation_test(tuple(cube[i, :, l] for l in range(n_levels)), _ss_stat,
                                  permutation_type="samples", n_resamples=np.inf, alternative="greater").pvalue
        assert abs(p[i] - ref) < 4 * np.sqrt(ref * (1 - ref) / 4000) + 1e-3


def test_level_orders_are_decoded_from_their_lexicographic_rank():
    for n_levels in range(1, 7):
        every = _unrank_orders(np.arange(math.factorial(n_levels)), n_levels)
        np.testing.assert_array_equal(every, list(itertools.permutations(range(n_levels))))
    assert _unrank_orders(np.array([[math.factorial(20) - 1]]), 20)[0, 0].tolist() == list(range(19, -1, -1))


@pytest.mark.parametrize("n_levels", [11, 21])
def test_many_levels_are_sampled_without_listing_every_order(n_levels):
    # 11! = 39,916,800 level orders: listing them all took gigabytes (MemoryError); 21! does not fit in int64
    rng = np.random.default_rng(n_levels)
    cube = rng.normal(size=(2, 3, n_levels))
    cube[0] += 3 * np.arange(n_levels)  # a strong level effect in row 0, none in row 1
    start = time.perf_counter()
    stat, p, exact = level_permutation_test(cube, n_perm=999, seed=4)
    assert time.perf_counter() - start < 5 and not exact
    assert stat == pytest.approx(_ss_stat(*(cube[:, :, l] for l in range(n_levels))), abs=1e-12)
    assert p[0] == pytest.approx(1 / 1000) and 0.01 < p[1] <= 1
    again = level_permutation_test(cube, n_perm=999, seed=4)[1]
    np.testing.assert_array_equal(again, p)  # seeded


def test_level_test_p_values_are_uniform_without_level_effects():
    rng = np.random.default_rng(0)
    for n_levels in (2, 3):
        cube = rng.normal(size=(1000, 12, n_levels)) + rng.normal(size=(1000, 12, 1))  # stratum effects only
        _, p, exact = level_permutation_test(cube, n_perm=999, seed=2)
        assert not exact and ss.kstest(p, "uniform").pvalue > 0.01


def _variant_scores(seed=0, n_countries=6, n_items=5, order_shift=0.15):
    rng = np.random.default_rng(seed)
    rows = []
    countries = [f"C{i}" for i in range(n_countries)]
    items = [f"T{j}" for j in range(n_items)]
    base = rng.uniform(0.2, 0.8, (n_countries, n_items))
    for (ci, c), (ji, it) in itertools.product(enumerate(countries), enumerate(items)):
        rows.append({"model": "human", "country": c, "item_id": it, "category": "k",
                     "mean_score": base[ci, ji] + rng.normal(0, 0.05)})
        for instr, order in itertools.product(["a", "b"], ["fwd", "rev"]):
            shift = order_shift * (order == "rev") * (ji == 0)  # option order moves item T0 only
            rows.append({"model": "m", "country": c, "item_id": it, "category": "k", "template": "persona",
                         "instruction": instr, "option_order": order,
                         "mean_score": base[ci, ji] + shift + rng.normal(0, 0.03)})
    return pd.DataFrame(rows)


def test_format_effects_estimates_by_hand():
    scores = _variant_scores()
    got = format_effects(scores, n_perm=999, seed=0)
    assert set(got["factor"]) == {"instruction", "option_order"}  # template does not vary
    row = got[(got["factor"] == "option_order") & (got["item_id"] == "T0")].iloc[0]
    m = scores[(scores["model"] == "m") & (scores["item_id"] == "T0")]
    means = m.groupby("option_order")["mean_score"].mean()
    assert row.estimate == pytest.approx(means.max() - means.min(), abs=TOL)
    assert (row.level_min, row.level_max) == ("fwd", "rev")
    h = scores[(scores["model"] == "human") & (scores["item_id"] == "T0")]["mean_score"]
    assert row.human_sd == pytest.approx(h.std(ddof=1), abs=TOL)
    assert row.ratio == pytest.approx(row.estimate / row.human_sd, abs=TOL)
    assert row.n == 12 and row.levels == 2  # strata: 6 countries x 2 instructions
    assert row.p < 0.01
    others = got[(got["factor"] == "option_order") & (got["item_id"] != "T0")]
    assert (others["estimate"] < row.estimate / 3).all()
    # the test equals scipy on that item's strata (2^12 = 4096 <= 9999 arrangements: exact)
    wide = m.pivot_table(index=["country", "instruction"], columns="option_order", values="mean_score")
    ref = ss.permutation_test((wide["fwd"].to_numpy(), wide["rev"].to_numpy()), _ss_stat, permutation_type="samples",
                              n_resamples=np.inf, alternative="greater").pvalue
    exact = format_effects(scores, factors=["option_order"], n_perm=9999)
    assert exact.loc[exact["item_id"] == "T0", "p"].iloc[0] == pytest.approx(ref, abs=1e-12)
    assert exact["method"].iloc[0] == "permutation (exact)"


def test_format_effects_bad_input():
    scores = _variant_scores()
    with pytest.raises(InputError, match="not variant columns"):
        format_effects(scores, factors=["colour"])
    with pytest.raises(InputError, match="no prompt-format factor varies"):
        format_effects(scores[(scores["instruction"] != "b") & (scores["option_order"] != "rev")
                              | (scores["model"] == "human")])


def test_icc_matches_pingouin():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(15, 1)) + rng.normal(0, 0.6, size=(15, 4)) + np.array([0, 0.2, -0.1, 0.4])
    long = pd.DataFrame([(t, r, matrix[t, r]) for t in range(15) for r in range(4)], columns=["t", "r", "v"])
    ref = pingouin.intraclass_corr(long, targets="t", raters="r", ratings="v").set_index("Type")
    got = icc_table(matrix)
    assert got["icc2_1"] == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=TOL)
    assert got["icc3_1"] == pytest.approx(ref.loc["ICC(C,1)", "ICC"], abs=TOL)
    assert got["p"] == pytest.approx(ref.loc["ICC(A,1)", "pval"], abs=TOL)
    assert got["F"] == pytest.approx(ref.loc["ICC(C,1)", "F"], abs=TOL)
    # pingouin prints its 95% intervals rounded to 2 decimals
    assert got["icc2_1_low"] == pytest.approx(ref.loc["ICC(A,1)", "CI95"][0], abs=0.005)
    assert got["icc2_1_high"] == pytest.approx(ref.loc["ICC(A,1)", "CI95"][1], abs=0.005)
    assert got["icc3_1_low"] == pytest.approx(ref.loc["ICC(C,1)", "CI95"][0], abs=0.005)
    assert got["icc3_1_high"] == pytest.approx(ref.loc["ICC(C,1)", "CI95"][1], abs=0.005)


def test_krippendorff_alpha_matches_the_krippendorff_package():
    rng = np.random.default_rng(4)
    units = rng.normal(size=(20, 1)) + rng.normal(0, 0.5, size=(20, 3))
    units[2, 1] = units[5, 0] = units[7, 2] = units[7, 1] = np.nan  # missing values; unit 7 has one value
    want = krippendorff.alpha(reliability_data=units.T, level_of_measurement="interval")
    assert krippendorff_alpha_interval(units) == pytest.approx(want, abs=TOL)
    complete = units[~np.isnan(units).any(axis=1)]
    want = krippendorff.alpha(reliability_data=complete.T, level_of_measurement="interval")
    assert krippendorff_alpha_interval(complete) == pytest.approx(want, abs=TOL)


def test_variant_agreement_table():
    scores = _variant_scores(seed=1)
    got = variant_agreement(scores, by="item")
    assert set(got["metric"]) == {"icc2_1", "icc3_1", "krippendorff_alpha"}
    assert (got["n_raters"] == 4).all() and (got["n"] == 6).all()
    row = got[(got["group"] == "T1") & (got["metric"] == "icc2_1")].iloc[0]
    m = scores[(scores["model"] == "m") & (scores["item_id"] == "T1")]
    long = m.assign(rater=m["instruction"] + "|" + m["option_order"])
    ref = pingouin.intraclass_corr(long, targets="country", raters="rater", ratings="mean_score").set_index("Type")
    assert row.estimate == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=TOL)
    alpha = got[(got["group"] == "T1") & (got["metric"] == "krippendorff_alpha")]["estimate"].iloc[0]
    wide = long.pivot_table(index="country", columns="rater", values="mean_score")
    assert alpha == pytest.approx(krippendorff.alpha(reliability_data=wide.to_numpy().T,
                                                     level_of_measurement="interval"), abs=TOL)
    # the option-order shift of T0 lowers absolute agreement there more than consistency
    t0 = got[got["group"] == "T0"].set_index("metric")["estimate"]
    assert t0["icc2_1"] < t0["icc3_1"]
    overall = variant_agreement(scores, by="overall")
    assert (overall["n"] == 30).all()
    with pytest.raises(InputError, match="no variant column varies"):
        variant_agreement(scores[(scores["instruction"] == "a") & (scores["option_order"] == "fwd")])


def test_format_effects_when_no_stratum_has_every_level():
    """Each country asked in its own language only (a study's 'native' condition): no item x country was
    asked at every level, so nothing can be measured; said as an InputError, not a pandas crash."""
    scores = _variant_scores(n_countries=4)
    model = scores[(scores["model"] == "m") & (scores["instruction"] == "a")].copy()
    language = {"C0": "en", "C1": "es", "C2": "zh", "C3": "ja"}
    model["language"] = model["country"].map(language)
    model = model.drop(columns=["option_order"]).drop_duplicates(["country", "item_id"])
    human = scores[scores["model"] == "human"]
    with pytest.raises(InputError, match="no item was asked at every level"):
        format_effects(pd.concat([human, model], ignore_index=True), factors=["language"])
    # a complete grid of the same factor is measured
    full = pd.concat([model.assign(language=lang) for lang in ("en", "es")], ignore_index=True)
    full.loc[(full["language"] == "es") & (full["item_id"] == "T1"), "mean_score"] += 0.2
    got = format_effects(pd.concat([human, full], ignore_index=True), factors=["language"], n_perm=99)
    row = got[got["item_id"] == "T1"].iloc[0]
    assert row.estimate == pytest.approx(0.2, abs=1e-9) and (row.level_min, row.level_max) == ("en", "es")
