"""Dual evaluation of a study: prompt language x cultural context (issue 11).

Builds the per-item alignment table from a study's mean scores and hands it to the pure
statistics of :mod:`wvsalign.stats.dual`. Per-item alignment is ``1 - |model mean score - human
mean score|`` on the unit scale (both in [0, 1]), so 1 is perfect agreement with the country's
people; a no-country prompt (default template in English) is compared with every country.

>>> from wvsalign.study import Study
>>> from wvsalign.study.dual import dual_evaluation, format_dual
>>> result = dual_evaluation(Study.load("studies/dual"))
>>> print(format_dual(result))
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..contracts import HUMAN, NO_COUNTRY
from ..errors import InputError
from ..stats.dual import cell_alignment, synergy, synergy_mixedlm, variance_decomposition

__all__ = ["native_languages", "item_alignment", "dual_evaluation", "format_dual", "THREE_CONDITIONS"]

#: GlobalOpinionQA's three conditions, as the rows are classified (template, language)
THREE_CONDITIONS = ("default (English)", "persona (English)", "translated (native, no persona)")


def native_languages(countries: Iterable[str]) -> dict[str, str]:
    """Country -> the language ``languages: native`` asks it in (main interview language if shipped, else en)."""
    from ..prompts.builder import native_language
    from ..prompts.translations import builtin_languages
    from ..survey.countries import Countries

    registry, shipped = Countries.load(), builtin_languages()
    return {c: native_language(registry.get(c), shipped) for c in countries if c != NO_COUNTRY}


def item_alignment(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-item alignment ``1 - |model - human|`` of a study's ``scores`` table (Study.scores).

    Returns
    -------
    DataFrame
        ``model, condition, template, language, country, item_id, alignment``; model rows of
        country NONE (no-country prompts) are compared with every country of the condition.

    Raises
    ------
    InputError
        When the table lacks model or human rows.
    """
    need = ["model", "condition", "country", "item_id", "mean_score", "template", "language"]
    missing = [c for c in need if c not in scores.columns]
    if missing:
        raise InputError(f"study scores lack columns {missing}")
    human = scores.loc[scores["model"] == HUMAN, ["condition", "country", "item_id", "mean_score"]]
    model = scores.loc[scores["model"] != HUMAN, need]
    if human.empty or model.empty:
        raise InputError("study scores need model and human rows (has the study run?)")
    human = human.drop_duplicates(["condition", "country", "item_id"]).rename(columns={"mean_score": "human"})
    named = model[model["country"] != NO_COUNTRY].merge(human, on=["condition", "country", "item_id"])
    anywhere = model[model["country"] == NO_COUNTRY].drop(columns="country").merge(human, on=["condition", "item_id"])
    out = pd.concat([named, anywhere], ignore_index=True).dropna(subset=["mean_score", "human"])
    out["alignment"] = 1.0 - (out["mean_score"] - out["human"]).abs()
    return out[["model", "condition", "template", "language", "country", "item_id", "alignment"]]


def _classify(rows: pd.DataFrame, native: dict[str, str]) -> pd.Series:
    own = rows["language"] == rows["country"].map(native)
    kind = pd.Series(None, index=rows.index, dtype=object)
    kind[(rows["template"] == "default") & (rows["language"] == "en")] = THREE_CONDITIONS[0]
    kind[(rows["template"] == "persona") & (rows["language"] == "en")] = THREE_CONDITIONS[1]
    kind[(rows["template"] == "default") & own & (rows["language"] != "en")] = THREE_CONDITIONS[2]
    return kind


def dual_evaluation(study: Any, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Every dual-evaluation table of a study, per model.

    The language x country grid is the study's persona prompts (any condition; a prompt asked
    in several conditions counts once). GlobalOpinionQA's three conditions are compared on the
    countries whose main language is shipped and not English.

    Parameters
    ----------
    study : Study
        A loaded study (:meth:`wvsalign.study.Study.load`).
    n_boot, seed, level : int, int, float
        Bootstrap settings of every CI (paired over items).

    Returns
    -------
    dict
        ``cells`` (model, language, country, estimate, CI), ``synergy`` (model, contrast, language,
        estimate, CI, p, effect_size), ``mixedlm`` (model, same_language estimate, CI, p),
        ``variance`` (model, source, sum_sq, share, F, p), ``conditions`` (model, condition,
        estimate, CI, n), ``native`` (country -> language).

    Raises
    ------
    InputError
        When the study has no persona prompts in the countries' own languages.
    """
    items = item_alignment(study.scores)
    native = native_languages(items["country"].unique())
    grid = items[items["template"] == "persona"].drop_duplicates(["model", "item_id", "country", "language"])
    out: dict[str, list[pd.DataFrame]] = {k: [] for k in ("cells", "synergy", "mixedlm", "variance", "conditions")}
    for model, rows in grid.groupby("model", sort=False):
        rows = rows.drop(columns=["model", "condition", "template"])
        out["cells"].append(cell_alignment(rows, n_boot=n_boot, seed=seed, level=level).assign(model=model))
        out["synergy"].append(synergy(rows, native, n_boot=n_boot, seed=seed, level=level).assign(model=model))
        tidy = synergy_mixedlm(rows, native).tidy()
        out["mixedlm"].append(tidy[tidy["term"] == "same_language"].assign(model=model))
        if rows["language"].nunique() > 1 and rows["country"].nunique() > 1:
            out["variance"].append(variance_decomposition(rows).assign(model=model))
    foreign = [c for c, lang in native.items() if lang != "en"]
    items = items[items["country"].isin(foreign)].copy()
    items["kind"] = _classify(items, native)
    three = items.dropna(subset=["kind"]).drop_duplicates(["model", "kind", "item_id", "country"])
    for model, rows in three.groupby("model", sort=False):
        per_item = rows.groupby(["kind", "item_id"], as_index=False)["alignment"].mean()
        per_item = per_item.rename(columns={"kind": "language"}).assign(country="all")
        cells = cell_alignment(per_item, n_boot=n_boot, seed=seed, level=level)
        out["conditions"].append(cells.rename(columns={"language": "condition"}).drop(columns="country")
                                 .assign(model=model, n_countries=rows["country"].nunique()))
    result: dict[str, Any] = {}
    for key, frames in out.items():
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if not table.empty:
            table = table[["model", *[c for c in table.columns if c != "model"]]]
        result[key] = table
    result["native"] = native
    return result


def format_dual(result: dict[str, Any], *, digits: int = 3) -> str:
    """The synergy table and its companions as plain text."""
    def ci(t: pd.DataFrame, sign: str = "+") -> pd.Series:
        f = f"{sign}.{digits}f"
        return t.apply(lambda r: f"{r['estimate']:{f}} [{r['ci_low']:{f}}, {r['ci_high']:{f}}]", axis=1)

    parts = []
    syn = result["synergy"].copy()
    if not syn.empty:
        syn["diff [95% CI]"] = ci(syn)
        syn = syn[["model", "contrast", "language", "diff [95% CI]", "p", "effect_size", "n_countries", "n_items"]]
        parts.append("Synergy: alignment asked in the country's own language minus asked in English / in the other "
                     "languages (paired bootstrap over items)\n" + syn.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    mix = result["mixedlm"]
    if not mix.empty:
        m = mix[["model", "estimate", "ci_low", "ci_high", "p"]]
        parts.append("Mixed model alignment ~ same_language + C(language) + C(country) + (1|item): same_language\n"
                     + m.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    var = result["variance"]
    if not var.empty:
        parts.append("Variance decomposition of the language x country grid of cell means (two-way ANOVA)\n"
                     + var[["model", "source", "sum_sq", "df", "share", "F", "p"]].to_string(
                         index=False, float_format=lambda v: f"{v:.3g}"))
    cond = result["conditions"].copy()
    if not cond.empty:
        cond["alignment [95% CI]"] = ci(cond, sign="")
        parts.append("GlobalOpinionQA's three conditions (countries with a shipped non-English language)\n"
                     + cond[["model", "condition", "alignment [95% CI]", "n_countries", "n"]].to_string(index=False))
    cells = result["cells"]
    if not cells.empty:
        wide = cells.pivot_table(index=["model", "language"], columns="country", values="estimate")
        parts.append("Alignment per (language, country) cell (1 - |model - human| mean score, per item)\n"
                     + wide.to_string(float_format=lambda v: f"{v:.3f}"))
    return "\n\n".join(parts)
