"""Published aggregate tables (country, item, option, share[, n]) read as human tables."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from wvsalign import contracts
from wvsalign.errors import InputError
from wvsalign.survey.aggregates import read_aggregates
from wvsalign.survey.distributions import DataWarning
from wvsalign.survey.items import ItemBank
from wvsalign.survey.readers import read_wvs

BANK = ItemBank.from_dict(
    {
        "name": "agg",
        "items": [
            {"id": "Q1", "category": "social_values", "stem": "s", "high_score_means": "h",
             "options": [[1, "a"], [2, "b"], [3, "c"]]},
            {"id": "Q9", "category": "political_culture", "stem": "s", "high_score_means": "h",
             "options": [[1, "x"], [2, "y"]],
             "extra_codes": {0: {"label": "against", "handling": "merge", "into": 1},
                             5: {"label": "other", "handling": "drop"}}},
        ],
    }
)


def _write(tmp_path, frame, name="agg.csv", sep=","):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep=sep)
    return path


def test_round_trip_of_a_human_table_with_other_column_names(tmp_path, synthetic_raw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        human = read_wvs(synthetic_raw, items=["Q1", "Q46", "Q119"]).distributions(min_n=1)
    published = human.rename(columns={"country": "ISO3", "item_id": "Question", "code": "Option"})
    published["Percent"] = published.pop("share") * 100
    published = published.drop(columns=["n_eff", "category"])
    back = read_aggregates(_write(tmp_path, published, sep=";"))
    assert back[["country", "item_id", "code", "n"]].equals(human[["country", "item_id", "code", "n"]])
    assert np.abs(back["share"].to_numpy() - human["share"].to_numpy()).max() < 1e-12
    assert (back["n_eff"] == back["n"]).all()  # only n given
    assert back.attrs["synthetic"] is False and back.attrs["source"].endswith("agg.csv")


def test_parquet_counts_only_and_names_translated(tmp_path):
    frame = pd.DataFrame({"country": ["Japan", "Japan", "Japan", "MOR", "MOR"], "item": ["Q1"] * 5,
                          "code": [1, 2, 3, 1, 3], "count": [10, 30, 60, 5, 15]})
    human = read_aggregates(_write(tmp_path, frame, "agg.parquet"), bank=BANK)
    jpn = human[human.country == "JPN"]
    assert jpn["share"].tolist() == pytest.approx([0.1, 0.3, 0.6], abs=1e-15)
    assert (jpn["n"] == 100).all()
    mar = human[human.country == "MAR"]  # option 2 missing from the table -> share 0
    assert mar["code"].tolist() == [1, 2, 3] and mar["share"].tolist() == pytest.approx([0.25, 0.0, 0.75])
    contracts.check(human, "human")


def test_no_n_gives_nan_n_eff_and_missing_codes_are_removed(tmp_path):
    frame = pd.DataFrame({"country": ["USA"] * 4, "item_id": ["Q9"] * 4, "code": [1, 2, 0, -1],
                          "share": [0.5, 0.3, 0.2, 0.0]})
    human = read_aggregates(_write(tmp_path, frame), bank=BANK)
    assert human["code"].tolist() == [1, 2]
    assert human["share"].tolist() == pytest.approx([0.7, 0.3], abs=1e-15)  # 0 merged into 1
    assert human["n"].isna().all() and human["n_eff"].isna().all()


def test_shares_must_sum_to_one_unless_renormalised(tmp_path):
    frame = pd.DataFrame({"country": ["USA"] * 4, "item_id": ["Q9"] * 4, "code": [1, 2, 5, -1],
                          "share": [0.45, 0.45, 0.05, 0.05], "n": [200] * 4, "n_eff": [150.0] * 4})
    path = _write(tmp_path, frame)
    with pytest.raises(InputError, match=r"shares of country USA, item Q9 sum to 0\.9 .*expected 1 within 1e-06 \(pass renormalise=True"):
        read_aggregates(path, bank=BANK)
    human = read_aggregates(path, bank=BANK, renormalise=True)
    assert human["share"].tolist() == pytest.approx([0.5, 0.5], abs=1e-15)
    assert (human["n_eff"] == 150.0).all() and (human["n"] == 200).all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"item_id": "Q77"}, r"column 'item_id', row 2: unknown item; expected an item id of the 'agg' bank .*'Q77'"),
        ({"code": 4}, r"column 'code', row 2: code 4 is not an option of item Q1; expected one of \[1, 2, 3\]"),
        ({"code": "two"}, r"column 'code', row 2: expected a number \(got 'two'\)"),
        ({"country": "Atlantis"}, r"column 'country', row 2: unknown country; expected an ISO3 code.*'Atlantis'"),
        ({"share": 1.5}, r"column 'share', row 2: expected a share in \[0, 1\]"),
        ({"share": -0.1}, r"column 'share', row 2: expected a share in \[0, 1\]"),
        ({"code": 1}, r"row 2: country USA, item Q1, code 1 appears more than once"),
        ({"n": 99}, r"column 'n', row 1: differs between rows of country USA, item Q1; expected one n"),
    ],
)
def test_bad_rows_are_named(tmp_path, change, message):
    frame = pd.DataFrame({"country": ["USA", "USA", "USA"], "item_id": ["Q1"] * 3, "code": [1, 2, 3],
                          "share": [0.2, 0.3, 0.5], "n": [100, 100, 100]}).astype(object)
    for column, value in change.items():
        frame.loc[1, column] = value
    with pytest.raises(InputError, match=message) as err:
        read_aggregates(_write(tmp_path, frame), bank=BANK)
    assert "\n" not in str(err.value)


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty"):
        read_aggregates(empty, bank=BANK)
    header = tmp_path / "header.csv"
    header.write_text("country,item_id,code,share\n")
    with pytest.raises(InputError, match="has no data rows"):
        read_aggregates(header, bank=BANK)
    dup = tmp_path / "dup.csv"
    dup.write_text("country,item_id,code,share,share\nUSA,Q1,1,1,1\n")
    with pytest.raises(InputError, match=r"column 'share': appears 2 times in the header \(columns 4, 5\)"):
        read_aggregates(dup, bank=BANK)
    ambiguous = tmp_path / "amb.csv"
    ambiguous.write_text("country,iso3,item_id,code,share\nUSA,USA,Q1,1,1\n")
    with pytest.raises(InputError, match=r"columns \['country', 'iso3'\] all look like the 'country' column"):
        read_aggregates(ambiguous, bank=BANK)
    noshare = tmp_path / "noshare.csv"
    noshare.write_text("country,item_id,code\nUSA,Q1,1\n")
    with pytest.raises(InputError, match="no share column"):
        read_aggregates(noshare, bank=BANK)


def test_n_differing_in_a_later_cell_names_its_first_row(tmp_path):
    cells = [("USA", "Q1"), ("JPN", "Q1"), ("DEU", "Q1")]
    rows = [(c, i, code, share, 100) for c, i in cells for code, share in ((1, 0.2), (2, 0.3), (3, 0.5))]
    frame = pd.DataFrame(rows, columns=["country", "item_id", "code", "share", "n"])
    frame.loc[5, "n"] = 101  # JPN's third row: the cell's rows are 4-6
    with pytest.raises(InputError, match=r"column 'n', row 4: differs between rows of country JPN, item Q1"):
        read_aggregates(_write(tmp_path, frame), bank=BANK)


def test_numeric_country_codes_written_as_floats(tmp_path):
    frame = pd.DataFrame({"country": ["840.0", "840.0", "392", "392"], "item_id": ["Q9"] * 4, "code": [1, 2] * 2,
                          "share": [0.4, 0.6, 0.5, 0.5]})
    human = read_aggregates(_write(tmp_path, frame), bank=BANK)
    assert human["country"].tolist() == ["JPN", "JPN", "USA", "USA"]
