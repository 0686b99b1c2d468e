"""wvsalign.study.dual: per-item alignment from a study's scores and the three GlobalOpinionQA conditions."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from wvsalign.study.dual import THREE_CONDITIONS, dual_evaluation, format_dual, item_alignment, native_languages

COUNTRIES = ["JPN", "MEX", "USA"]
ITEMS = [f"Q{i}" for i in range(1, 13)]


def test_native_languages_follow_the_registry():
    assert native_languages(["JPN", "MEX", "USA", "NLD", "NONE"]) == {"JPN": "ja", "MEX": "es", "USA": "en",
                                                                      "NLD": "en"}


def fake_scores(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    human = {(c, i): rng.uniform(0.2, 0.8) for c in COUNTRIES for i in ITEMS}
    native = {"JPN": "ja", "MEX": "es", "USA": "en"}
    rows = []
    conds = {"persona_grid": ("persona", ["en", "ja", "es"]), "default_en": ("default", ["en"]),
             "translated": ("default", ["native"])}
    for cond, (template, languages) in conds.items():
        for c in COUNTRIES:
            for i in ITEMS:
                rows.append({"model": "human", "condition": cond, "country": c, "item_id": i,
                             "mean_score": human[(c, i)], "template": None, "language": None})
        for lang in languages:
            for i in ITEMS:
                if template == "default" and lang == "en":
                    rows.append({"model": "m", "condition": cond, "country": "NONE", "item_id": i,
                                 "mean_score": 0.5, "template": template, "language": "en"})
                    continue
                for c in COUNTRIES:
                    asked = native[c] if lang == "native" else lang
                    # answers closer to people when asked in the country's own language
                    gap = 0.05 if asked == native[c] else 0.2
                    rows.append({"model": "m", "condition": cond, "country": c, "item_id": i,
                                 "mean_score": human[(c, i)] + gap, "template": template, "language": asked})
    return pd.DataFrame(rows), human


def test_item_alignment_is_one_minus_absolute_gap_and_broadcasts_no_country():
    scores, human = fake_scores()
    table = item_alignment(scores)
    default = table[table["condition"] == "default_en"]
    assert len(default) == len(COUNTRIES) * len(ITEMS)  # the NONE answer compared with every country
    for _, r in default.iterrows():
        assert r["alignment"] == pytest.approx(1 - abs(0.5 - human[(r["country"], r["item_id"])]))
    grid = table[table["condition"] == "persona_grid"]
    assert set(grid["alignment"].round(9)) == {0.95, 0.8}


def test_dual_evaluation_on_a_fake_study_finds_the_planted_gap():
    scores, human = fake_scores()
    result = dual_evaluation(types.SimpleNamespace(scores=scores), n_boot=200, seed=0)
    syn = result["synergy"].set_index(["contrast", "language"])
    # asked in own language: gap 0.05; in English or the other language: 0.2 -> +0.15 exactly, no spread
    assert syn.loc[("vs_english", "overall"), "estimate"] == pytest.approx(0.15)
    assert syn.loc[("vs_other", "overall"), "estimate"] == pytest.approx(0.15)
    assert syn.loc[("vs_english", "overall"), "n_countries"] == 2  # USA's own language is English
    cond = result["conditions"].set_index("condition")
    assert set(cond.index) == set(THREE_CONDITIONS)
    foreign = [(c, i) for c in ("JPN", "MEX") for i in ITEMS]
    assert cond.loc[THREE_CONDITIONS[0], "estimate"] == pytest.approx(np.mean([1 - abs(0.5 - human[k]) for k in foreign]))
    assert cond.loc[THREE_CONDITIONS[2], "estimate"] == pytest.approx(0.95)
    text = format_dual(result)
    assert "Synergy" in text and "translated" in text


def test_default_only_run_compares_the_no_country_answer_with_every_country():
    from scipy.stats import pearsonr

    from wvsalign.pipeline import _default_for_every_country

    rng = np.random.default_rng(3)
    human = pd.DataFrame([{"model": "human", "country": c, "item_id": i, "category": "x", "mean_score": rng.uniform()}
                          for c in ("JPN", "MEX") for i in ITEMS])
    model = pd.DataFrame([{"model": "m", "country": "NONE", "item_id": i, "category": "x", "mean_score": rng.uniform()}
                          for i in ITEMS])
    out = _default_for_every_country(pd.concat([human, model], ignore_index=True))
    copies = out[out["model"] == "m"]
    assert sorted(copies["country"].unique()) == ["JPN", "MEX"] and len(copies) == 2 * len(ITEMS)
    from wvsalign import stats

    r = stats.alignment(out, by="category", seed=0)
    pairs = copies.merge(human, on=["country", "item_id"])
    assert r["estimate"].iloc[0] == pytest.approx(pearsonr(pairs["mean_score_x"], pairs["mean_score_y"])[0])
    # a run with country rows is left alone
    mixed = pd.concat([human, model, model.assign(country="JPN")], ignore_index=True)
    assert _default_for_every_country(mixed) is mixed
