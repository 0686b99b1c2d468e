"""The WVS-7 item bank: the value questions as multiple-choice items with scored options.

The bank lives in ``wvsalign/data/wvs7_items.yaml`` (the project's own wording; see the
header of that file for the layout). Scores are derived, never stored: an option's
``position`` is its rank in the item's ordinal order (``order`` in the YAML, by default the
listed order) and its ``score`` is ``position / (K - 1)`` in [0, 1], so the first option
in ordinal order scores 0 and the last scores 1. ``high_score_means`` says, per item,
what a score of 1 stands for; ``reverse`` is True when the questionnaire lists the "most"
pole of the item's construct first (e.g. "Very important" first), so that ``1 - score``
reads as "more of it".

Codes outside the ordinal order (WVS answers off the scale: Q111's 3 "other answer", Q119's
0 "hard to say", Q221/Q222's 4 "not allowed to vote", Q241-Q249's 0 "against democracy",
Q254's 5 "I am not [nationality]") are listed under ``extra_codes`` with a handling rule:
``drop`` (treated as missing, like a don't know) or ``merge`` into one of the item's codes
(Q241-Q249: 0 -> 1). Codes that start at 0 and are a real point of the scale (Q94-Q104
"don't belong", Q122-Q129 "disagree") are plain options. Negative WVS codes are never options.

>>> bank = ItemBank.wvs7()
>>> len(bank), bank["Q56"].order, bank["Q56"].scores
(239, (1, 3, 2), {1: 0.0, 2: 1.0, 3: 0.5})
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import _yaml
from ..errors import InputError

#: the twelve WVS-7 thematic sections, in questionnaire order: slug -> name
CATEGORIES: dict[str, str] = {
    "social_values": "Social Values, Norms, Stereotypes",
    "happiness": "Happiness and Wellbeing",
    "social_capital": "Social Capital, Trust and Organizational Membership",
    "economic": "Economic Values",
    "corruption": "Perceptions of Corruption",
    "migration": "Perceptions of Migration",
    "security": "Perceptions of Security",
    "science": "Perceptions about Science and Technology",
    "religion": "Religious Values",
    "ethics": "Ethical Values",
    "political_interest": "Political Interest and Political Participation",
    "political_culture": "Political Culture and Political Regimes",
}

SCALES = ("ordinal", "nominal")
#: columns of :meth:`ItemBank.to_frame` (the ``items`` table plus descriptive extras)
ITEMS_FRAME_COLUMNS = (
    "item_id", "category", "category_name", "topic", "stem", "options", "scale", "scores", "reverse",
    "high_score_means", "n_options", "order", "extra_codes", "note",
)
HANDLINGS = ("drop", "merge")


@dataclass(frozen=True)
class Option:
    """One answer option: WVS code, label, rank in the ordinal order, score in [0, 1]."""

    code: int
    label: str
    position: int
    score: float


@dataclass(frozen=True)
class ExtraCode:
    """A WVS code outside the ordinal order and what is done with it in human data."""

    code: int
    label: str
    handling: str  # "drop" or "merge"
    into: int | None = None  # target code when handling == "merge"


@dataclass(frozen=True)
class Item:
    """One WVS-7 value question as a multiple-choice item.

    Parameters
    ----------
    item_id : str
        The WVS-7 column name, e.g. "Q57".
    category : str
        Category slug (one of :data:`CATEGORIES`).
    topic, stem : str
        A short topic and the question text.
    scale : {"ordinal", "nominal"}
        Whether the options are ordered.
    options : tuple of Option
        The answer options (code, label, ordinal position).
    reverse : bool
        Whether the first option is the high end of the scale.
    high_score_means : str
        What a high score (1 on the unit scale) means.
    extra_codes : tuple of ExtraCode, default ()
        Spontaneous codes and how they are handled ("drop" or "merge").
    note : str, default ""
        Remarks.

    Examples
    --------
    >>> from wvsalign import ItemBank
    >>> item = ItemBank.wvs7()["Q57"]
    >>> item.scale, item.codes, item.labels[0]
    ('ordinal', (1, 2), 'Most people can be trusted')
    """

    item_id: str
    category: str
    topic: str
    stem: str
    scale: str
    options: tuple[Option, ...]
    reverse: bool
    high_score_means: str
    extra_codes: tuple[ExtraCode, ...] = ()
    note: str = ""

    @property
    def category_name(self) -> str:
        """The WVS section title of the item's category."""
        return CATEGORIES[self.category]

    @property
    def codes(self) -> tuple[int, ...]:
        """Option codes in questionnaire order."""
        return tuple(o.code for o in self.options)

    @property
    def labels(self) -> tuple[str, ...]:
        """Option labels in questionnaire order."""
        return tuple(o.label for o in self.options)

    @property
    def scores(self) -> dict[int, float]:
        """Score per option code."""
        return {o.code: o.score for o in self.options}

    @property
    def n_options(self) -> int:
        """Number of answer options (K)."""
        return len(self.options)

    @property
    def is_ten_point(self) -> bool:
        """True for the WVS 1-10 scales (codes 1..10, labelled at the ends)."""
        return self.codes == tuple(range(1, 11))

    @property
    def order(self) -> tuple[int, ...]:
        """Option codes in ordinal order (score 0 first, score 1 last)."""
        return tuple(o.code for o in sorted(self.options, key=lambda o: o.position))

    def score_of(self, code: int) -> float:
        """Score of one option code; KeyError for a code that is not an option."""
        return self.scores[int(code)]

    def recode_map(self) -> dict[int, int | None]:
        """Map every valid non-negative code to an option code (merge) or None (drop)."""
        mapping: dict[int, int | None] = {c: c for c in self.codes}
        for extra in self.extra_codes:
            mapping[extra.code] = extra.into if extra.handling == "merge" else None
        return mapping


class ItemBank:
    """An ordered, immutable collection of :class:`Item` objects.

    Parameters
    ----------
    items : iterable of Item
        The items, in order; ids must be unique.
    name : str, default "custom"
        The bank's name, put in messages ("wvs7" for the embedded bank).

    Raises
    ------
    InputError
        When an item id repeats.

    Examples
    --------
    >>> bank = ItemBank.wvs7()
    >>> len(bank), bank["Q46"].labels[0]
    (239, 'Very happy')
    >>> bank.filter(categories="economic").ids
    ['Q106', 'Q107', 'Q108', 'Q109', 'Q110', 'Q111']
    """

    def __init__(self, items: Iterable[Item], *, name: str = "custom") -> None:
        self._items: dict[str, Item] = {}
        for item in items:
            if item.item_id in self._items:
                raise InputError(f"duplicate item id {item.item_id!r} in item bank {name!r}")
            self._items[item.item_id] = item
        self.name = name

    # ---- construction -------------------------------------------------------------
    @classmethod
    def wvs7(cls) -> "ItemBank":
        """The embedded WVS-7 item bank (239 value questions, 12 categories)."""
        return _load_embedded()

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ItemBank":
        """Load an item bank from a YAML file in the layout of ``wvs7_items.yaml``."""
        raw = _yaml.load_file(path, what="item bank file (YAML in the layout of wvs7_items.yaml)")
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping, *, source: str = "<dict>") -> "ItemBank":
        """Build a bank from the parsed YAML structure (``{"items": [...]}``)."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("items"), list):
            raise InputError("expected a mapping with a list under 'items'", file=source)
        items = [_parse_item(entry, source=source, index=i) for i, entry in enumerate(raw["items"])]
        return cls(items, name=str(raw.get("name", source)))

    # ---- access ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items.values())

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __getitem__(self, item_id: str) -> Item:
        try:
            return self._items[item_id]
        except KeyError:
            raise KeyError(f"no item {item_id!r} in item bank {self.name!r}") from None

    def __repr__(self) -> str:
        return f"ItemBank({self.name!r}, {len(self)} items, {len(self.categories)} categories)"

    @property
    def ids(self) -> list[str]:
        return list(self._items)

    @property
    def categories(self) -> list[str]:
        """Category slugs present in the bank, in questionnaire order."""
        present = {it.category for it in self}
        return [c for c in CATEGORIES if c in present]

    def category_counts(self) -> pd.Series:
        """Number of items per category slug, in questionnaire order (categories absent from the bank left out)."""
        counts = pd.Series([it.category for it in self], dtype=object).value_counts()
        return pd.Series({c: int(counts[c]) for c in self.categories}, name="n_items", dtype=np.int64)

    def filter(
        self,
        *,
        categories: Sequence[str] | str | None = None,
        ids: Sequence[str] | str | None = None,
    ) -> "ItemBank":
        """A sub-bank by category (slug or WVS section name) and/or item id, in bank order."""
        keep = list(self)
        if categories is not None:
            wanted = {_category_slug(c) for c in _as_list(categories)}
            keep = [it for it in keep if it.category in wanted]
        if ids is not None:
            wanted_ids = _as_list(ids)
            unknown = [i for i in wanted_ids if i not in self._items]
            if unknown:
                raise InputError(
                    f"unknown item id(s) {unknown}; expected ids of the {self.name!r} bank such as {self.ids[:3]}"
                )
            wanted_set = set(wanted_ids)
            keep = [it for it in keep if it.item_id in wanted_set]
        return ItemBank(keep, name=self.name)

    # ---- tables ---------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The ``items`` table: one row per item (options as [(code, label)], scores as {code: score})."""
        rows = [
            {
                "item_id": it.item_id,
                "category": it.category,
                "category_name": it.category_name,
                "topic": it.topic,
                "stem": it.stem,
                "options": [(o.code, o.label) for o in it.options],
                "scale": it.scale,
                "scores": it.scores,
                "reverse": it.reverse,
                "high_score_means": it.high_score_means,
                "n_options": it.n_options,
                "order": list(it.order),
                "extra_codes": {e.code: (e.handling, e.into) for e in it.extra_codes},
                "note": it.note,
            }
            for it in self
        ]
        return pd.DataFrame(rows, columns=ITEMS_FRAME_COLUMNS)

    def options_frame(self) -> pd.DataFrame:
        """One row per item x option: item_id, category, code, label, position, score."""
        rows = [
            {
                "item_id": it.item_id,
                "category": it.category,
                "code": o.code,
                "label": o.label,
                "position": o.position,
                "score": o.score,
            }
            for it in self
            for o in it.options
        ]
        return pd.DataFrame(rows, columns=["item_id", "category", "code", "label", "position", "score"])


# ---- parsing ----------------------------------------------------------------------------
def _as_list(value: Sequence[str] | str) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _category_slug(value: str) -> str:
    if value in CATEGORIES:
        return value
    if value.strip().lower() in CATEGORIES:
        return value.strip().lower()
    by_name = {name.lower(): slug for slug, name in CATEGORIES.items()}
    if value.lower() in by_name:
        return by_name[value.lower()]
    raise InputError(f"unknown category {value!r}; expected one of {list(CATEGORIES)}")


#: fields an item may have in the YAML layout
ITEM_FIELDS = (
    "id", "category", "topic", "stem", "scale", "options", "order", "reverse", "high_score_means",
    "extra_codes", "note",
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_item(entry: Mapping, *, source: str, index: int) -> Item:
    """One item of the YAML layout -> :class:`Item`; every error names the item."""
    where = f"item #{index}"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where}: expected a mapping of item fields", file=source)
    item_id = str(entry.get("id", "") or "").strip()
    where = f"item {item_id or '#' + str(index)}"
    for key in ("id", "category", "stem", "options", "high_score_means"):
        if key not in entry or entry[key] in (None, ""):
            raise InputError(f"{where}: missing field {key!r}", file=source)
    unknown = [k for k in entry if k not in ITEM_FIELDS]
    if unknown:
        raise InputError(f"{where}: unknown field(s) {unknown}; expected fields among {list(ITEM_FIELDS)}", file=source)
    category = str(entry["category"])
    if category not in CATEGORIES:
        raise InputError(f"{where}: unknown category {category!r}; expected one of {list(CATEGORIES)}", file=source)
    scale = str(entry.get("scale", "ordinal"))
    if scale not in SCALES:
        raise InputError(f"{where}: scale {scale!r}; expected one of {SCALES}", file=source)
    if not isinstance(entry["options"], list):
        raise InputError(f"{where}: options {entry['options']!r}; expected a list of [code, label] pairs", file=source)
    listed: list[tuple[int, str]] = []
    for pair in entry["options"]:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise InputError(f"{where}: option {pair!r}; expected [code, label]", file=source)
        code, label = pair
        if not _is_int(code) or code < 0:
            raise InputError(f"{where}: option code {code!r}; expected a non-negative integer", file=source)
        if not str(label).strip():
            raise InputError(f"{where}: option {code} has an empty label; expected a label", file=source)
        listed.append((code, str(label)))
    codes = [c for c, _ in listed]
    if len(set(codes)) != len(codes) or len(codes) < 2:
        raise InputError(f"{where}: option codes {codes}; expected at least two distinct codes", file=source)
    labels = [lab for _, lab in listed]
    if len(set(labels)) != len(labels):
        raise InputError(f"{where}: option labels {labels}; expected distinct labels", file=source)
    order = entry.get("order", codes)
    if not isinstance(order, list) or not all(_is_int(c) for c in order) or sorted(order) != sorted(codes):
        raise InputError(f"{where}: order {order!r} is not a permutation of the option codes {codes}", file=source)
    reverse = entry.get("reverse", False)
    if not isinstance(reverse, bool):
        raise InputError(f"{where}: reverse {reverse!r}; expected true or false", file=source)
    k = len(codes)
    rank = {code: pos for pos, code in enumerate(order)}
    options = tuple(
        Option(code=c, label=lab, position=rank[c], score=rank[c] / (k - 1)) for c, lab in listed
    )
    extra_specs = entry.get("extra_codes") or {}
    if not isinstance(extra_specs, Mapping):
        raise InputError(f"{where}: extra_codes {extra_specs!r}; expected a mapping code -> {{label, handling, into}}", file=source)
    extras = []
    for code, spec in extra_specs.items():
        if not _is_int(code) or code < 0 or code in codes:
            raise InputError(f"{where}: extra code {code!r} must be a non-negative integer that is not an option code", file=source)
        if not isinstance(spec, Mapping):
            raise InputError(f"{where}: extra code {code}: expected a mapping with label, handling and into", file=source)
        handling = str(spec.get("handling", ""))
        if handling not in HANDLINGS:
            raise InputError(f"{where}: extra code {code} handling {handling!r}; expected one of {HANDLINGS}", file=source)
        into = spec.get("into")
        if handling == "merge" and (not _is_int(into) or into not in codes):
            raise InputError(f"{where}: extra code {code} merges into {into!r}, which is not an option code {codes}", file=source)
        if handling == "drop" and into is not None:
            raise InputError(f"{where}: extra code {code} is dropped but names into={into!r}; use handling: merge", file=source)
        extras.append(ExtraCode(code=code, label=str(spec.get("label", "")), handling=handling, into=into))
    return Item(
        item_id=item_id,
        category=category,
        topic=str(entry.get("topic", "") or ""),
        stem=str(entry["stem"]),
        scale=scale,
        options=options,
        reverse=reverse,
        high_score_means=str(entry["high_score_means"]),
        extra_codes=tuple(extras),
        note=str(entry.get("note", "") or ""),
    )


@lru_cache(maxsize=1)
def _load_embedded() -> ItemBank:
    ref = resources.files("wvsalign").joinpath("data/wvs7_items.yaml")
    raw = _yaml.safe_load(ref.read_text(encoding="utf-8"))
    return ItemBank.from_dict(raw, source="wvsalign/data/wvs7_items.yaml")


def option_scores(bank: ItemBank) -> pd.Series:
    """Score per (item_id, code) as a Series with a two-level index (for vectorised joins).

    Parameters
    ----------
    bank : ItemBank
        The item bank.

    Returns
    -------
    pandas.Series
        The unit-scale score of every option, indexed by (item_id, code).

    Examples
    --------
    >>> from wvsalign import ItemBank
    >>> from wvsalign.survey import option_scores
    >>> option_scores(ItemBank.wvs7().filter(ids=["Q57"])).tolist()
    [0.0, 1.0]
    """
    frame = bank.options_frame()
    return pd.Series(frame["score"].to_numpy(dtype=np.float64), index=pd.MultiIndex.from_frame(frame[["item_id", "code"]]))
