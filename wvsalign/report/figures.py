"""Report figures (seaborn on matplotlib's Agg backend), each drawn from a tidy table.

Every ``plot_x(table, ax=None)`` draws on ``ax`` (a new figure when None) and returns the
Axes (the faceted :func:`plot_model_vs_human` returns the Figure). No function here computes
a statistic: the tables come from :mod:`wvsalign.report.tables` / :mod:`wvsalign.stats`.
:func:`save_figure` writes PNG and SVG.

>>> from wvsalign.report import figures, tables
>>> ax = figures.plot_alignment_heatmap(tables.alignment_table(scores).data)  # doctest: +SKIP
"""
from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - before pyplot: no display needed, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .._io import atomic_path  # noqa: E402
from ..errors import InputError  # noqa: E402

#: what each figure is saved as
FIGURE_FORMATS = ("png", "svg")


def _quiet(fn: Any) -> Any:
    """Keep seaborn's and matplotlib's deprecation notices (about their own internals) out of the terminal."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", category)
            return fn(*args, **kwargs)
    return wrapper


def _axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size)
    return ax


def _need(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{what}: expected a DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{what}: the table lacks column(s) {missing}; expected {list(columns)}")


def _group_names(groups: pd.Series) -> pd.Series:
    return groups.astype(str).replace({"all": "overall"}).str.replace("_", " ")


@_quiet
def plot_alignment_heatmap(table: pd.DataFrame, ax: Any = None) -> Any:
    """Heatmap of r (rows: models, columns: categories) with each cell's CI written in it.

    Parameters
    ----------
    table : DataFrame
        The alignment table (model, group, estimate, ci_low, ci_high), e.g.
        ``alignment_table(scores).data``; categories keep their order in the table.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    Axes
    """
    _need(table, ("model", "group", "estimate", "ci_low", "ci_high"), "plot_alignment_heatmap")
    groups = list(dict.fromkeys(table["group"]))
    models = list(dict.fromkeys(table["model"]))
    wide = table.pivot_table(index="model", columns="group", values="estimate", aggfunc="first").reindex(
        index=models, columns=groups)
    text = table.assign(_t=[f"{e:.2f}\n[{lo:.2f}, {hi:.2f}]" if np.isfinite(e) else ""
                            for e, lo, hi in zip(table["estimate"], table["ci_low"], table["ci_high"])])
    annot = text.pivot_table(index="model", columns="group", values="_t", aggfunc="first").reindex(
        index=models, columns=groups).fillna("")
    ax = _axes(ax, (max(6.0, 1.1 * len(groups) + 2), 1.0 + 0.8 * len(models)))
    sns.heatmap(wide, annot=annot.to_numpy(), fmt="", cmap="vlag", vmin=-1, vmax=1, center=0, ax=ax,
                annot_kws={"fontsize": 7}, cbar_kws={"label": "r"}, linewidths=0.5)
    ax.set_xticklabels(_group_names(pd.Series(groups)), rotation=35, ha="right")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title("Alignment with human mean scores (r, 95% CI)")
    return ax


@_quiet
def plot_country_alignment(table: pd.DataFrame, ax: Any = None) -> Any:
    """Alignment per country as a sorted dot-and-whisker plot coloured by cultural zone.

    Parameters
    ----------
    table : DataFrame
        Per-country alignment (model, group, estimate, ci_low, ci_high, zone), e.g.
        ``country_table(scores).data``. Countries are sorted by the first model's estimate; each
        model has its own marker.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    Axes
    """
    _need(table, ("model", "group", "estimate", "ci_low", "ci_high", "zone"), "plot_country_alignment")
    models = list(dict.fromkeys(table["model"]))
    first = table[table["model"] == models[0]].sort_values("estimate", kind="stable")
    order = list(dict.fromkeys(list(first["group"]) + sorted(set(table["group"]) - set(first["group"]))))
    ypos = {c: i for i, c in enumerate(order)}
    zones = sorted(set(table["zone"].astype(str)))
    palette = dict(zip(zones, sns.color_palette("tab10", len(zones))))
    markers = ["o", "s", "D", "^", "v", "P", "X", "*"]
    ax = _axes(ax, (7.5, max(4.0, 0.22 * len(order) + 1.5)))
    offsets = np.linspace(-0.25, 0.25, len(models)) if len(models) > 1 else [0.0]
    for m, (model, off) in enumerate(zip(models, offsets)):
        rows = table[table["model"] == model]
        for zone, zrows in rows.groupby(rows["zone"].astype(str), sort=True):
            y = zrows["group"].map(ypos).to_numpy(float) + off
            err = np.vstack([zrows["estimate"] - zrows["ci_low"], zrows["ci_high"] - zrows["estimate"]])
            ax.errorbar(zrows["estimate"], y, xerr=np.abs(err), fmt=markers[m % len(markers)], color=palette[zone],
                        ecolor=palette[zone], elinewidth=1, markersize=4, capsize=0,
                        label=zone if m == 0 else None)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(order, fontsize=7)
    ax.set_ylim(-1, len(order))
    ax.set_xlabel("alignment (r over items, 95% CI)")
    title = "Alignment per country" + (f" (markers: {', '.join(models)})" if len(models) > 1 else f": {models[0]}")
    ax.set_title(title, fontsize=9)
    ax.legend(title="cultural zone", fontsize=7, title_fontsize=8, loc="lower right")
    return ax


@_quiet
def plot_model_vs_human(table: pd.DataFrame, *, label_countries: bool = True, col_wrap: int = 4) -> Any:
    """Model vs human mean scores per country, one panel per category, countries labelled.

    Each country is labelled once per panel, beside the highest of its models' points.

    Parameters
    ----------
    table : DataFrame
        :func:`wvsalign.report.tables.category_means` (model, country, category, model_score,
        human_score).
    label_countries : bool
        Write each country's code beside its points.
    col_wrap : int
        Panels per row.

    Returns
    -------
    Figure
    """
    _need(table, ("model", "country", "category", "model_score", "human_score"), "plot_model_vs_human")
    data = table.assign(category=_group_names(table["category"]))
    grid = sns.relplot(data=data, x="human_score", y="model_score", hue="model", col="category",
                       col_wrap=min(col_wrap, data["category"].nunique()), height=2.6, aspect=1.0, s=14,
                       facet_kws={"sharex": False, "sharey": False})
    for (category, ax) in grid.axes_dict.items():
        rows = data[data["category"] == category]
        lo = float(np.nanmin(rows[["model_score", "human_score"]].to_numpy()))
        hi = float(np.nanmax(rows[["model_score", "human_score"]].to_numpy()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.6, ls=":")
        if label_countries:  # one label per country, beside its highest point (the models share its x)
            top = rows.sort_values("model_score", ascending=False, kind="stable").drop_duplicates("country")
            for country, x, y in zip(top["country"], top["human_score"], top["model_score"]):
                ax.text(x, y, country, fontsize=4.5, alpha=0.8)
        ax.set_title(category, fontsize=9)
    grid.set_axis_labels("human mean score", "model mean score")
    grid.figure.suptitle("Model vs human mean scores per country (dotted: equal)", y=1.02)
    return grid.figure


@_quiet
def plot_bias(table: pd.DataFrame, ax: Any = None) -> Any:
    """Western and cultural-zone bias with CIs (dots and whiskers; one colour per model).

    Parameters
    ----------
    table : DataFrame
        :func:`wvsalign.report.tables.bias_table` data (model, group, estimate, ci_low, ci_high).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    Axes
    """
    _need(table, ("model", "group", "estimate", "ci_low", "ci_high"), "plot_bias")
    groups = list(dict.fromkeys(table["group"]))
    models = list(dict.fromkeys(table["model"]))
    palette = dict(zip(models, sns.color_palette("deep", len(models))))
    ax = _axes(ax, (7.0, 0.45 * len(groups) + 1.5))
    offsets = np.linspace(-0.2, 0.2, len(models)) if len(models) > 1 else [0.0]
    for model, off in zip(models, offsets):
        rows = table[table["model"] == model]
        y = rows["group"].map({g: i for i, g in enumerate(groups)}).to_numpy(float) + off
        err = np.abs(np.vstack([rows["estimate"] - rows["ci_low"], rows["ci_high"] - rows["estimate"]]))
        ax.errorbar(rows["estimate"], y, xerr=err, fmt="o", color=palette[model], label=model, capsize=2,
                    markersize=5)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(groups)))
    ax.set_yticklabels(groups, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("alignment inside minus outside (95% CI)")
    ax.set_title("Western and cultural-zone bias")
    ax.legend(fontsize=7)
    return ax


@_quiet
def plot_culture_map(table: pd.DataFrame, ax: Any = None) -> Any:
    """The Inglehart-Welzel map: countries (coloured by zone, labelled) and models (black stars).

    Parameters
    ----------
    table : DataFrame
        :func:`wvsalign.report.culture.culture_positions` (kind, label, zone,
        traditional_secular, survival_self_expression).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    Axes
    """
    _need(table, ("kind", "label", "zone", "traditional_secular", "survival_self_expression"), "plot_culture_map")
    ax = _axes(ax, (8.0, 7.0))
    countries = table[table["kind"] == "country"]
    models = table[table["kind"] == "model"]
    zones = sorted(set(countries["zone"].astype(str)))
    sns.scatterplot(data=countries, x="survival_self_expression", y="traditional_secular", hue="zone",
                    hue_order=zones, palette="tab10", s=30, ax=ax)
    for r in countries.itertuples():
        ax.annotate(r.label, (r.survival_self_expression, r.traditional_secular), fontsize=6,
                    xytext=(2, 2), textcoords="offset points")
    if len(models):
        ax.scatter(models["survival_self_expression"], models["traditional_secular"], marker="*", s=180,
                   color="black", label="model", zorder=5)
        for r in models.itertuples():
            ax.annotate(r.label, (r.survival_self_expression, r.traditional_secular), fontsize=8, weight="bold",
                        xytext=(4, -8), textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("survival <-> self-expression values")
    ax.set_ylabel("traditional <-> secular-rational values")
    ax.set_title("Inglehart-Welzel cultural map")
    ax.legend(fontsize=7, title_fontsize=8, loc="best")
    return ax


@_quiet
def plot_format_robustness(table: pd.DataFrame, ax: Any = None) -> Any:
    """How far each prompt-format factor moves item mean scores, relative to real between-country SD.

    Parameters
    ----------
    table : DataFrame
        :func:`wvsalign.stats.format_effects` output (model, factor, item_id, ratio);
        one point per item, boxes per factor and model; the dashed line at 1 marks a shift as
        large as the between-country SD of the human answers.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    Axes
    """
    _need(table, ("model", "factor", "item_id", "ratio"), "plot_format_robustness")
    ax = _axes(ax, (7.0, 4.0))
    sns.boxplot(data=table, x="factor", y="ratio", hue="model", ax=ax, fliersize=0, boxprops={"alpha": 0.4})
    sns.stripplot(data=table, x="factor", y="ratio", hue="model", dodge=True, ax=ax, size=3, legend=False)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("prompt-format factor")
    ax.set_ylabel("shift of item mean score / human SD")
    ax.set_title("Format robustness (one point per item)")
    return ax


@_quiet
def plot_alignment_vs_size(table: pd.DataFrame, line: pd.DataFrame | None = None, ax: Any = None) -> Any:
    """Alignment against model size (log10 parameters) with the fitted regression line.

    Parameters
    ----------
    table : DataFrame
        Model x category alignment rows with ``log10_params`` (model, group, log10_params,
        estimate).
    line : DataFrame, optional
        :func:`wvsalign.report.tables.size_line` (log10_params, fit, ci_low, ci_high); None when
        no line was fitted.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    Axes
    """
    _need(table, ("model", "log10_params", "estimate"), "plot_alignment_vs_size")
    ax = _axes(ax, (6.0, 4.5))
    sns.scatterplot(data=table, x="log10_params", y="estimate", hue="model", s=30, ax=ax)
    if line is not None and len(line):
        _need(line, ("log10_params", "fit", "ci_low", "ci_high"), "plot_alignment_vs_size (line)")
        ax.plot(line["log10_params"], line["fit"], color="black", lw=1.2, label="OLS fit")
        ax.fill_between(line["log10_params"], line["ci_low"], line["ci_high"], color="grey", alpha=0.25)
    ax.set_xlabel("log10(parameters)")
    ax.set_ylabel("alignment (r per category)")
    ax.set_title("Alignment against model size")
    ax.legend(fontsize=7)
    return ax


# ---- saving ------------------------------------------------------------------------------------
def figure_of(obj: Any) -> Any:
    """The Figure of an Axes (or a Figure itself)."""
    return obj if isinstance(obj, matplotlib.figure.Figure) else obj.figure


@_quiet
def save_figure(obj: Any, folder: str | Path, name: str, *, dpi: int = 110) -> dict[str, Path]:
    """Write the figure of ``obj`` as ``<name>.png`` and ``<name>.svg`` into ``folder`` and close it.

    Parameters
    ----------
    obj : Axes or Figure
        What a ``plot_x`` function returned.
    folder : str or Path
        The folder written into (made when absent); each file is written atomically.
    name : str
        The file stem.
    dpi : int, default 110
        Resolution of the PNG.

    Returns
    -------
    dict
        ``{"png": Path, "svg": Path}``.

    Examples
    --------
    >>> ax = plot_alignment_heatmap(alignment_table(scores).data)  # doctest: +SKIP
    >>> save_figure(ax, "figures", "alignment_heatmap")["png"]      # doctest: +SKIP
    PosixPath('figures/alignment_heatmap.png')
    """
    fig = figure_of(obj)
    paths = {}
    try:
        # SVG text stays text (searchable, small, and much faster to write than glyph paths)
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            for ext in FIGURE_FORMATS:
                target = Path(folder) / f"{name}.{ext}"
                with atomic_path(target) as tmp:
                    fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
                paths[ext] = target
    finally:
        plt.close(fig)
    return paths


@_quiet
def png_bytes(obj: Any, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for embedding)."""
    buf = io.BytesIO()
    figure_of(obj).savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()
