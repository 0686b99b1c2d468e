"""Answer options as shown in a prompt: label styles, option orders and option lines.

* Label styles: ``number`` labels the presented options "1".."K", ``letter`` "A".."Z".
  Labels follow the presented order; the WVS codes travel with their options, so under a
  reversed order label "1" stands for the last questionnaire option.
* Option orders: ``original`` (questionnaire order), ``reversed``, ``shuffled`` (a seeded
  permutation per item that depends only on the seed and the item id, so every country
  sees the same order; it is the options sorted by ``sha256("{seed}|{item_id}|{code}")``,
  which is identical on every machine and numpy version).
* Scale items (10-point items whose middle options are bare numbers, "2" .. "9"): each
  option is a point on the scale (its questionnaire position + 1) and only the end points
  carry words. With number labels in original or reversed order the labels *are* the scale
  points, so the middle lines show the label alone::

      1. Never justifiable
      2
      ...
      10. Always justifiable

  With letter labels (or a shuffled order) every line names its scale point, and the ends
  add their words: ``A. 1 (Never justifiable)``, ``B. 2``, ... ``J. 10 (Always justifiable)``.
"""
from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from typing import Mapping, Sequence

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
    """The item's option codes in presented order."""
    codes = list(item.codes)
    if order == "original":
        return codes
    if order == "reversed":
        return codes[::-1]
    if order == "shuffled":
        return sorted(codes, key=lambda code: hashlib.sha256(f"{seed}|{item.item_id}|{code}".encode()).hexdigest())
    raise InputError(f"unknown option order {order!r}; expected one of {list(OPTION_ORDERS)}", value=order)


def make_labels(n: int, style: str) -> list[str]:
    """Labels of ``n`` presented options: "1".."n" or "A".. ."""
    if style == "number":
        return [str(i) for i in range(1, n + 1)]
    if style == "letter":
        if n > len(string.ascii_uppercase):
            raise InputError(f"the letter label style supports at most 26 options, an item has {n}")
        return list(string.ascii_uppercase[:n])
    raise InputError(f"unknown label style {style!r}; expected one of {list(LABEL_STYLES)}", value=style)


def show_options(
    item: Item, texts: Mapping[int, str], *, label_style: str, option_order: str, seed: int
) -> list[ShownOption]:
    """The options of ``item`` as presented, with ``texts`` (code -> label in the prompt language)."""
    codes = presented_codes(item, option_order, seed)
    labels = make_labels(len(codes), label_style)
    if not is_scale_item(item):
        return [ShownOption(lab, code, f"{lab}. {texts[code]}") for lab, code in zip(labels, codes)]
    point = {code: pos + 1 for pos, code in enumerate(item.codes)}
    bank_label = dict(zip(item.codes, item.labels))
    labels_are_points = label_style == "number" and option_order in ("original", "reversed")
    shown = []
    for lab, code in zip(labels, codes):
        words = None if is_bare_number(bank_label[code]) else texts[code]
        if labels_are_points:
            line = lab if words is None else f"{lab}. {words}"
        else:
            line = f"{lab}. {point[code]}" if words is None else f"{lab}. {point[code]} ({words})"
        shown.append(ShownOption(lab, code, line))
    return shown


def check_choice(value: str, allowed: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else an InputError naming ``what``."""
    if value not in allowed:
        raise InputError(f"unknown {what} {value!r}; expected one of {list(allowed)}", value=value)
    return value
