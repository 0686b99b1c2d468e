"""Ablation effects: alignment per country, category and overall of ablated runs against the
unablated one, and where the real set's effect falls among random sets matched per layer.

Input: probs tables per condition ("base", the real ablation, "random-<seed>", ...); output
tidy tables. No model work here (see :func:`wvsalign.probing.api.ablation_study`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

BY = ("overall", "category", "country")


def _scores(probs: Mapping[str, pd.DataFrame], human: pd.DataFrame, bank) -> pd.DataFrame:
    from ..stats import mean_scores

    parts = []
    for cond, frame in probs.items():
        f = frame.copy()
        f["model"] = cond
        parts.append(f)
    return mean_scores(pd.concat(parts, ignore_index=True), human, bank)


def alignment_changes(probs: Mapping[str, pd.DataFrame], human: pd.DataFrame, bank=None, *, base: str = "base",
                      by: Sequence[str] = BY, ci: str = "fisher", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Alignment of every condition and its change against ``base``, per ``by`` group.

    Returns
    -------
    pandas.DataFrame
        condition, group_by, group, estimate, ci_low, ci_high, n, base_estimate, delta.

    Raises
    ------
    InputError
        When ``base`` is not among the conditions.
    """
    from ..stats import alignment

    if base not in probs:
        raise InputError(f"the unablated condition {base!r} is not among the probs tables {sorted(probs)}")
    scores = _scores(probs, human, bank)
    parts = []
    for b in by:
        tab = alignment(scores, by=b, ci=ci, n_boot=n_boot, seed=seed)
        tab = tab.rename(columns={"model": "condition"})
        parts.append(tab[["condition", "group_by", "group", "estimate", "ci_low", "ci_high", "n"]])
    out = pd.concat(parts, ignore_index=True)
    ref = out[out["condition"] == base][["group_by", "group", "estimate"]].rename(columns={"estimate": "base_estimate"})
    out = out.merge(ref, on=["group_by", "group"], how="left")
    out["delta"] = out["estimate"] - out["base_estimate"]
    return out


def compare_with_base(probs: Mapping[str, pd.DataFrame], human: pd.DataFrame, bank=None, *, condition: str,
                      base: str = "base", by: Sequence[str] = ("overall", "category")) -> pd.DataFrame:
    """Overlapping-correlation tests (Steiger, Williams, Zou: :func:`wvsalign.stats.compare_alignment`)
    of ``condition`` against ``base`` on the same country x item pairs."""
    from ..stats import compare_alignment

    scores = _scores({base: probs[base], condition: probs[condition]}, human, bank)
    return pd.concat([compare_alignment(scores, condition, base, by=b) for b in by], ignore_index=True)


def random_comparison(changes: pd.DataFrame, *, real: str, randoms: Sequence[str]) -> pd.DataFrame:
    """Where the real set's change in alignment falls among the random sets' changes.

    Returns
    -------
    pandas.DataFrame
        group_by, group, base_estimate, real_estimate, real_delta, n_random, random_mean,
        random_sd, random_min, random_q025, random_median, random_q975, random_max,
        share_below (share of random changes below the real one), p_random (two-sided:
        (1 + #|random| >= |real|) / (n_random + 1)).
    """
    if real not in set(changes["condition"]):
        raise InputError(f"condition {real!r} is not in the changes table")
    rows = []
    real_rows = changes[changes["condition"] == real]
    rand = changes[changes["condition"].isin(list(randoms))]
    for r in real_rows.itertuples():
        d = rand[(rand["group_by"] == r.group_by) & (rand["group"] == r.group)]["delta"].dropna().to_numpy()
        n = len(d)
        row = {"group_by": r.group_by, "group": r.group, "base_estimate": r.base_estimate, "real_estimate": r.estimate,
               "real_delta": r.delta, "n_random": n}
        if n:
            row.update({"random_mean": d.mean(), "random_sd": d.std(ddof=1) if n > 1 else np.nan, "random_min": d.min(),
                        "random_q025": np.quantile(d, 0.025), "random_median": np.median(d),
                        "random_q975": np.quantile(d, 0.975), "random_max": d.max(),
                        "share_below": float(np.mean(d < r.delta)),
                        "p_random": (1 + int(np.sum(np.abs(d) >= abs(r.delta)))) / (n + 1)})
        rows.append(row)
    cols = ["group_by", "group", "base_estimate", "real_estimate", "real_delta", "n_random", "random_mean", "random_sd",
            "random_min", "random_q025", "random_median", "random_q975", "random_max", "share_below", "p_random"]
    return pd.DataFrame(rows).reindex(columns=cols)


def control_changes(control_probs: Mapping[str, pd.DataFrame], *, base: str = "base", items=None) -> pd.DataFrame:
    """Accuracy on the control items per condition and group, and its change against ``base``."""
    from .control import control_accuracy

    parts = [control_accuracy(frame, items).assign(condition=cond) for cond, frame in control_probs.items()]
    out = pd.concat(parts, ignore_index=True)
    ref = out[out["condition"] == base][["group", "accuracy"]].rename(columns={"accuracy": "base_accuracy"})
    out = out.merge(ref, on="group", how="left")
    out["delta"] = out["accuracy"] - out["base_accuracy"]
    return out[["condition", "group", "correct", "n", "accuracy", "mean_prob_correct", "base_accuracy", "delta"]]
