"""Bad input: one test per case. Each error is one InputError line that names the file,
column, row or value at fault and what was expected; no output is written."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from wvsalign import cli
from wvsalign.errors import InputError
from wvsalign.survey.distributions import DataWarning
from wvsalign.survey.items import ItemBank
from wvsalign.survey.readers import read_wvs
from wvsalign.survey.synthetic import write_wvs

ITEMS = ["Q1", "Q46", "Q57"]


@pytest.fixture()
def small(synthetic_raw):
    """Two countries x 300 respondents, the layout columns and three items."""
    keep = ["SYNTHETIC", "B_COUNTRY", "B_COUNTRY_ALPHA", "W_WEIGHT", "S018"] + ITEMS
    return synthetic_raw.loc[synthetic_raw.B_COUNTRY_ALPHA.isin(["USA", "JPN"]), keep].reset_index(drop=True)


def _error(path, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            read_wvs(path, **kwargs).distributions(min_n=1)
    text = str(err.value)
    assert "\n" not in text
    return text


def _cli_fails_cleanly(tmp_path, capsys, wvs, *extra) -> str:
    """The CLI exits 2 with one error line and leaves no output or temp file behind."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = cli.main(["human", "--wvs", str(wvs), "--out", str(out_dir / "h.parquet"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert os.listdir(out_dir) == []
    message = [line for line in err if line.startswith("wvsalign human: error:")]
    assert len(message) == 1
    return message[0]


def test_missing_country_column(tmp_path, small, capsys):
    path = write_wvs(small.drop(columns=["B_COUNTRY", "B_COUNTRY_ALPHA"]), tmp_path / "nocountry.csv")
    text = _error(path)
    assert str(path) in text and "no country column; expected B_COUNTRY_ALPHA or B_COUNTRY" in text
    assert "no country column" in _cli_fails_cleanly(tmp_path, capsys, path)


def test_unknown_codes_are_counted_per_code(tmp_path, small):
    bad = small.copy()
    bad.loc[[3, 5], "Q46"] = 7
    bad.loc[10, "Q46"] = 99
    bad.loc[11, "Q46"] = -9
    path = write_wvs(bad, tmp_path / "codes.sav")
    text = _error(path)
    assert f"{path}, column 'Q46': 4 value(s) that are not codes of item Q46" in text
    assert "-9 (1 row, first row 12), 7 (2 rows, first row 4), 99 (1 row, first row 11)" in text
    assert "expected the item's codes [1, 2, 3, 4] or a missing code -1..-5" in text


def test_non_numeric_codes_are_counted_per_value(tmp_path, small):
    bad = small.astype({"Q1": object})
    bad.loc[[0, 7], "Q1"] = "very"
    bad.loc[9, "Q1"] = "1.x"
    path = tmp_path / "text.csv"
    bad.to_csv(path, index=False)
    text = _error(path)
    assert f"{path}, column 'Q1': 3 non-numeric value(s): '1.x' (1 row, first row 10), 'very' (2 rows, first row 1)" in text
    assert "expected integer WVS codes" in text


@pytest.mark.parametrize("value, kind", [(0.0, "zero"), (-0.5, "negative"), (np.nan, "missing")])
def test_bad_weights(tmp_path, small, value, kind):
    bad = small.copy()
    bad.loc[42, "W_WEIGHT"] = value
    path = write_wvs(bad, tmp_path / "weights.dta")
    text = _error(path)
    assert f"column 'W_WEIGHT': 1 bad weight(s) (1 {kind}); first at row 43" in text
    assert "expected positive numbers" in text


def test_empty_files(tmp_path, small):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "is empty; expected a header line" in _error(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(small.columns) + "\n")
    assert "has no respondent rows" in _error(header_only)
    no_rows = write_wvs(small.iloc[:0], tmp_path / "norows.sav")
    assert "has no respondent rows" in _error(no_rows)
    zero = tmp_path / "zero.sav"
    zero.write_bytes(b"")
    assert "is empty" in _error(zero)


def test_country_with_no_valid_answers_for_an_item(tmp_path, small):
    bad = small.copy()
    bad.loc[bad.B_COUNTRY_ALPHA == "JPN", "Q57"] = -4
    path = write_wvs(bad, tmp_path / "notasked.csv")
    # asked for explicitly (country and item, strict=True as the CLI passes then): an error that says why
    text = _error(path, countries=["JPN"], items=["Q57"], strict=True)
    assert "country JPN has no valid answer to item Q57 (-4 not asked 300)" in text
    # otherwise: warned and left out
    with pytest.warns(DataWarning, match="no valid answers"):
        human = read_wvs(path, items=ITEMS).distributions(min_n=1)
    assert human[(human.country == "JPN") & (human.item_id == "Q57")].empty
    assert not human[(human.country == "USA") & (human.item_id == "Q57")].empty
    # the same without strict, with a bank and countries given as a caller such as the pipeline gives them
    bank = ItemBank.wvs7().filter(ids=ITEMS)
    with pytest.warns(DataWarning, match="no valid answers"):
        human = read_wvs(path, items=bank, countries=["USA", "JPN"]).distributions(bank, min_n=1)
    assert human[(human.country == "JPN") & (human.item_id == "Q57")].empty
    assert set(human["country"]) == {"USA", "JPN"}


def test_duplicated_columns(tmp_path, small):
    path = tmp_path / "dup.csv"
    text = small.to_csv(index=False)
    header, body = text.split("\n", 1)
    path.write_text(header.replace("Q57", "Q46") + "\n" + body)
    message = _error(path)
    assert "column 'Q46': appears 2 times in the header (columns 7, 8)" in message
    assert "expected unique column names" in message


def test_wrong_delimiter(tmp_path, small):
    path = tmp_path / "tabs.csv"
    small.to_csv(path, sep="\t", index=False)
    text = _error(path)
    assert "the header splits into a single column with delimiter ',' but contains tabs" in text
    assert "expected a comma- or semicolon-separated WVS file" in text
    # with the right delimiter given, the same file reads
    assert len(read_wvs(path, sep="\t", items=ITEMS).respondents) == len(small)


def test_truncated_csv(tmp_path, small, capsys):
    path = write_wvs(small, tmp_path / "cut.csv")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 9])  # the last row loses its last fields
    text = _error(path)
    assert f"{path}, row {len(small)}: the last row is cut short: the file looks truncated" in text
    assert "truncated" in _cli_fails_cleanly(tmp_path, capsys, path)


@pytest.mark.parametrize("suffix", [".sav", ".dta"])
@pytest.mark.parametrize("keep", [0.5, 0.995])
def test_truncated_sav_dta(tmp_path, small, suffix, keep):
    path = write_wvs(small, tmp_path / f"cut{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    text = _error(path)
    assert str(path) in text and "truncated" in text


def test_truncated_parquet(tmp_path, small):
    path = write_wvs(small, tmp_path / "cut.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated or damaged" in _error(path)


def test_unknown_country_code_in_file(tmp_path, small):
    bad = small.copy()
    bad.loc[5:, "B_COUNTRY_ALPHA"] = "XXX"
    path = write_wvs(bad, tmp_path / "xxx.csv")
    text = _error(path)
    assert "column 'B_COUNTRY_ALPHA': 1 unknown country code(s): 'XXX' (first at row 6)" in text


def test_unknown_file_type_and_missing_file(tmp_path):
    assert "unknown file type '.xlsx'" in _error(tmp_path / "w.xlsx")
    assert "file not found" in _error(tmp_path / "missing.csv")
