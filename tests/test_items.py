"""The WVS-7 item bank: 239 items, 12 categories, valid codes, monotone scores, loader errors."""
from __future__ import annotations

import copy
import doctest
import json
import re
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import wvsalign.survey.items as items_module
from wvsalign import contracts
from wvsalign.errors import InputError
from wvsalign.survey.items import CATEGORIES, ItemBank, option_scores

REFERENCE = Path("/work/shared/reference/wvs7")
BANK_YAML = Path(items_module.__file__).parent.parent / "data" / "wvs7_items.yaml"

#: WVS-7 items per thematic section (the questionnaire's own counts)
CATEGORY_COUNTS = {
    "social_values": 44, "social_capital": 36, "political_interest": 36, "political_culture": 25,
    "ethics": 23, "security": 21, "religion": 12, "happiness": 11, "migration": 10,
    "corruption": 9, "economic": 6, "science": 6,
}

#: every WVS-7 value item whose codebook has a non-negative code outside the ordinal scale
EXTRA_CODES = {
    "Q111": {3: "drop"}, "Q119": {0: "drop"}, "Q221": {4: "drop"}, "Q222": {4: "drop"},
    **{f"Q{q}": {0: "merge"} for q in range(241, 250)}, "Q254": {5: "drop"},
}


@pytest.fixture(scope="module")
def bank() -> ItemBank:
    return ItemBank.wvs7()


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(BANK_YAML.read_text(encoding="utf-8"))


# ---- size and categories ------------------------------------------------------------------
def test_bank_has_239_unique_wvs_ids(bank):
    assert len(bank) == 239
    assert len(set(bank.ids)) == 239
    assert all(re.fullmatch(r"Q\d{1,3}A?", i) for i in bank.ids)
    numbers = [int(re.match(r"Q(\d+)", i).group(1)) for i in bank.ids]
    assert numbers == sorted(numbers), "items are in questionnaire order"


def test_twelve_categories_with_wvs7_counts(bank):
    assert bank.categories == list(CATEGORIES)
    assert Counter(it.category for it in bank) == CATEGORY_COUNTS
    counts = bank.category_counts()
    assert list(counts.index) == list(CATEGORIES)
    assert counts.to_dict() == CATEGORY_COUNTS
    frame_counts = bank.to_frame().groupby("category").size().to_dict()
    assert frame_counts == CATEGORY_COUNTS


# ---- codes, labels, scores ---------------------------------------------------------------
def test_codes_are_valid(bank):
    for it in bank:
        codes = it.codes
        assert all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in codes), it.item_id
        assert len(set(codes)) == len(codes), it.item_id
        assert 2 <= len(codes) <= 10, it.item_id
        assert len(set(it.labels)) == len(it.labels), it.item_id
        assert it.scale == "ordinal", it.item_id


def test_ten_point_items_have_numbered_middle_options(bank):
    ten = [it for it in bank if it.n_options == 10]
    # Q48-Q50, Q106-Q110, Q112, Q120, Q158-Q164, Q176-Q195, Q240-Q252
    assert len(ten) == sum(it.is_ten_point for it in bank) == 50
    for it in ten:
        assert it.codes == tuple(range(1, 11)), it.item_id
        assert it.labels[1:9] == tuple(str(c) for c in range(2, 10)), it.item_id
        # the ends say what they mean, so a model shown only labels can read the scale
        assert not it.labels[0].isdigit() and not it.labels[-1].isdigit(), it.item_id
    assert not any(it.is_ten_point for it in bank if it.n_options != 10)


def test_labels_are_clean(bank):
    for it in bank:
        for label in it.labels:
            assert label == label.strip() and "  " not in label, (it.item_id, label)
            assert "\u00b4" not in label, (it.item_id, label)
            assert not re.match(r"^[AB]: ", label), (it.item_id, label)


def test_scores_strictly_increase_with_position_from_0_to_1(bank, raw):
    for it in bank:
        k = it.n_options
        by_position = sorted(it.options, key=lambda o: o.position)
        assert [o.position for o in by_position] == list(range(k)), it.item_id
        scores = [o.score for o in by_position]
        assert scores[0] == 0.0 and scores[-1] == 1.0, it.item_id
        assert all(a < b for a, b in zip(scores, scores[1:])), it.item_id
        assert scores == pytest.approx([p / (k - 1) for p in range(k)], abs=0), it.item_id
    # the ordinal order, read from the YAML: its `order` where given (only Q56), else the listed codes
    with_order = {entry["id"]: tuple(entry["order"]) for entry in raw["items"] if "order" in entry}
    assert with_order == {"Q56": (1, 3, 2)}
    expected = {e["id"]: with_order.get(e["id"], tuple(code for code, _ in e["options"])) for e in raw["items"]}
    assert {it.item_id: it.order for it in bank} == expected


def test_code_order_is_ordinal_order_except_q56(bank):
    out_of_order = {it.item_id: it.order for it in bank if it.order != it.codes}
    assert out_of_order == {"Q56": (1, 3, 2)}
    q56 = bank["Q56"]
    assert q56.scores == {1: 0.0, 3: 0.5, 2: 1.0}
    assert q56.labels == ("Better off", "Worse off", "About the same")


def test_zero_coded_scale_points_are_plain_options(bank):
    for qid in [f"Q{q}" for q in range(94, 105)] + [f"Q{q}" for q in range(122, 130)]:
        it = bank[qid]
        assert it.codes == (0, 1, 2) and it.score_of(0) == 0.0 and it.score_of(2) == 1.0, qid
        assert not it.extra_codes


def test_every_extra_code_has_a_valid_handling(bank):
    found = {it.item_id: {e.code: e.handling for e in it.extra_codes} for it in bank if it.extra_codes}
    assert found == EXTRA_CODES
    for it in bank:
        recode = it.recode_map()
        assert {c: recode[c] for c in it.codes} == {c: c for c in it.codes}
        for extra in it.extra_codes:
            assert extra.code not in it.codes and extra.label and it.note, it.item_id
            if extra.handling == "drop":
                assert extra.into is None and recode[extra.code] is None
            else:
                assert extra.into in it.codes and recode[extra.code] == extra.into
    assert bank["Q241"].recode_map()[0] == 1


def test_score_of_rejects_non_options(bank):
    assert bank["Q119"].score_of(4) == 1.0
    with pytest.raises(KeyError):
        bank["Q119"].score_of(0)


# ---- stems and direction ------------------------------------------------------------------
def test_stems_are_unique_questions(bank):
    stems = [it.stem for it in bank]
    assert len(set(stems)) == len(stems)
    for it in bank:
        assert it.stem.endswith("?") and it.stem == it.stem.strip() and "\n" not in it.stem, it.item_id
        assert it.stem[0].isupper(), it.item_id
        assert not re.search(r"On a scale of \d+ to \d+, \d+ meaning", it.stem), it.item_id
        assert it.topic and it.high_score_means, it.item_id


def test_ten_point_stems_name_no_scale_numbers(bank):
    """Stems describe a scale by its ends, never by numbers: under reversed or shuffled option
    orders the labels are renumbered, and a stem saying '1 = never' would contradict them."""
    for it in bank:
        assert not re.search(r"\b(?:[1-9]|10)\b", it.stem.replace("12 months", "")), it.item_id
        if it.is_ten_point:
            assert "scale" in it.stem.lower(), it.item_id


def test_reverse_is_consistent_within_answer_scales(bank):
    """Items that share an answer scale share a direction (batteries are scored alike)."""
    by_labels: dict[tuple, set] = {}
    for it in bank:
        by_labels.setdefault((it.labels[0], it.labels[-1]), set()).add(it.reverse)
    mixed = {labels: flags for labels, flags in by_labels.items() if len(flags) > 1}
    assert not mixed


@pytest.mark.parametrize(
    "item_id, reverse, phrase",
    [
        ("Q1", True, "not at all important"),  # "Very important" listed first
        ("Q18", True, "not named"),  # "Mentioned" (as unwanted neighbour) first
        ("Q46", True, "not at all happy"),
        ("Q94", False, "active member"),  # 0 don't belong ... 2 active member
        ("Q106", False, "greater incentives for individual effort"),
        ("Q121", False, "very good"),
        ("Q164", False, "very important"),
        ("Q173", True, "atheist"),
        ("Q176", True, "disagrees"),  # 1 completely agree ... 10 completely disagree
        ("Q182", False, "always justifiable"),
        ("Q240", False, "right"),
    ],
)
def test_direction_of_known_items(bank, item_id, reverse, phrase):
    it = bank[item_id]
    assert it.reverse is reverse
    assert phrase in it.high_score_means.lower()
    # the option scoring 1 is the one high_score_means describes
    top = max(it.options, key=lambda o: o.score)
    assert top.position == it.n_options - 1


# ---- filter, tables -----------------------------------------------------------------------
def test_filter_by_slug_section_name_and_ids(bank):
    eco = bank.filter(categories="economic")
    assert eco.ids == ["Q106", "Q107", "Q108", "Q109", "Q110", "Q111"]
    assert bank.filter(categories=["Economic Values"]).ids == eco.ids
    assert bank.filter(categories="economic values").ids == eco.ids
    two = bank.filter(categories=["religion", "science"])
    assert len(two) == 18 and two.categories == ["science", "religion"]
    assert bank.filter(ids="Q56,Q1").ids == ["Q1", "Q56"]  # bank order, not request order
    assert bank.filter(ids=["Q1", "Q56"], categories="happiness").ids == ["Q56"]
    assert bank.filter(categories="religion", ids=["Q1"]).ids == []
    assert list(bank.filter(ids=["Q46"]))[0] is bank["Q46"]


def test_filter_errors_name_the_bad_value(bank):
    with pytest.raises(InputError, match=r"unknown item id\(s\) \['Q999'\]"):
        bank.filter(ids=["Q1", "Q999"])
    with pytest.raises(InputError, match="unknown category 'sports'"):
        bank.filter(categories="sports")
    with pytest.raises(KeyError, match="Q999"):
        bank["Q999"]


def test_frames_satisfy_the_contracts(bank):
    items = contracts.check(bank.to_frame(), "items")
    assert len(items) == 239 and list(items["item_id"]) == bank.ids
    options = contracts.check(bank.options_frame(), "options")
    assert len(options) == sum(it.n_options for it in bank)
    row = items.set_index("item_id").loc["Q56"]
    assert row["options"] == [(1, "Better off"), (2, "Worse off"), (3, "About the same")]
    assert row["order"] == [1, 3, 2] and row["scores"] == {1: 0.0, 2: 1.0, 3: 0.5}
    assert items.set_index("item_id").loc["Q241", "extra_codes"] == {0: ("merge", 1)}
    series = option_scores(bank)
    assert series.loc[("Q56", 3)] == 0.5 and len(series) == len(options)
    empty = ItemBank([]).to_frame()
    contracts.check(empty, "items")


def test_yaml_round_trip_and_docstrings(tmp_path, raw):
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    again = ItemBank.from_yaml(path)
    assert again.ids == ItemBank.wvs7().ids
    assert [it.options for it in again] == [it.options for it in ItemBank.wvs7()]
    assert doctest.testmod(items_module).failed == 0


# ---- loader errors ------------------------------------------------------------------------
def _one_item(**changes) -> dict:
    item = {
        "id": "QX", "category": "ethics", "topic": "t", "stem": "Is this a question?",
        "options": [[1, "Yes"], [2, "No"], [3, "Maybe"]], "reverse": False, "high_score_means": "maybe",
    }
    item.update(changes)
    return {"items": [item]}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"category": "sport"}, r"item QX: unknown category 'sport'"),
        ({"order": [1, 2, 2]}, r"item QX: order \[1, 2, 2\] is not a permutation"),
        ({"order": [1, 2, 4]}, r"item QX: order \[1, 2, 4\] is not a permutation"),
        ({"extra_codes": {0: {"label": "x", "handling": "merge", "into": 7}}}, r"item QX: extra code 0 merges into 7"),
        ({"extra_codes": {0: {"label": "x", "handling": "keep"}}}, r"item QX: extra code 0 handling 'keep'"),
        ({"extra_codes": {2: {"label": "x", "handling": "drop"}}}, r"item QX: extra code 2 must be"),
        ({"options": [[1, "Yes"], [1, "No"]]}, r"item QX: option codes \[1, 1\]"),
        ({"options": [[1, "Yes"], [-1, "No"]]}, r"item QX: option code -1"),
        ({"options": [[1, "Yes"], [2, "Yes"]]}, r"item QX: option labels"),
        ({"options": [[1, "Yes"]]}, r"item QX: option codes \[1\]; expected at least two"),
        ({"reverse": "yes"}, r"item QX: reverse 'yes'"),
        ({"scale": "interval"}, r"item QX: scale 'interval'"),
        ({"extra_code": {}}, r"item QX: unknown field\(s\) \['extra_code'\]"),
        ({"stem": ""}, r"item QX: missing field 'stem'"),
    ],
)
def test_loader_errors_name_the_item(changes, message):
    with pytest.raises(InputError, match=message) as info:
        ItemBank.from_dict(_one_item(**changes), source="bank.yaml")
    assert str(info.value).startswith("bank.yaml: ") and "\n" not in str(info.value)


def test_loader_rejects_duplicate_ids_and_bad_files(tmp_path):
    twice = _one_item()
    twice["items"].append(copy.deepcopy(twice["items"][0]))
    with pytest.raises(InputError, match="duplicate item id 'QX'"):
        ItemBank.from_dict(twice)
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [\n  - id: Q1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid YAML"):
        ItemBank.from_yaml(bad)
    with pytest.raises(InputError, match="no such item bank file"):
        ItemBank.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="expected a mapping with a list under 'items'"):
        ItemBank.from_dict({"things": []})


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=10).flatmap(lambda k: st.permutations(list(range(k)))))
def test_any_ordinal_order_scores_rank_over_k_minus_1(order):
    k = len(order)
    options = [[c, f"label {c}"] for c in range(k)]
    item = list(ItemBank.from_dict(_one_item(options=options, order=list(order))))[0]
    for rank, code in enumerate(order):
        assert item.score_of(code) == rank / (k - 1)
    assert item.order == tuple(order)


# ---- cross-check against the WVS-7 reference (skipped where it is absent, e.g. in CI) ------------
#: deliberate label changes, each explained in the item's note
LABEL_FIXES = {
    ("Q56", 3): "About the same",  # "Or about the same": read-out wording
    ("Q111", 1): "Protect the environment",  # "A: Protect environment": the A/B prefix clashes with option letters
    ("Q111", 2): "Economic growth and jobs",
    ("Q121", 1): "Very bad",  # "Rather bad" next to "Quite bad" and "Very good"
    ("Q239", 3): "Fairly bad",  # "Bad", where Q235-Q238 say "Fairly bad"
}


def _normalise(label: str) -> str:
    label = " ".join(label.replace("\u00b4", "'").split())
    return {"Neither agree or disagree": "Neither agree nor disagree", "Neither good, nor bad": "Neither good nor bad"}.get(
        label, label
    ).lower()


@pytest.mark.skipif(not (REFERENCE / "codebook.json").exists(), reason="WVS-7 reference files not present")
def test_codes_and_labels_match_the_wvs7_codebook(bank):
    codebook = json.loads((REFERENCE / "codebook.json").read_text(encoding="utf-8"))
    for it in bank:
        choices = {int(c): str(lab) for c, lab in codebook[it.item_id]["choices"].items() if int(c) >= 0}
        assert set(it.codes) | {e.code for e in it.extra_codes} == set(choices), it.item_id
        for code, label in zip(it.codes, it.labels):
            if (it.item_id, code) in LABEL_FIXES:
                assert label == LABEL_FIXES[(it.item_id, code)] and it.note, (it.item_id, code)
            elif choices[code] == str(code):  # a bare number in the codebook: our end label says what it means
                assert label == str(code) or it.is_ten_point and code in (1, 10), (it.item_id, code)
            else:
                assert label.lower() == _normalise(choices[code]), (it.item_id, code, label, choices[code])
        for extra in it.extra_codes:
            assert _normalise(extra.label) == _normalise(choices[extra.code]), it.item_id


@pytest.mark.skipif(not (REFERENCE / "question_metadata.json").exists(), reason="WVS-7 reference files not present")
def test_items_and_categories_match_the_wvs7_metadata_and_stems_are_our_own(bank):
    meta = json.loads((REFERENCE / "question_metadata.json").read_text(encoding="utf-8"))
    values = {k: v for k, v in meta.items() if v["use_case"] == "value"}
    assert bank.ids == list(values)
    for it in bank:
        assert it.category_name == values[it.item_id]["category"], it.item_id
        theirs = values[it.item_id]["question"].lower()
        ours = it.stem.lower()
        match = SequenceMatcher(None, ours, theirs, autojunk=False).find_longest_match(0, len(ours), 0, len(theirs))
        assert match.size < 60, (it.item_id, ours[match.a: match.a + match.size])


# ---- WVS-7 wording (issue 8): what the item asks in wave 7, in our words ---------------------------
CHILD_QUALITIES = {
    "Q7": "good manners", "Q8": "independence", "Q9": "hard work", "Q10": "a feeling of responsibility",
    "Q11": "imagination", "Q12": "tolerance and respect for other people", "Q13": "thrift",
    "Q14": "determination and perseverance", "Q15": "religious faith", "Q16": "unselfishness", "Q17": "obedience",
}


def test_child_quality_stems_state_the_choose_up_to_five_rule(bank):
    """WVS-7 asks respondents to pick up to five of the eleven qualities; each stem says so."""
    for item_id, quality in CHILD_QUALITIES.items():
        it = bank[item_id]
        stem = it.stem.lower()
        assert "eleven qualities" in stem and "at most five" in stem, item_id
        assert all(q in stem for q in CHILD_QUALITIES.values()), item_id  # the whole list, as people see it
        assert stem.endswith(f"would {quality} be one of your five?") or f"would {quality} (" in stem, item_id
        assert "at most five" in it.note and "sum to at most 5" in it.note, item_id
        assert it.labels == ("Important", "Not mentioned")


def test_wave_7_wording_of_q28_q38_q106(bank):
    q28 = bank["Q28"].stem.lower()
    assert "mother" in q28 and "work for pay" in q28 and "children suffer" in q28 and "school age" not in q28
    q38 = bank["Q38"].stem.lower()
    assert "long-term care" in q38 and "their parents" in q38 and " ill" not in q38
    q106 = bank["Q106"]
    assert q106.stem.endswith("to 'we need greater incentives for individual effort' at the other?")
    assert "income differences" not in q106.stem and q106.labels[-1] == "Larger income differences"


def test_q119_note_names_the_worldvaluesbench_midpoint_alternative(bank):
    it = bank["Q119"]
    assert [(e.code, e.label, e.handling) for e in it.extra_codes] == [(0, "Hard to say", "drop")]
    assert "WorldValuesBench" in it.note and "midpoint" in it.note and "hard_to_say='midpoint'" in it.note


def test_q119_hard_to_say_as_midpoint_option(bank):
    """hard_to_say='midpoint': Q119's 0 counts half 'Agree' (2), half 'Disagree' (3); 'drop' leaves it out."""
    from wvsalign.survey.distributions import human_distributions

    codes = [1, 2, 2, 3, 4, 0, 0, 0, -1, 4] * 4
    weights = [1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 3.0, 1.0, 1.0, 1.0] * 4
    frame = pd.DataFrame({"country": "USA", "weight": weights, "Q119": codes})
    item = [bank["Q119"]]
    w = pd.Series(weights)
    c = pd.Series(codes)
    by_code = {k: float(w[c == k].sum()) for k in (0, 1, 2, 3, 4)}

    dropped = human_distributions(frame, item, min_n=1).set_index("code")
    total = sum(by_code[k] for k in (1, 2, 3, 4))
    np.testing.assert_allclose(dropped["share"].loc[[1, 2, 3, 4]], [by_code[k] / total for k in (1, 2, 3, 4)])
    assert dropped["n"].iloc[0] == 4 * 6 and dropped.attrs["hard_to_say"] == "drop"

    mid = human_distributions(frame, item, min_n=1, hard_to_say="midpoint").set_index("code")
    total = sum(by_code.values())
    expected = {1: by_code[1], 2: by_code[2] + by_code[0] / 2, 3: by_code[3] + by_code[0] / 2, 4: by_code[4]}
    np.testing.assert_allclose(mid["share"].loc[[1, 2, 3, 4]], [expected[k] / total for k in (1, 2, 3, 4)])
    assert mid["n"].iloc[0] == 4 * 9 and list(mid.index) == [1, 2, 3, 4]
    kept = w[c >= 0]
    assert mid["n_eff"].iloc[0] == pytest.approx(kept.sum() ** 2 / (kept**2).sum())
    # the 'hard to say' answers add the midpoint score 0.5 to the mean score
    scores = bank["Q119"].scores
    mean = sum(mid["share"].loc[k] * scores[k] for k in (1, 2, 3, 4))
    by_hand = (sum(by_code[k] * scores[k] for k in (1, 2, 3, 4)) + 0.5 * by_code[0]) / total
    assert mean == pytest.approx(by_hand)
    with pytest.raises(InputError, match=r"hard_to_say='middle'; expected one of \['drop', 'midpoint'\]"):
        human_distributions(frame, item, min_n=1, hard_to_say="middle")
    # items without a 'hard to say' code are unchanged
    q1 = pd.DataFrame({"country": "USA", "weight": 1.0, "Q1": [1, 2, 3, 4, 1, 2] * 5})
    a = human_distributions(q1, [bank["Q1"]], min_n=1)
    b = human_distributions(q1, [bank["Q1"]], min_n=1, hard_to_say="midpoint")
    pd.testing.assert_frame_equal(a, b)
