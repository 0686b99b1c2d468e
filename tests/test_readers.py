"""WVS file readers: every format round-trips through the synthetic writers, and the
weighted shares equal an independent hand computation (plain Python over respondents)."""
from __future__ import annotations

import gzip
import shutil
import warnings

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from wvsalign.errors import InputError
from wvsalign.survey.distributions import DataWarning, dropped_cells
from wvsalign.survey.items import ItemBank
from wvsalign.survey.readers import read_wvs
from wvsalign.survey.synthetic import write_wvs


def hand_shares(raw: pd.DataFrame, bank: ItemBank, *, weight: str | None = "W_WEIGHT") -> dict:
    """(country ISO3, item, code) -> (share, n, n_eff), by loops over respondents.

    Uses only the raw WVS columns and the items' option/extra codes (not the package's
    recode maps); the ISO3 code comes from the alpha code (MOR is Morocco, MAR)."""
    iso = {"MOR": "MAR"}
    acc: dict = {}
    countries = [iso.get(a, a) for a in raw["B_COUNTRY_ALPHA"]]
    weights = raw[weight].tolist() if weight else [1.0] * len(raw)
    for item in bank:
        merge = {e.code: e.into for e in item.extra_codes if e.handling == "merge"}
        for country, w, code in zip(countries, weights, raw[item.item_id].tolist()):
            if code < 0:
                continue
            if code not in item.codes:
                if code not in merge:
                    continue  # dropped extra code
                code = merge[code]
            cell = acc.setdefault((country, item.item_id), {"w": {}, "n": 0, "w2": 0.0})
            cell["w"][code] = cell["w"].get(code, 0.0) + w
            cell["n"] += 1
            cell["w2"] += w * w
    out = {}
    for (country, item_id), cell in acc.items():
        total = sum(cell["w"].values())
        for code in bank[item_id].codes:
            out[(country, item_id, code)] = (cell["w"].get(code, 0.0) / total, cell["n"], total * total / cell["w2"])
    return out


def assert_matches(human: pd.DataFrame, expected: dict) -> None:
    assert len(human) == len(expected)
    got = {(r.country, r.item_id, int(r.code)): (r.share, r.n, r.n_eff) for r in human.itertuples()}
    assert got.keys() == expected.keys()
    worst = max(abs(got[k][0] - expected[k][0]) for k in expected)
    assert worst <= 1e-12, worst
    assert all(got[k][1] == expected[k][1] for k in expected)
    assert all(abs(got[k][2] - expected[k][2]) <= 1e-9 * expected[k][2] for k in expected)


@pytest.fixture(scope="module")
def expected(synthetic_raw):
    return hand_shares(synthetic_raw, ItemBank.wvs7())


def _read(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return read_wvs(path, **kwargs)


def _human(data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return data.distributions(min_n=1, **kwargs)


@pytest.mark.parametrize("name, sep", [("w.csv", ","), ("w.csv", ";"), ("w.sav", ","), ("w.dta", ","), ("w.parquet", ",")])
def test_round_trip_shares_equal_hand_computation(tmp_path, synthetic_raw, expected, name, sep):
    path = write_wvs(synthetic_raw, tmp_path / name, sep=sep)
    data = _read(path)
    assert data.synthetic is True
    assert data.countries == sorted({"USA", "JPN", "DEU", "NGA", "MAR", "BRA"})
    human = _human(data)
    assert_matches(human, expected)
    assert human.attrs["synthetic"] is True and human.attrs["source"] == str(path)


def test_semicolon_csv_with_decimal_commas(tmp_path, synthetic_raw, expected):
    path = tmp_path / "excel.csv"
    synthetic_raw.to_csv(path, sep=";", decimal=",", index=False)
    assert ";1," in path.read_text()[:5000] or ";0," in path.read_text()[:5000]
    assert_matches(_human(_read(path)), expected)


def test_dataframe_and_gzip_csv_give_the_same_table(tmp_path, synthetic_raw, expected):
    assert_matches(_human(_read(synthetic_raw)), expected)
    plain = write_wvs(synthetic_raw, tmp_path / "w.csv")
    with open(plain, "rb") as src, gzip.open(tmp_path / "w.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert_matches(_human(_read(tmp_path / "w.csv.gz")), expected)


def test_unweighted_equals_hand_counts(synthetic_raw):
    human = _human(_read(synthetic_raw), weighted=False)
    assert_matches(human, hand_shares(synthetic_raw, ItemBank.wvs7(), weight=None))


def test_weight_fallbacks(synthetic_raw):
    weighted = _human(_read(synthetic_raw))
    with pytest.warns(DataWarning, match="using S018 as the weight"):
        data = read_wvs(synthetic_raw.drop(columns="W_WEIGHT"))
    assert data.weight_column == "S018"
    s018 = _human(data)  # S018 = W_WEIGHT * 1000 / n within a country: same shares
    assert np.abs(s018["share"].to_numpy() - weighted["share"].to_numpy()).max() < 1e-12
    with pytest.warns(DataWarning, match="equal weight"):
        data = read_wvs(synthetic_raw.drop(columns=["W_WEIGHT", "S018"]))
    assert data.weight_column is None
    assert_matches(_human(data), hand_shares(synthetic_raw, ItemBank.wvs7(), weight=None))
    none = _read(synthetic_raw, weight=None)
    assert none.weight_column is None and (none.respondents["weight"] == 1.0).all()
    with pytest.raises(InputError, match="no weight column 'PWEIGHT'"):
        read_wvs(synthetic_raw, weight="PWEIGHT")


def test_numeric_country_column_and_wvs_alpha_codes(synthetic_raw, expected):
    data = _read(synthetic_raw.drop(columns="B_COUNTRY_ALPHA"))
    assert data.country_column == "B_COUNTRY"
    assert_matches(_human(data), expected)
    assert "MAR" in data.countries  # file code MOR / 504 -> ISO3 MAR


def test_country_value_labels_translate_unknown_codes(tmp_path, synthetic_raw):
    raw = synthetic_raw[synthetic_raw["B_COUNTRY_ALPHA"] == "JPN"].drop(columns="B_COUNTRY_ALPHA").copy()
    raw["B_COUNTRY"] = 9999  # not a registry code; its value label names the country
    path = tmp_path / "labelled.sav"
    pyreadstat.write_sav(raw, str(path), variable_value_labels={"B_COUNTRY": {9999: "Japan"}})
    assert _read(path).countries == ["JPN"]
    pyreadstat.write_sav(raw, str(path))
    with pytest.raises(InputError, match="unknown country code.*'9999'"):
        _read(path)


def test_countries_filter_and_set_names(synthetic_raw):
    data = _read(synthetic_raw, countries="USA, Japan")
    assert data.countries == ["JPN", "USA"]
    assert set(_human(data)["country"]) == {"JPN", "USA"}
    assert len(data.respondents) == 600
    with pytest.raises(InputError, match=r"no respondents of requested country \['NIR'\]"):
        _read(synthetic_raw, countries=["USA", "NIR"])


def test_items_argument(synthetic_raw):
    data = _read(synthetic_raw, items=["Q46", "Q57"])
    assert data.bank.ids == ["Q46", "Q57"]
    assert [c for c in data.respondents.columns if c.startswith("Q")] == ["Q46", "Q57"]
    with pytest.raises(InputError, match=r"requested item\(s\) \['Q57'\]"):
        read_wvs(synthetic_raw.drop(columns="Q57"), items=["Q46", "Q57"], strict=True)
    with pytest.warns(DataWarning, match=r"1 item column\(s\) not in the file, skipped: \['Q57'\]"):
        data = read_wvs(synthetic_raw.drop(columns="Q57"))
    assert "Q57" not in data.bank.ids and "Q46" in data.bank.ids


def test_read_as_the_pipeline_reads_drops_unasked_cells_and_absent_items(synthetic_raw):
    """A bank and a country list, as ``wvsalign run --wvs`` passes them, are not strict: an item not
    asked in a country and an item column the file lacks are left out with a warning."""
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q46", "Q57"])
    raw = synthetic_raw.drop(columns="Q1")
    raw.loc[raw.B_COUNTRY_ALPHA == "JPN", "Q57"] = -4
    countries = ["USA", "JPN", "DEU"]
    with pytest.warns(DataWarning, match=r"not in the file, skipped: \['Q1'\]"):
        data = read_wvs(raw, items=bank, countries=countries)
    assert data.bank.ids == ["Q46", "Q57"]
    with pytest.warns(DataWarning, match="no valid answers"):
        human = data.distributions(data.bank, min_n=1)
    assert set(human["country"]) == set(countries)
    assert human[(human.country == "JPN") & (human.item_id == "Q57")].empty
    assert not human[(human.country == "JPN") & (human.item_id == "Q46")].empty
    assert dropped_cells(human).to_dict("records") == [{"country": "JPN", "item_id": "Q57", "n": 0, "reason": "no valid answers"}]
    # strict=True (both named by the user): each is an error
    with pytest.raises(InputError, match=r"requested item\(s\) \['Q1'\]"):
        read_wvs(raw, items=bank, countries=countries, strict=True)
    strict = _read(raw.assign(Q1=1), items=bank, countries=countries, strict=True)
    with pytest.raises(InputError, match="country JPN has no valid answer to item Q57"):
        strict.distributions(min_n=1)


def test_dropped_cell_warning_points_at_the_caller(synthetic_raw):
    raw = synthetic_raw.copy()
    raw.loc[raw.B_COUNTRY_ALPHA == "JPN", "Q46"] = -4
    data = _read(raw, items=["Q46"])
    with pytest.warns(DataWarning, match="no valid answers") as record:
        data.distributions(min_n=1)
    assert [w.filename for w in record] == [__file__]


def test_extra_columns_that_are_items_are_rejected(synthetic_raw):
    with pytest.raises(InputError, match=r"extra column 'Q46' is an item of the bank read"):
        read_wvs(synthetic_raw, items=["Q46", "Q57"], extra_columns=["Q46"])
    data = _read(synthetic_raw, items=["Q57"], extra_columns=["Q46"])  # not an item of this bank: fine
    assert data.respondents["Q46"].isna().sum() == int((synthetic_raw["Q46"] < 0).sum())


def test_extra_decimal_column_keeps_only_the_kept_negative_codes(synthetic_raw):
    raw = synthetic_raw.assign(SCORE=np.resize([0.5, -1.0, -2.0, 2.25], len(synthetic_raw)))
    data = _read(raw, items=["Q46"], extra_columns=["SCORE"], keep_missing=[-1])
    values = data.respondents["SCORE"].to_numpy()
    assert values[:4].tolist()[:2] == [0.5, -1.0] and np.isnan(values[2]) and values[3] == 2.25


def test_csv_header_names_with_spaces(tmp_path, synthetic_raw, expected):
    path = tmp_path / "spaced.csv"
    synthetic_raw.rename(columns=lambda name: f" {name} ").to_csv(path, index=False)
    assert path.read_text().startswith(" SYNTHETIC , A_STUDY ,")
    data = _read(path)
    assert_matches(_human(data), expected)


def test_respondents_layout_and_negative_codes_missing(synthetic_raw):
    data = _read(synthetic_raw, extra_columns=["Q154", "Q155", "Q262"])
    resp = data.respondents
    assert resp.index.name == "row" and resp.index[0] == 1 and resp.index[-1] == len(synthetic_raw)
    assert str(resp["Q46"].dtype) == "Int16"
    raw46 = synthetic_raw["Q46"].to_numpy()
    assert resp["Q46"].isna().sum() == int((raw46 < 0).sum()) > 0
    assert (resp["Q46"].dropna() > 0).all()
    assert resp["Q155"].isna().sum() == int((synthetic_raw["Q155"] < 0).sum())
    assert resp["Q262"].min() >= 18
    counts = data.missing_counts
    usa = counts[(counts.country == "USA") & (counts.item_id == "Q46")].set_index("code")["count"].to_dict()
    raw_usa = synthetic_raw.loc[synthetic_raw.B_COUNTRY_ALPHA == "USA", "Q46"]
    assert usa == {int(k): int(v) for k, v in raw_usa[raw_usa < 0].value_counts().items()}


def test_keep_missing_keeps_negative_codes_as_options(synthetic_raw):
    data = _read(synthetic_raw, items=["Q46"], keep_missing=[-1, -2])
    human = _human(data)
    usa = human[human.country == "USA"]
    assert usa["code"].tolist() == [1, 2, 3, 4, -1, -2]
    raw = synthetic_raw[synthetic_raw.B_COUNTRY_ALPHA == "USA"]
    valid = raw[raw.Q46.isin([1, 2, 3, 4, -1, -2])]
    dk = valid.loc[valid.Q46 == -1, "W_WEIGHT"].sum() / valid["W_WEIGHT"].sum()
    assert usa.set_index("code").loc[-1, "share"] == pytest.approx(dk, abs=1e-12)
    assert usa["n"].iloc[0] == len(valid)


def test_case_insensitive_column_names(synthetic_raw, expected):
    lower = synthetic_raw.rename(columns=str.lower)
    assert_matches(_human(_read(lower)), expected)


def test_item_not_asked_is_absent_and_listed(synthetic_raw):
    raw = synthetic_raw.copy()
    raw.loc[raw.B_COUNTRY_ALPHA == "JPN", "Q46"] = -4
    data = _read(raw)
    with pytest.warns(DataWarning, match="no valid answers"):
        human = data.distributions(min_n=1)
    assert human[(human.country == "JPN") & (human.item_id == "Q46")].empty
    assert {"country": "JPN", "item_id": "Q46", "n": 0, "reason": "no valid answers"} in dropped_cells(human).to_dict("records")


def test_human_attrs_survive_parquet(tmp_path, synthetic_raw):
    human = _human(_read(synthetic_raw))
    human.to_parquet(tmp_path / "h.parquet")
    back = pd.read_parquet(tmp_path / "h.parquet")
    assert back.attrs["synthetic"] is True
    assert back.attrs["source"] == human.attrs["source"]
    pd.testing.assert_frame_equal(back, human)


def test_real_file_is_not_labelled_synthetic(tmp_path, synthetic_raw):
    raw = synthetic_raw.drop(columns="SYNTHETIC")
    for name in ("r.csv", "r.sav", "r.dta", "r.parquet"):
        path = write_wvs(raw, tmp_path / name)
        assert _read(path).synthetic is False, name


def test_mean_scores_of_read_respondents_come_from_the_stats_stage(synthetic_raw):
    from wvsalign.stats import human_mean_scores  # the survey stage does not import stats

    bank = ItemBank.wvs7().filter(ids=["Q46", "Q164"])
    data = _read(synthetic_raw, items=bank)
    scores = human_mean_scores(data.distributions(bank, min_n=1), bank)
    human = _human(data)
    for item in bank:
        part = human[(human.country == "JPN") & (human.item_id == item.item_id)]
        manual = sum(s * item.scores[c] for c, s in zip(part["code"], part["share"]))
        got = scores[(scores.country == "JPN") & (scores.item_id == item.item_id)]["mean_score"].iloc[0]
        assert got == pytest.approx(manual, abs=1e-12)


def test_spss_user_missing_declarations_keep_their_codes(tmp_path, synthetic_raw):
    """WVS .sav files declare -5..-1 as user-missing; the reader still sees which code it was."""
    raw = synthetic_raw[["SYNTHETIC", "B_COUNTRY", "B_COUNTRY_ALPHA", "W_WEIGHT", "Q46"]]
    path = tmp_path / "declared.sav"
    pyreadstat.write_sav(raw, str(path), missing_ranges={"Q46": [{"lo": -5, "hi": -1}]})
    data = _read(path, items=["Q46"], keep_missing=[-1])
    assert int((data.respondents["Q46"] == -1).sum()) == int((raw["Q46"] == -1).sum()) > 0
    assert data.missing_counts.groupby("code")["count"].sum().to_dict() == {
        int(k): int(v) for k, v in raw["Q46"][raw["Q46"] < 0].value_counts().items()
    }
