"""Figures of the probing results (matplotlib, headless): selected neurons per layer, and the
ablation's change in alignment against the distribution of random sets matched per layer."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def layer_kind(conditions: pd.Series) -> np.ndarray:
    """``culture-general`` for the condition ``general``, ``culture-specific`` for the rest
    (``specific:<country>``, as in :func:`~wvsalign.probing.attribution.layer_distribution` output)."""
    return np.where(conditions.astype(str) == "general", "culture-general", "culture-specific")


def layer_figure(layers: pd.DataFrame, *, title: str = "selected neurons per layer") -> Any:
    """Bars of selected neurons per layer: culture-general, and culture-specific summed over countries.

    ``layers``: :func:`~wvsalign.probing.attribution.layer_distribution` output (condition, layer, n, share).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    layer_axes(layers.assign(kind=layer_kind(layers["condition"])), ax, title=title)
    fig.tight_layout()
    return fig


def ablation_figure(changes: pd.DataFrame, *, group_by: str = "category",
                    title: str = "change in alignment: ablated set vs random sets") -> Any:
    """Per group: the real ablation's change in alignment (with the ablated run's Fisher CI shifted
    by the base estimate) as a dot, the random sets' changes as small grey dots.

    ``changes``: :func:`~wvsalign.probing.effects.alignment_changes` output.
    """
    plt = _plt()
    part = changes[changes["group_by"].isin([group_by, "overall"])]
    groups = list(dict.fromkeys(part.sort_values(["group_by", "group"], ascending=[False, True])["group"]))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(groups) + 1.2))
    for y, g in enumerate(groups):
        rows = part[part["group"] == g]
        rnd = rows[rows["condition"].astype(str).str.startswith("random-")]
        ax.scatter(rnd["delta"], np.full(len(rnd), y), s=10, color="0.6", zorder=2,
                   label="random sets" if y == 0 else None)
        real = rows[rows["condition"] == "ablated"]
        if len(real):
            r = real.iloc[0]
            ax.errorbar([r["delta"]], [y], xerr=[[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]],
                        fmt="o", color="C3", zorder=3, label="ablated set (95% CI)" if y == 0 else None)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(groups)), groups)
    ax.set_xlabel("change in alignment (r ablated - r unablated)")
    ax.set_title(title)
    ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return fig


def country_ablation_axes(by_country: pd.DataFrame, ax: Any, *, title: str = "") -> Any:
    """Per country (sorted by the real change): the random sets' changes as a grey range with
    their median, the real set's change as a dot (red when outside every random change).

    ``by_country``: :func:`~wvsalign.probing.summary.ablation_by_country` rows of one model.
    """
    frame = by_country.sort_values("real_delta").reset_index(drop=True)
    y = np.arange(len(frame))
    ax.hlines(y, frame["random_min"], frame["random_max"], color="0.75", lw=3, label="random sets: range")
    ax.scatter(frame["random_median"], y, marker="|", color="0.35", s=40, label="random sets: median", zorder=3)
    outside = frame["outside"].to_numpy(bool)
    ax.scatter(frame["real_delta"][outside], y[outside], color="C3", s=14, zorder=4,
               label="ablated set: outside every random change")
    ax.scatter(frame["real_delta"][~outside], y[~outside], color="C0", s=14, zorder=4,
               label="ablated set: inside the random range")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, frame["country"].astype(str), fontsize=6)
    ax.set_xlabel("change in alignment (r ablated - r unablated)")
    ax.set_title(title, fontsize=10)
    return ax


def layer_axes(layers: pd.DataFrame, ax: Any, *, title: str = "") -> Any:
    """Stacked bars of culture-general and culture-specific neurons per layer.

    ``layers``: :func:`~wvsalign.probing.summary.layer_shares` rows of one model.
    """
    table = layers.pivot_table(index="layer", columns="kind", values="n", aggfunc="sum", fill_value=0).sort_index()
    bottom = np.zeros(len(table))
    for i, kind in enumerate(sorted(table.columns)):
        ax.bar(table.index, table[kind].to_numpy(), bottom=bottom, label=kind, color=f"C{i + 1}")
        bottom += table[kind].to_numpy()
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer")
    ax.set_ylabel("neurons")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return ax


def summary_figure(layers: pd.DataFrame, by_country: pd.DataFrame) -> Any:
    """One column per model: culture neurons per layer (top) and the per-country ablation effect
    against the random sets (bottom)."""
    plt = _plt()
    models = list(dict.fromkeys(list(layers.get("model", [])) + list(by_country.get("model", []))))
    if not models:
        raise ValueError("nothing to plot: no layer distribution and no ablation")
    n_c = max([int((by_country["model"] == m).sum()) for m in models] + [10])
    fig, axes = plt.subplots(2, len(models), figsize=(5.5 * len(models), 3 + 0.14 * n_c),
                             gridspec_kw={"height_ratios": [3, 0.14 * n_c]}, squeeze=False)
    for j, m in enumerate(models):
        lay, abl = layers[layers["model"] == m], by_country[by_country["model"] == m]
        if len(lay):
            layer_axes(lay, axes[0, j], title=f"{m}: culture neurons per layer")
        else:
            axes[0, j].set_axis_off()
        if len(abl):
            n_rand = int(abl["n_random"].max())
            country_ablation_axes(abl, axes[1, j], title=f"{m}: ablating the culture-general set vs {n_rand} random sets")
            if j == 0:
                axes[1, j].legend(frameon=True, fontsize=7, loc="upper left")
        else:
            axes[1, j].set_axis_off()
    fig.tight_layout()
    return fig


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` (PNG by suffix) atomically and close it."""
    from .._io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
    _plt().close(fig)
    return path
