"""Writes the CSV data sets of the R reference suite (run once; the files are committed).

    python3 tests/r/make_data.py

Seeded, so re-running writes the same files. ``reference.R`` reads them and writes the R
results that ``tests/test_r_reference.py`` compares with.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def linear(rng: np.random.Generator) -> pd.DataFrame:
    """OLS/logit data: 120 rows, 12 clusters, a 4-level factor, heteroskedastic errors, an aliased column."""
    n = 120
    cl = np.repeat([f"k{i:02d}" for i in range(12)], n // 12)
    g = rng.choice(["a", "b", "c", "d"], n)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 2, n)
    cluster_effect = dict(zip(np.unique(cl), rng.normal(0, 0.5, 12)))
    noise = rng.normal(0, 0.5 + 0.5 * x2, n) + np.vectorize(cluster_effect.get)(cl)
    y = 1.0 + 0.6 * x1 - 0.4 * x2 + pd.Series(g).map({"a": 0, "b": 0.3, "c": -0.2, "d": 0.5}).to_numpy() + noise
    eta = -0.3 + 0.9 * x1 - 0.5 * x2 + 0.3 * np.vectorize(cluster_effect.get)(cl)
    yb = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y.round(6), "yb": yb, "x1": x1.round(6), "x2": x2.round(6), "g": g, "cl": cl,
                         "x3": (x1.round(6) - 2 * x2.round(6)).round(6)})


def crossed(rng: np.random.Generator) -> pd.DataFrame:
    """Mixed-model data: 20 countries x 15 items, random intercepts for both."""
    nc, ni = 20, 15
    country = np.repeat(np.arange(nc), ni)
    item = np.tile(np.arange(ni), nc)
    x = rng.normal(size=nc * ni)
    z = rng.integers(0, 2, nc * ni)
    y = (0.5 + 0.8 * x - 0.3 * z + rng.normal(0, 0.6, nc)[country] + rng.normal(0, 0.4, ni)[item]
         + rng.normal(0, 0.5, nc * ni))
    return pd.DataFrame({"y": y.round(6), "x": x.round(6), "z": z, "country": [f"C{c:02d}" for c in country],
                         "item_id": [f"Q{i:02d}" for i in item]})


def correlation(rng: np.random.Generator) -> pd.DataFrame:
    """Correlation data: 40 pairs, y with ties (for Spearman's mid-ranks)."""
    x = rng.normal(size=40)
    y = np.round(0.5 * x + rng.normal(size=40), 1)
    return pd.DataFrame({"x": x.round(6), "y": y})


def main() -> None:
    rng = np.random.default_rng(20240508)
    linear(rng).to_csv(HERE / "linear.csv", index=False)
    crossed(rng).to_csv(HERE / "crossed.csv", index=False)
    correlation(rng).to_csv(HERE / "correlation.csv", index=False)


if __name__ == "__main__":
    main()
