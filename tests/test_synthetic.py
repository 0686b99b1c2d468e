"""Synthetic WVS-format respondents: layout, codes, determinism, labels, and structure
(country latents and the Inglehart-Welzel loadings are recoverable from the data)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from wvsalign.errors import InputError
from wvsalign.survey.countries import ZONES
from wvsalign.survey.distributions import NEGATIVE_CODES, DataWarning, check_codes
from wvsalign.survey.items import ItemBank
from wvsalign.survey.synthetic import (
    CULTURAL_MAP_LOADINGS,
    FILE_LABEL,
    ZONE_CENTRES,
    country_latents,
    synthetic_human,
    synthetic_respondents,
    write_wvs,
)

SMALL_COUNTRIES = ("USA", "JPN", "DEU", "NGA", "MAR", "BRA")
#: the cultural-map items with their WVS codes (1..K), independent of the embedded bank
MAP_ITEMS = {"Q164": 10, "Q184": 10, "Q254": 4, "Q45": 3, "Q8": 2, "Q14": 2, "Q15": 2, "Q17": 2,
             "Q46": 4, "Q57": 2, "Q209": 3, "Q182": 10}
TRADITIONAL_GROUP = {"Q164", "Q184", "Q254", "Q45", "Q8", "Q14", "Q15", "Q17"}
MAP_BANK = ItemBank.from_dict(
    {"name": "map", "items": [
        {"id": q, "category": "social_values", "stem": "s", "high_score_means": "h",
         "options": [[c, str(c)] for c in range(1, k + 1)]}
        for q, k in MAP_ITEMS.items()
    ]}
)


def test_layout_and_labels(synthetic_raw):
    cols = list(synthetic_raw.columns)
    assert cols[:9] == ["SYNTHETIC", "A_STUDY", "A_WAVE", "A_YEAR", "B_COUNTRY", "B_COUNTRY_ALPHA",
                        "D_INTERVIEW", "W_WEIGHT", "S018"]
    bank = ItemBank.wvs7()
    assert set(bank.ids) | {"Q154", "Q155", "Q260", "Q262"} == set(cols[9:])
    assert (synthetic_raw["SYNTHETIC"] == 1).all()
    assert synthetic_raw.attrs["synthetic"] is True
    assert set(synthetic_raw["B_COUNTRY_ALPHA"]) == {"USA", "JPN", "DEU", "NGA", "MOR", "BRA"}  # file codes
    assert synthetic_raw.groupby("B_COUNTRY_ALPHA").size().eq(300).all()
    assert synthetic_raw["D_INTERVIEW"].is_unique
    assert synthetic_raw.loc[synthetic_raw.B_COUNTRY_ALPHA == "USA", "B_COUNTRY"].eq(840).all()


def test_every_code_is_valid_and_missing_codes_are_realistic(synthetic_raw):
    for item in ItemBank.wvs7():
        check_codes(synthetic_raw[item.item_id].to_numpy(dtype=np.float64), item)
    items = ItemBank.wvs7().ids
    values = synthetic_raw[items].to_numpy()
    share = {code: float((values == code).mean()) for code in NEGATIVE_CODES}
    assert 0.003 < share[-1] < 0.08 and 0.0005 < share[-2] < 0.02 and 0 < share[-5] < 0.005
    assert share[-3] == 0.0
    # -4 (not asked) covers whole country x item columns
    by_country = synthetic_raw.groupby("B_COUNTRY_ALPHA")[items].agg(lambda s: (s == -4).mean())
    fractions = by_country.to_numpy().ravel()
    assert set(np.unique(fractions)) <= {0.0, 1.0} and 0 < fractions.mean() < 0.05
    # extra codes appear where items have them (e.g. Q119's 0)
    extra_items = [it for it in ItemBank.wvs7() if it.extra_codes]
    assert any(synthetic_raw[it.item_id].isin([e.code for e in it.extra_codes]).any() for it in extra_items)


def test_materialist_aims_and_demographics(synthetic_raw):
    q154, q155 = synthetic_raw["Q154"], synthetic_raw["Q155"]
    both = (q154 > 0) & (q155 > 0)
    assert both.mean() > 0.9 and (q154[both] != q155[both]).all()
    assert set(q154[q154 > 0]) == {1, 2, 3, 4} and set(q155[q155 > 0]) == {1, 2, 3, 4}
    assert (q155[q154 < 0] == -3).all()
    assert set(synthetic_raw["Q260"]) <= {1, 2, -2}
    age = synthetic_raw["Q262"][synthetic_raw["Q262"] > 0]
    assert age.between(18, 85).all() and 35 < age.mean() < 55


def test_weights_positive_mean_one_and_s018(synthetic_raw):
    w = synthetic_raw["W_WEIGHT"]
    assert (w > 0).all()
    per_country = synthetic_raw.groupby("B_COUNTRY_ALPHA")["W_WEIGHT"]
    assert np.allclose(per_country.mean(), 1.0, atol=1e-12)
    assert 0.2 < per_country.std().max() < 1.0  # realistic spread where weighted
    n = synthetic_raw.groupby("B_COUNTRY_ALPHA")["W_WEIGHT"].transform("size")
    assert np.allclose(synthetic_raw["S018"], w * 1000 / n, rtol=1e-14)


def test_deterministic_by_seed_and_country_independent():
    a = synthetic_respondents(countries="USA,JPN", n_per_country=50, seed=3)
    b = synthetic_respondents(countries="USA,JPN", n_per_country=50, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = synthetic_respondents(countries="USA,JPN", n_per_country=50, seed=4)
    assert not a.drop(columns="D_INTERVIEW").equals(c.drop(columns="D_INTERVIEW"))
    alone = synthetic_respondents(countries="JPN", n_per_country=50, seed=3)
    pd.testing.assert_frame_equal(a[a.B_COUNTRY_ALPHA == "JPN"].reset_index(drop=True), alone)


def test_countries_differ_by_their_latents():
    """Country means of the importance of God follow the 'secular' latent (negatively)."""
    countries = list(SMALL_COUNTRIES) + ["SWE", "EGY", "CHN", "MEX", "RUS", "IDN"]
    bank = MAP_BANK.filter(ids=["Q164", "Q182"])
    raw = synthetic_respondents(bank, countries, n_per_country=400, seed=11)
    latents = country_latents(countries, seed=11).set_index("country")
    alpha_to_iso = {"MOR": "MAR"}
    raw["iso3"] = [alpha_to_iso.get(a, a) for a in raw["B_COUNTRY_ALPHA"]]
    means = raw[raw.Q164 > 0].groupby("iso3")["Q164"].mean()
    assert np.corrcoef(means.loc[latents.index], latents["secular"])[0, 1] < -0.8
    means = raw[raw.Q182 > 0].groupby("iso3")["Q182"].mean()
    assert np.corrcoef(means.loc[latents.index], latents["self_expression"])[0, 1] > 0.8
    # zone centres: Protestant Europe is more secular than African-Islamic
    assert latents.loc["SWE", "secular"] > latents.loc["NGA", "secular"]


def _varimax(loadings: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Kaiser's varimax rotation (written here independently of the package)."""
    p, k = loadings.shape
    rotation = np.eye(k)
    for _ in range(iterations):
        rotated = loadings @ rotation
        u, _, vt = np.linalg.svd(loadings.T @ (rotated**3 - rotated @ np.diag((rotated**2).sum(axis=0)) / p))
        rotation = u @ vt
    return loadings @ rotation


def test_pca_recovers_the_two_cultural_map_dimensions():
    countries = ["SWE", "USA", "JPN", "DEU", "NGA", "BRA", "RUS", "MEX", "EGY", "IDN"]
    raw = synthetic_respondents(MAP_BANK, countries, n_per_country=500, seed=5)
    data = raw[list(MAP_ITEMS)].astype(float)
    data = data.where(data > 0).dropna()
    z = ((data - data.mean()) / data.std()).to_numpy()
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    eig = np.linalg.svd(z, compute_uv=False) ** 2 / len(z)
    loadings = _varimax(vt[:2].T * np.sqrt(eig[:2]))
    factor = np.abs(loadings).argmax(axis=1)
    group = {item for item, f in zip(MAP_ITEMS, factor) if f == factor[list(MAP_ITEMS).index("Q164")]}
    assert group == TRADITIONAL_GROUP
    # signs follow the documented loadings on each item's main dimension
    for item, row, f in zip(MAP_ITEMS, loadings, factor):
        main = CULTURAL_MAP_LOADINGS[item][0 if item in TRADITIONAL_GROUP else 1]
        ref = loadings[list(MAP_ITEMS).index("Q164" if item in TRADITIONAL_GROUP else "Q182"), f]
        ref_sign = np.sign(CULTURAL_MAP_LOADINGS["Q164"][0] if item in TRADITIONAL_GROUP else CULTURAL_MAP_LOADINGS["Q182"][1])
        assert np.sign(row[f]) * np.sign(ref) == np.sign(main) * ref_sign, item


def test_file_labels_mark_synthetic(tmp_path, synthetic_raw):
    small = synthetic_raw.iloc[:50]
    for suffix, reader in ((".sav", pyreadstat.read_sav), (".dta", pyreadstat.read_dta)):
        _, meta = reader(str(write_wvs(small, tmp_path / f"s{suffix}")), metadataonly=True)
        assert meta.file_label == FILE_LABEL
        assert meta.variable_value_labels["B_COUNTRY"][840] == "United States"
    back = pd.read_parquet(write_wvs(small, tmp_path / "s.parquet"))
    assert back.attrs["synthetic"] is True
    with pytest.raises(InputError, match="unknown output type '.xlsx'"):
        write_wvs(small, tmp_path / "s.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.dta", "s.parquet", "s.sav"]


def test_synthetic_human_is_labelled_and_valid():
    with pytest.warns(DataWarning):  # a few items "not asked" in a country
        human = synthetic_human(countries="USA,JPN", n_per_country=200, seed=2)
    assert human.attrs["synthetic"] is True and "synthetic" in human.attrs["source"]
    assert set(human["country"]) == {"USA", "JPN"}
    sums = human.groupby(["country", "item_id"])["share"].sum()
    assert np.allclose(sums, 1.0, atol=1e-12)
    with pytest.warns(DataWarning):
        again = synthetic_human(countries="USA,JPN", n_per_country=200, seed=2)
    pd.testing.assert_frame_equal(human, again)


def test_every_cultural_zone_has_a_centre():
    assert set(ZONE_CENTRES) == set(ZONES)
