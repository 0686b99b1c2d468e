"""Key neurons: sets, specialised shares, k sweep and counts vs alignment against hand-worked values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from wvsalign.errors import InputError
from wvsalign.probing import key_neurons as kn
from wvsalign.probing.capture import Activations


def make_acts(topk, conditions):
    topk = np.asarray(topk, dtype=np.int32)
    p, L, k = topk.shape
    names = sorted(set(conditions))
    return Activations(model="m", site="down_in", prompt_ids=[f"p{i}" for i in range(p)], conditions=list(conditions),
                       group_names=names, topk_indices=topk, topk_values=-np.arange(k, dtype=np.float32)[None, None, :]
                       + np.zeros(topk.shape, np.float32), sums=np.zeros((len(names), L, 10)),
                       sumsq=np.zeros((len(names), L, 10)), counts=np.zeros(len(names), np.int64))


# 4 prompts, 2 layers, k = 2 (ranked)
TOPK = [
    [[1, 2], [5, 6]],  # A
    [[1, 3], [5, 7]],  # A
    [[1, 4], [8, 9]],  # B
    [[2, 4], [8, 6]],  # B
]
COND = ["A", "A", "B", "B"]


def test_sets_and_scores_by_hand():
    acts = make_acts(TOPK, COND)
    table = kn.key_neurons(acts)
    sets = kn.neuron_sets(table, 2)
    assert sets["A"] == [{1, 2, 3}, {5, 6, 7}]
    assert sets["B"] == [{1, 2, 4}, {6, 8, 9}]
    row = table[(table.condition == "A") & (table.layer == 0) & (table.neuron == 1)]
    assert row["score"].item() == 1.0
    # k = 1: first rank only
    sets1 = kn.neuron_sets(kn.key_neurons(acts, k=1), 2)
    assert sets1["A"] == [{1}, {5}] and sets1["B"] == [{1, 2}, {8}]
    # min_share 0.5: in the top-k of more than half of the prompts
    sets_half = kn.neuron_sets(kn.key_neurons(acts, min_share=0.5), 2)
    assert sets_half["A"] == [{1}, {5}] and sets_half["B"] == [{4}, {8}]


def test_specialised_share_by_hand():
    acts = make_acts(TOPK, COND)
    sets = kn.neuron_sets(kn.key_neurons(acts), 2)
    # B vs A: layer 0 {4} of 3, layer 1 {8, 9} of 3 -> (1/3 + 2/3) / 2
    assert kn.specialised_share(sets["A"], sets["B"]) == pytest.approx(0.5)
    tab = kn.specialised_table(kn.key_neurons(acts), 2, reference="A")
    assert tab.loc[0, "condition_b"] == "B" and tab.loc[0, "share"] == pytest.approx(0.5)
    assert kn.specialised_share([set(), {1}], [set(), {1, 2, 3, 4}]) == pytest.approx(0.75)
    assert np.isnan(kn.specialised_share([set()], [set()]))
    with pytest.raises(InputError, match="reference"):
        kn.specialised_table(kn.key_neurons(acts), 2, reference="Z")


def test_k_sweep_counts():
    acts = make_acts(TOPK, COND)
    sweep = kn.k_sweep(acts)
    got = {(r.k, r.condition): r.n_key for r in sweep.itertuples()}
    assert got == {(1, "A"): 2, (1, "B"): 3, (2, "A"): 6, (2, "B"): 6}
    with pytest.raises(InputError, match="k must"):
        kn.k_sweep(acts, [3])


def test_counts_vs_alignment_equals_scipy_and_fisher():
    rng = np.random.default_rng(3)
    counts = pd.DataFrame({"condition": [f"C{i}" for i in range(12)], "n_key": rng.integers(50, 90, 12)})
    align = pd.DataFrame({"group_by": "country", "group": [f"C{i}" for i in range(12)][::-1],
                          "estimate": rng.uniform(-0.2, 0.8, 12)})
    joined, res = kn.counts_vs_alignment(counts, align)
    x = joined["n_key"].to_numpy(float)
    y = joined["alignment"].to_numpy(float)
    ref = sps.pearsonr(x, y)
    assert res["estimate"].item() == pytest.approx(ref.statistic, abs=1e-12)
    assert res["p"].item() == pytest.approx(ref.pvalue, rel=1e-9)
    z, se = np.arctanh(ref.statistic), 1 / np.sqrt(12 - 3)
    assert res["ci_low"].item() == pytest.approx(np.tanh(z - 1.959963984540054 * se), abs=1e-12)
    assert res["ci_high"].item() == pytest.approx(np.tanh(z + 1.959963984540054 * se), abs=1e-12)
    # pairs matched by name, not by position
    first = joined[joined.condition == "C0"]
    assert first["alignment"].item() == align.loc[align.group == "C0", "estimate"].item()
    with pytest.raises(InputError, match="at least 4"):
        kn.counts_vs_alignment(counts.head(3), align)


def test_figures_draw_what_the_tables_hold(tmp_path):
    from wvsalign.probing import figures

    layers = pd.DataFrame({"condition": ["general"] * 3 + ["specific:JPN"] * 3, "layer": [0, 1, 2] * 2,
                           "n": [1, 0, 4, 2, 2, 0], "share": 0.0})
    fig = figures.layer_figure(layers)
    heights = sorted(round(p.get_height()) for p in fig.axes[0].patches)
    assert heights == sorted([1, 0, 4, 2, 2, 0])
    figures.save(fig, tmp_path / "l.png")
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    changes = pd.DataFrame({
        "condition": ["ablated", "random-0", "random-1", "ablated", "random-0", "random-1"],
        "group_by": ["overall"] * 3 + ["category"] * 3, "group": ["all"] * 3 + ["religion"] * 3,
        "estimate": [0.2, 0.5, 0.45, 0.1, 0.3, 0.32], "ci_low": [0.1, 0.4, 0.35, 0.0, 0.2, 0.2],
        "ci_high": [0.3, 0.6, 0.55, 0.2, 0.4, 0.4], "delta": [-0.3, 0.0, -0.05, -0.2, 0.0, 0.02],
    })
    fig = figures.ablation_figure(changes)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all", "religion"]
    xs = sorted(float(x) for c in ax.collections for x in c.get_offsets()[:, 0]) if ax.collections else []
    assert -0.05 in xs and 0.02 in xs
    figures.save(fig, tmp_path / "a.png")
