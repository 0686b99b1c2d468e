"""Quality checks on every shipped translation (``wvsalign/data/translations/<lang>.yaml``).

The files are found when the tests run, so a language added later is checked too. Each check
is a function that returns a list of problems (an empty list: the file passes); the
``test_check_*`` tests at the end corrupt a copy of a shipped file and show that each check
catches the corruption, so none of them can pass vacuously.

Checks, per language:

* coverage: every item of the bank (239) is translated, with every option label (the bare
  numbers 2..9 of 10-point scales excepted, which must not be listed), or is named in the
  file's ``missing:`` list; the file opens with a comment saying how it was made;
* wording: every format word, answer prefix, template and instruction of ``en.yaml``, with the
  same placeholders and template positions (answer prefixes: none, and empty exactly where
  English's is); the names of all default countries;
* scales: items that share their English labels share their translated labels, and no item
  shows two options with the same label;
* stems name no numbers the English stem does not name (the options may be reordered);
* no English left: ``lingua-language-detector`` (offline, restricted to English and the shipped
  languages) detects the file's language on each stem, template and instruction; each
  distinct set of option labels is not detected as English (labels are short and shared
  between related languages: Persian labels are largely Arabic loanwords, Japanese ones
  Chinese characters); a label of two or more words must not equal its English label;
  strings shorter than :data:`SHORT` characters may fail detection, at most
  :data:`SHORT_TOLERANCE` of them per file (short strings give the detector little to go on);
* scoring: prompts in the language keep ASCII number and letter labels, and the scoring rule
  still tells "1" from "10" (scored with the end of the answer exactly where one label's
  tokens are a prefix of another's);
* text: no bidirectional control characters anywhere (right-to-left text, ar and fa, is
  stored in logical order and needs none), prompts contain each stem and label unchanged,
  and the country sentence still closes the user message so that the prompts of one item
  share their prefix; with the real tokenizers (slow) the prompts survive encoding and
  decoding byte for byte.
"""
from __future__ import annotations

import copy
import functools
import string
import unicodedata
from pathlib import Path

import pytest

from wvsalign import _yaml
from wvsalign.prompts import build_prompts
from wvsalign.prompts.formats import render_prompts
from wvsalign.prompts.options import is_bare_number
from wvsalign.prompts.translations import parse_translation
from wvsalign.survey.countries import Countries
from wvsalign.survey.items import ItemBank

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "wvsalign" / "data" / "translations"
LANGUAGES = sorted(p.stem for p in FOLDER.glob("*.yaml") if p.stem != "en")
#: strings shorter than this (in characters) may be misdetected by the language identifier
SHORT = 30
#: at most this many short strings per file may be detected as another language
SHORT_TOLERANCE = 5
#: Unicode bidirectional formatting characters (LRM, RLM, ALM, embeddings, overrides, isolates)
BIDI_CONTROLS = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
TEMPLATES = ["persona", "default", "third_person", "persona_system"]


@functools.lru_cache(maxsize=None)
def bank() -> ItemBank:
    return ItemBank.wvs7()


@functools.lru_cache(maxsize=None)
def english() -> dict:
    return _yaml.load_file(FOLDER / "en.yaml", what="translation")


@functools.lru_cache(maxsize=None)
def _raw(language: str) -> dict:
    return _yaml.load_file(FOLDER / f"{language}.yaml", what="translation")


def raw(language: str) -> dict:
    """A fresh copy of the parsed file (tests may corrupt it)."""
    return copy.deepcopy(_raw(language))


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _template_text(spec) -> tuple[str, str]:
    if isinstance(spec, dict):
        return spec.get("text") or "", str(spec.get("position", "end"))
    return spec or "", "end"


def _strings(node, where=""):
    """Every string in a parsed file, with where it is."""
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{where}[{i}]")


# ---- the checks: each returns a list of problems ------------------------------------------
def coverage_problems(data: dict, language: str) -> list[str]:
    problems = []
    if data.get("language") != language:
        problems.append(f"language is {data.get('language')!r}, expected {language!r} (the file name)")
    items = data.get("items") or {}
    missing = data.get("missing", [])  # absent: nothing is missing, so every item must be there
    if not isinstance(missing, list):
        problems.append("'missing:' is not a list of item ids")
        missing = []
    ids = {item.item_id for item in bank()}
    for key in sorted(set(map(str, items)) - ids):
        problems.append(f"items.{key}: not an item of the bank")
    for key in sorted(set(missing) - ids):
        problems.append(f"missing: {key} is not an item of the bank")
    for item in bank():
        if item.item_id in missing:
            if item.item_id in items:
                problems.append(f"{item.item_id}: both translated and listed as missing")
            continue
        spec = items.get(item.item_id)
        if not isinstance(spec, dict):
            problems.append(f"{item.item_id}: not translated and not listed under 'missing:'")
            continue
        if not isinstance(spec.get("stem"), str) or not spec["stem"].strip():
            problems.append(f"{item.item_id}: empty stem")
        options = {int(k): v for k, v in (spec.get("options") or {}).items()}
        for code, label in zip(item.codes, item.labels):
            given = options.pop(code, None)
            if is_bare_number(label):
                if given is not None:
                    problems.append(f"{item.item_id}: option {code} is a bare scale point; leave it out")
            elif not isinstance(given, str) or not given.strip():
                problems.append(f"{item.item_id}: no label for option {code} ({label!r})")
        for code in options:
            problems.append(f"{item.item_id}: option code {code} is not in the bank")
    return problems


def header_problems(text: str) -> list[str]:
    head = [line for line in text.splitlines()[:15] if line.startswith("#")]
    if len(head) < 2:
        return ["the file does not open with a comment saying how it was made"]
    return []


def wording_problems(data: dict) -> list[str]:
    problems = []
    en = english()
    fmt = data.get("format") or {}
    for key in en["format"]:
        if not isinstance(fmt.get(key), str) or not fmt[key].strip():
            problems.append(f"format.{key}: missing")
    prefixes = data.get("answer_prefixes")
    if not isinstance(prefixes, dict):
        problems.append("answer_prefixes: missing")
        prefixes = {}
    for name, en_text in en["answer_prefixes"].items():
        text = prefixes.get(name)
        if not isinstance(text, str):
            problems.append(f"answer_prefixes.{name}: missing")
        elif bool(text.strip()) != bool(en_text.strip()):
            problems.append(f"answer_prefixes.{name}: empty where en.yaml is not, or the reverse")
        elif _fields(text):
            problems.append(f"answer_prefixes.{name}: placeholders {sorted(_fields(text))}, en.yaml has none")
    templates = data.get("templates") or {}
    for name, spec in en["templates"].items():
        if name not in templates:
            problems.append(f"templates.{name}: missing")
            continue
        en_text, en_pos = _template_text(spec)
        text, pos = _template_text(templates[name])
        if _fields(text) != _fields(en_text):
            problems.append(f"templates.{name}: placeholders {sorted(_fields(text))}, en.yaml has {sorted(_fields(en_text))}")
        if text.count("{country}") != en_text.count("{country}"):
            problems.append(f"templates.{name}: {{country}} appears {text.count('{country}')} times")
        if pos != en_pos:
            problems.append(f"templates.{name}: position {pos!r}, en.yaml has {en_pos!r}")
        if bool(text.strip()) != bool(en_text.strip()):
            problems.append(f"templates.{name}: empty where en.yaml is not, or the reverse")
    instructions = data.get("instructions") or {}
    for name, styles in en["instructions"].items():
        for style, en_text in styles.items():
            text = (instructions.get(name) or {}).get(style)
            if not isinstance(text, str) or not text.strip():
                problems.append(f"instructions.{name}.{style}: missing")
            elif _fields(text) != _fields(en_text):
                problems.append(f"instructions.{name}.{style}: placeholders {sorted(_fields(text))}, "
                                f"en.yaml has {sorted(_fields(en_text))}")
    countries = data.get("countries") or {}
    for code in Countries.load().set("default"):
        name = countries.get(code)
        if not isinstance(name, str) or not name.strip():
            problems.append(f"countries.{code}: missing")
        elif "{" in name or "}" in name:
            problems.append(f"countries.{code}: braces in a name")
    try:
        parse_translation(data, source="test")
    except Exception as exc:  # the loader's own validation
        problems.append(f"the loader refuses the file: {exc}")
    return problems


def scale_problems(data: dict) -> list[str]:
    """Items that share their English labels must share their translated ones."""
    problems = []
    items = data.get("items") or {}
    seen: dict[tuple, tuple[str, tuple]] = {}
    for item in bank():
        spec = items.get(item.item_id)
        if not isinstance(spec, dict):
            continue
        options = {int(k): v for k, v in (spec.get("options") or {}).items()}
        shown = tuple(options.get(code, label) if not is_bare_number(label) else label
                      for code, label in zip(item.codes, item.labels))
        if len(set(shown)) != len(shown):
            problems.append(f"{item.item_id}: two options share a label {shown}")
        key = tuple(zip(item.codes, item.labels))
        if key in seen and seen[key][1] != shown:
            problems.append(f"{item.item_id}: labels {shown} differ from {seen[key][0]}'s {seen[key][1]} "
                            f"(same English scale)")
        seen.setdefault(key, (item.item_id, shown))
    return problems


def _digits(text: str) -> list[str]:
    """Runs of digits in any script, written in ASCII."""
    runs, current = [], ""
    for ch in text:
        if ch.isdigit():
            current += str(unicodedata.digit(ch))
        elif current:
            runs.append(current)
            current = ""
    return runs + ([current] if current else [])


def number_problems(data: dict) -> list[str]:
    """A stem names no number its English stem does not name (no scale points)."""
    problems = []
    items = data.get("items") or {}
    for item in bank():
        spec = items.get(item.item_id)
        if isinstance(spec, dict):
            extra = set(_digits(spec.get("stem") or "")) - set(_digits(item.stem))
            if extra:
                problems.append(f"{item.item_id}: the stem names number(s) {sorted(extra)}")
    return problems


def bidi_problems(data: dict) -> list[str]:
    problems = []
    for where, text in _strings(data):
        bad = sorted({f"U+{ord(c):04X}" for c in text if c in BIDI_CONTROLS})
        if bad:
            problems.append(f"{where}: bidi control character(s) {bad}")
        if unicodedata.normalize("NFC", text) != text:
            problems.append(f"{where}: not in Unicode normal form NFC")
    return problems


@functools.lru_cache(maxsize=None)
def detector():
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = {"en", *LANGUAGES}
    return LanguageDetectorBuilder.from_iso_codes_639_1(
        *[getattr(IsoCode639_1, code.upper()) for code in sorted(codes)]
    ).build()


def language_problems(data: dict, language: str) -> tuple[list[str], list[str]]:
    """(problems, tolerated): strings detected as another language; short ones are tolerated
    up to :data:`SHORT_TOLERANCE`."""
    texts, label_sets = [], {}
    items = data.get("items") or {}
    for item in bank():
        spec = items.get(item.item_id)
        if not isinstance(spec, dict):
            continue
        texts.append((f"{item.item_id}.stem", spec.get("stem") or ""))
        labels = [v for v in (spec.get("options") or {}).values() if isinstance(v, str)]
        label_sets.setdefault(" / ".join(labels), item.item_id)
        english_labels = {label.casefold() for label in item.labels}
        for label in labels:
            if len(label.split()) >= 2 and label.casefold() in english_labels:
                texts.append((f"{item.item_id}.options ({label!r} is the English label)", "English"))
    for name, spec in (data.get("templates") or {}).items():
        text = _template_text(spec)[0].replace("{country}", "")
        if text.strip():
            texts.append((f"templates.{name}", text))
    for name, styles in (data.get("instructions") or {}).items():
        for style, text in styles.items():
            texts.append((f"instructions.{name}.{style}", text.replace("{first}", "").replace("{last}", "")))
    want = language.upper()
    problems, tolerated = [], []
    # option labels are short and shared between related languages (Persian labels are
    # largely Arabic loanwords, Japanese ones Chinese characters): each distinct label set
    # must not read as English, rather than read as the file's language
    for joined, item_id in label_sets.items():
        found = detector().detect_language_of(joined)
        if found is not None and found.iso_code_639_1.name == "EN":
            (tolerated if len(joined) < SHORT else problems).append(f"{item_id}.options: detected EN: {joined!r}")
    for where, text in texts:
        if text == "English":  # a multi-word label copied from the bank
            problems.append(f"{where}")
            continue
        found = detector().detect_language_of(text)
        code = found.iso_code_639_1.name if found is not None else None
        if code != want:
            (tolerated if len(text) < SHORT else problems).append(f"{where}: detected {code}: {text!r}")
    if len(tolerated) > SHORT_TOLERANCE:
        problems.extend(tolerated)
    return problems, tolerated


def _prompts(language: str, items, **kw):
    kw.setdefault("templates", TEMPLATES)
    return render_prompts(build_prompts(bank().filter(ids=items), ["USA", "JPN", "EGY", "IRN"], languages=[language], answer_prefixes=["none"],
                                        **kw))  # plain format (no tokenizer)


def prompt_problems(df, words) -> list[str]:
    """Stems and labels appear unchanged in the prompts ``df`` of language ``words``; the
    country sentence closes the question, so the prompts of one item share their prefix."""
    problems = []
    for row in df.itertuples():
        text = words.item_text(bank()[row.item_id])
        if not text.stem or text.stem not in row.text:
            problems.append(f"{row.item_id}: the stem is not in the prompt unchanged")
        if any(c in BIDI_CONTROLS for c in row.text):
            problems.append(f"{row.item_id}/{row.country}: bidi control characters in the prompt")
        for label, code in zip(row.labels, row.codes):
            if not (label.isascii() and label.isalnum()):
                problems.append(f"{row.item_id}: label {label!r} is not ASCII")
            if f"\n{label}. {text.options[code]}" not in row.text and text.options[code] != label:
                problems.append(f"{row.item_id}: option line '{label}. {text.options[code]}' not in the prompt")
        template = words.template(row.template)
        if row.country != "NONE":
            sentence = template.text.format(country=words.countries[row.country])
            if template.position == "end":
                if not row.text.endswith(f"\n{sentence}\n{words.format['answer']}"):
                    problems.append(f"{row.item_id}/{row.country}: the country sentence does not close the question")
            elif not row.text.startswith(f"{sentence}\n\n{words.format['question']} {text.stem}"):
                problems.append(f"{row.item_id}/{row.country}: the system sentence does not open the prompt")
    for (item_id, template), group in df[df.country != "NONE"].groupby(["item_id", "template"]):
        if words.template(template).position != "end" or len(group) < 2:
            continue
        texts = list(group.text)
        shared = min(next((i for i, (a, b) in enumerate(zip(texts[0], t)) if a != b), min(len(t), len(texts[0])))
                     for t in texts[1:])
        text = words.template(template).text
        sentence = text.format(country=words.countries[group.country.iloc[0]])
        tail = f"{sentence}\n{words.format['answer']}"
        # everything up to the country's name is the same for every country of the item
        needed = len(texts[0]) - len(tail) + len(text.split("{country}")[0])
        if not texts[0].endswith(tail) or shared < needed:
            problems.append(f"{item_id}/{template}: the prompts of different countries share only {shared} "
                            f"characters, not the {needed} before the country")
    return problems


def _language_prompts(language: str, items=None):
    from wvsalign.prompts.translations import translation_for

    words = translation_for(language)
    items = items or [item.item_id for item in bank() if item.item_id in words.items]
    df = render_prompts(build_prompts(bank().filter(ids=items), ["USA", "JPN", "EGY", "IRN"], languages=[language], answer_prefixes=["none"],
                                      templates=TEMPLATES))
    return df, words


# ---- the tests on every shipped language ---------------------------------------------------
needs_files = pytest.mark.skipif(not LANGUAGES, reason="no translation besides en.yaml is shipped")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_item_and_label_present_or_listed_missing(language):
    assert coverage_problems(raw(language), language) == []
    assert header_problems((FOLDER / f"{language}.yaml").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_templates_instructions_format_words_and_countries(language):
    assert wording_problems(raw(language)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_shared_scales_read_the_same(language):
    assert scale_problems(raw(language)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_stems_name_no_scale_numbers(language):
    assert number_problems(raw(language)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_english_left(language):
    problems, tolerated = language_problems(raw(language), language)
    assert problems == []
    assert len(tolerated) <= SHORT_TOLERANCE


@pytest.mark.parametrize("language", LANGUAGES)
def test_text_is_clean_and_prompts_keep_it(language):
    assert bidi_problems(raw(language)) == []
    assert prompt_problems(*_language_prompts(language)) == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("chat", [True, False])
def test_label_tokens_stay_distinct_for_the_scoring_rule(language, chat):
    """With a character-level tokenizer "1" is a prefix of "10": exactly the 10-point items
    are scored with the end of the answer, and every option stays distinct."""
    from wvsalign.inference.scoring import encode_requests
    from wvsalign.inference.testing import tiny_tokenizer

    words = _raw(language).get("items") or {}
    items = [i.item_id for i in bank() if i.item_id in words]
    tok = tiny_tokenizer()
    for style in ("number", "letter"):
        df = render_prompts(build_prompts(bank().filter(ids=items), ["USA"], languages=[language],
                                          templates=["persona"], label_styles=[style]), tok, chat=chat)
        requests = encode_requests(df, tok)
        for row, req in zip(df.itertuples(), requests):
            strings = list(row.continuations)
            expected = any(a != b and b.startswith(a) for a in strings for b in strings)
            assert req.scored_with_end == expected, (row.item_id, style)
            assert len(set(req.continuations)) == len(strings)
        if style == "number" and any(bank()[i].n_options >= 10 for i in items):
            assert any(r.scored_with_end for r in requests)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_real_tokenizers_keep_every_language_intact(model):
    """Every shipped language through the embedded models' tokenizers: the chat prompts decode
    back to the same text, "1"/"10" items are scored with the end of turn, other items not."""
    from wvsalign.inference.models import load_tokenizer
    from wvsalign.inference.scoring import encode_requests

    tok = load_tokenizer(model, progress=False)
    for language in LANGUAGES:
        words = _raw(language).get("items") or {}
        items = [i.item_id for i in bank() if i.item_id in words]
        df = render_prompts(build_prompts(bank().filter(ids=items), ["IRN", "EGY"], languages=[language],
                                          templates=["persona"]), tok)
        requests = encode_requests(df, tok)
        for row, req in zip(df.itertuples(), requests):
            ids = tok(row.text, add_special_tokens=False)["input_ids"]
            assert tok.decode(ids) == row.text, (language, row.item_id)
            assert req.scored_with_end == (bank()[row.item_id].n_options >= 10), (language, row.item_id)


# ---- the checks can fail: corrupt a copy of a shipped file ----------------------------------
def _first() -> str:
    if not LANGUAGES:
        pytest.skip("no translation besides en.yaml is shipped")
    return LANGUAGES[0]


def _translated(data: dict, n_options: int | None = None) -> str:
    for item in bank():
        if item.item_id in (data.get("items") or {}) and (n_options is None or item.n_options == n_options):
            return item.item_id
    pytest.skip("no translated item of that kind")


def test_check_coverage_catches_a_dropped_item_or_label():
    language = _first()
    data = raw(language)
    assert coverage_problems(data, language) == []
    item_id = _translated(data, 4)
    del data["items"][item_id]
    assert coverage_problems(data, language) == [f"{item_id}: not translated and not listed under 'missing:'"]
    data["missing"] = data.get("missing", []) + [item_id]  # listed as missing: accepted
    assert coverage_problems(data, language) == []
    data = raw(language)
    code = bank()[item_id].codes[-1]
    del data["items"][item_id]["options"][code]
    assert coverage_problems(data, language) == [f"{item_id}: no label for option {code} ({bank()[item_id].labels[-1]!r})"]
    data = raw(language)
    ten = _translated(data, 10)
    data["items"][ten]["options"][5] = "5"
    assert coverage_problems(data, language) == [f"{ten}: option 5 is a bare scale point; leave it out"]
    data["missing"] = "Q1"
    data["items"][ten]["options"].pop(5)
    assert coverage_problems(data, language) == ["'missing:' is not a list of item ids"]
    assert header_problems("language: xx\nitems: {}\n") != []


def test_check_wording_catches_placeholders_templates_instructions_countries():
    language = _first()
    data = raw(language)
    assert wording_problems(data) == []
    spec = data["templates"]["persona"]
    data["templates"]["persona"] = spec.replace("{country}", "COUNTRY")
    assert wording_problems(data) == ["templates.persona: placeholders [], en.yaml has ['country']",
                                      "templates.persona: {country} appears 0 times"]
    data = raw(language)
    data["templates"]["persona"] = data["templates"]["persona"] + " {country}"
    assert wording_problems(data) == ["templates.persona: {country} appears 2 times"]
    data = raw(language)
    data["templates"]["persona_system"]["position"] = "end"
    assert wording_problems(data) == ["templates.persona_system: position 'end', en.yaml has 'system'"]
    data = raw(language)
    del data["instructions"]["survey"]["letter"]
    data["instructions"]["survey"]["number"] = data["instructions"]["survey"]["number"].replace("{last}", "")
    assert wording_problems(data) == ["instructions.survey.number: placeholders ['first'], en.yaml has ['first', 'last']",
                                      "instructions.survey.letter: missing"]
    data = raw(language)
    del data["countries"]["IRN"]
    del data["format"]["answer"]
    assert wording_problems(data) == ["format.answer: missing", "countries.IRN: missing"]
    data = raw(language)
    del data["answer_prefixes"]["the_answer_is"]
    data["answer_prefixes"]["none"] = "x"
    assert wording_problems(data) == ["answer_prefixes.none: empty where en.yaml is not, or the reverse",
                                      "answer_prefixes.the_answer_is: missing"]
    data = raw(language)
    data["answer_prefixes"]["answer"] = "{first} "
    assert wording_problems(data)[0] == "answer_prefixes.answer: placeholders ['first'], en.yaml has none"
    data = raw(language)
    del data["answer_prefixes"]
    assert wording_problems(data)[:4] == ["answer_prefixes: missing", "answer_prefixes.none: missing",
                                          "answer_prefixes.answer: missing", "answer_prefixes.the_answer_is: missing"]


def test_check_scales_catches_a_label_that_differs_between_items():
    language = _first()
    data = raw(language)
    assert scale_problems(data) == []
    first, second = "Q1", "Q2"  # both "Very important" ... "Not at all important"
    if not {first, second} <= set(data["items"]):
        pytest.skip("Q1 or Q2 not translated")
    data["items"][second]["options"][2] = data["items"][second]["options"][2] + "!"
    assert len(scale_problems(data)) == 1 and scale_problems(data)[0].startswith("Q2: labels")
    data = raw(language)
    data["items"][first]["options"][2] = data["items"][first]["options"][1]
    assert any(p.startswith("Q1: two options share a label") for p in scale_problems(data))


def test_check_numbers_catches_a_scale_point_in_a_stem():
    language = _first()
    data = raw(language)
    ten = _translated(data, 10)
    data["items"][ten]["stem"] = data["items"][ten]["stem"] + " (1-10)"
    assert number_problems(data) == [f"{ten}: the stem names number(s) ['1', '10']"]
    data["items"][ten]["stem"] = data["items"][ten]["stem"].replace("(1-10)", "(\u06f1-\u06f1\u06f0)")  # Persian digits
    assert number_problems(data) == [f"{ten}: the stem names number(s) ['1', '10']"]
    assert _digits("In the past 12 months") == ["12"]


def test_check_language_catches_english_left_in_a_stem():
    language = _first()
    data = raw(language)
    item_id = _translated(data, 4)
    data["items"][item_id]["stem"] = bank()[item_id].stem
    problems, _ = language_problems(data, language)
    assert problems == [f"{item_id}.stem: detected EN: {bank()[item_id].stem!r}"]
    data = raw(language)
    data["instructions"]["default"]["number"] = english()["instructions"]["default"]["number"]
    assert language_problems(data, language)[0] == [
        f"instructions.default.number: detected EN: {english()['instructions']['default']['number']!r}"]
    data = raw(language)
    data["items"]["Q58"]["options"][1] = "Trust completely"
    assert "Q58.options ('Trust completely' is the English label)" in language_problems(data, language)[0]
    data = raw(language)
    data["items"]["Q27"]["options"] = {1: "Agree", 2: "Sort of", 3: "Disagree", 4: "Not at all"}  # one-word English
    assert language_problems(data, language)[0] == [
        "Q27.options: detected EN: 'Agree / Sort of / Disagree / Not at all'"]


def test_check_text_catches_bidi_controls_and_a_sentence_that_does_not_close():
    language = _first()
    data = raw(language)
    item_id = _translated(data)
    data["items"][item_id]["stem"] = "\u202b" + data["items"][item_id]["stem"] + "\u202c"
    assert bidi_problems(data) == [f"items.{item_id}.stem: bidi control character(s) ['U+202B', 'U+202C']"]
    data["items"][item_id]["stem"] = unicodedata.normalize("NFD", "é")
    assert bidi_problems(data) == [f"items.{item_id}.stem: not in Unicode normal form NFC"]


def test_check_prompts_catches_mangled_text_and_a_sentence_that_does_not_close():
    """Prompts whose text was reordered (as a visual-order bidi rendering would), given control
    characters, or with the country sentence moved to the front fail the check."""
    language = _first()
    item_id = _translated(raw(language), 4)
    df, words = _language_prompts(language, [item_id])
    assert prompt_problems(df, words) == []
    stem = words.item_text(bank()[item_id]).stem
    bad = df.copy()
    bad.loc[bad.index[0], "text"] = bad.text.iloc[0].replace(stem, stem[::-1])
    assert f"{item_id}: the stem is not in the prompt unchanged" in prompt_problems(bad, words)
    bad = df.copy()
    bad.loc[bad.index[0], "text"] = "\u200f" + bad.text.iloc[0]
    assert any("bidi control" in p for p in prompt_problems(bad, words))
    bad = df.copy()
    persona = bad[(bad.template == "persona") & (bad.country == "IRN")].index[0]
    sentence = words.template("persona").text.format(country=words.countries["IRN"])
    answer = words.format["answer"]
    moved = sentence + "\n" + bad.loc[persona, "text"].replace(f"\n{sentence}\n{answer}", f"\n{answer}")
    bad.loc[persona, "text"] = moved
    found = prompt_problems(bad, words)
    assert f"{item_id}/IRN: the country sentence does not close the question" in found
    assert any(p.startswith(f"{item_id}/persona: the prompts of different countries share only 0") for p in found)
    bad = df.copy()
    bad.at[bad.index[0], "labels"] = ["\u0661", "\u0662", "\u0663", "\u0664"]  # Arabic-Indic digits
    assert f"{item_id}: label '\u0661' is not ASCII" in prompt_problems(bad, words)
