"""Inglehart-Welzel map: varimax against a closed form and statsmodels, weighted correlations,
variable coding, recovery of synthetic countries, projection and distances."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.multivariate.factor_rotation import rotate_factors
from statsmodels.stats.weightstats import DescrStatsW

from wvsalign.errors import InputError
from wvsalign.stats import CultureMap, culture_map
from wvsalign.stats.cultural_map import (
    DIMENSIONS, MAP_VARIABLES, expected_map_variables, map_variables, varimax, weighted_correlation,
)
from wvsalign.survey import synthetic
from wvsalign.survey.items import ItemBank
from wvsalign.survey.readers import read_wvs

# Harman's (1976) eight physical variables, two unrotated factors (as in statsmodels' tests)
HARMAN8 = np.array([[.830, -.396], [.818, -.469], [.777, -.470], [.798, -.401], [.786, .500], [.672, .458],
                    [.594, .444], [.647, .333]])


def _kaiser_closed_form(loadings: np.ndarray, normalize: bool) -> np.ndarray:
    """Two-factor varimax in closed form (Kaiser 1958): tan 4phi = (D - 2AB/p) / (C - (A^2 - B^2)/p)."""
    h = np.sqrt((loadings**2).sum(axis=1)) if normalize else np.ones(len(loadings))
    x, y = loadings[:, 0] / h, loadings[:, 1] / h
    u, v = x**2 - y**2, 2 * x * y
    p = len(x)
    a, b, c, d = u.sum(), v.sum(), (u**2 - v**2).sum(), 2 * (u * v).sum()
    phi = np.arctan2(d - 2 * a * b / p, c - (a**2 - b**2) / p) / 4
    rot = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    return (np.column_stack([x, y]) @ rot) * h[:, None]


def _same_up_to_sign_and_order(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    for perm in ([0, 1], [1, 0]):
        c = b[:, perm]
        signs = np.sign((a * c).sum(axis=0))
        if np.allclose(a, c * signs, atol=atol):
            return True
    return False


@pytest.mark.parametrize("normalize", [True, False])
def test_varimax_equals_the_two_factor_closed_form(normalize):
    rng = np.random.default_rng(0)
    for loadings in [HARMAN8] + [rng.normal(size=(10, 2)) for _ in range(5)]:
        rotated, rot = varimax(loadings, normalize=normalize)
        np.testing.assert_allclose(rot @ rot.T, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(rotated, loadings @ rot, atol=1e-12)
        assert _same_up_to_sign_and_order(rotated, _kaiser_closed_form(loadings, normalize), atol=1e-10)


def test_varimax_agrees_with_statsmodels_gpa():
    rng = np.random.default_rng(1)
    for loadings in [HARMAN8, rng.normal(size=(10, 2)), rng.normal(size=(12, 3))]:
        ours, _ = varimax(loadings, normalize=False)
        theirs, _ = rotate_factors(loadings, "varimax")
        # statsmodels' gradient projection stops at a gradient norm of 1e-5
        for perm in __import__("itertools").permutations(range(loadings.shape[1])):
            c = theirs[:, list(perm)]
            c = c * np.sign((ours * c).sum(axis=0))
            if np.allclose(ours, c, atol=1e-4):
                break
        else:
            pytest.fail("varimax loadings differ from statsmodels' rotate_factors")


def test_weighted_correlation_matches_statsmodels():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))
    w = rng.uniform(0.2, 3, 300)
    np.testing.assert_allclose(weighted_correlation(x, w), DescrStatsW(x, weights=w).corrcoef, atol=1e-12)
    x[rng.uniform(size=x.shape) < 0.1] = np.nan  # pairwise complete
    got = weighted_correlation(x, w)
    for a in range(4):
        for b in range(4):
            ok = ~np.isnan(x[:, a]) & ~np.isnan(x[:, b])
            want = DescrStatsW(x[ok][:, [a, b]], weights=w[ok]).corrcoef[0, 1]
            assert got[a, b] == pytest.approx(want, abs=1e-12)


def test_map_variables_are_coded_as_documented():
    resp = pd.DataFrame({
        "Q164": [10, 1, -1], "Q8": [1, 2, 1], "Q14": [1, 2, 1], "Q15": [2, 1, -2], "Q17": [2, 1, 1],
        "Q254": [1, 5, 4], "Q184": [3, 10, 1], "Q45": [1, 3, 2], "Q154": [2, 1, 4], "Q155": [4, 3, -3],
        "Q182": [7, 1, 2], "Q209": [1, 3, 2], "Q57": [1, 2, 1], "Q46": [1, 4, 2],
    })
    got = map_variables(resp)
    assert list(got.columns) == list(MAP_VARIABLES)
    expected = pd.DataFrame({
        "F063": [1.0, 10.0, np.nan], "Y003": [2.0, -2.0, np.nan], "G006": [1.0, np.nan, 4.0],
        "F120": [3.0, 10.0, 1.0], "E018": [1.0, 3.0, 2.0], "Y002": [3.0, 1.0, np.nan],
        "F118": [7.0, 1.0, 2.0], "E025": [2.0, 0.0, 1.0], "A165": [1.0, 0.0, 1.0], "A008": [4.0, 1.0, 3.0],
    })
    pd.testing.assert_frame_equal(got, expected)


def _map_bank() -> ItemBank:
    """The twelve bank items the map uses, with their WVS-7 codes (independent of the embedded bank)."""
    def item(i, cat, opts, extra=None):
        entry = {"id": i, "category": cat, "stem": f"{i}?", "options": [[c, str(lab)] for c, lab in opts],
                 "high_score_means": "the last option"}
        if extra:
            entry["extra_codes"] = extra
        return entry
    mentioned = [(1, "Important"), (2, "Not mentioned")]
    items = [item(q, "social_values", mentioned) for q in ("Q8", "Q14", "Q15", "Q17")]
    items += [item("Q45", "social_values", [(1, "Good"), (2, "Don't mind"), (3, "Bad")]),
              item("Q46", "happiness", [(c, c) for c in range(1, 5)]),
              item("Q57", "social_capital", [(1, "Can be trusted"), (2, "Need to be careful")]),
              item("Q164", "religion", [(c, c) for c in range(1, 11)]),
              item("Q182", "ethics", [(c, c) for c in range(1, 11)]),
              item("Q184", "ethics", [(c, c) for c in range(1, 11)]),
              item("Q209", "political_interest", [(1, "Have done"), (2, "Might do"), (3, "Would never")]),
              item("Q254", "political_culture", [(c, c) for c in range(1, 5)],
                   {5: {"label": "not a national", "handling": "drop"}})]
    return ItemBank.from_dict({"name": "map items", "items": items})


COUNTRIES = ["USA", "DEU", "JPN", "NGA", "BRA", "MAR"]


@pytest.fixture(scope="module")
def respondents():
    """Respondents as read_wvs gives them: ISO3 country, weight, codes (missing: NA), rows numbered from 1."""
    raw = synthetic.synthetic_respondents(_map_bank(), COUNTRIES, n_per_country=500, seed=3)
    return read_wvs(raw, items=_map_bank(), extra_columns=["Q154", "Q155"]).respondents


@pytest.fixture(scope="module")
def fitted(respondents):
    return culture_map(respondents)


def test_map_recovers_the_synthetic_countries_with_the_usual_orientation(fitted):
    loadings = fitted.loadings_
    secular = list(MAP_VARIABLES[:5])
    selfexp = list(MAP_VARIABLES[5:])
    assert (loadings.loc[secular, "traditional_secular"] > loadings.loc[secular, "survival_self_expression"]).all()
    assert (loadings.loc[selfexp, "survival_self_expression"] > loadings.loc[selfexp, "traditional_secular"]).all()
    assert (loadings.loc[secular, "traditional_secular"] > 0.3).all()
    pos = fitted.countries_.set_index("country")
    truth = synthetic.country_latents(COUNTRIES, seed=3).set_index("country")
    assert sorted(pos.index) == sorted(COUNTRIES)  # keyed by ISO3 (the WVS file's alpha code for Morocco is MOR)
    joined = pos.join(truth)
    assert joined["traditional_secular"].corr(joined["secular"]) > 0.9
    assert joined["survival_self_expression"].corr(joined["self_expression"]) > 0.9
    # Germany (Protestant Europe) secular and self-expressive, Nigeria (African-Islamic) neither
    assert pos.loc["DEU", "traditional_secular"] > pos.loc["NGA", "traditional_secular"]
    assert pos.loc["DEU", "survival_self_expression"] > pos.loc["NGA", "survival_self_expression"]


def test_loadings_are_the_first_two_principal_components_rotated(fitted, respondents):
    x = map_variables(respondents).to_numpy(dtype=float)
    corr = weighted_correlation(x, respondents["weight"].to_numpy(dtype=float))
    np.testing.assert_allclose(fitted.correlation_.to_numpy(), corr, atol=1e-14)
    u, sv, _ = np.linalg.svd(corr)  # an independent route to the eigenvectors of a symmetric PSD matrix
    top = u[:, :2] * sv[:2]
    loadings = fitted.loadings_.to_numpy()
    np.testing.assert_allclose(loadings @ loadings.T, top @ u[:, :2].T, atol=1e-10)  # rotation-invariant
    # score coefficients: L (L'L)^-1 (standardised component scores)
    np.testing.assert_allclose(fitted.coefficients_.to_numpy(), loadings @ np.linalg.inv(loadings.T @ loadings),
                               atol=1e-10)


def test_country_positions_are_weighted_means_of_respondent_scores(fitted, respondents):
    scores = fitted.transform(respondents)
    w = respondents["weight"].to_numpy()
    for country in ("USA", "JPN"):
        rows = (respondents["country"] == country).to_numpy()
        want = (scores[rows].to_numpy() * w[rows, None]).sum(axis=0) / w[rows].sum()
        got = fitted.countries_.set_index("country").loc[country, list(DIMENSIONS)].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, atol=1e-12)
    # pooled respondent scores are standardised (complete cases have mean 0 and unit variance)
    complete = map_variables(respondents).notna().all(axis=1).to_numpy()
    assert abs(np.average(scores[complete].to_numpy(), axis=0, weights=w[complete])).max() < 0.05


def _human_table(resp: pd.DataFrame) -> pd.DataFrame:
    """Weighted answer shares per country x item (valid codes only), like the human table."""
    rows = []
    for column in ("Q8", "Q14", "Q15", "Q17", "Q45", "Q46", "Q57", "Q164", "Q182", "Q184", "Q209", "Q254", "Q154",
                   "Q155"):
        shares = resp.groupby(["country", column])["weight"].sum()
        shares = shares / shares.groupby(level=0).transform("sum")
        for (country, code), share in shares.items():
            rows.append({"country": country, "item_id": column, "code": int(code), "share": share})
    return pd.DataFrame(rows)


def test_projecting_a_countrys_own_answer_distributions_lands_on_its_position(respondents):
    complete = respondents[map_variables(respondents).notna().all(axis=1).to_numpy()]
    fitted = culture_map(complete)
    values = expected_map_variables(_human_table(complete))
    projected = fitted.project(values).set_index("country")
    np.testing.assert_allclose(projected.loc[fitted.countries_["country"], list(DIMENSIONS)].to_numpy(),
                               fitted.countries_[list(DIMENSIONS)].to_numpy(), atol=1e-10)
    dist = fitted.distances(fitted.project(values))
    own = dist[dist["persona"] == dist["group"]]
    assert (own["estimate"] < 1e-9).all() and (own["rank"] == 1).all()


def test_model_probs_are_projected_and_y002_is_imputed_with_a_warning(fitted, respondents):
    human = _human_table(respondents)
    probs = human.rename(columns={"share": "prob"}).assign(model="m", prompt_id=lambda f: f["country"] + f["item_id"])
    without = probs[~probs["item_id"].isin(["Q154", "Q155"])]
    with pytest.warns(UserWarning, match="Y002"):
        got = fitted.project(without)
    values = expected_map_variables(without)
    assert values["Y002"].isna().all()
    filled = values.assign(Y002=fitted.means_["Y002"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = fitted.project(filled)
    np.testing.assert_allclose(got[list(DIMENSIONS)].to_numpy(), want[list(DIMENSIONS)].to_numpy(), atol=1e-12)


def test_distances_are_euclidean(fitted):
    model = pd.DataFrame({"model": ["a", "b"], "traditional_secular": [0.5, -1.0],
                          "survival_self_expression": [0.2, 0.0]})
    got = fitted.distances(model)
    assert len(got) == 2 * len(fitted.countries_) and (got["metric"] == "cultural_distance").all()
    ref = fitted.countries_.set_index("country")
    for row in got.itertuples():
        m = model.set_index("model").loc[row.model]
        c = ref.loc[row.group]
        want = np.hypot(m.traditional_secular - c.traditional_secular,
                        m.survival_self_expression - c.survival_self_expression)
        assert row.estimate == pytest.approx(want, abs=1e-12)
    for _, g in got.groupby("model"):
        assert g.sort_values("rank")["estimate"].is_monotonic_increasing


def test_bad_input(respondents):
    with pytest.raises(InputError, match="not fitted"):
        CultureMap().project(pd.DataFrame({"F063": [1.0]}))
    with pytest.raises(InputError, match="weight column 'w'"):
        culture_map(respondents, weights="w")
    bad = respondents.copy()
    bad.loc[4, "weight"] = -1.0  # the respondent on row 4 of the file
    with pytest.raises(InputError, match="row 4"):
        culture_map(bad)
    with pytest.raises(InputError, match="no valid answers"):
        culture_map(respondents.drop(columns=["Q182"]))


@pytest.mark.parametrize("bad_weight,kind", [(np.inf, "infinite"), (0.0, "zero"), (np.nan, "missing")])
def test_a_bad_weight_is_an_input_error_naming_its_row(respondents, bad_weight, kind):
    bad = respondents.copy()
    bad.loc[7, "weight"] = bad_weight
    with pytest.raises(InputError, match=rf"column 'weight'.*{kind}.*first at row 7"):
        culture_map(bad)
    # weights given as an array: rows named by the respondents' index too
    with pytest.raises(InputError, match=rf"{kind}.*first at row 7"):
        culture_map(respondents, weights=bad["weight"].to_numpy())
