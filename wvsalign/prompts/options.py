"""Answer options as shown in a prompt: label styles, option orders and option lines.

* Label styles: ``number`` labels the presented options "1".."K", ``letter`` "A".."Z".
  Labels follow the presented order; the WVS codes travel with their options, so under a
  reversed order label "1" stands for the last questionnaire option.
* Option orders: ``original`` (questionnaire order), ``reversed``, ``shuffled`` (a seeded
  permutation per item that depends only on the seed and the item id, so every country
  sees the same order; it is the options sorted by ``sha256("{seed}|{item_id}|{code}")``,
  which is identical on every machine and numpy version).
* Scale items (:func:`is_scale_item`: some option labels are bare numbers, as in the WVS
  1-10 scales, whose middle options are "2" .. "9"): each option is a point on the scale (its
  questionnaire position + 1) and only the end points carry words. With number labels in the
  original order the labels *are* the scale points, so the middle lines show the label alone::

      1. Never justifiable
      2
      ...
      10. Always justifiable

  With letter labels every line names its scale point, and the ends add their words:
  ``A. 1 (Never justifiable)``, ``B. 2``, ... ``J. 10 (Always justifiable)``, in any order.
  Number labels in another order would be numbers that are not the scale points (reversed:
  label "2" stands for point 9; shuffled: a line "1. 5"), so a model answering a scale point
  would be scored as another option; :func:`~wvsalign.prompts.build_prompts` refuses number
  labels on scale items in any order but the original.
"""
from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from typing import Mapping

from ..errors import InputError
from ..survey.items import Item

LABEL_STYLES = ("number", "letter")
OPTION_ORDERS = ("original", "reversed", "shuffled")


@dataclass(frozen=True)
class ShownOption:
    """One option as presented: its label, WVS code and the line shown in the prompt."""

    label: str
    code: int
    line: str


def is_bare_number(label: str) -> bool:
    """True for option labels that are only a number (the middle points of 10-point scales)."""
    return label.strip().isdigit()


def is_scale_item(item: Item) -> bool:
    """True when some option of ``item`` is a bare number (a numeric rating scale)."""
    return any(is_bare_number(label) for label in item.labels)


def presented_codes(item: Item, order: str, seed: int) -> list[int]:
    """The item's option codes in presented order (``order`` one of :data:`OPTION_ORDERS`)."""
    codes = list(item.codes)
    if order == "original":
        return codes
    if order == "reversed":
        return codes[::-1]
    return sorted(codes, key=lambda code: hashlib.sha256(f"{seed}|{item.item_id}|{code}".encode()).hexdigest())


def make_labels(n: int, style: str) -> list[str]:
    """Labels of ``n`` presented options: "1".."n" (``number``) or "A".. (``letter``)."""
    if style == "number":
        return [str(i) for i in range(1, n + 1)]
    if n > len(string.ascii_uppercase):
        raise InputError(f"the letter label style supports at most 26 options, an item has {n}")
    return list(string.ascii_uppercase[:n])


def show_options(
    item: Item, texts: Mapping[int, str], *, label_style: str, option_order: str, seed: int
) -> list[ShownOption]:
    """The options of ``item`` as presented, with ``texts`` (code -> label in the prompt language).

    ``label_style`` and ``option_order`` are checked by the caller (build_prompts).
    """
    codes = presented_codes(item, option_order, seed)
    labels = make_labels(len(codes), label_style)
    if not is_scale_item(item):
        return [ShownOption(lab, code, f"{lab}. {texts[code]}") for lab, code in zip(labels, codes)]
    labels_are_points = label_style == "number" and option_order == "original"
    point = {code: pos + 1 for pos, code in enumerate(item.codes)}
    bank_label = dict(zip(item.codes, item.labels))
    shown = []
    for lab, code in zip(labels, codes):
        words = None if is_bare_number(bank_label[code]) else texts[code]
        if labels_are_points:
            line = lab if words is None else f"{lab}. {words}"
        else:
            line = f"{lab}. {point[code]}" if words is None else f"{lab}. {point[code]} ({words})"
        shown.append(ShownOption(lab, code, line))
    return shown
