"""Benchmark of the statistics stage: every alignment metric at full size.

20 models x 64 countries x 239 items (the embedded bank when it has 239 items, else a
synthetic bank of that size), 2,000 bootstrap replicates:

- mean scores (models and humans),
- Pearson r per category, country, item and overall, each with a cluster-bootstrap percentile CI,
- 1 - JS distance and 1 - W1/(K-1) per model x country x item, then their mean per country
  with a bootstrap CI,
- Western bias with its bootstrap CI and permutation test (9,999 permutations).

Synthetic tables are built first (not timed). Prints one line per step and, last,
``bench_stats: <seconds> s`` (the timed total). Run: ``python benchmarks/bench_stats.py``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from wvsalign.stats import alignment, distribution_similarity, mean_scores, western_bias
from wvsalign.stats.similarity import aggregate_cells
from wvsalign.survey.countries import Countries
from wvsalign.survey.items import CATEGORIES, ItemBank


def full_bank(n_items: int) -> tuple[ItemBank, str]:
    """The embedded bank when it has ``n_items`` items, else a synthetic one with WVS-like option counts."""
    bank = ItemBank.wvs7()
    if len(bank) >= n_items:
        return bank.filter(ids=bank.ids[:n_items]), "embedded WVS-7 bank"
    sizes = (4, 4, 3, 2, 10, 4, 5, 10, 3, 4)
    cats = list(CATEGORIES)
    items = [{"id": f"B{i + 1}", "category": cats[i % len(cats)], "stem": f"Item {i + 1}?",
              "options": [[c, f"o{c}"] for c in range(1, sizes[i % len(sizes)] + 1)], "high_score_means": "more"}
             for i in range(n_items)]
    return ItemBank.from_dict({"name": "bench", "items": items}), "synthetic bank"


def countries_and_flags(n: int) -> tuple[list[str], dict[str, bool], str]:
    registry = Countries.load()
    if len(registry) >= n:
        chosen = [c for c in registry][:n]
        flags = {c.iso3: c.western for c in chosen}
        if 0 < sum(flags.values()) < n:
            return [c.iso3 for c in chosen], flags, "registry countries"
    codes = [f"X{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(n)]
    return codes, {c: i % 3 == 0 for i, c in enumerate(codes)}, "synthetic countries"


def tables(bank: ItemBank, countries: list[str], n_models: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Human and probs tables: Dirichlet answers, models = mixture of the human answers and noise."""
    rng = np.random.default_rng(seed)
    opts = bank.options_frame()
    k = opts.groupby("item_id", sort=False).size()
    item_of_row = np.repeat(np.arange(len(k)), k.to_numpy())
    n_c, n_r = len(countries), len(opts)
    # human: one Dirichlet(2) distribution per country x item
    g = rng.gamma(2.0, size=(n_c, n_r))
    sums = np.zeros((n_c, len(k)))
    np.add.at(sums.T, item_of_row, g.T)
    share = g / sums[:, item_of_row]
    human = pd.DataFrame({
        "country": np.repeat(countries, n_r), "item_id": np.tile(opts["item_id"].to_numpy(), n_c),
        "code": np.tile(opts["code"].to_numpy(), n_c), "share": share.ravel(), "n": 1200, "n_eff": 1000.0,
    })
    parts = []
    for m in range(n_models):
        noise = rng.gamma(1.0, size=(n_c, n_r))
        nsum = np.zeros((n_c, len(k)))
        np.add.at(nsum.T, item_of_row, noise.T)
        w = rng.uniform(0.2, 0.8)
        prob = w * share + (1 - w) * noise / nsum[:, item_of_row]
        prompt = (np.arange(n_c)[:, None] * len(k) + item_of_row[None, :]).ravel()
        parts.append(pd.DataFrame({
            "model": f"model{m:02d}", "prompt_id": [f"m{m}p{p}" for p in prompt], "item_id": human["item_id"],
            "country": human["country"], "template": "persona", "code": human["code"], "label": "",
            "prob": prob.ravel(), "logprob": np.log(prob.ravel()), "valid_mass": 1.0,
        }))
    return human, pd.concat(parts, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--countries", type=int, default=64)
    parser.add_argument("--items", type=int, default=239)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--n-perm", type=int, default=9999)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    bank, bank_kind = full_bank(args.items)
    countries, western, country_kind = countries_and_flags(args.countries)
    t0 = time.perf_counter()
    human, probs = tables(bank, countries, args.models, args.seed)
    print(f"data: {args.models} models x {len(countries)} {country_kind} x {len(bank)} items ({bank_kind}); "
          f"{len(probs):,} probs rows, {len(human):,} human rows; built in {time.perf_counter() - t0:.1f} s "
          "(not timed)")

    steps: list[tuple[str, float]] = []

    def timed(name, fn):
        start = time.perf_counter()
        out = fn()
        steps.append((name, time.perf_counter() - start))
        print(f"{name:<50} {steps[-1][1]:7.2f} s  ({len(out):,} rows)", flush=True)
        return out

    boot = dict(ci="bootstrap", n_boot=args.n_boot, seed=args.seed)
    scores = timed("mean scores", lambda: mean_scores(probs, human, bank))
    for by in ("category", "country", "item", "overall"):
        timed(f"pearson by {by} + bootstrap CI", lambda by=by: alignment(scores, by=by, **boot))
    for metric in ("js", "wasserstein"):
        cells = timed(f"{metric} similarity per country x item",
                      lambda metric=metric: distribution_similarity(probs, human, bank, metric=metric))
        # distribution_similarity(..., by="country") would compute the same cells again
        timed(f"{metric} similarity per country + bootstrap CI",
              lambda cells=cells: aggregate_cells(cells, by="country", keys=("model", "template"),
                                                  n_boot=args.n_boot, seed=args.seed))
    per_country = alignment(scores, by="country", ci="none")
    timed("western bias (bootstrap + permutation test)",
          lambda: western_bias(per_country, western, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed))
    total = sum(t for _, t in steps)
    print(f"bench_stats: {total:.1f} s")


if __name__ == "__main__":
    main()
