"""Report tables checked against independent computations (scipy, statsmodels, numpy)."""
from __future__ import annotations

import html.parser
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.multitest import multipletests

from wvsalign.errors import InputError
from wvsalign.report import data as report_data
from wvsalign.report import runs as report_runs
from wvsalign.report import tables as T
from wvsalign.report.testing import small_study
from wvsalign.survey.countries import Countries
from wvsalign.survey.items import ItemBank


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return small_study(tmp_path_factory.mktemp("study") / "study", option_orders=("original", "reversed"))


@pytest.fixture(scope="module")
def combined(study):
    return report_data.combine(report_runs.load_runs([study]))


def _pairs(scores: pd.DataFrame) -> pd.DataFrame:
    """Model rows joined with the human row of the same country and item (by hand)."""
    human = scores[scores["model"] == "human"][["country", "item_id", "mean_score"]]
    models = scores[scores["model"] != "human"]
    return models.merge(human, on=["country", "item_id"], suffixes=("", "_human")).dropna(
        subset=["mean_score", "mean_score_human"])


def test_stars_thresholds():
    assert T.stars(0.0009) == "***"
    assert T.stars(0.001) == "**"
    assert T.stars(0.0099) == "**"
    assert T.stars(0.01) == "*"
    assert T.stars(0.0499) == "*"
    assert T.stars(0.05) == ""
    assert T.stars(0.5) == ""
    assert T.stars(float("nan")) == ""
    assert T.fmt_ci(0.4123, 0.3, 0.52, p=0.002) == "0.41** [0.30, 0.52]"
    assert T.fmt_p(0.0004) == "< .001"


def test_study_is_read_with_conditions_and_labels(study, combined):
    assert combined.labels == ["alpha", "beta", "gamma"]
    assert set(combined.models["condition"]) == {"persona"}
    assert combined.synthetic
    # prompt variants averaged in scores, kept in variant_scores
    one = combined.scores[combined.scores["model"] == "alpha"]
    assert not one.duplicated(["country", "item_id"]).any()
    assert set(combined.variant_scores["option_order"].dropna()) == {"original", "reversed"}


def test_alignment_table_matches_pearsonr(combined):
    table = T.alignment_table(combined.scores)
    pairs = _pairs(combined.scores)
    checked = 0
    for row in table.data.itertuples():
        sub = pairs[pairs["model"] == row.model]
        if row.group != "all":
            sub = sub[sub["category"] == row.group]
        r, p = sps.pearsonr(sub["mean_score"], sub["mean_score_human"])
        assert row.estimate == pytest.approx(r, abs=1e-10)
        assert row.p == pytest.approx(p, rel=1e-6, abs=1e-300)
        assert row.n == len(sub)
        z, half = math.atanh(r), sps.norm.ppf(0.975) / math.sqrt(len(sub) - 3)
        assert row.ci_low == pytest.approx(math.tanh(z - half), abs=1e-9)
        assert row.ci_high == pytest.approx(math.tanh(z + half), abs=1e-9)
        checked += 1
    assert checked == 3 * (combined.scores["category"].nunique() + 1)
    # the display: one row per category and overall, one column per model, stars from the p-value
    disp = table.display.set_index("category")
    overall = table.data[(table.data["group"] == "all") & (table.data["model"] == "gamma")].iloc[0]
    assert disp.loc["overall", "gamma"].startswith(f"{overall.estimate:.2f}{T.stars(overall.p)} [")
    assert list(disp.columns) == ["n", "alpha", "beta", "gamma"]


def test_table_files_hold_the_values(combined, tmp_path):
    table = T.alignment_table(combined.scores)
    paths = table.write(tmp_path)
    assert set(paths) == set(T.FORMATS)
    back = pd.read_csv(paths["csv"])
    np.testing.assert_allclose(back["estimate"], table.data["estimate"], rtol=1e-12)
    md = paths["md"].read_text()
    tex = paths["tex"].read_text()
    htm = paths["html"].read_text()
    cell = table.display.loc[table.display["category"] == "overall", "beta"].iloc[0]
    assert cell in md and cell in htm
    assert "\\begin{tabular}" in tex and "\\end{tabular}" in tex and cell in tex
    assert "social\\_values" in tex  # LaTeX escaping
    # markdown: header + separator + one line per display row
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(lines) == len(table.display) + 2
    # html: the table id and one <tr> per row plus the header
    found = {}

    class P(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            found[tag] = found.get(tag, 0) + 1
            if tag == "table":
                found["id"] = dict(attrs).get("id")

    P().feed(htm)
    assert found["id"] == "table-alignment_by_category"
    assert found["tr"] == len(table.display) + 1


def test_country_table_zones_and_r(combined):
    table = T.country_table(combined.scores)
    registry = Countries.load()
    pairs = _pairs(combined.scores)
    for row in table.data.sample(10, random_state=0).itertuples():
        assert row.zone == registry.get(row.group).zone
        assert row.western == registry.get(row.group).western
        sub = pairs[(pairs["model"] == row.model) & (pairs["country"] == row.group)]
        assert row.estimate == pytest.approx(sps.pearsonr(sub["mean_score"], sub["mean_score_human"])[0], abs=1e-10)
    assert set(table.display.columns) >= {"zone", "country", "ISO3", "alpha", "beta", "gamma"}


def test_bias_table_differences_and_holm(combined):
    country = T.country_table(combined.scores)
    table = T.bias_table(country.data, n_boot=200, n_perm=199)
    registry = Countries.load()
    for row in table.data.itertuples():
        rows = country.data[country.data["model"] == row.model]
        if row.group_by == "western":
            inside = rows["group"].map(lambda c: registry.get(c).western).astype(bool)
        else:
            inside = rows["group"].map(lambda c: registry.get(c).zone) == row.group
        expected = rows.loc[inside, "estimate"].mean() - rows.loc[~inside, "estimate"].mean()
        assert row.estimate == pytest.approx(expected, abs=1e-12)
        assert row.n_in == inside.sum()
    for model, rows in table.data[table.data["group_by"] == "zone"].groupby("model"):
        np.testing.assert_allclose(rows["p_adj"], multipletests(rows["p"], method="holm")[1])
    assert "western vs non-western" in set(table.display["countries"])


def test_comparison_table(combined):
    table = T.comparison_table(combined.scores)
    pairs = _pairs(combined.scores)
    assert len(table.data) == 3 * (combined.scores["category"].nunique() + 1)  # 3 pairs x (categories + overall)
    row = table.data[(table.data["model_a"] == "alpha") & (table.data["model_b"] == "gamma")
                     & (table.data["group"] == "all")].iloc[0]
    for model, r in (("alpha", row.r1), ("gamma", row.r2)):
        sub = pairs[pairs["model"] == model]
        assert r == pytest.approx(sps.pearsonr(sub["mean_score"], sub["mean_score_human"])[0], abs=1e-10)
    assert row.estimate == pytest.approx(row.r1 - row.r2)
    assert row.ci_low < row.estimate < row.ci_high
    np.testing.assert_allclose(table.data["p_adj"], multipletests(table.data["p"], method="holm")[1])
    assert T.comparison_table(combined.scores, ["alpha"]) is None


def test_regression_table_matches_statsmodels():
    from wvsalign import stats

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=60), "g": rng.integers(0, 2, 60)})
    df["y"] = 0.5 * df["x"] + 0.2 * df["g"] + rng.normal(scale=0.5, size=60)
    fits = {"(1)": stats.ols("y ~ x", df), "(2)": stats.ols("y ~ x + g", df, cov_type="HC3")}
    table = T.regression_table(fits)
    ref1 = smf.ols("y ~ x", df).fit()
    ref2 = smf.ols("y ~ x + g", df).fit(cov_type="HC3")
    disp = table.display
    x_row = disp.index[disp["term"] == "x"][0]
    assert disp.loc[x_row, "(1)"] == f"{ref1.params['x']:.3f}{T.stars(ref1.pvalues['x'])}"
    assert disp.loc[x_row + 1, "(1)"] == f"({ref1.bse['x']:.3f})"
    assert disp.loc[x_row + 1, "(2)"] == f"({ref2.bse['x']:.3f})"
    g_row = disp.index[disp["term"] == "g"][0]
    assert disp.loc[g_row, "(1)"] == ""  # not in model (1)
    assert disp.set_index("term").loc["N", "(2)"] == "60"
    assert disp.set_index("term").loc["R2", "(2)"] == f"{ref2.rsquared:.3f}"
    assert list(disp["term"]).index("Intercept") > list(disp["term"]).index("g")  # intercept last
    with pytest.raises(InputError):
        T.regression_table({})


def test_size_regressions_fit_what_can_be_fitted(combined):
    main = T.alignment_table(combined.scores)
    sizes = T.size_regressions(main.data, combined.models)
    fits, notes, rows = sizes.fits, sizes.notes, sizes.rows
    # three models (alpha: -, -; beta: multilingual; gamma: both): size and multilingual are estimable,
    # instruction tuning then adds nothing across the three models
    assert list(fits) == ["(1) size", "(2) size + category", "(3) size + training"]
    assert sizes.terms.kept == ["np.log10(params)", "multilingual"]
    assert list(sizes.terms.dropped) == ["instruction_tuned"]
    assert any(n.startswith("(3) size + training") and "With 3 models" in n for n in notes)
    rows = rows.assign(lp=np.log10(rows["params"]))
    ref = smf.ols("estimate ~ lp", rows).fit(cov_type="HC3")
    assert fits["(1) size"].result.params["np.log10(params)"] == pytest.approx(ref.params["lp"])
    assert fits["(1) size"].result.bse["np.log10(params)"] == pytest.approx(ref.bse["lp"])
    ref3 = smf.ols("estimate ~ lp + multilingual + C(group)", rows).fit(cov_type="HC3")
    assert fits["(3) size + training"].result.params["multilingual"] == pytest.approx(ref3.params["multilingual"])
    line = T.size_line(fits["(1) size"], rows)
    np.testing.assert_allclose(line["fit"], ref.params["Intercept"] + ref.params["lp"] * line["log10_params"])
    # models of one size and one training: nothing fitted, and the notes say why
    same = combined.models.assign(params=1e9, multilingual=True, instruction_tuned=False)
    sizes = T.size_regressions(main.data, same)
    assert sizes.fits == {} and len(sizes.notes) == 3 and all("not fitted" in n for n in sizes.notes)
    assert "np.log10(params): no information beyond ['intercept'] across 3 models" in sizes.notes[0]
    # one model: not a regression across models
    one = T.size_regressions(main.data[main.data["model"] == "alpha"], combined.models)
    assert one.fits == {} and one.terms is None and all("at least two models" in n for n in one.notes)


def test_format_table(combined):
    table = T.format_table(combined.variant_scores, n_perm=99)
    vs = combined.variant_scores[combined.variant_scores["model"] == "beta"]
    item = table.data["item_id"].iloc[0]
    one = vs[vs["item_id"] == item].groupby("option_order")["mean_score"].mean()
    row = table.data[(table.data["model"] == "beta") & (table.data["item_id"] == item)].iloc[0]
    assert row.estimate == pytest.approx(one.max() - one.min(), abs=1e-12)
    shown = table.display.set_index("model").loc["beta"]
    assert shown["items"] == combined.variant_scores["item_id"].nunique()
    assert shown["median shift"] == f"{table.data.loc[table.data['model'] == 'beta', 'estimate'].median():.3f}"
    # no varying format factor: no table
    assert T.format_table(combined.scores) is None


def test_similarity_table_matches_scipy(combined):
    table = T.similarity_table(combined.probs, combined.human, n_boot=50)
    bank = ItemBank.wvs7()
    scored = bank.options_frame()
    scored = scored[scored["score"].notna()][["item_id", "code"]]
    probs = combined.probs[combined.probs["model"] == "alpha"].merge(scored, on=["item_id", "code"])
    human = combined.human.merge(scored, on=["item_id", "code"])
    merged = probs.merge(human[["country", "item_id", "code", "share"]], on=["country", "item_id", "code"])
    # per prompt (each option order), then averaged within country x item, then over cells
    per_prompt = pd.DataFrame([
        {"country": c, "item_id": i, "v": 1 - jensenshannon(g["prob"], g["share"], base=2)}
        for (c, i, _), g in merged.groupby(["country", "item_id", "prompt_id"])])
    values = per_prompt.groupby(["country", "item_id"])["v"].mean()
    row = table.data[(table.data["model"] == "alpha") & (table.data["group"] == "all")
                     & (table.data["metric"] == "js_similarity")].iloc[0]
    assert row.estimate == pytest.approx(np.mean(values), abs=1e-9)
    assert {"alpha: 1 - JSD", "gamma: 1 - W/(K-1)"} <= set(table.display.columns)


def test_category_means(combined):
    means = T.category_means(combined.scores)
    pairs = _pairs(combined.scores)
    sub = pairs[(pairs["model"] == "beta") & (pairs["country"] == "JPN") & (pairs["category"] == "religion")]
    row = means[(means["model"] == "beta") & (means["country"] == "JPN") & (means["category"] == "religion")].iloc[0]
    assert row.model_score == pytest.approx(sub["mean_score"].mean())
    assert row.human_score == pytest.approx(sub["mean_score_human"].mean())
    assert row["items"] == len(sub)


def test_runs_with_other_human_data_are_refused(study, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(study / "runs" / "alpha" / "persona", other)
    human = pd.read_parquet(other / "human.parquet")
    human.loc[0, "share"] += 0.01
    human.to_parquet(other / "human.parquet", index=False)
    with pytest.raises(InputError, match="different human data"):
        report_data.combine(report_runs.load_runs([study / "runs" / "beta" / "persona", other]))


def test_bad_directories(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        report_runs.find_runs([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither a run directory"):
        report_runs.find_runs([tmp_path / "empty"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.yaml").write_text("- a list\n")
    run = report_runs.read_run(tmp_path / "bad")  # read as RunResult.load reads it: a run with a problem
    assert run.probs is None and any("config.yaml" in n for n in run.notes)
    with pytest.raises(InputError, match="none of the run directories has results"):
        report_data.combine([run])


def test_one_model_under_two_conditions_gets_two_labels(tmp_path):
    from wvsalign.report.testing import small_human, synthetic_run

    human = small_human()
    study = tmp_path / "study"
    synthetic_run(study / "runs" / "m" / "persona", "m", human, seed=1)
    synthetic_run(study / "runs" / "m" / "third_person", "m", human, seed=2)
    (study / "study.yaml").write_text("models: [m]\n")
    combined = report_data.combine(report_runs.load_runs([study]))
    assert combined.labels == ["m [persona]", "m [third_person]"]
    assert list(combined.models["condition"]) == ["persona", "third_person"]
    table = T.alignment_table(combined.scores)
    assert set(table.data["model"]) == {"m [persona]", "m [third_person]"}


def test_default_ranking_table(tmp_path):
    """Default answers that are exactly the USA's people rank the USA first with r = 1."""
    from wvsalign import stats
    from wvsalign.report.testing import small_human, synthetic_probs, synthetic_run

    human = small_human()
    persona = synthetic_probs(human, "m", noise=0.5, seed=1)
    default = synthetic_probs(human[human["country"] == "USA"].assign(country="NONE"), "m", noise=0.0, seed=2)
    default = default.assign(template="default", prompt_id="default:" + default["prompt_id"])
    probs = pd.concat([persona, default], ignore_index=True)
    scores = stats.mean_scores(probs, human, variants=[])
    table = T.ranking_table(scores, top=5)
    usa = table.data[table.data["group"] == "USA"].iloc[0]
    assert usa["rank"] == 1 and usa["estimate"] == pytest.approx(1.0)
    none = scores[(scores["model"] == "m") & (scores["country"] == "NONE")][["item_id", "mean_score"]]
    jpn = scores[(scores["model"] == "human") & (scores["country"] == "JPN")][["item_id", "mean_score"]]
    both = none.merge(jpn, on="item_id", suffixes=("", "_h")).dropna()
    row = table.data[table.data["group"] == "JPN"].iloc[0]
    assert row["estimate"] == pytest.approx(sps.pearsonr(both["mean_score"], both["mean_score_h"])[0], abs=1e-10)
    assert len(table.display) == 5 and table.display["country"].iloc[0] == "USA"
    # the report shows it when the runs have no-country answers
    run = synthetic_run(tmp_path / "run", "m", human, seed=1)
    probs.to_parquet(run / "probs.parquet", index=False)
    import wvsalign as wa

    rep = wa.report([run], out=tmp_path / "rep", figures=False, n_boot=100, n_perm=99)
    assert "default_ranking" in rep.tables and 'id="table-default_ranking"' in rep.html.read_text()


# ---- the vocabulary of contracts.py: model column, metric=, human_model= --------------------------------
def test_alignment_table_metric_spearman(combined):
    """metric= chooses the statistic: Spearman's rho against scipy, and the note names it."""
    table = T.alignment_table(combined.scores, metric="spearman")
    pairs = _pairs(combined.scores)
    row = table.data[(table.data["model"] == "beta") & (table.data["group"] == "all")].iloc[0]
    sub = pairs[pairs["model"] == "beta"]
    assert row.metric == "spearman"
    assert row.estimate == pytest.approx(sps.spearmanr(sub["mean_score"], sub["mean_score_human"])[0], abs=1e-10)
    assert table.note.startswith("Spearman rho")
    assert T.alignment_table(combined.scores).note.startswith("Pearson r")


def test_human_model_names_the_people_rows(combined):
    """The people's rows under another model name give the same tables when human_model= says so."""
    renamed = combined.scores.assign(model=combined.scores["model"].replace({"human": "people"}))
    a = T.alignment_table(combined.scores).data
    b = T.alignment_table(renamed, human_model="people").data
    np.testing.assert_allclose(b["estimate"], a["estimate"], rtol=1e-12)
    means = T.category_means(renamed, human_model="people")
    np.testing.assert_allclose(means["human_score"], T.category_means(combined.scores)["human_score"], rtol=1e-12)
    assert "people" not in set(means["model"])
    comp = T.comparison_table(renamed, human_model="people")
    assert set(comp.data["model_a"]) | set(comp.data["model_b"]) == {"alpha", "beta", "gamma"}


def test_old_scores_table_is_refused_with_the_new_name(combined):
    old = combined.scores.rename(columns={"model": "source"})
    with pytest.raises(InputError, match="'model'"):
        T.alignment_table(old)


def test_bias_table_counts_western_and_non_western(combined):
    country = T.country_table(combined.scores)
    table = T.bias_table(country.data, n_boot=100, n_perm=99)
    registry = Countries.load()
    west = table.data[table.data["group_by"] == "western"]
    flags = [registry.get(c).western for c in country.data["group"].unique()]
    assert set(west["n_western"]) == {sum(flags)} and set(west["n_non_western"]) == {len(flags) - sum(flags)}
    assert (west["n_western"] == west["n_in"]).all()


def test_regression_table_shows_aliased_terms_as_na():
    """A term that is a linear combination of earlier ones is NA (as R's lm), and the note says so."""
    from wvsalign import stats
    from wvsalign.errors import AliasedTermWarning

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=40)})
    df["z"] = 2 * df["x"]
    df["y"] = 0.3 * df["x"] + rng.normal(scale=0.5, size=40)
    with pytest.warns(AliasedTermWarning):
        fit = stats.ols("y ~ x + z", df)
    table = T.regression_table({"(1)": fit})
    shown = table.display.set_index("term")
    assert shown.loc["z", "(1)"] == "NA"
    ref = smf.ols("y ~ x", df).fit()
    assert shown.loc["x", "(1)"] == f"{ref.params['x']:.3f}{T.stars(ref.pvalues['x'])}"
    assert "NA: not defined" in table.note


def test_size_regressions_drop_coinciding_terms_without_warning(combined):
    """Training flags that coincide across models: the later one is dropped with the reason, no terminal warning."""
    import warnings

    main = T.alignment_table(combined.scores)
    models = pd.concat([combined.models.assign(model=combined.models["model"] + s) for s in ("", "2")],
                       ignore_index=True)
    models["params"] = 10.0 ** np.array([8.0, 9.0, 9.8, 8.5, 9.3, 10.0])
    models["multilingual"] = [False, True, True, False, True, False]
    models["instruction_tuned"] = models["multilingual"]
    models["unit"] = models["model"]
    data = pd.concat([main.data.assign(model=main.data["model"] + s) for s in ("", "2")], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sizes = T.size_regressions(data, models)
    fit = sizes.fits["(3) size + training"]
    assert fit.model.formula == "estimate ~ np.log10(params) + multilingual + C(group)" and not fit.aliased
    assert sizes.terms.dropped == {"instruction_tuned": "instruction_tuned: no information beyond "
                                   "['intercept', 'np.log10(params)', 'multilingual'] across 6 models"}


def test_noted_turns_wvsalign_warnings_into_notes():
    import warnings

    from wvsalign.errors import DegenerateBootstrapWarning
    from wvsalign.report.build import noted

    def fn():
        warnings.warn("every replicate equal", DegenerateBootstrapWarning)
        warnings.warn("every replicate equal", DegenerateBootstrapWarning)
        warnings.warn("internal", FutureWarning)  # a library's notice: dropped
        return 42

    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes
        assert noted(fn, notes, "bias") == 42
    assert notes == ["bias: every replicate equal"]


@pytest.mark.parametrize("module", ["tables", "figures", "build", "runs", "data", "culture"])
def test_report_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"wvsalign.report.{module}"),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
