"""The ``native`` language choice: each country in its main interview language where a translation is shipped."""
from __future__ import annotations

import csv
from importlib import resources

import pytest

from wvsalign.contracts import NO_COUNTRY
from wvsalign.errors import ConfigError, InputError
from wvsalign.prompts import build_prompts
from wvsalign.prompts.translations import builtin_languages, translation_for
from wvsalign.survey.items import ItemBank

COUNTRIES = ["JPN", "MEX", "ARG", "USA", "NLD", "EGY"]


def _registry_languages() -> dict[str, str]:
    """Main interview language per ISO3, read straight from the CSV (independent of Countries)."""
    text = resources.files("wvsalign").joinpath("data/countries.csv").read_text(encoding="utf-8")
    return {row["iso3"]: row["languages"].split(";")[0] for row in csv.DictReader(text.splitlines())}


@pytest.fixture(scope="module")
def bank():
    return ItemBank.wvs7().filter(ids=["Q46", "Q57"])


def test_native_persona_asks_each_country_in_its_language(bank):
    prompts = build_prompts(bank, COUNTRIES, templates=["persona"], languages="native")
    main = _registry_languages()
    shipped = set(builtin_languages())
    expected = {c: (main[c] if main[c] in shipped else "en") for c in COUNTRIES}
    assert expected["NLD"] == "en" and expected["JPN"] == "ja" and expected["EGY"] == "ar"  # the test's premise
    got = prompts.groupby("country")["language"].agg(set).to_dict()
    assert got == {c: {lang} for c, lang in expected.items()}
    assert len(prompts) == len(COUNTRIES) * 2
    # the text is the one of that language: the stem of the language's own file opens the prompt
    for (country, item), row in prompts.set_index(["country", "item_id"]).iterrows():
        words = translation_for(expected[country])
        assert row["user"].startswith(words.item_text({i.item_id: i for i in bank}[item]).stem)
    # the same prompt as asking that language explicitly (same id)
    ja = build_prompts(bank, ["JPN"], templates=["persona"], languages="ja")
    assert set(ja["prompt_id"]) == set(prompts.loc[prompts["country"] == "JPN", "prompt_id"])


def test_native_default_template_is_one_prompt_per_country(bank):
    prompts = build_prompts(bank, ["MEX", "ARG", "JPN"], templates=["default"], languages="native")
    assert NO_COUNTRY not in set(prompts["country"])
    assert len(prompts) == 3 * 2
    # countries sharing a language share the text, and it names no country
    mex = prompts[prompts["country"] == "MEX"].set_index("item_id")["user"]
    arg = prompts[prompts["country"] == "ARG"].set_index("item_id")["user"]
    assert mex.equals(arg)
    es = build_prompts(bank, templates=["default"], languages="es").set_index("item_id")["user"]
    assert mex.sort_index().equals(es.sort_index())


def test_native_next_to_english_builds_no_duplicate(bank):
    both = build_prompts(bank, ["USA", "JPN"], templates=["persona"], languages=["en", "native"])
    assert both["prompt_id"].is_unique
    # en for both countries plus ja for JPN; USA's native prompt is its English one
    assert sorted(both.groupby("language").size().items()) == [("en", 4), ("ja", 2)]


def test_native_needs_countries(bank):
    with pytest.raises(InputError, match="native"):
        build_prompts(bank, templates=["default"], languages="native")


def test_run_config_accepts_native_and_refuses_unknown():
    from wvsalign.pipeline import RunConfig, _check_variants

    _check_variants(RunConfig.from_dict({"languages": "native,en"}))
    with pytest.raises(ConfigError, match="native"):
        _check_variants(RunConfig.from_dict({"languages": "xx"}))


def test_study_condition_may_ask_native():
    from wvsalign.study.spec import StudySpec

    spec = StudySpec.from_dict({
        "name": "t", "models": [{"name": "m", "model": "smollm2-135m"}],
        "conditions": {"translated": {"templates": ["default"], "languages": "native"}},
        "countries": ["JPN"], "demo": True, "human": "synthetic",
    })
    (_, _, config), = spec.plan("/tmp/unused_study_dir")
    assert config.languages == ["native"]
