"""Control items: non-cultural multiple-choice questions with one right answer
(``wvsalign/data/control_items.yaml``), their prompts and the model's accuracy on them.

They are asked with the same templates and country sentences as the survey items
(:func:`control_prompts`), so attribution on them shows which neurons react to the country
sentence of a question that has nothing to do with culture, and accuracy on them shows
whether an ablation broke the model in general rather than its cultural answers.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import _yaml
from ..errors import InputError

KINDS = ("arithmetic", "word", "fact")
#: category column value of control prompts
CONTROL_CATEGORY = "control"


@dataclass(frozen=True)
class ControlItem:
    """One control question: id, kind, question, options, and the index of the right option."""

    item_id: str
    kind: str
    question: str
    options: tuple[str, ...]
    answer: int  # index into options

    @property
    def answer_code(self) -> int:
        """The right option's code (options are coded 1..K in the listed order)."""
        return self.answer + 1


def _default_path() -> Path:
    return Path(str(resources.files("wvsalign") / "data" / "control_items.yaml"))


def load_control_items(path: str | Path | None = None) -> list[ControlItem]:
    """Read control items (default: the shipped file).

    Raises
    ------
    InputError
        Naming the file, the item and the field when an entry is malformed (missing field,
        unknown kind, fewer than 2 options, duplicate ids or options, an answer that is not
        one of the options, a bare-number option).
    """
    path = Path(path) if path is not None else _default_path()
    raw = _yaml.load_file(path, what="control items file (YAML with an 'items:' list)")
    entries = raw.get("items") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError("expected a non-empty 'items:' list", file=path)
    out, seen = [], set()
    for row, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InputError("each item must be a mapping", file=path, row=row, value=entry)
        missing = [k for k in ("id", "kind", "question", "options", "answer") if k not in entry]
        if missing:
            raise InputError(f"item lacks field(s) {missing}", file=path, row=row, value=entry.get("id"))
        item_id = str(entry["id"])
        if item_id in seen:
            raise InputError("duplicate item id", file=path, column="id", row=row, value=item_id)
        seen.add(item_id)
        if entry["kind"] not in KINDS:
            raise InputError(f"unknown kind; expected one of {list(KINDS)}", file=path, column="kind", row=row,
                             value=entry["kind"])
        options = entry["options"]
        if not isinstance(options, list) or len(options) < 2 or len(set(map(str, options))) != len(options):
            raise InputError("options must be a list of at least 2 different texts", file=path, column="options",
                             row=row, value=options)
        options = tuple(str(o) for o in options)
        if any(o.strip().isdigit() for o in options):
            raise InputError("options must not be bare numbers (write them in words)", file=path, column="options",
                             row=row, value=options)
        answer = str(entry["answer"])
        if answer not in options:
            raise InputError(f"answer is not one of the options {list(options)}", file=path, column="answer", row=row,
                             value=answer)
        out.append(ControlItem(item_id, str(entry["kind"]), str(entry["question"]), options, options.index(answer)))
    return out


def control_bank(items: Sequence[ControlItem] | None = None) -> list[Any]:
    """The control items as :class:`~wvsalign.survey.items.Item` objects (for the prompt builder)."""
    from ..survey.items import Item, Option

    items = load_control_items() if items is None else items
    bank = []
    for it in items:
        k = len(it.options)
        opts = tuple(Option(code=j + 1, label=o, position=j + 1, score=j / (k - 1)) for j, o in enumerate(it.options))
        bank.append(Item(item_id=it.item_id, category=CONTROL_CATEGORY, topic=it.kind, stem=it.question,
                         scale="nominal", options=opts, reverse=False, high_score_means=""))
    return bank


def control_prompts(countries: Sequence[str] | str | None, *,
                    items: Sequence[ControlItem] | None = None, **options: Any) -> pd.DataFrame:
    """Prompts of the control items, built like the survey prompts (:func:`wvsalign.build_prompts`;
    ``options``: templates, instructions, label_styles, ...)."""
    from ..prompts import build_prompts

    prompts = build_prompts(control_bank(items), countries, **options)
    prompts["category"] = CONTROL_CATEGORY
    return prompts


def control_accuracy(probs: pd.DataFrame, items: Sequence[ControlItem] | None = None) -> pd.DataFrame:
    """Accuracy on the control items: the share of prompts whose most probable option is the right one.

    Returns
    -------
    pandas.DataFrame
        group ("all" and each country), correct, n, accuracy, mean_prob_correct (the mean
        probability the model put on the right option).
    """
    items = load_control_items() if items is None else items
    right = {it.item_id: it.answer_code for it in items}
    for col in ("prompt_id", "item_id", "country", "code", "prob"):
        if col not in probs.columns:
            raise InputError("the probs table lacks a column", column=col)
    known = probs["item_id"].isin(right)
    if not known.all():
        bad = probs.loc[~known, "item_id"].iloc[0]
        raise InputError("a probs row is not a control item", column="item_id", value=bad)
    frame = probs.assign(_right=probs["item_id"].map(right))
    best = frame.loc[frame.groupby("prompt_id", sort=False)["prob"].idxmax()]
    best = best.assign(correct=(best["code"] == best["_right"]).astype(np.int64))
    p_right = frame[frame["code"] == frame["_right"]][["prompt_id", "prob"]].rename(columns={"prob": "p_right"})
    best = best.merge(p_right, on="prompt_id", how="left")
    rows = [{"group": "all", "correct": int(best["correct"].sum()), "n": len(best),
             "mean_prob_correct": float(best["p_right"].mean())}]
    for country, part in best.groupby("country", sort=True):
        rows.append({"group": str(country), "correct": int(part["correct"].sum()), "n": len(part),
                     "mean_prob_correct": float(part["p_right"].mean())})
    out = pd.DataFrame(rows)
    out["accuracy"] = out["correct"] / out["n"]
    return out[["group", "correct", "n", "accuracy", "mean_prob_correct"]]
