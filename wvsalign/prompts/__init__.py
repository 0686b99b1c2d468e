"""Multiple-choice prompts from the item bank: templates, instructions, labels, orders, languages.

``build_prompts(bank, countries, ...)`` returns the ``prompts`` table (see
:mod:`wvsalign.prompts.builder`). Variants, each selectable and combinable:

* ``templates`` (country conditioning): ``persona``, ``third_person`` (a closing sentence
  naming the country), ``persona_system`` (the persona as system message), ``default``
  (no country; one prompt per item, country :data:`NO_COUNTRY`);
* ``instructions``: ``default``, ``survey``, ``direct`` (each asks for the label only);
* ``label_styles``: ``number`` ("1".."K"), ``letter`` ("A"..); scale items take number labels
  only in the original order (:mod:`wvsalign.prompts.options`);
* ``option_orders``: ``original``, ``reversed``, ``shuffled`` (seeded, per item);
* ``languages``: ``en`` built in; more through translation files
  (:mod:`wvsalign.prompts.translations`, ``wvsalign/data/translations/README.md``).

The table is model-neutral (system and user messages, labels, codes): a backend renders it
for its model at scoring time, with the tokenizer's chat template when it has one and plain
text otherwise (:func:`render_prompts`, :mod:`wvsalign.prompts.formats`).
"""
from __future__ import annotations

from .builder import NO_COUNTRY, PROMPT_COLUMNS, build_prompts, prompt_id
from .formats import RENDERED_COLUMNS, PromptFormat, get_format, render_prompts
from .options import LABEL_STYLES, OPTION_ORDERS
from .translations import Translation, builtin_languages, load_translation, translation_for

__all__ = [
    "NO_COUNTRY", "PROMPT_COLUMNS", "build_prompts", "prompt_id", "PromptFormat", "get_format",
    "render_prompts", "RENDERED_COLUMNS",
    "LABEL_STYLES", "OPTION_ORDERS", "Translation", "builtin_languages", "load_translation", "translation_for",
]
