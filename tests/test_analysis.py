"""The analysis/ scripts, each run on a tiny configuration (a tiny random model, a few items and countries)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from wvsalign.errors import WvsalignWarning
from wvsalign.survey.countries import Countries

ROOT = Path(__file__).resolve().parents[1]
ITEMS = "Q1,Q27,Q46,Q57,Q8,Q14,Q15,Q17,Q45,Q164,Q182,Q184,Q209,Q254,Q106"
COUNTRIES = "USA,DEU,SWE,JPN,NGA,BRA,RUS,EGY"


def _script(name: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "analysis" / name), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # no library warning (matplotlib, seaborn, pandas, statsmodels) reaches the terminal; wvsalign's own may
    ours = {cls.__name__ for cls in _subclasses(WvsalignWarning)}
    library = [ln for ln in proc.stderr.splitlines()
               if re.search(r"\b(\w*Warning):", ln) and re.search(r"\b(\w*Warning):", ln).group(1) not in ours]
    assert not library, "\n".join(library)
    return proc


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


@pytest.fixture(scope="module")
def bias_run(tmp_path_factory):
    """western_bias.py end to end: it runs the tiny model itself (persona and default templates)."""
    from wvsalign.inference.testing import save_tiny_model

    tmp = tmp_path_factory.mktemp("analysis")
    model = save_tiny_model(tmp / "tiny", seed=0)
    out = tmp / "western_bias"
    proc = _script("western_bias.py", "--models", str(model), "--items", ITEMS, "--countries", COUNTRIES,
                   "--out", str(out), "--quiet")
    return out, proc


@pytest.mark.slow
def test_western_bias(bias_run):
    out, proc = bias_run
    assert "SYNTHETIC" in proc.stdout and f"wrote {out}" in proc.stdout
    country = pd.read_csv(out / "tables" / "alignment_by_country.csv")
    bias = pd.read_csv(out / "tables" / "bias.csv")
    western = Countries.load()
    inside = country["group"].map(lambda c: western.get(c).western).astype(bool)
    row = bias[bias["group_by"] == "western"].iloc[0]
    assert row["estimate"] == pytest.approx(country.loc[inside, "estimate"].mean()
                                            - country.loc[~inside, "estimate"].mean(), abs=1e-12)
    ranking = pd.read_csv(out / "tables" / "default_ranking.csv")
    assert sorted(ranking["rank"]) == list(range(1, len(COUNTRIES.split(",")) + 1))
    # the ranking's r: the default answers vs each country's people, over items (by hand)
    scores = pd.read_parquet(out / "runs" / "tiny" / "run" / "scores.parquet")
    default = scores[(scores["model"] != "human") & (scores["country"] == "NONE")][["item_id", "mean_score"]]
    human = scores[(scores["model"] == "human") & (scores["country"] == "JPN")][["item_id", "mean_score"]]
    both = default.merge(human, on="item_id", suffixes=("", "_h")).dropna()
    jpn = ranking[ranking["group"] == "JPN"].iloc[0]
    assert jpn["estimate"] == pytest.approx(sps.pearsonr(both["mean_score"], both["mean_score_h"])[0], abs=1e-9)
    for name in ("alignment_by_country", "bias"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0


@pytest.mark.slow
def test_values_by_category(bias_run, tmp_path):
    run = bias_run[0] / "runs" / "tiny" / "run"
    proc = _script("values_by_category.py", "--runs", str(run), "--out", str(tmp_path))
    table = pd.read_csv(tmp_path / "tables" / "alignment_by_category.csv")
    scores = pd.read_parquet(run / "scores.parquet")
    human = scores[scores["model"] == "human"][["country", "item_id", "mean_score"]]
    pairs = scores[scores["model"] != "human"].merge(human, on=["country", "item_id"], suffixes=("", "_h")).dropna(
        subset=["mean_score", "mean_score_h"])
    for row in table.itertuples():
        sub = pairs if row.group == "all" else pairs[pairs["category"] == row.group]
        assert row.estimate == pytest.approx(sps.pearsonr(sub["mean_score"], sub["mean_score_h"])[0], abs=1e-9)
    assert "| category" in proc.stdout
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {
        "alignment_heatmap.png", "alignment_heatmap.svg", "model_vs_human.png", "model_vs_human.svg"}


@pytest.mark.slow
def test_cultural_map(bias_run, tmp_path):
    run = bias_run[0] / "runs" / "tiny" / "run"
    _script("cultural_map.py", "--runs", str(run), "--out", str(tmp_path))
    positions = pd.read_csv(tmp_path / "tables" / "map_positions.csv")
    assert set(positions.loc[positions["kind"] == "country", "label"]) == set(COUNTRIES.split(","))
    model = positions[positions["kind"] == "model"]
    assert list(model["label"]) == ["tiny"]
    distances = pd.read_csv(tmp_path / "tables" / "cultural_distance.csv")
    countries = positions[positions["kind"] == "country"].set_index("label")
    dims = ["traditional_secular", "survival_self_expression"]
    expected = np.sqrt(((countries[dims] - model[dims].to_numpy()[0]) ** 2).sum(axis=1))
    got = distances.set_index("group")["estimate"]
    np.testing.assert_allclose(got.loc[expected.index], expected, atol=1e-9)
    assert (tmp_path / "figures" / "culture_map.png").stat().st_size > 0


@pytest.fixture(scope="module")
def synthetic_study(tmp_path_factory):
    from wvsalign.report.testing import small_study

    return small_study(tmp_path_factory.mktemp("s") / "study", option_orders=("original", "reversed"))


def test_training_factors(synthetic_study, tmp_path):
    import statsmodels.formula.api as smf

    meta = tmp_path / "models.csv"
    # override the recorded sizes: the regression must use these
    pd.DataFrame({"model": ["alpha", "beta", "gamma"], "params": [1e6, 1e7, 1e9]}).to_csv(meta, index=False)
    proc = _script("training_factors.py", "--runs", str(synthetic_study), "--metadata", str(meta), "--out",
                   str(tmp_path / "out"))
    assert "regression (3) size + training" in proc.stdout and "dropped: instruction_tuned" in proc.stdout
    table = pd.read_csv(tmp_path / "out" / "tables" / "alignment_by_category.csv")
    rows = table[table["group_by"] == "category"].copy()
    rows["log10_params"] = rows["model"].map({"alpha": 6.0, "beta": 7.0, "gamma": 9.0})
    ref = smf.ols("estimate ~ log10_params", rows).fit(cov_type="HC3")
    reg = pd.read_csv(tmp_path / "out" / "tables" / "regressions.csv")
    got = reg[(reg["fit"] == "(1) size") & (reg["term"] == "np.log10(params)")].iloc[0]
    assert got["estimate"] == pytest.approx(ref.params["log10_params"], rel=1e-9)
    assert got["std_error"] == pytest.approx(ref.bse["log10_params"], rel=1e-9)
    comparisons = pd.read_csv(tmp_path / "out" / "tables" / "model_comparisons.csv")
    assert len(comparisons.drop_duplicates(["model_a", "model_b"])) == 3
    assert (tmp_path / "out" / "figures" / "alignment_vs_size.png").stat().st_size > 0


def test_robustness(synthetic_study, tmp_path):
    proc = _script("robustness.py", "--runs", str(synthetic_study), "--out", str(tmp_path))
    data = pd.read_csv(tmp_path / "tables" / "alignment_by_variant.csv")
    assert set(data["variant"]) == {"original", "reversed"}
    md = (tmp_path / "tables" / "alignment_by_variant.md").read_text()
    # the verdict, by hand, for one model x category
    sub = data[(data["model"] == "alpha") & (data["group"] == "religion")]
    kinds = {("positive" if e > 0 else "negative") if p < 0.05 else "not significant"
             for e, p in zip(sub["estimate"], sub["p"])}
    expected = kinds.pop() if len(kinds) == 1 else "depends on format"
    line = next(ln for ln in md.splitlines() if "| alpha" in ln and "| religion" in ln)
    assert line.rstrip(" |").endswith(expected)
    effects = pd.read_csv(tmp_path / "tables" / "format_robustness.csv")
    assert set(effects["factor"]) == {"option_order"}
    assert "format_robustness.png" in proc.stdout


def test_values_by_category_and_cultural_map_on_a_study(synthetic_study, tmp_path):
    """The scripts accept a study directory (no model run): three models in the table and on the map."""
    _script("values_by_category.py", "--runs", str(synthetic_study), "--out", str(tmp_path / "v"))
    table = pd.read_csv(tmp_path / "v" / "tables" / "alignment_by_category.csv")
    assert sorted(table["model"].unique()) == ["alpha", "beta", "gamma"]
    proc = _script("cultural_map.py", "--runs", str(synthetic_study), "--out", str(tmp_path / "m"))
    assert "SYNTHETIC respondents" in proc.stdout
    positions = pd.read_csv(tmp_path / "m" / "tables" / "map_positions.csv")
    assert sorted(positions.loc[positions["kind"] == "model", "label"]) == ["alpha", "beta", "gamma"]
