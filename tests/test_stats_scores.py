"""Mean scores: model sum_k p_k s_k, human sum_k r_k s_k, scales, variants, bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from stats_helpers import make_bank, make_countries, make_human, make_probs
from wvsalign import contracts
from wvsalign.errors import InputError
from wvsalign.stats import human_mean_scores, mean_scores, model_mean_scores
from wvsalign.survey.items import ItemBank

BANK = make_bank(12)
COUNTRIES = make_countries(5)


@pytest.fixture(scope="module")
def human():
    return make_human(BANK, COUNTRIES, seed=1, dont_know=True)


@pytest.fixture(scope="module")
def probs(human):
    return make_probs(BANK, COUNTRIES, human, seed=2, variants={"instruction": ["a", "b"], "option_order": ["fwd", "rev"]},
                      default=True)


def _hand_score(bank: ItemBank, item_id: str, dist: dict[int, float]) -> float:
    """Plain-Python expected score over the scored codes, renormalised."""
    scores = bank[item_id].scores
    num = sum(w * scores[c] for c, w in dist.items() if c in scores)
    den = sum(w for c, w in dist.items() if c in scores)
    return num / den


def test_human_mean_scores_match_hand_computation(human):
    got = human_mean_scores(human, BANK)
    assert len(got) == len(COUNTRIES) * len(BANK)
    for row in got.sample(20, random_state=0).itertuples():
        sub = human[(human["country"] == row.country) & (human["item_id"] == row.item_id)]
        want = _hand_score(BANK, row.item_id, dict(zip(sub["code"], sub["share"])))
        assert row.mean_score == pytest.approx(want, abs=1e-12)
        assert row.n == sub["n"].iloc[0]
    contracts.check(got, "scores")


def test_dont_know_codes_are_dropped_and_renormalised():
    # one item, shares 0.2 / 0.3 / 0.1 / 0.2 on the 4 options plus 0.2 "don't know" (-1)
    item = next(it for it in BANK if it.n_options == 4)
    human = pd.DataFrame({"country": "XAA", "item_id": item.item_id, "code": [1, 2, 3, 4, -1],
                          "share": [0.2, 0.3, 0.1, 0.2, 0.2], "n": 100, "n_eff": 90.0})
    got = human_mean_scores(human, BANK)["mean_score"].iloc[0]
    # scores 0, 1/3, 2/3, 1 over mass 0.8
    assert got == pytest.approx((0.3 / 3 + 0.1 * 2 / 3 + 0.2) / 0.8, abs=1e-15)


def test_model_mean_scores_average_prompts_within_kept_variants(probs):
    got = model_mean_scores(probs, BANK)  # keeps template, instruction, option_order
    assert {"instruction", "option_order", "template"} <= set(got.columns)
    per_prompt = {}
    for pid, g in probs.groupby("prompt_id"):
        per_prompt[pid] = _hand_score(BANK, g["item_id"].iloc[0], dict(zip(g["code"], g["prob"])))
    first = probs.drop_duplicates("prompt_id").set_index("prompt_id")
    row = got.iloc[7]
    sel = first[(first["model"] == row.model) & (first["country"] == row.country) & (first["item_id"] == row.item_id)
                & (first["instruction"] == row.instruction) & (first["option_order"] == row.option_order)]
    assert row.mean_score == pytest.approx(np.mean([per_prompt[p] for p in sel.index]), abs=1e-12)
    # averaging over every variant: one row per model x country x item (default condition included)
    pooled = model_mean_scores(probs, BANK, variants=[])
    assert len(pooled) == 2 * (len(COUNTRIES) + 1) * len(BANK)
    assert (pooled["n_prompts"] == 4).all()
    one = pooled.iloc[3]
    sel = first[(first["model"] == one.model) & (first["country"] == one.country) & (first["item_id"] == one.item_id)]
    assert one.mean_score == pytest.approx(np.mean([per_prompt[p] for p in sel.index]), abs=1e-12)
    only = model_mean_scores(probs, BANK, variants="instruction")
    assert "option_order" not in only.columns and (only["n_prompts"] == 2).all()


def test_scales_are_affine_maps_of_the_unit_scale(human):
    unit = human_mean_scores(human, BANK)
    kb = human_mean_scores(human, BANK, scale="kim_baek")
    pos = human_mean_scores(human, BANK, scale="position")
    np.testing.assert_allclose(kb["mean_score"], 2 * unit["mean_score"] - 1, atol=1e-14)
    k = unit["item_id"].map({it.item_id: it.n_options for it in BANK})
    np.testing.assert_allclose(pos["mean_score"], unit["mean_score"] * (k - 1), atol=1e-12)
    assert kb["mean_score"].between(-1, 1).all() and unit["mean_score"].between(0, 1).all()


def test_ordinal_order_and_dropped_extra_codes_are_respected():
    # an item listed as 1, 2, 3 whose ordinal order is 1, 3, 2: code 3 scores 0.5, code 2 scores 1
    odd = next(it for it in BANK if it.n_options == 3 and [o.position for o in it.options] == [0, 2, 1])
    human = pd.DataFrame({"country": "XAA", "item_id": odd.item_id, "code": [1, 2, 3], "share": [0.0, 0.0, 1.0],
                          "n": 10, "n_eff": 10.0})
    assert human_mean_scores(human, BANK)["mean_score"].iloc[0] == pytest.approx(0.5)
    # code 0 of a 4-option item is a dropped extra code: it carries no score
    four = next(it for it in BANK if it.extra_codes)
    human = pd.DataFrame({"country": "XAA", "item_id": four.item_id, "code": [0, 4], "share": [0.5, 0.5],
                          "n": 10, "n_eff": 10.0})
    assert human_mean_scores(human, BANK)["mean_score"].iloc[0] == pytest.approx(1.0)


def test_mean_scores_stacks_human_and_models(human, probs):
    got = mean_scores(probs, human, BANK)
    assert set(got["model"]) == {"human", "m1", "m2"}
    assert got.loc[got["model"] == "human", "instruction"].isna().all()
    assert (got["scale"] == "unit").all()
    with pytest.raises(InputError, match="needs a probs table"):
        mean_scores(None, None, BANK)


def test_embedded_bank_works_too():
    bank = ItemBank.wvs7()
    human = make_human(bank, ["USA", "JPN"], seed=3)
    got = human_mean_scores(human, bank)
    assert len(got) == 2 * len([it for it in bank if not (it.scale == "nominal" and it.n_options > 2)])
    assert got["mean_score"].between(0, 1).all()


def test_bad_input_is_named(human, probs):
    with pytest.raises(InputError, match="scale='percent'"):
        human_mean_scores(human, BANK, scale="percent")
    bad = human.copy()
    first = bad.index[(bad["country"] == bad["country"].iloc[0]) & (bad["item_id"] == bad["item_id"].iloc[0])]
    bad.loc[first, "item_id"] = "Q999"  # a whole distribution of an unknown item
    with pytest.raises(InputError, match=r"column 'item_id', row 0.*'Q999'"):
        human_mean_scores(bad, BANK)
    bad = probs.copy()
    bad["code"] = bad["code"].astype(object)
    bad.loc[5, "code"] = "two"
    with pytest.raises(InputError, match=r"column 'code', row 5"):
        model_mean_scores(bad, BANK)
    with pytest.raises(InputError, match="lacks column"):
        model_mean_scores(probs.drop(columns="prob"), BANK)
    with pytest.raises(InputError, match="not in the probs table"):
        model_mean_scores(probs, BANK, variants=["label_style"])


def test_group_without_scored_mass_is_left_out_with_a_warning():
    item = BANK.ids[0]
    human = pd.DataFrame({"country": ["XAA", "XAB", "XAB"], "item_id": item, "code": [-1, 1, 2],
                          "share": [1.0, 0.5, 0.5], "n": 10, "n_eff": 10.0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = human_mean_scores(human, BANK)
    assert list(got["country"]) == ["XAB"]
    assert any("no probability/share on a scored option" in str(w.message) for w in caught)


def test_nominal_items_with_more_than_two_options_are_left_out_with_a_warning():
    # T2 has 3 options, T4 5: nominal, no mean; T1 has 2: a nominal pair is still a 0/1 share
    bank = make_bank(12, nominal=("T1", "T2", "T4"))
    human = make_human(bank, COUNTRIES[:2], seed=4)
    probs = make_probs(bank, COUNTRIES[:2], human, seed=5)
    for compute in (lambda: human_mean_scores(human, bank), lambda: model_mean_scores(probs, bank)):
        with pytest.warns(UserWarning, match=r"nominal item\(s\) with more than two options left out "
                                             r"\(2: \['T2', 'T4'\]\)"):
            got = compute()
        assert set(got["item_id"]) == set(bank.ids) - {"T2", "T4"}
    without = human[~human["item_id"].isin(["T2", "T4"])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left out: no warning
        human_mean_scores(without, bank)
