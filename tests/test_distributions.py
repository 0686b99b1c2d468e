"""Weighted country distributions (the human table) against hand computations."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wvsalign import contracts
from wvsalign.errors import InputError
from wvsalign.survey.distributions import DataWarning, dropped_cells, human_distributions, parse_keep_missing
from wvsalign.survey.items import ItemBank

BANK = ItemBank.from_dict(
    {
        "name": "test",
        "items": [
            {"id": "Q1", "category": "social_values", "stem": "s", "high_score_means": "h",
             "options": [[1, "a"], [2, "b"], [3, "c"]]},
            {"id": "Q2", "category": "happiness", "stem": "s", "high_score_means": "h",
             "options": [[1, "yes"], [2, "no"]],
             "extra_codes": {0: {"label": "hard to say", "handling": "drop"}}},
            {"id": "Q3", "category": "ethics", "stem": "s", "high_score_means": "h",
             "options": [[1, "x"], [2, "y"], [3, "z"]],
             "extra_codes": {0: {"label": "against", "handling": "merge", "into": 1}}},
        ],
    }
)


def _frame(rows):
    return pd.DataFrame(rows, columns=["country", "weight", "Q1", "Q2", "Q3"])


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fn(*args, **kwargs)


def test_hand_worked_example():
    # USA: Q1 answers 1 (w=1), 1 (w=2), 3 (w=3), -1 (w=4, don't know: missing)
    df = _frame([
        ["USA", 1.0, 1, 1, 1],
        ["USA", 2.0, 1, 2, 0],
        ["USA", 3.0, 3, 0, 2],
        ["USA", 4.0, -1, -2, 3],
    ])
    human = human_distributions(df, BANK, min_n=1)
    q1 = human[human.item_id == "Q1"].set_index("code")
    assert q1["share"].tolist() == pytest.approx([3 / 6, 0.0, 3 / 6], abs=1e-15)
    assert (q1["n"] == 3).all()
    assert q1["n_eff"].iloc[0] == pytest.approx(36 / 14, abs=1e-12)  # (1+2+3)^2 / (1+4+9)
    # Q2: code 0 is dropped like a don't know -> answers 1 (w=1), 2 (w=2)
    q2 = human[human.item_id == "Q2"].set_index("code")
    assert q2["share"].tolist() == pytest.approx([1 / 3, 2 / 3], abs=1e-15)
    assert (q2["n"] == 2).all()
    # Q3: code 0 merges into 1 -> codes 1 (w=1), 1 (w=2), 2 (w=3), 3 (w=4)
    q3 = human[human.item_id == "Q3"].set_index("code")
    assert q3.index.tolist() == [1, 2, 3]
    assert q3["share"].tolist() == pytest.approx([3 / 10, 3 / 10, 4 / 10], abs=1e-15)
    assert (q3["n"] == 4).all()
    assert q3["n_eff"].iloc[0] == pytest.approx(100 / 30, abs=1e-12)
    contracts.check(human, "human")
    assert list(human.columns) == ["country", "item_id", "category", "code", "share", "n", "n_eff"]
    assert q1["category"].iloc[0] == "social_values"


def test_unweighted_uses_counts_and_n_eff_equals_n():
    df = _frame([["USA", 1.0, 1, 1, 1], ["USA", 5.0, 2, 1, 1], ["USA", 9.0, 2, 2, 2]])
    human = human_distributions(df, BANK, min_n=1, weighted=False)
    q1 = human[human.item_id == "Q1"].set_index("code")
    assert q1["share"].tolist() == pytest.approx([1 / 3, 2 / 3, 0.0], abs=1e-15)
    assert (human["n_eff"] == human["n"]).all()
    assert human.attrs["weighted"] is False


def test_absent_item_is_absent_not_zero_and_dropped_is_listed():
    df = _frame([["USA", 1.0, 1, 1, 1], ["USA", 1.0, 2, 2, 2], ["JPN", 1.0, 1, -4, 1], ["JPN", 1.0, 2, -4, 3]])
    with pytest.warns(DataWarning, match="1 country x item cell"):
        human = human_distributions(df, BANK, min_n=1)
    assert human[(human.country == "JPN") & (human.item_id == "Q2")].empty
    assert len(human[(human.country == "JPN") & (human.item_id == "Q1")]) == 3
    dropped = dropped_cells(human)
    assert dropped.to_dict("records") == [{"country": "JPN", "item_id": "Q2", "n": 0, "reason": "no valid answers"}]


def test_min_n_boundary():
    rows = [["USA", 1.0, 1, 1, 1]] * 5 + [["JPN", 1.0, 1, 1, 1]] * 4
    human = _quiet(human_distributions, _frame(rows), BANK, min_n=5)
    assert set(human["country"]) == {"USA"}
    reasons = dropped_cells(human)
    assert set(reasons["country"]) == {"JPN"} and (reasons["reason"] == "n below min_n=5").all()
    assert set(_quiet(human_distributions, _frame(rows), BANK, min_n=4)["country"]) == {"USA", "JPN"}


def test_keep_missing_adds_negative_codes_as_options_after_item_codes():
    df = _frame([["USA", 1.0, 1, 1, 1], ["USA", 1.0, -1, 1, 1], ["USA", 2.0, -2, 1, 1], ["USA", 1.0, -5, 1, 1]])
    human = human_distributions(df, BANK, min_n=1, keep_missing=[-1, -2])
    q1 = human[human.item_id == "Q1"]
    assert q1["code"].tolist() == [1, 2, 3, -1, -2]
    assert q1["share"].tolist() == pytest.approx([0.25, 0, 0, 0.25, 0.5], abs=1e-15)
    assert (q1["n"] == 3).all()  # -5 stays missing
    assert parse_keep_missing(True) == (-1, -2, -3, -4, -5)
    assert parse_keep_missing("-2,-1") == (-1, -2)
    with pytest.raises(InputError, match="keep_missing code 3"):
        parse_keep_missing([3])


def test_row_order_countries_sorted_items_in_bank_order_codes_in_questionnaire_order():
    df = _frame([["USA", 1.0, 1, 1, 1], ["BRA", 1.0, 2, 2, 2], ["DEU", 1.0, 3, 1, 3]])
    human = human_distributions(df, BANK, min_n=1)
    assert human["country"].drop_duplicates().tolist() == ["BRA", "DEU", "USA"]
    assert human[human.country == "DEU"]["item_id"].drop_duplicates().tolist() == ["Q1", "Q2", "Q3"]
    assert human[(human.country == "DEU") & (human.item_id == "Q1")]["code"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("bad, expected", [(0.0, "1 zero"), (-1.0, "1 negative"), (np.nan, "1 missing")])
def test_bad_weights_are_named(bad, expected):
    df = _frame([["USA", 1.0, 1, 1, 1], ["USA", bad, 1, 1, 1]])
    with pytest.raises(InputError, match=rf"column 'weight': 1 bad weight\(s\) \({expected}\); first at row 2") as err:
        human_distributions(df.set_axis([1, 2]), BANK, min_n=1)
    assert "\n" not in str(err.value)


def test_unknown_codes_counted_per_code():
    df = _frame([["USA", 1.0, 7, 1, 1], ["USA", 1.0, 7, 1, 1], ["USA", 1.0, 9, 1, 1]])
    with pytest.raises(InputError, match=r"column 'Q1': 3 value\(s\) that are not codes of item Q1: 7 \(2 rows, first row 1\), 9 \(1 row, first row 3\)"):
        human_distributions(df.set_axis([1, 2, 3]), BANK, min_n=1)


def test_missing_columns_are_named():
    df = _frame([["USA", 1.0, 1, 1, 1]])
    with pytest.raises(InputError, match="no column 'country'"):
        human_distributions(df.drop(columns="country"), BANK)
    with pytest.raises(InputError, match=r"lacks item column\(s\) \['Q3'\]"):
        human_distributions(df.drop(columns="Q3"), BANK)


def _slow_reference(df: pd.DataFrame, bank: ItemBank) -> dict:
    """Independent computation: plain Python over respondents."""
    out = {}
    for item in bank:
        merge = {e.code: e.into for e in item.extra_codes if e.handling == "merge"}
        acc: dict = {}
        for country, weight, raw in zip(df["country"], df["weight"], df[item.item_id]):
            if pd.isna(raw) or raw < 0:
                continue
            code = int(raw)
            if code not in item.codes:
                if code not in merge:
                    continue
                code = merge[code]
            cell = acc.setdefault(country, {"w": {}, "n": 0, "w2": 0.0})
            cell["w"][code] = cell["w"].get(code, 0.0) + weight
            cell["n"] += 1
            cell["w2"] += weight * weight
        for country, cell in acc.items():
            total = sum(cell["w"].values())
            for code in item.codes:
                out[(country, item.item_id, code)] = (cell["w"].get(code, 0.0) / total, cell["n"], total**2 / cell["w2"])
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["USA", "JPN", "DEU"]),
            st.floats(0.05, 20.0),
            st.sampled_from([1, 2, 3, -1, -2, -4]),
            st.sampled_from([0, 1, 2, -1]),
            st.sampled_from([0, 1, 2, 3, -5]),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_vectorised_shares_equal_python_loop(rows):
    df = _frame([list(r) for r in rows])
    human = _quiet(human_distributions, df, BANK, min_n=1)
    expected = _slow_reference(df, BANK)
    assert len(human) == len(expected)
    for row in human.itertuples():
        share, n, n_eff = expected[(row.country, row.item_id, row.code)]
        assert abs(row.share - share) <= 1e-12
        assert row.n == n
        assert abs(row.n_eff - n_eff) <= 1e-9 * n_eff
