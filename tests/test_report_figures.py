"""Report figures: each draws what its table holds (points, cells, lines), nothing more."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from wvsalign.errors import InputError  # noqa: E402
from wvsalign.report import figures as F  # noqa: E402
from wvsalign.report import tables as T  # noqa: E402


@pytest.fixture(scope="module")
def tables_():
    """Small tidy tables made by hand (figures take tables; they compute nothing)."""
    rng = np.random.default_rng(1)
    cats = ["religion", "ethics", "all"]
    align = pd.DataFrame([{"model": m, "group": c, "estimate": e, "ci_low": e - 0.1, "ci_high": e + 0.1}
                          for m in ("a", "b") for c, e in zip(cats, rng.uniform(-0.5, 0.9, 3))])
    countries = ["USA", "JPN", "DEU", "NGA", "BRA"]
    zones = {"USA": "English-speaking", "JPN": "Confucian", "DEU": "Protestant Europe", "NGA": "African-Islamic",
             "BRA": "Latin America"}
    country = pd.DataFrame([{"model": m, "group": c, "zone": zones[c], "estimate": e, "ci_low": e - 0.2,
                             "ci_high": e + 0.2} for m in ("a", "b") for c, e in zip(countries, rng.uniform(-1, 1, 5))])
    human = {(c, cat): rng.uniform() for c in countries for cat in ("religion", "ethics", "economic")}
    means = pd.DataFrame([{"model": m, "country": c, "category": cat, "model_score": rng.uniform(),
                           "human_score": human[c, cat]} for m in ("a", "b") for c, cat in human])
    bias = pd.DataFrame([{"model": m, "group": g, "estimate": 0.1, "ci_low": 0.0, "ci_high": 0.2}
                         for m in ("a", "b") for g in ("western vs non-western", "Confucian", "Latin America")])
    positions = pd.DataFrame([{"kind": "country", "label": c, "zone": zones[c], "traditional_secular": rng.normal(),
                               "survival_self_expression": rng.normal()} for c in countries]
                             + [{"kind": "model", "label": m, "zone": "model", "traditional_secular": 0.1,
                                 "survival_self_expression": 0.2} for m in ("a", "b")])
    fmt = pd.DataFrame([{"model": m, "factor": f, "item_id": f"Q{i}", "ratio": rng.uniform(0, 2)}
                        for m in ("a", "b") for f in ("option_order", "label_style") for i in range(6)])
    size = pd.DataFrame([{"model": m, "group": c, "log10_params": p, "estimate": rng.uniform()}
                         for m, p in (("a", 8.0), ("b", 9.0), ("c", 9.8)) for c in cats[:2]])
    line = pd.DataFrame({"log10_params": [8.0, 9.8], "fit": [0.2, 0.6], "ci_low": [0.1, 0.5], "ci_high": [0.3, 0.7]})
    return dict(align=align, country=country, means=means, bias=bias, positions=positions, fmt=fmt, size=size,
                line=line)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_heatmap_cells_are_the_estimates(tables_):
    t = tables_["align"]
    ax = F.plot_alignment_heatmap(t)
    mesh = ax.collections[0]
    values = np.asarray(mesh.get_array()).reshape(2, 3)
    np.testing.assert_allclose(values, t["estimate"].to_numpy().reshape(2, 3))
    texts = [x.get_text() for x in ax.texts]
    assert len(texts) == 6
    first = t.iloc[0]
    assert f"{first.estimate:.2f}\n[{first.ci_low:.2f}, {first.ci_high:.2f}]" in texts
    assert [x.get_text() for x in ax.get_xticklabels()][-1] == "overall"


def test_country_plot_has_one_point_per_row_sorted(tables_):
    t = tables_["country"]
    fig, ax = plt.subplots()
    assert F.plot_country_alignment(t, ax=ax) is ax
    xs = np.concatenate([line.get_xdata() for line in ax.lines if len(line.get_xdata())
                         and line.get_linestyle() == "None"])
    assert len(xs) == len(t)
    labels = [x.get_text() for x in ax.get_yticklabels()]
    first = t[t["model"] == "a"].sort_values("estimate")["group"].tolist()
    assert labels == first  # sorted by the first model's estimate
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(set(t["zone"]))


def test_model_vs_human_facets_and_labels(tables_):
    t = tables_["means"]
    fig = F.plot_model_vs_human(t)
    assert isinstance(fig, matplotlib.figure.Figure)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 3
    for ax in panels:
        n_points = sum(len(c.get_offsets()) for c in ax.collections)
        assert n_points == 2 * 5  # 2 models x 5 countries
        assert sorted(x.get_text() for x in ax.texts) == sorted(["USA", "JPN", "DEU", "NGA", "BRA"])
        rows = t[t["category"] == ax.get_title()]
        for text in ax.texts:  # beside the country's highest point
            mine = rows[rows["country"] == text.get_text()]
            assert text.get_position() == (mine["human_score"].iloc[0], mine["model_score"].max())


def test_bias_plot(tables_):
    ax = F.plot_bias(tables_["bias"])
    pts = [line for line in ax.lines if line.get_marker() == "o"]  # (error-bar caps are markers too)
    assert sum(len(p.get_xdata()) for p in pts) == 6
    assert [x.get_text() for x in ax.get_yticklabels()] == ["western vs non-western", "Confucian", "Latin America"]


def test_culture_map_points(tables_):
    t = tables_["positions"]
    ax = F.plot_culture_map(t)
    n = sum(len(c.get_offsets()) for c in ax.collections)
    assert n == len(t)  # 5 countries + 2 models
    assert {x.get_text() for x in ax.texts} == set(t["label"])


def test_format_robustness_points(tables_):
    t = tables_["fmt"]
    ax = F.plot_format_robustness(t)
    n = sum(len(c.get_offsets()) for c in ax.collections)
    assert n == len(t)
    assert [x.get_text() for x in ax.get_xticklabels()] == ["option_order", "label_style"]


def test_size_plot_draws_the_given_line(tables_):
    ax = F.plot_alignment_vs_size(tables_["size"], tables_["line"])
    assert len(ax.collections[0].get_offsets()) == len(tables_["size"])  # the scatter
    fitted = [line for line in ax.lines if line.get_label() == "OLS fit"]
    assert len(fitted) == 1
    np.testing.assert_allclose(fitted[0].get_ydata(), tables_["line"]["fit"])
    ax2 = F.plot_alignment_vs_size(tables_["size"], None)
    assert not [line for line in ax2.lines if line.get_label() == "OLS fit"]


def test_missing_columns_are_named(tables_):
    with pytest.raises(InputError, match="ci_low"):
        F.plot_alignment_heatmap(tables_["align"].drop(columns="ci_low"))
    with pytest.raises(InputError, match="zone"):
        F.plot_country_alignment(tables_["country"].drop(columns="zone"))


def test_save_figure_writes_png_and_svg(tables_, tmp_path):
    ax = F.plot_bias(tables_["bias"])
    paths = F.save_figure(ax, tmp_path, "bias")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths["svg"].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "Confucian" in svg  # text kept as text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bias.png", "bias.svg"]


def test_table_of_figures_works_with_report_tables():
    """The figure functions accept the tables module's real output columns."""
    from wvsalign.report.testing import small_human, synthetic_probs
    from wvsalign import stats

    human = small_human()
    probs = pd.concat([synthetic_probs(human, "m1", seed=1), synthetic_probs(human, "m2", seed=2, noise=0.3)])
    scores = stats.mean_scores(probs, human, variants=[])
    ax = F.plot_alignment_heatmap(T.alignment_table(scores).data)
    assert np.asarray(ax.collections[0].get_array()).size == 2 * (scores["category"].nunique() + 1)
    fig = F.plot_model_vs_human(T.category_means(scores))
    assert len([a for a in fig.axes if a.get_title()]) == scores["category"].nunique()
