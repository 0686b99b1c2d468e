"""The report's neuron-probing section: tables and a figure from finished ``wvsalign probe``
outputs (one folder per model, see :mod:`wvsalign.probing.summary`). No model work."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .tables import Table, fmt, fmt_ci, fmt_p


def probing_tables(folders: Iterable[str | Path]) -> tuple[list[Table], Callable[[], Any] | None]:
    """The probing tables (neurons per model, ablation per model) and how to draw the summary figure.

    Parameters
    ----------
    folders : iterable of path
        One folder per model holding its ``probe key-neurons`` / ``attribute`` / ``ablate`` outputs.

    Returns
    -------
    (tables, draw)
        :class:`~wvsalign.report.tables.Table` objects named ``probing_neurons`` and (when an
        ablation is present) ``probing_ablation``, and a function returning the matplotlib Figure
        (None when there is nothing to draw; the caller draws it where warnings are handled).

    Raises
    ------
    InputError
        When a folder holds no probe outputs or mixes models (:func:`~wvsalign.probing.summary.load_probe_folder`).
    """
    from ..probing.summary import (ablation_by_country, ablation_summary, layer_shares, load_probe_folder,
                                   neuron_summary)

    loaded = [load_probe_folder(f) for f in folders]
    neurons = neuron_summary(loaded)
    display = pd.DataFrame({
        "model": neurons["model"],
        "MLP neurons": [f"{int(n):,}" if pd.notna(n) else "" for n in neurons["neurons"]],
        "key neurons per country": [fmt(v, 0) for v in neurons["key_per_country"]],
        "specialised share vs default": [fmt(v, 3) for v in neurons["specialised_share"]],
        "r(key count, alignment) [95% CI]": [fmt_ci(r, lo, hi) for r, lo, hi in
                                             zip(neurons["r_key_alignment"], neurons["ci_low"], neurons["ci_high"])],
        "p": [fmt_p(p) for p in neurons["p"]],
        "culture-general (% of all)": [f"{int(g)} ({fmt(pct, 2)}%)" if pd.notna(g) else ""
                                       for g, pct in zip(neurons["general"], neurons["general_pct"])],
        "culture-specific (countries)": [f"{int(s)} ({int(c)})" if pd.notna(s) else ""
                                         for s, c in zip(neurons["specific"], neurons["specific_countries"])],
    })
    tables = [Table("probing_neurons", "Neuron probing: key neurons and culture neurons", neurons, display,
                    "Key neurons: top-k MLP activations per layer at the answer position (dual evaluation); "
                    "r over countries of the key-neuron count and the country's alignment (Fisher CI). Culture "
                    "neurons: gradient x activation for the human-majority option against the control items.")]
    ablation = ablation_summary(loaded)
    if len(ablation):
        shown = pd.DataFrame({
            "model": ablation["model"],
            "ablated neurons": ablation["ablated"].map(lambda v: f"{int(v):,}" if pd.notna(v) else ""),
            "overall r: unablated -> ablated": [f"{fmt(b, 3)} -> {fmt(a, 3)}" for b, a in
                                                zip(ablation["base_r"], ablation["ablated_r"])],
            "change": [fmt(v, 3) for v in ablation["delta"]],
            "random changes": [f"{fmt(lo, 3)} to {fmt(hi, 3)} ({int(n)} sets)" for lo, hi, n in
                               zip(ablation["random_min"], ablation["random_max"], ablation["n_random"])],
            "countries below / above every random change": [
                f"{int(d)} / {int(u)} of {int(c)}" for d, u, c in
                zip(ablation["countries_down"], ablation["countries_up"], ablation["countries"])],
            "control accuracy: unablated / ablated / random": [
                f"{fmt(b, 3)} / {fmt(a, 3)} / {fmt(r, 3)}" for b, a, r in
                zip(ablation["control_base"], ablation["control_ablated"], ablation["control_random"])],
        })
        tables.append(Table("probing_ablation", "Neuron probing: ablating the selected set vs random sets", ablation,
                            shown, "Random sets have the same count per layer. With n random sets the smallest "
                            "permutation p is 1/(n+1)."))
    layers, by_country = layer_shares(loaded), ablation_by_country(loaded)
    if not (len(layers) or len(by_country)):
        return tables, None
    from ..probing.figures import summary_figure

    return tables, lambda: summary_figure(layers, by_country)
