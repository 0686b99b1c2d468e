"""Prompt wording per language: templates, instructions, format words, country names, items.

Each language is a YAML file, ``wvsalign/data/translations/<lang>.yaml`` (built in) or any
file a user passes (``build_prompts(..., translations=["my_de.yaml"])``). A user file for a
language that is built in is laid over it key by key, so it can add or change single
templates, instructions, country names or items. Layout (README.md in that folder has a
full example)::

    language: de                  # ISO 639-1 code: the `language` of the prompts
    name: Deutsch
    format: {question: "Frage:", answer: "Antwort:"}
    answer_prefixes:              # what opens the answer (assistant turn / after the answer word)
      {none: "", answer: "Antwort: ", the_answer_is: "Die Antwort ist "}
    templates:                    # country conditioning; {country} = a country name
      default: ""
      persona: "Stell dir vor, du bist eine Person aus {country} ..."
      persona_system: {position: system, text: "..."}
    instructions:                 # per label style; {first}, {last} = first and last label
      default: {number: "Antworte nur mit der Nummer einer Option.", letter: "..."}
    countries: {DEU: Deutschland, USA: den Vereinigten Staaten}   # ISO3 -> name in the sentence
    missing: [Q2]                 # item ids not yet translated (asking for one is an InputError)
    items:
      Q1:
        stem: "Wie wichtig ist Ihnen die Familie?"
        options: {1: Sehr wichtig, 2: Ziemlich wichtig, 3: Nicht sehr wichtig, 4: Überhaupt nicht wichtig}

English (``en``) takes stems and option labels from the item bank and country names from the
registry, except those ``en.yaml`` lists under ``countries:`` (names that take "the" in a
sentence, such as "the United States"); every other language must list each item (and
country) it is asked for, else an :class:`~wvsalign.errors.InputError` names the item (or
country) and the language. The bare numbers of 10-point scales ("2" .. "9") need no
translation.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

from .. import _yaml
from ..errors import InputError
from ..survey.countries import Country
from ..survey.items import Item
from .options import LABEL_STYLES, is_bare_number

#: the language of the item bank's stems and labels and of the registry's country names
BANK_LANGUAGE = "en"
#: where a template's sentence goes: closing the question, or the system message
POSITIONS = ("end", "system")
#: placeholders allowed in each section
PLACEHOLDERS = {"templates": {"country"}, "instructions": {"first", "last"}, "answer_prefixes": set()}
FORMAT_KEYS = ("question", "answer")
SECTIONS = ("language", "name", "format", "answer_prefixes", "templates", "instructions", "countries", "items",
            "missing")


@dataclass(frozen=True)
class Template:
    """A country-conditioning sentence and where it goes (``end`` or ``system``)."""

    name: str
    text: str
    position: str = "end"

    @property
    def needs_country(self) -> bool:
        """True when the sentence names a country (one prompt per country)."""
        return "country" in _fields(self.text)


@dataclass(frozen=True)
class ItemText:
    """An item's stem and option labels (code -> label) in one language."""

    stem: str
    options: Mapping[int, str]


@dataclass(frozen=True)
class Translation:
    """The prompt wording of one language (merged from one or more files)."""

    language: str
    name: str = ""
    sources: tuple[str, ...] = ()
    format: Mapping[str, str] = field(default_factory=dict)
    #: answer prefix name -> the text that opens the answer ("" for none)
    answer_prefixes: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, Template] = field(default_factory=dict)
    instructions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    countries: Mapping[str, str] = field(default_factory=dict)
    items: Mapping[str, ItemText] = field(default_factory=dict)
    #: item ids the file declares as not yet translated (its ``missing:`` list)
    missing: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return ", ".join(self.sources) or f"language {self.language!r}"

    def template(self, name: str) -> Template:
        if name not in self.templates:
            raise InputError(
                f"no template {name!r} in language {self.language!r}; expected one of {sorted(self.templates)}",
                file=self.where,
            )
        return self.templates[name]

    def instruction(self, name: str, label_style: str, *, first: str, last: str) -> str:
        if name not in self.instructions:
            raise InputError(
                f"no instruction {name!r} in language {self.language!r}; expected one of {sorted(self.instructions)}",
                file=self.where,
            )
        wordings = self.instructions[name]
        if label_style not in wordings:
            raise InputError(
                f"instruction {name!r} in language {self.language!r} has no wording for label style {label_style!r}",
                file=self.where,
            )
        return wordings[label_style].format(first=first, last=last)

    def format_word(self, key: str) -> str:
        if key not in self.format:
            raise InputError(f"format word {key!r} missing for language {self.language!r}", file=self.where)
        return self.format[key]

    def answer_prefix(self, name: str) -> str:
        """The text of answer prefix ``name`` (what opens the answer). A file without it (a user file
        written before answer prefixes) still has ``none`` (``""``) and ``answer`` (its format's
        answer word and a space)."""
        if name == "none" and name not in self.answer_prefixes:
            return ""
        if name == "answer" and name not in self.answer_prefixes and "answer" in self.format:
            return self.format["answer"] + " "
        if name not in self.answer_prefixes:
            raise InputError(
                f"no answer prefix {name!r} in language {self.language!r}; expected one of {sorted(self.answer_prefixes)}",
                file=self.where,
            )
        return self.answer_prefixes[name]

    def country_name(self, country: Country) -> str:
        """The country's name as used in this language's template sentences."""
        if country.iso3 in self.countries:
            return self.countries[country.iso3]
        if self.language == BANK_LANGUAGE:
            return country.name
        raise InputError(
            f"no translation of country {country.iso3} ({country.name}) into language {self.language!r}; "
            f"add it under 'countries:'",
            file=self.where,
        )

    def item_text(self, item: Item) -> ItemText:
        """The item's stem and option labels in this language."""
        bank = dict(zip(item.codes, item.labels))
        if item.item_id not in self.items:
            if self.language == BANK_LANGUAGE:
                return ItemText(item.stem, bank)
            listed = " (listed under 'missing:')" if item.item_id in self.missing else ""
            raise InputError(
                f"no translation of item {item.item_id} into language {self.language!r}{listed}; add it under 'items:'",
                file=self.where,
            )
        given = self.items[item.item_id]
        options = {}
        for code, label in bank.items():
            if code in given.options:
                options[code] = given.options[code]
            elif is_bare_number(label):
                options[code] = label
            else:
                raise InputError(
                    f"item {item.item_id} in language {self.language!r} lacks a label for option code {code} "
                    f"({label!r})",
                    file=self.where,
                )
        return ItemText(given.stem, options)

    def merged(self, other: "Translation") -> "Translation":
        """This translation with ``other``'s entries laid over it (same language)."""
        if other.language != self.language:
            raise InputError(f"cannot merge language {other.language!r} into {self.language!r}", file=other.where)
        return replace(
            self,
            name=other.name or self.name,
            sources=self.sources + other.sources,
            format={**self.format, **other.format},
            answer_prefixes={**self.answer_prefixes, **other.answer_prefixes},
            templates={**self.templates, **other.templates},
            instructions={**self.instructions, **other.instructions},
            countries={**self.countries, **other.countries},
            items={**self.items, **other.items},
            missing=tuple(i for i in dict.fromkeys(self.missing + other.missing) if i not in other.items),
        )


# ---- loading ----------------------------------------------------------------------------
def builtin_languages() -> list[str]:
    """Languages with a built-in file in ``wvsalign/data/translations``."""
    folder = resources.files("wvsalign").joinpath("data/translations")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_translation(path: str | Path) -> Translation:
    """Read one translation file."""
    raw = _yaml.load_file(path, what="translation file (YAML; see wvsalign/data/translations/README.md)")
    return parse_translation(raw, source=str(path))


def translation_for(language: str, extra: Iterable[Translation] = ()) -> Translation:
    """The wording of ``language``: the built-in file (if any) with matching ``extra`` files laid over it."""
    parts = []
    if language in builtin_languages():
        ref = resources.files("wvsalign").joinpath(f"data/translations/{language}.yaml")
        raw = _yaml.safe_load(ref.read_text(encoding="utf-8"))
        parts.append(parse_translation(raw, source=f"wvsalign/data/translations/{language}.yaml"))
    parts.extend(t for t in extra if t.language == language)
    if not parts:
        raise InputError(
            f"no translation for language {language!r}; built in: {builtin_languages()}; "
            f"pass a file with translations=[...] (see wvsalign/data/translations/README.md)",
            value=language,
        )
    result = parts[0]
    for part in parts[1:]:
        result = result.merged(part)
    return result


def parse_translation(raw: object, *, source: str) -> Translation:
    """Validate the parsed YAML of a translation file."""
    if not isinstance(raw, Mapping):
        raise InputError("expected a mapping with at least 'language'", file=source)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise InputError(f"unknown section(s) {unknown}; expected some of {list(SECTIONS)}", file=source)
    language = raw.get("language")
    if not isinstance(language, str) or not language.strip():
        raise InputError("missing 'language' (an ISO 639-1 code such as 'de')", file=source)
    fmt = _mapping(raw, "format", source)
    bad_keys = sorted(set(fmt) - set(FORMAT_KEYS))
    if bad_keys:
        raise InputError(f"format: unknown key(s) {bad_keys}; expected some of {list(FORMAT_KEYS)}", file=source)
    prefixes = {
        str(name): _check_placeholders(_text("" if text is None else text, f"answer_prefixes.{name}", source),
                                       "answer_prefixes", f"answer_prefixes.{name}", source)
        for name, text in _mapping(raw, "answer_prefixes", source).items()
    }
    templates = {
        str(name): _parse_template(str(name), spec, source) for name, spec in _mapping(raw, "templates", source).items()
    }
    instructions = {
        str(name): _parse_instruction(str(name), spec, source)
        for name, spec in _mapping(raw, "instructions", source).items()
    }
    countries = {str(code).upper(): _text(v, f"countries.{code}", source) for code, v in _mapping(raw, "countries", source).items()}
    items = {str(item_id): _parse_item(str(item_id), spec, source) for item_id, spec in _mapping(raw, "items", source).items()}
    missing = raw.get("missing") or []
    if not isinstance(missing, list) or not all(isinstance(m, str) and m for m in missing):
        raise InputError("'missing' must be a list of item ids (such as [Q1, Q2])", file=source, value=missing)
    both = sorted(set(missing) & set(items))
    if both:
        raise InputError(f"item(s) {both} are listed under 'missing:' and translated under 'items:'", file=source)
    return Translation(
        language=language.strip(),
        name=str(raw.get("name") or ""),
        sources=(source,),
        format={str(k): _text(v, f"format.{k}", source) for k, v in fmt.items()},
        answer_prefixes=prefixes,
        templates=templates,
        instructions=instructions,
        countries=countries,
        items=items,
        missing=tuple(dict.fromkeys(missing)),
    )


def _mapping(raw: Mapping, key: str, source: str) -> Mapping:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise InputError(f"'{key}' must be a mapping", file=source, value=value)
    return value


def _text(value: object, where: str, source: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string", file=source, value=value)
    return value


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _check_placeholders(text: str, section: str, where: str, source: str) -> str:
    try:
        used = _fields(text)
    except ValueError as exc:
        raise InputError(f"{where}: malformed placeholder ({exc})", file=source, value=text) from None
    extra = sorted(used - PLACEHOLDERS[section])
    if extra:
        allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS[section])) or "none"
        raise InputError(f"{where}: unknown placeholder(s) {extra}; allowed: {allowed}", file=source)
    return text


def _parse_template(name: str, spec: object, source: str) -> Template:
    where = f"templates.{name}"
    if spec is None or isinstance(spec, str):
        text, position = spec or "", "end"
    elif isinstance(spec, Mapping):
        text, position = spec.get("text") or "", str(spec.get("position", "end"))
    else:
        raise InputError(f"{where}: expected a string or {{text, position}}", file=source, value=spec)
    if position not in POSITIONS:
        raise InputError(f"{where}: position {position!r}; expected one of {list(POSITIONS)}", file=source)
    return Template(name, _check_placeholders(_text(text, where, source), "templates", where, source), position)


def _parse_instruction(name: str, spec: object, source: str) -> dict[str, str]:
    where = f"instructions.{name}"
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: expected a mapping label style -> text", file=source, value=spec)
    bad = sorted(set(map(str, spec)) - set(LABEL_STYLES))
    if bad:
        raise InputError(f"{where}: unknown label style(s) {bad}; expected some of {list(LABEL_STYLES)}", file=source)
    return {
        str(style): _check_placeholders(_text(text, f"{where}.{style}", source), "instructions", f"{where}.{style}", source)
        for style, text in spec.items()
    }


def _parse_item(item_id: str, spec: object, source: str) -> ItemText:
    where = f"items.{item_id}"
    if not isinstance(spec, Mapping) or "stem" not in spec:
        raise InputError(f"{where}: expected a mapping with 'stem' and 'options'", file=source, value=spec)
    options = spec.get("options") or {}
    if not isinstance(options, Mapping):
        raise InputError(f"{where}.options: expected a mapping code -> label", file=source, value=options)
    parsed = {}
    for code, label in options.items():
        try:
            parsed[int(code)] = _text(label, f"{where}.options.{code}", source)
        except (TypeError, ValueError):
            raise InputError(f"{where}.options: code {code!r} is not an integer", file=source) from None
    return ItemText(_text(spec["stem"], f"{where}.stem", source), parsed)
