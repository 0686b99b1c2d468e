"""Small synthetic tables for the statistics tests: an item bank, human and probs tables.

Independent of the embedded bank and registry (which grow while we work) so the tests hold
for any bank. Everything is seeded.
"""
from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pandas as pd

from wvsalign.survey.items import CATEGORIES, ItemBank

SIZES = (2, 3, 4, 5, 10)


def make_bank(n_items: int = 12, seed: int = 0, nominal: tuple[str, ...] = ()) -> ItemBank:
    """A bank of ``n_items`` items spread over the categories, with 2..10 options; ordinal but
    for the ids in ``nominal``."""
    rng = np.random.default_rng(seed)
    cats = list(CATEGORIES)
    items = []
    for i in range(n_items):
        k = SIZES[i % len(SIZES)]
        entry = {
            "id": f"T{i + 1}",
            "category": cats[i % 4],
            "stem": f"Synthetic question {i + 1}?",
            "options": [[c, f"option {c}"] for c in range(1, k + 1)],
            "high_score_means": "more",
        }
        if k == 3 and i % 2:
            entry["order"] = [1, 3, 2]
        if k == 4:
            entry["extra_codes"] = {0: {"label": "hard to say", "handling": "drop"}}
        if entry["id"] in nominal:
            entry["scale"] = "nominal"
        items.append(entry)
    return ItemBank.from_dict({"name": "synthetic", "items": items})


def make_countries(n: int = 10) -> list[str]:
    """Three-letter synthetic country codes (XAA, XAB, ...)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [f"X{letters[i // 26]}{letters[i % 26]}" for i in range(n)]


def western_map(codes: list[str]) -> dict[str, bool]:
    """Every third country Western."""
    return {c: i % 3 == 0 for i, c in enumerate(codes)}


def zone_map(codes: list[str]) -> dict[str, str]:
    """Three zones in turn."""
    return {c: f"zone{i % 3}" for i, c in enumerate(codes)}


def _dirichlet(rng, k, size=None, conc=2.0):
    return rng.dirichlet(np.full(k, conc), size=size)


def make_human(bank: ItemBank, countries: list[str], seed: int = 0, dont_know: bool = False) -> pd.DataFrame:
    """Human table: Dirichlet shares per country x item; optionally a -1 (don't know) code."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in countries:
        for it in bank:
            shares = _dirichlet(rng, it.n_options)
            codes = list(it.codes)
            if dont_know:
                dk = rng.uniform(0.0, 0.2)
                shares = np.append(shares * (1 - dk), dk)
                codes = codes + [-1]
            n = int(rng.integers(500, 1500))
            for code, share in zip(codes, shares):
                rows.append({"country": c, "item_id": it.item_id, "code": code, "share": share, "n": n,
                             "n_eff": 0.8 * n})
    return pd.DataFrame(rows)


def prompt_id(*parts) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16]


def make_probs(
    bank: ItemBank,
    countries: list[str],
    human: pd.DataFrame | None = None,
    models: tuple[str, ...] = ("m1", "m2"),
    seed: int = 0,
    variants: dict[str, list] | None = None,
    default: bool = False,
    signal: float = 0.6,
) -> pd.DataFrame:
    """Probs table: per model x country (x NONE) x item x variant, a mix of the human distribution and noise."""
    rng = np.random.default_rng(seed)
    variants = variants or {}
    names = list(variants)
    combos = list(itertools.product(*[variants[n] for n in names])) or [()]
    hshare = {}
    if human is not None:
        for (c, i), g in human[human["code"] >= 0].groupby(["country", "item_id"]):
            hshare[(c, i)] = dict(zip(g["code"], g["share"] / g["share"].sum()))
    rows = []
    targets = list(countries) + (["NONE"] if default else [])
    for m in models:
        for c in targets:
            for it in bank:
                for combo in combos:
                    base = np.array([hshare.get((c, it.item_id), {}).get(code, 1 / it.n_options) for code in it.codes])
                    p = signal * base + (1 - signal) * _dirichlet(rng, it.n_options)
                    p = p / p.sum()
                    pid = prompt_id(m, c, it.item_id, *combo)
                    for code, label, prob in zip(it.codes, it.labels, p):
                        row = {"model": m, "prompt_id": pid, "item_id": it.item_id, "country": c,
                               "template": "persona" if c != "NONE" else "default", "code": code, "label": label,
                               "prob": prob, "logprob": np.log(prob), "valid_mass": 0.9}
                        row.update(dict(zip(names, combo)))
                        rows.append(row)
    return pd.DataFrame(rows)


def make_scores(n_countries: int, n_items: int, seed: int = 0, models=("m1",), signal: float = 0.5,
                categories: int = 2) -> pd.DataFrame:
    """A scores table directly (human + models), mean scores in [0, 1]."""
    rng = np.random.default_rng(seed)
    countries = make_countries(n_countries)
    items = [f"T{i + 1}" for i in range(n_items)]
    cats = {it: f"cat{i % categories}" for i, it in enumerate(items)}
    grid = pd.DataFrame(list(itertools.product(countries, items)), columns=["country", "item_id"])
    grid["category"] = grid["item_id"].map(cats)
    item_effect = dict(zip(items, rng.uniform(0.2, 0.8, n_items)))
    human = grid.assign(model="human",
                        mean_score=grid["item_id"].map(item_effect) + rng.normal(0, 0.1, len(grid)))
    parts = [human]
    for m in models:
        parts.append(grid.assign(model=m, mean_score=signal * human["mean_score"].to_numpy()
                                 + (1 - signal) * rng.uniform(0, 1, len(grid))))
    return pd.concat(parts, ignore_index=True)[["model", "country", "item_id", "category", "mean_score"]]
