"""Calibration: with no real difference between the correlations, p-values are uniform.

1,000 seeded datasets per design, simulated from multivariate normal populations in which the
two compared correlations are equal; sample correlations are computed for all datasets at once
and passed as arrays to compare_correlations. A Kolmogorov-Smirnov test against U(0, 1) must
not reject (p > 0.01).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from wvsalign.stats import compare_correlations

N_DATASETS = 1000


def sample_correlations(cov: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sample correlation matrices of N_DATASETS datasets of n cases drawn from N(0, cov)."""
    rng = np.random.default_rng(seed)
    x = rng.multivariate_normal(np.zeros(len(cov)), cov, size=(N_DATASETS, n))
    x = x - x.mean(axis=1, keepdims=True)
    s = np.einsum("dni,dnj->dij", x, x)
    sd = np.sqrt(np.einsum("dii->di", s))
    return s / sd[:, :, None] / sd[:, None, :]


def assert_uniform(p: np.ndarray) -> None:
    assert len(p) == N_DATASETS and np.isfinite(p).all()
    ks = stats.kstest(p, "uniform")
    assert ks.pvalue > 0.01, ks


def test_fisher_independent_is_calibrated():
    cov = np.array([[1.0, 0.4], [0.4, 1.0]])
    r1 = sample_correlations(cov, 40, seed=11)[:, 0, 1]
    r2 = sample_correlations(cov, 70, seed=12)[:, 0, 1]
    df = compare_correlations(r1=r1, r2=r2, n=40, n2=70, method="fisher")
    assert_uniform(df["p"].to_numpy())


@pytest.mark.parametrize("method", ["steiger", "williams"])
def test_overlapping_tests_are_calibrated(method):
    # x = human scores, y1 / y2 = two models equally correlated with x (.5) and with each other (.6)
    cov = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.6], [0.5, 0.6, 1.0]])
    r = sample_correlations(cov, 60, seed=21)
    df = compare_correlations(r1=r[:, 0, 1], r2=r[:, 0, 2], r12=r[:, 1, 2], n=60, design="overlapping",
                              method=method)
    assert_uniform(df["p"].to_numpy())


def test_pearson_filon_nonoverlapping_is_calibrated():
    # variables x1, y1, x2, y2 with r(x1, y1) = r(x2, y2) = .4 and cross correlations .2/.3/.1/.25
    cov = np.array([
        [1.0, 0.4, 0.2, 0.3],
        [0.4, 1.0, 0.1, 0.25],
        [0.2, 0.1, 1.0, 0.4],
        [0.3, 0.25, 0.4, 1.0],
    ])
    r = sample_correlations(cov, 100, seed=31)
    df = compare_correlations(
        r1=r[:, 0, 1], r2=r[:, 2, 3], r_x1x2=r[:, 0, 2], r_x1y2=r[:, 0, 3], r_y1x2=r[:, 1, 2],
        r_y1y2=r[:, 1, 3], n=100, design="nonoverlapping", method="pearson_filon",
    )
    assert_uniform(df["p"].to_numpy())


def test_calibration_check_has_power():
    # The same check rejects when the correlations really differ (.5 vs .2): the KS test can fail.
    cov = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
    r = sample_correlations(cov, 60, seed=41)
    df = compare_correlations(r1=r[:, 0, 1], r2=r[:, 0, 2], r12=r[:, 1, 2], n=60, design="overlapping",
                              method="steiger")
    assert stats.kstest(df["p"].to_numpy(), "uniform").pvalue < 1e-6
