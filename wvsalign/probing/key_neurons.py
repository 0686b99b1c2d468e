"""Key neurons (the dual-evaluation analysis): per-prompt top-k neurons per layer at the answer
position, neuron sets per condition, specialised-neuron shares and key-neuron counts against
alignment.

A condition's key-neuron set in layer l, ``N_l``, holds the neurons that are among the top-k
of at least ``min_share`` of the condition's prompts (default: of at least one prompt, the
union). Conditions are whatever label the capture grouped by: a country persona, the
no-country default (``NONE``), a language.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .capture import NEURON_COLUMNS, Activations


def _check_k(acts: Activations, k: int | None) -> int:
    recorded = acts.topk_indices.shape[2]
    k = recorded if k is None else k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= recorded:
        raise InputError(f"k must be between 1 and the k of the capture ({recorded}); capture with a larger k "
                         "to sweep further", value=k)
    return int(k)


def key_neurons(acts: Activations, *, k: int | None = None, min_share: float = 0.0) -> pd.DataFrame:
    """Key-neuron sets per condition as a tidy table.

    Parameters
    ----------
    acts : Activations
        A capture (:func:`~wvsalign.probing.capture.collect_activations`).
    k : int, optional
        Top neurons per prompt and layer (at most the capture's k; default the capture's k).
    min_share : float
        A neuron is a key neuron of a condition in a layer when it is in the top-k of more than
        ``min_share`` of the condition's prompts (0: of at least one prompt).

    Returns
    -------
    pandas.DataFrame
        model, site, layer, neuron, condition, score (share of the condition's prompts with the
        neuron in their top-k), n_prompts; one row per key neuron.
    """
    k = _check_k(acts, k)
    if not 0.0 <= float(min_share) < 1.0:
        raise InputError("min_share must be in [0, 1)", value=min_share)
    p, L, _ = acts.topk_indices.shape
    idx = acts.topk_indices[:, :, :k]
    cond = np.asarray(acts.conditions, dtype=object)
    frame = pd.DataFrame({
        "condition": np.repeat(cond, L * k),
        "layer": np.tile(np.repeat(np.arange(L), k), p),
        "neuron": idx.reshape(-1).astype(np.int64),
        "prompt": np.repeat(np.arange(p), L * k),
    })
    frame = frame[frame["neuron"] >= 0]
    n_cond = pd.Series(cond).value_counts()
    hits = frame.groupby(["condition", "layer", "neuron"], sort=True)["prompt"].nunique().rename("hits").reset_index()
    hits["n_prompts"] = hits["condition"].map(n_cond).astype(np.int64)
    hits["score"] = hits["hits"] / hits["n_prompts"]
    hits = hits[hits["score"] > min_share] if min_share > 0 else hits
    hits = hits.assign(model=acts.model, site=acts.site)
    return hits[list(NEURON_COLUMNS) + ["n_prompts"]].reset_index(drop=True)


def neuron_sets(table: pd.DataFrame, n_layers: int) -> dict[str, list[set[int]]]:
    """Per condition, the key-neuron set of every layer (from :func:`key_neurons`)."""
    out: dict[str, list[set[int]]] = {}
    for cond, part in table.groupby("condition", sort=True):
        sets: list[set[int]] = [set() for _ in range(n_layers)]
        for layer, neuron in zip(part["layer"].to_numpy(), part["neuron"].to_numpy()):
            sets[int(layer)].add(int(neuron))
        out[str(cond)] = sets
    return out


def specialised_share(sets_a: Sequence[set[int]], sets_b: Sequence[set[int]]) -> float:
    """Mean over layers of |N_B \\ N_A| / |N_B|: the share of B's key neurons that A lacks.

    Layers where N_B is empty are left out of the mean (NaN when every layer is empty).

    Examples
    --------
    >>> specialised_share([{1, 2}, {3}], [{2, 5}, {3}])
    0.25
    """
    if len(sets_a) != len(sets_b):
        raise InputError(f"the two conditions have {len(sets_a)} and {len(sets_b)} layers")
    shares = [len(b - a) / len(b) for a, b in zip(sets_a, sets_b) if b]
    return float(np.mean(shares)) if shares else float("nan")


def specialised_table(table: pd.DataFrame, n_layers: int, reference: str | None = None) -> pd.DataFrame:
    """Specialised-neuron share of every condition B against ``reference`` A (or every pair).

    Returns
    -------
    pandas.DataFrame
        condition_a, condition_b, share, n_key_b (key neurons of B over all layers).
    """
    sets = neuron_sets(table, n_layers)
    if reference is not None and reference not in sets:
        raise InputError(f"reference condition {reference!r} is not among the conditions {sorted(sets)}")
    refs = [reference] if reference is not None else list(sets)
    rows = []
    for a in refs:
        for b in sets:
            if a == b:
                continue
            rows.append({"condition_a": a, "condition_b": b, "share": specialised_share(sets[a], sets[b]),
                         "n_key_b": int(sum(len(s) for s in sets[b]))})
    return pd.DataFrame(rows, columns=["condition_a", "condition_b", "share", "n_key_b"])


def key_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Key neurons per condition (over all layers): condition, n_key."""
    counts = table.groupby("condition", sort=True).size().rename("n_key").reset_index()
    counts["n_key"] = counts["n_key"].astype(np.int64)
    return counts


def k_sweep(acts: Activations, ks: Sequence[int] | None = None, *, min_share: float = 0.0) -> pd.DataFrame:
    """Key-neuron counts per condition for every k in ``ks`` (default 1..capture's k): k, condition, n_key."""
    ks = list(range(1, acts.topk_indices.shape[2] + 1)) if ks is None else [int(_check_k(acts, k)) for k in ks]
    parts = [key_counts(key_neurons(acts, k=k, min_share=min_share)).assign(k=k) for k in ks]
    return pd.concat(parts, ignore_index=True)[["k", "condition", "n_key"]]


def counts_vs_alignment(counts: pd.DataFrame, alignment: pd.DataFrame, *, level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pearson r of key-neuron count against alignment across conditions, with a Fisher CI.

    Parameters
    ----------
    counts : DataFrame
        From :func:`key_counts` (condition, n_key).
    alignment : DataFrame
        An alignment table ``by="country"`` (group = country, estimate = r); its rows are
        matched to conditions by ``group``.

    Returns
    -------
    (joined, result)
        The joined table (condition, n_key, alignment) and the one-row correlation
        (:func:`wvsalign.stats.correlate`: metric, estimate, ci_low, ci_high, p, n, ...).

    Raises
    ------
    InputError
        When fewer than 4 conditions have both a count and an alignment (no CI possible).
    """
    from ..stats import correlate

    if "group" not in alignment.columns or "estimate" not in alignment.columns:
        raise InputError("alignment must be an alignment table (columns group, estimate)", column="group")
    align = alignment
    if "group_by" in align.columns:
        align = align[align["group_by"] == "country"]
    align = align[["group", "estimate"]].rename(columns={"group": "condition", "estimate": "alignment"})
    joined = counts.merge(align, on="condition", how="inner")
    if len(joined) < 4:
        raise InputError(f"only {len(joined)} conditions have both key-neuron counts and an alignment; need at least 4 "
                         "(are the conditions country codes, as in an alignment table by='country'?)")
    result = correlate(joined["n_key"].to_numpy(float), joined["alignment"].to_numpy(float), metric="pearson",
                       ci="fisher", level=level)
    return joined, result


def summary(acts: Activations, *, k: int | None = None, reference: str | None = None,
            alignment: pd.DataFrame | None = None, min_share: float = 0.0) -> dict[str, Any]:
    """Every key-neuron table at once: neurons, counts, specialised shares, and the count-alignment relation."""
    table = key_neurons(acts, k=k, min_share=min_share)
    out: dict[str, Any] = {"key_neurons": table, "counts": key_counts(table),
                           "specialised": specialised_table(table, acts.n_layers, reference)}
    if alignment is not None:
        out["counts_alignment"], out["correlation"] = counts_vs_alignment(out["counts"], alignment)
    return out
