"""The prompts table: one multiple-choice prompt per item x country x variant.

A prompt body is the item's stem, its options (one per line), the instruction, and the
country-conditioning sentence of the template at the end::

    How important is family in your life?

    1. Very important
    2. Rather important
    3. Not very important
    4. Not at all important

    Answer with the number of one option only.
    Imagine you are a person from Japan.

Because the country comes last, the prompts of one item for all countries share every token
up to the country name. The runner puts all prompts in one radix tree and computes each shared
prefix once, so whatever opens every prompt (a chat template's header, with the default
system message some templates add) is shared as well. ``persona_system`` puts the persona in
the system message instead: then all prompts share the header and the persona up to the
country name, the prompts of one country share the whole system message across items, and
the prompts of one item share nothing more. ``benchmarks/bench_prompt_sharing.py`` prints, per
template, the tokens fed to the model and the tokens left once shared prefixes are counted
once (:func:`wvsalign.inference.prefix.unique_tokens`).

Number labels are refused on scale items (:func:`~wvsalign.prompts.options.is_scale_item`)
in any order but the original: there they would not be the scale points (see
:mod:`wvsalign.prompts.options`).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from typing import Any, Iterable, Sequence

import pandas as pd

from ..contracts import NO_COUNTRY  # the country of prompts whose template names no country
from ..errors import InputError, check_choice
from ..survey.countries import Countries
from ..survey.items import Item, ItemBank
from .options import LABEL_STYLES, OPTION_ORDERS, is_scale_item, show_options
from .translations import Translation, builtin_languages, load_translation, translation_for

#: columns of the table build_prompts returns (the ``prompts`` contract of wvsalign.contracts and more):
#: model-neutral, everything that defines a prompt and no model's format
PROMPT_COLUMNS = (
    "prompt_id", "item_id", "category", "country", "language", "template", "instruction",
    "label_style", "option_order", "seed", "system", "user", "labels", "codes",
    "question_word", "answer_word", "answer_prefix", "answer_prefix_text",
)

#: the fields prompt_id hashes (with the seed for shuffled orders, and the answer prefix unless none)
ID_FIELDS = (
    "item_id", "country", "language", "template", "instruction", "label_style", "option_order",
    "system", "user", "labels", "codes", "question_word", "answer_word",
)
#: the fields of the answer prefix, hashed by prompt_id unless the prompt has none (so that the ids
#: of prompts without a prefix stay those of the versions before answer prefixes)
PREFIX_ID_FIELDS = ("answer_prefix", "answer_prefix_text")

#: the answer prefix of build_prompts and RunConfig by default (chosen from
#: benchmarks/bench_answer_prefix.py; see the README's prompts section)
DEFAULT_ANSWER_PREFIX = "answer"

def build_prompts(
    bank: ItemBank | Iterable[Item],
    countries: Sequence[str] | str | None = None,
    *,
    templates: Sequence[str] | str = ("persona",),
    instructions: Sequence[str] | str = ("default",),
    label_styles: Sequence[str] | str = ("number",),
    option_orders: Sequence[str] | str = ("original",),
    languages: Sequence[str] | str = ("en",),
    answer_prefixes: Sequence[str] | str = (DEFAULT_ANSWER_PREFIX,),
    seed: int = 0,
    tokenizer: Any = None,
    chat: bool | None = None,
    translations: Iterable[str | Translation] = (),
) -> pd.DataFrame:
    """The model-neutral prompts table for ``bank`` x ``countries`` x the cross product of the variants.

    Each row holds everything that defines a prompt and no model's format: the ``system``
    message ("" when none), the ``user`` message (stem, options, instruction and the closing
    country sentence), ``labels`` and their WVS ``codes``, and the plain format's
    ``question_word`` / ``answer_word`` of the language. A backend renders the rows for its
    model at scoring time (chat template or plain text: :func:`~wvsalign.prompts.formats.render_prompts`),
    so one table serves every model.

    Parameters
    ----------
    bank : ItemBank or iterable of Item
        The items.
    countries : str or sequence of str, optional
        ISO3 codes, names or set names (``Countries.resolve``); templates without ``{country}``
        (``default``) ignore them and give one prompt per item with country :data:`NO_COUNTRY`.
    templates, instructions, label_styles, option_orders, languages : str or sequence of str
        The variants (their cross product is built). The language ``"native"`` asks each country
        in its main interview language (registry column ``languages``, first entry) where a
        translation exists and in English otherwise; the ``language`` column says which. Under
        ``native`` the no-country templates give one prompt per country (the same text for
        countries sharing a language), so "translated, no persona" is scored per country.
    answer_prefixes : str or sequence of str
        Answer prefix variants by name (``none``, ``answer``, ``the_answer_is``: the
        ``answer_prefixes`` of the language file): the text that opens the answer, written after
        the chat template's generation prompt or the plain format's answer word (same for every
        country, so prefix sharing is kept). Column ``answer_prefix`` holds the name,
        ``answer_prefix_text`` the text.
    seed : int
        Fixes the ``shuffled`` option order (per item, the same for every country).
    tokenizer, chat : deprecated
        Ignored (with a DeprecationWarning): prompts are model-neutral; the backend renders them.
    translations : iterable of path or Translation
        Extra language files (see :mod:`wvsalign.prompts.translations`).

    Returns
    -------
    DataFrame
        One row per prompt, columns :data:`PROMPT_COLUMNS`.

    Raises
    ------
    InputError
        For an empty bank, unknown variants, missing countries or refused label/order combinations.

    Examples
    --------
    >>> prompts = build_prompts(ItemBank.wvs7().filter(ids=["Q46"]), ["USA", "JPN"])
    >>> prompts["user"].iloc[0].endswith("Imagine you are a person from the United States.")
    True
    """
    if tokenizer is not None or chat is not None:
        warnings.warn(
            "build_prompts(tokenizer=, chat=) is deprecated and ignored: prompts are model-neutral and the "
            "backend renders them at scoring time (load_backend(..., chat=False) for the plain format)",
            DeprecationWarning, stacklevel=2,
        )
    if isinstance(bank, (str, bytes)):
        raise InputError(f"bank={bank!r} is a string; expected an ItemBank, e.g. ItemBank.wvs7().filter(ids=[{bank!r}])")
    items = list(bank)
    if any(not isinstance(i, Item) for i in items):
        raise InputError(f"bank holds {type(next(i for i in items if not isinstance(i, Item))).__name__} values; "
                         f"expected an ItemBank, e.g. ItemBank.wvs7().filter(ids={[str(i) for i in items][:3]})")
    if not items:
        raise InputError("the item bank is empty; expected at least one item")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an integer, got {seed!r}")
    variants = {
        "templates": _choices(templates, "templates"),
        "instructions": _choices(instructions, "instructions"),
        "label_styles": [
            check_choice(s, "label_styles", LABEL_STYLES, what="label style") for s in _choices(label_styles, "label_styles")
        ],
        "option_orders": [
            check_choice(o, "option_orders", OPTION_ORDERS, what="option order")
            for o in _choices(option_orders, "option_orders")
        ],
        "languages": _choices(languages, "languages"),
        "answer_prefixes": _choices(answer_prefixes, "answer_prefixes"),
    }
    _refuse_renumbered_scales(items, variants["label_styles"], variants["option_orders"])
    registry = Countries.load()
    country_codes = registry.resolve(countries) if countries else []
    extra = [t if isinstance(t, Translation) else load_translation(t) for t in translations]

    rows: list[dict[str, Any]] = []
    for language, codes, no_country in _language_passes(variants["languages"], country_codes, registry, extra):
        words = translation_for(language, extra)
        texts = {item.item_id: words.item_text(item) for item in items}
        question_word, answer_word = words.format_word("question"), words.format_word("answer")
        prefixes = {name: words.answer_prefix(name) for name in variants["answer_prefixes"]}
        chosen = [words.template(name) for name in variants["templates"]]
        if any(t.needs_country for t in chosen):
            if not codes:
                needing = [t.name for t in chosen if t.needs_country]
                raise InputError(f"templates {needing} need countries; pass countries= (ISO3 codes or a set name)")
            names = {code: words.country_name(registry.get(code)) for code in codes}
        for template in chosen:
            targets = codes if template.needs_country else no_country
            for instruction in variants["instructions"]:
                for label_style in variants["label_styles"]:
                    for option_order in variants["option_orders"]:
                        for item in items:
                            text = texts[item.item_id]
                            shown = show_options(
                                item, text.options, label_style=label_style, option_order=option_order, seed=seed
                            )
                            labels = [o.label for o in shown]
                            wording = words.instruction(instruction, label_style, first=labels[0], last=labels[-1])
                            core = f"{text.stem}\n\n" + "\n".join(o.line for o in shown) + f"\n\n{wording}"
                            for country in targets:
                                sentence = (
                                    template.text.format(country=names[country]) if template.needs_country else template.text
                                )
                                if template.position == "system":
                                    body, system = core, sentence or ""
                                else:
                                    body, system = (f"{core}\n{sentence}" if sentence else core), ""
                                row = {
                                    "item_id": item.item_id,
                                    "category": item.category,
                                    "country": country,
                                    "language": language,
                                    "template": template.name,
                                    "instruction": instruction,
                                    "label_style": label_style,
                                    "option_order": option_order,
                                    "seed": seed,
                                    "system": system,
                                    "user": body,
                                    "labels": labels,
                                    "codes": [o.code for o in shown],
                                    "question_word": question_word,
                                    "answer_word": answer_word,
                                }
                                for prefix_name, prefix_text in prefixes.items():
                                    variant = {**row, "answer_prefix": prefix_name, "answer_prefix_text": prefix_text}
                                    variant["prompt_id"] = prompt_id(variant)
                                    rows.append(variant)
    table = pd.DataFrame(rows, columns=list(PROMPT_COLUMNS))
    # "native" next to an explicit language can build the same prompt twice (e.g. en and native for USA)
    return table.drop_duplicates("prompt_id", ignore_index=True)


#: the language choice that asks each country in its main interview language (see _language_passes)
NATIVE = "native"


def native_language(country: Any, available: Iterable[str]) -> str:
    """The language ``native`` asks ``country`` in: its main interview language where a translation exists, else English.

    Parameters
    ----------
    country : Country
        A registry entry (``Countries.load().get("JPN")``); its first interview language is the main one.
    available : iterable of str
        The languages with a translation (built in or passed as files).

    Returns
    -------
    str
        An ISO 639-1 code.

    Examples
    --------
    >>> native_language(Countries.load().get("JPN"), ["en", "ja"])
    'ja'
    >>> native_language(Countries.load().get("NLD"), ["en", "ja"])
    'en'
    """
    return country.language if country.language in set(available) else "en"


def _language_passes(languages: list[str], codes: list[str], registry: Countries,
                     extra: list[Translation]) -> list[tuple[str, list[str], list[str]]]:
    """(language, countries of country templates, countries of no-country templates) per language pass.

    A named language asks every country, and the no-country templates once (:data:`NO_COUNTRY`).
    ``native`` makes one pass per main interview language: the countries of that language, and
    the no-country templates once per such country (country column set, so that the translated
    no-persona condition is scored against the country whose language it is asked in).
    """
    passes: list[tuple[str, list[str], list[str]]] = []
    for language in languages:
        if language != NATIVE:
            passes.append((language, codes, [NO_COUNTRY]))
            continue
        if not codes:
            raise InputError("languages 'native' needs countries (each is asked in its main interview language); "
                             "pass countries= (ISO3 codes or a set name)", value=language)
        available = set(builtin_languages()) | {t.language for t in extra}
        groups: dict[str, list[str]] = {}
        for code in codes:
            groups.setdefault(native_language(registry.get(code), available), []).append(code)
        passes.extend((lang, group, group) for lang, group in groups.items())
    return passes


def prompt_id(row: dict[str, Any]) -> str:
    """A stable id: sha1 (16 hex digits) of a canonical JSON of everything that defines the prompt.

    The fields are :data:`ID_FIELDS` (model-neutral: the same prompt has the same id for every
    model); the seed is part of it only for the shuffled order (the only variant it changes).
    """
    payload = {k: row[k] for k in ID_FIELDS}
    payload["seed"] = row["seed"] if row["option_order"] == "shuffled" else None
    if row.get("answer_prefix", "none") != "none" or row.get("answer_prefix_text"):
        payload.update({k: row[k] for k in PREFIX_ID_FIELDS})
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def _refuse_renumbered_scales(items: list[Item], label_styles: list[str], option_orders: list[str]) -> None:
    """InputError for number labels on scale items in an order other than the original."""
    orders = [o for o in option_orders if o != "original"]
    if "number" not in label_styles or not orders:
        return
    scale = [item.item_id for item in items if is_scale_item(item)]
    if scale:
        shown = ", ".join(scale[:5]) + (", ..." if len(scale) > 5 else "")
        example = {"reversed": "label 2 would stand for point 9", "shuffled": "a line would read '1. 5'"}
        what = f"the {' and '.join(orders)} option order" + ("s" if len(orders) > 1 else "")
        raise InputError(
            f"number labels on scale items in {what} would not be the scale points "
            f"({'; '.join(f'{o}: {example[o]}' for o in orders)}), so an answer naming a scale point would be "
            f"scored as another option; {len(scale)} scale item(s) asked for ({shown}): use label_styles=['letter'] "
            f"with {'those orders' if len(orders) > 1 else 'that order'}, or option_orders=['original'] with number "
            f"labels (two build_prompts calls can be concatenated)"
        )


def _choices(value: Sequence[str] | str, name: str) -> list[str]:
    values = [value] if isinstance(value, str) else list(value)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise InputError(f"{name} must be a non-empty list of names, got {value!r}")
    return list(dict.fromkeys(values))
