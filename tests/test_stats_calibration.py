"""Calibration: with no real relation, p-values are uniform (1,000 simulated data sets, seeded).

Both tests run the public functions on one table that holds all 1,000 data sets as 1,000
"models", so the vectorised paths are the ones checked; each takes about a second.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as ss

from wvsalign.stats import alignment, western_bias

N_DATASETS = 1000


def test_pearson_p_values_are_uniform_under_no_relation():
    rng = np.random.default_rng(20240601)
    n_countries, n_items = 5, 4  # 20 pairs per data set
    grid = pd.MultiIndex.from_product([[f"C{i}" for i in range(n_countries)], [f"T{j}" for j in range(n_items)]],
                                      names=["country", "item_id"]).to_frame(index=False)
    grid["category"] = "k"
    human = grid.assign(model="human", mean_score=rng.uniform(0, 1, len(grid)))
    models = pd.concat([grid.assign(model=f"m{d:04d}", mean_score=rng.uniform(0, 1, len(grid)))
                        for d in range(N_DATASETS)], ignore_index=True)
    got = alignment(pd.concat([human, models], ignore_index=True), by="overall", ci="none")
    assert len(got) == N_DATASETS and (got["n"] == 20).all()
    assert ss.kstest(got["p"], "uniform").pvalue > 0.01
    # and the test has power when there is a relation
    related = models.assign(mean_score=models["mean_score"] * 0.2 + np.tile(human["mean_score"], N_DATASETS))
    strong = alignment(pd.concat([human, related], ignore_index=True), by="overall", ci="none")
    assert (strong["p"] < 0.05).mean() > 0.9


def test_western_bias_permutation_p_values_are_uniform_under_no_bias():
    rng = np.random.default_rng(7)
    countries = [f"X{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(20)]
    west = {c: i < 6 for i, c in enumerate(countries)}
    # per-country alignment of 1,000 models: skewed (like correlations), no Western effect
    values = np.tanh(rng.normal(0.4, 0.3, size=(N_DATASETS, len(countries))))
    table = pd.DataFrame({
        "model": np.repeat([f"m{d:04d}" for d in range(N_DATASETS)], len(countries)),
        "group_by": "country", "group": np.tile(countries, N_DATASETS), "metric": "pearson",
        "estimate": values.ravel(), "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "n": 30,
    })
    got = western_bias(table, west, n_boot=2, n_perm=999, seed=11)
    assert len(got) == N_DATASETS
    assert ss.kstest(got["p"], "uniform").pvalue > 0.01
    # power: a Western advantage of 0.5 is found
    shifted = table.assign(estimate=table["estimate"] + 0.5 * table["group"].map(west))
    assert (western_bias(shifted, west, n_boot=2, n_perm=999, seed=11)["p"] < 0.05).mean() > 0.8
