"""The prompt builder: variants, stable ids, codes travelling with labels, formats, translations."""
from __future__ import annotations

import configparser
import hashlib
import os
import re
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign import contracts  # noqa: E402
from wvsalign.errors import InputError  # noqa: E402
from wvsalign.prompts import NO_COUNTRY, build_prompts, get_format, prompt_id, render_prompts  # noqa: E402
from wvsalign.prompts.options import is_scale_item  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402

CHATML = (
    "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n'}}{% endif %}"
)
NO_SYSTEM = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
    "<turn>{{ m['role'] }}: {{ m['content'] }}</turn>\n{% endfor %}{% if add_generation_prompt %}<turn>assistant: {% endif %}"
)


@pytest.fixture(scope="module")
def bank() -> ItemBank:
    return ItemBank.wvs7()


@pytest.fixture(scope="module")
def small(bank) -> ItemBank:
    """A 4-point item, a 3-option item with its own ordinal order, and a 10-point scale item."""
    scale = next(it.item_id for it in bank if is_scale_item(it))
    return bank.filter(ids=["Q46", "Q56", scale])


def _tokenizer(template: str | None):
    """A small word-level tokenizer with the given chat template (None: no template)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"<unk>": 0, "<|im_end|>": 1}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<|im_end|>")
    tok.chat_template = template
    return tok


def _build(*args, tokenizer=None, chat=None, **kwargs):
    """Model-neutral prompts rendered for ``tokenizer`` (None: the plain format), without an answer
    prefix unless asked (these tests check the formats' layout; tests/test_answer_prefix.py the prefixes)."""
    kwargs.setdefault("answer_prefixes", ["none"])
    return render_prompts(build_prompts(*args, **kwargs), tokenizer, chat=chat)


def _option_lines(text: str) -> list[str]:
    """The option lines of a prompt: the block between the first and second blank lines."""
    return text.split("\n\n")[1].split("\n")


# ---- table shape ---------------------------------------------------------------------------
def test_cross_product_size_and_default_template(small):
    small = small.filter(ids=["Q46", "Q56"])  # no scale item: number labels take every order
    countries = ["USA", "JPN", "NGA"]
    df = _build(
        small, countries, templates=["persona", "third_person", "default"], instructions=["default", "survey", "direct"],
        label_styles=["number", "letter"], option_orders=["original", "reversed", "shuffled"],
    )
    variants = 3 * 2 * 3
    assert len(df) == len(small) * variants * (2 * len(countries) + 1)
    default = df[df.template == "default"]
    assert (default.country == NO_COUNTRY).all()
    assert len(default) == len(small) * variants
    assert default.groupby(["item_id", "instruction", "label_style", "option_order"]).size().eq(1).all()
    assert set(df[df.template != "default"].country) == set(countries)
    assert df.prompt_id.is_unique and df.text.is_unique
    contracts.check(df, "prompts")


def test_ids_are_stable_across_builds(small):
    kwargs = dict(label_styles="letter", option_orders=["original", "shuffled"], seed=3)
    a = _build(small, ["USA", "DEU"], **kwargs)
    b = _build(small, ["USA", "DEU"], **kwargs)
    assert a.prompt_id.tolist() == b.prompt_id.tolist()
    assert all(re.fullmatch(r"[0-9a-f]{16}", pid) for pid in a.prompt_id)
    # the seed changes only shuffled prompts
    c = _build(small, ["USA", "DEU"], **{**kwargs, "seed": 4})
    orig = a.option_order == "original"
    assert a[orig].prompt_id.tolist() == c[orig.to_numpy()].prompt_id.tolist()
    assert set(a[~orig].prompt_id).isdisjoint(c[~orig.to_numpy()].prompt_id)


def test_every_defining_field_changes_the_id(bank, tmp_path):
    """Prompts that differ in one defining field (and nothing else the builder sets) get different ids;
    the model's format is not part of a prompt (one table serves every model)."""
    one = bank.filter(ids=["Q46"])
    base = build_prompts(one, ["USA"])
    reworded = tmp_path / "en_reworded.yaml"  # same instruction name, other wording: only the text differs
    reworded.write_text("language: en\ninstructions:\n  default: {number: 'Give the number only.'}\n", encoding="utf-8")
    german = tmp_path / "de.yaml"
    german.write_text(GERMAN, encoding="utf-8")
    variants = {
        "item_id": build_prompts(bank.filter(ids=["Q47"]), ["USA"]),
        "country": build_prompts(one, ["JPN"]),
        "template": build_prompts(one, ["USA"], templates="third_person"),
        "instruction": build_prompts(one, ["USA"], instructions="direct"),
        "label_style": build_prompts(one, ["USA"], label_styles="letter"),
        "option_order": build_prompts(one, ["USA"], option_orders="reversed"),
        "language": build_prompts(one, ["USA"], languages="de", translations=[german]),
        "user": build_prompts(one, ["USA"], translations=[reworded]),
        "system": build_prompts(one, ["USA"], templates="persona_system"),
    }
    columns = ["item_id", "country", "template", "instruction", "label_style", "option_order", "language", "user",
               "system"]
    for field, other in variants.items():
        assert len(other) == 1
        differ = [c for c in columns if other[c].iloc[0] != base[c].iloc[0]]
        assert field in differ, field
        assert other.prompt_id.iloc[0] != base.prompt_id.iloc[0], field
    # and on the row itself: a change of any one defining value alone changes the id
    row = base.iloc[0].to_dict()
    for field in columns + ["labels", "codes", "question_word", "answer_word"]:
        value = row[field]
        changed = [*value[::-1], value[0]] if isinstance(value, list) else f"{value}x"
        assert prompt_id({**row, field: changed}) != row["prompt_id"], field
    assert prompt_id(dict(row)) == row["prompt_id"]
    # rendering for a model changes neither the rows nor the id
    chat, plain = render_prompts(base, _tokenizer(CHATML)), render_prompts(base)
    assert chat.prompt_format.iloc[0] != plain.prompt_format.iloc[0] and chat.text.iloc[0] != plain.text.iloc[0]
    assert chat.prompt_id.tolist() == plain.prompt_id.tolist() == base.prompt_id.tolist()
    pd.testing.assert_frame_equal(chat[list(base.columns)], base)


def test_tokenizer_argument_is_deprecated_and_ignored(small):
    with pytest.warns(DeprecationWarning, match="model-neutral"):
        old = build_prompts(small, ["USA"], tokenizer=_tokenizer(CHATML))
    pd.testing.assert_frame_equal(old, build_prompts(small, ["USA"]))


# ---- options ---------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["original", "reversed", "shuffled"])
@pytest.mark.parametrize("style", ["number", "letter"])
def test_codes_travel_with_their_labels(bank, order, style):
    if style == "number" and order != "original":  # refused on scale items (see below)
        bank = bank.filter(ids=[it.item_id for it in bank if not is_scale_item(it)])
    df = _build(bank, ["USA", "JPN"], label_styles=style, option_orders=order, seed=11)
    for row in df.itertuples():
        item = bank[row.item_id]
        assert sorted(row.codes) == sorted(item.codes)
        if order == "original":
            assert list(row.codes) == list(item.codes)
        if order == "reversed":
            assert list(row.codes) == list(item.codes)[::-1]
        expected_labels = [str(i + 1) for i in range(item.n_options)] if style == "number" else \
            [chr(ord("A") + i) for i in range(item.n_options)]
        assert list(row.labels) == expected_labels
        lines = _option_lines(row.text.split("Question: ", 1)[1])
        assert len(lines) == item.n_options
        label_of = dict(zip(item.codes, item.labels))
        position = {code: i + 1 for i, code in enumerate(item.codes)}
        for line, label, code in zip(lines, row.labels, row.codes):
            assert line == label or line.startswith(f"{label}. ")
            words = label_of[code]
            if not words.isdigit():
                assert words in line  # the option's words sit on the line of its label
            if is_scale_item(item) and not (style == "number" and order != "shuffled"):
                assert line.startswith(f"{label}. {position[code]}")  # letters name the scale point


def test_shuffled_order_is_seeded_per_item_and_shared_by_countries(bank):
    df = _build(bank, ["USA", "JPN", "BRA"], label_styles="letter", option_orders="shuffled", seed=5)
    per_item = df.groupby("item_id")["codes"].apply(lambda s: {tuple(c) for c in s})
    assert per_item.map(len).eq(1).all()  # every country sees the same order
    other = _build(bank, ["USA"], label_styles="letter", option_orders="shuffled", seed=6)
    other = other.set_index("item_id")["codes"]
    same = _build(bank, ["USA"], label_styles="letter", option_orders="shuffled", seed=5)
    same = same.set_index("item_id")["codes"]
    ten = [it.item_id for it in bank if it.n_options >= 10]
    assert any(list(other[i]) != list(same[i]) for i in ten)  # another seed, another permutation
    assert any(list(same[i]) != sorted(same[i]) for i in ten)  # a real shuffle


def test_scale_items_show_words_only_at_the_ends(bank):
    item = next(it for it in bank if is_scale_item(it))
    first, last = item.labels[0], item.labels[-1]
    number = _build(bank.filter(ids=[item.item_id]), ["USA"]).iloc[0]
    lines = _option_lines(number.text.split("Question: ", 1)[1])
    assert lines[0] == f"1. {first}" and lines[-1] == f"{item.n_options}. {last}"
    assert lines[1:-1] == [str(i) for i in range(2, item.n_options)]
    letter = _build(bank.filter(ids=[item.item_id]), ["USA"], label_styles="letter").iloc[0]
    lines = _option_lines(letter.text.split("Question: ", 1)[1])
    assert lines[0] == f"A. 1 ({first})" and lines[1] == "B. 2" and lines[-1] == f"J. 10 ({last})"
    rev = _build(bank.filter(ids=[item.item_id]), ["USA"], label_styles="letter", option_orders="reversed")
    lines = _option_lines(rev.iloc[0].text.split("Question: ", 1)[1])
    assert lines[0] == f"A. 10 ({last})" and lines[1] == "B. 9" and lines[-1] == f"J. 1 ({first})"
    assert list(rev.iloc[0].codes) == list(range(10, 0, -1))


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_number_labels_on_scale_items_need_the_original_order(bank, order):
    """Renumbered scale points are ambiguous (reversed: label 2 is point 9; shuffled: "1. 5"): refused."""
    scale = [it.item_id for it in bank if is_scale_item(it)]
    with pytest.raises(InputError) as err:
        _build(bank, ["USA"], option_orders=["original", order])
    message = str(err.value)
    assert f"number labels on scale items in the {order} option order" in message
    assert f"{len(scale)} scale item(s) asked for ({', '.join(scale[:5])}, ...)" in message
    assert "label_styles=['letter']" in message and "option_orders=['original']" in message
    with pytest.raises(InputError, match=r"\(Q164\)"):
        _build(bank.filter(ids=["Q46", "Q164"]), ["USA"], label_styles=["letter", "number"], option_orders=order)
    # letter labels, or items without a numeric scale, take every order
    assert len(_build(bank.filter(ids=["Q46", "Q164"]), ["USA"], label_styles="letter", option_orders=order)) == 2
    assert len(_build(bank.filter(ids=["Q46"]), ["USA"], option_orders=order)) == 1


# ---- templates and countries -----------------------------------------------------------------
def test_country_sentence_closes_the_prompt_so_countries_share_a_prefix(small):
    df = _build(small, ["USA", "JPN", "NGA", "BRA"], templates=["persona", "third_person", "persona_system"])
    for (template, _), group in df.groupby(["template", "item_id"]):
        common = os.path.commonprefix(group.text.tolist())
        if template == "persona_system":
            assert common == "Imagine you are a person from "  # the persona opens the text
        else:
            assert common.endswith(" from ")  # everything up to the country name is shared
            assert len(common) > 0.7 * group.text.str.len().min()
    usa = df[(df.country == "USA") & (df.template == "persona")].iloc[0].text
    assert usa.endswith("one option only.\nImagine you are a person from the United States.\nAnswer:")
    third = df[(df.country == "JPN") & (df.template == "third_person")].iloc[0].text
    assert third.endswith("\nHow would a typical person from Japan answer?\nAnswer:")


def test_english_country_names_take_the_article_where_needed(small):
    df = _build(small.filter(ids=["Q46"]), ["USA", "NLD", "PHL", "MDV", "JPN", "NGA", "HKG"])
    sentence = {row.country: row.text.rsplit("\n", 2)[-2] for row in df.itertuples()}
    assert sentence["USA"] == "Imagine you are a person from the United States."
    assert sentence["NLD"] == "Imagine you are a person from the Netherlands."
    assert sentence["PHL"].endswith("from the Philippines.") and sentence["MDV"].endswith("from the Maldives.")
    assert sentence["JPN"] == "Imagine you are a person from Japan."
    assert sentence["NGA"].endswith("from Nigeria.") and sentence["HKG"].endswith("from Hong Kong.")


def test_bad_variants_are_named(small):
    with pytest.raises(InputError, match="no template 'persnoa'"):
        _build(small, ["USA"], templates="persnoa")
    with pytest.raises(InputError, match="no instruction 'polite'"):
        _build(small, ["USA"], instructions="polite")
    with pytest.raises(InputError, match="unknown label style 'roman'"):
        _build(small, ["USA"], label_styles="roman")
    with pytest.raises(InputError, match="unknown option order 'random'"):
        _build(small, ["USA"], option_orders="random")
    with pytest.raises(InputError, match=r"templates \['persona'\] need countries"):
        _build(small, None)
    with pytest.raises(InputError, match="unknown country 'Atlantis'"):
        _build(small, ["Atlantis"])
    with pytest.raises(InputError, match="no translation for language 'xx'"):
        _build(small, ["USA"], languages="xx")


# ---- formats ---------------------------------------------------------------------------------
def test_plain_format_continuations_and_label_end(small):
    df = _build(small, ["USA"], label_styles=["number", "letter"])
    for row in df.itertuples():
        assert row.text.startswith("Question: ") and row.text.endswith("\nAnswer:")
        assert row.continuations == [f" {label}" for label in row.labels]
        assert (row.label_end, row.prompt_format, row.chat) == ("\n", "plain", False)
    tok = _tokenizer(None)  # a tokenizer without a chat template gives plain prompts too
    assert _build(small, ["USA"], tokenizer=tok).text.tolist() == df[df.label_style == "number"].text.tolist()


def test_chat_format_uses_the_tokenizer_template(small):
    tok = _tokenizer(CHATML)
    df = _build(small, ["USA", "JPN"], templates=["persona", "persona_system", "default"], tokenizer=tok)
    digest = hashlib.sha1(CHATML.encode()).hexdigest()[:8]
    assert (df.prompt_format == f"chat:{digest}").all() and df.chat.all()
    assert (df.label_end == "<|im_end|>").all()
    for row in df.itertuples():
        assert row.continuations == list(row.labels)
        assert row.text.endswith("<|im_start|>assistant\n")
        user = row.text.split("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
        system = re.findall(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", row.text, flags=re.S)
        messages = ([{"role": "system", "content": system[0]}] if system else []) + [{"role": "user", "content": user}]
        assert row.text == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        answered = tok.apply_chat_template(messages + [{"role": "assistant", "content": row.labels[0]}], tokenize=False)
        assert answered.startswith(row.text + row.continuations[0] + row.label_end)
        if row.template == "persona_system":
            assert system and row.country in {"USA", "JPN"} and "person from" in system[0]
            assert "person from" not in user
        else:
            assert not system
    plain = _build(small, ["USA"], tokenizer=tok, chat=False)
    assert (plain.prompt_format == "plain").all()


def test_chat_format_errors():
    with pytest.raises(InputError, match="chat=True needs a tokenizer"):
        get_format(None, chat=True)
    with pytest.raises(InputError, match="has no chat template"):
        get_format(_tokenizer(None), chat=True)


def test_template_without_system_role(small):
    tok = _tokenizer(NO_SYSTEM)
    fmt = get_format(tok)
    assert fmt.label_end == "</turn>"
    ok = _build(small, ["USA"], tokenizer=tok)
    assert ok.text.iloc[0].endswith("<turn>assistant: ")
    with pytest.raises(InputError, match=r"cannot render roles \['system', 'user'\]"):
        _build(small, ["USA"], templates="persona_system", tokenizer=tok)


# ---- translations ----------------------------------------------------------------------------
GERMAN = """
language: de
name: Deutsch
format: {question: "Frage:", answer: "Antwort:"}
templates:
  default: ""
  persona: "Stell dir vor, du bist eine Person aus {country}, und gib ihre Antwort."
instructions:
  default: {number: "Antworte nur mit der Nummer einer Option ({first} bis {last}).", letter: "Antworte nur mit dem Buchstaben."}
countries: {USA: den Vereinigten Staaten, DEU: Deutschland}
items:
  Q46:
    stem: "Wie glücklich sind Sie alles in allem?"
    options: {1: Sehr glücklich, 2: Ziemlich glücklich, 3: Nicht sehr glücklich, 4: Überhaupt nicht glücklich}
"""


def test_prompts_from_a_translation_file(bank, tmp_path):
    path = tmp_path / "de.yaml"
    scale = next(it for it in bank if is_scale_item(it))
    stem_only = f"  {scale.item_id}:\n    stem: \"Skala?\"\n    options: {{1: Anfang, {scale.codes[-1]}: Ende}}\n"
    path.write_text(GERMAN + stem_only, encoding="utf-8")
    df = _build(bank.filter(ids=["Q46", scale.item_id]), ["USA", "DEU"], languages=["de", "en"],
                       translations=[path])
    de = df[df.language == "de"]
    assert len(de) == 4 and len(df) == 8
    usa = de[(de.item_id == "Q46") & (de.country == "USA")].iloc[0]
    assert usa.text == (
        "Frage: Wie glücklich sind Sie alles in allem?\n\n1. Sehr glücklich\n2. Ziemlich glücklich\n"
        "3. Nicht sehr glücklich\n4. Überhaupt nicht glücklich\n\nAntworte nur mit der Nummer einer Option (1 bis 4).\n"
        "Stell dir vor, du bist eine Person aus den Vereinigten Staaten, und gib ihre Antwort.\nAntwort:"
    )
    assert list(usa.codes) == [1, 2, 3, 4]
    lines = _option_lines(de[de.item_id == scale.item_id].iloc[0].text)
    assert lines[0] == "1. Anfang" and lines[1] == "2" and lines[-1] == f"{scale.n_options}. Ende"
    en = df[(df.language == "en") & (df.item_id == "Q46")].iloc[0]
    assert en.text.startswith(f"Question: {bank['Q46'].stem}\n\n1. {bank['Q46'].labels[0]}\n")
    assert set(de.prompt_id).isdisjoint(df[df.language == "en"].prompt_id)


def test_missing_translations_name_item_country_and_language(bank, tmp_path):
    path = tmp_path / "de.yaml"
    path.write_text(GERMAN, encoding="utf-8")
    with pytest.raises(InputError, match=r"no translation of item Q1 into language 'de'") as err:
        _build(bank.filter(ids=["Q46", "Q1"]), ["USA"], languages="de", translations=[path])
    assert str(path) in str(err.value)
    with pytest.raises(InputError, match=r"no translation of country JPN \(Japan\) into language 'de'"):
        _build(bank.filter(ids=["Q46"]), ["JPN"], languages="de", translations=[path])
    with pytest.raises(InputError, match="no template 'third_person' in language 'de'"):
        _build(bank.filter(ids=["Q46"]), ["USA"], templates="third_person", languages="de", translations=[path])
    partial = tmp_path / "partial.yaml"
    partial.write_text(GERMAN.replace("4: Überhaupt nicht glücklich", ""), encoding="utf-8")
    with pytest.raises(InputError, match=r"item Q46 in language 'de' lacks a label for option code 4"):
        _build(bank.filter(ids=["Q46"]), ["USA"], languages="de", translations=[partial])


def test_translation_readme_example_builds(bank, tmp_path):
    """The example in wvsalign/data/translations/README.md is a working file."""
    readme = Path(__file__).resolve().parents[1] / "wvsalign" / "data" / "translations" / "README.md"
    example = readme.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "de.yaml"
    path.write_text(example, encoding="utf-8")
    df = _build(bank.filter(ids=["Q46", "Q164"]), ["DEU", "USA"], templates=["persona", "third_person", "default"],
                       languages="de", translations=[path])
    assert len(df) == 2 * (2 + 2 + 1)
    god = df[(df.item_id == "Q164") & (df.template == "default")].iloc[0].text
    assert _option_lines(god)[0] == "1. Überhaupt nicht wichtig" and _option_lines(god)[-1] == "10. Sehr wichtig"
    assert df[df.country == "USA"].text.str.contains("aus den Vereinigten Staaten").all()


def test_translation_readme_is_package_data():
    """Error messages point to wvsalign/data/translations/README.md: setup.cfg installs it."""
    root = Path(__file__).resolve().parents[1]
    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    patterns = [p.strip() for p in cfg["options.package_data"]["wvsalign"].split(",")]
    installed = {p for pattern in patterns for p in (root / "wvsalign").glob(pattern)}
    data = {p for p in (root / "wvsalign" / "data").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert root / "wvsalign" / "data" / "translations" / "README.md" in installed
    assert data <= installed, sorted(str(p) for p in data - installed)


def test_bad_translation_files_are_refused(bank, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GERMAN.replace("aus {country}", "aus {land}"), encoding="utf-8")
    with pytest.raises(InputError, match=r"templates.persona: unknown placeholder\(s\) \['land'\]"):
        _build(bank.filter(ids=["Q46"]), ["USA"], languages="de", translations=[bad])
    nolang = tmp_path / "nolang.yaml"
    nolang.write_text("templates: {}\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing 'language'"):
        _build(bank.filter(ids=["Q46"]), ["USA"], translations=[nolang])


def test_user_file_extends_the_built_in_language(small, tmp_path):
    extra = tmp_path / "en_more.yaml"
    extra.write_text(
        "language: en\ntemplates:\n  citizen: 'Answer as a citizen of {country} would.'\n"
        "instructions:\n  terse: {number: 'Number only.'}\ncountries: {USA: 'the USA'}\n",
        encoding="utf-8",
    )
    df = _build(small, ["USA", "JPN"], templates=["citizen", "persona"], instructions=["terse"],
                       translations=[extra])
    citizen = df[(df.template == "citizen") & (df.country == "USA")].iloc[0].text
    assert "Number only.\nAnswer as a citizen of the USA would.\nAnswer:" in citizen
    assert (df.template == "persona").sum() == 2 * len(small)  # built-in templates stay available


# ---- a real chat template (slow: SmolLM2's tokenizer from its GGUF) ------------------------------
@pytest.mark.slow
def test_smollm2_chat_template(small, tmp_path_factory):
    from wvsalign.inference.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m", cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    df = _build(small, ["USA", "JPN"], templates=["persona", "persona_system"], tokenizer=tok)
    assert (df.label_end == "<|im_end|>").all() and df.chat.all()
    for row in df.itertuples():
        user = row.text.split("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
        messages = [{"role": "user", "content": user}]
        if row.template == "persona_system":
            system = row.text.split("<|im_start|>system\n", 1)[1].split("<|im_end|>", 1)[0]
            messages.insert(0, {"role": "system", "content": system})
            assert system.startswith("Imagine you are a person from")
        assert row.text == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert row.text.endswith("<|im_end|>\n<|im_start|>assistant\n")
        answered = tok.apply_chat_template(messages + [{"role": "assistant", "content": row.labels[-1]}], tokenize=False)
        assert answered.startswith(row.text + row.continuations[-1] + row.label_end)
        # the end of turn is one special token, so "1" + end and "10" + end differ at the second token
        assert tok(row.label_end, add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids("<|im_end|>")]
