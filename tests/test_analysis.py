"""The analysis/ scripts, each run on a tiny configuration (a tiny random model, a few items and countries)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from wvsalign.survey.countries import Countries

ROOT = Path(__file__).resolve().parents[1]
ITEMS = "Q1,Q27,Q46,Q57,Q8,Q14,Q15,Q17,Q45,Q164,Q182,Q184,Q209,Q254,Q106"
COUNTRIES = "USA,DEU,SWE,JPN,NGA,BRA,RUS,EGY"


def _script(name: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "analysis" / name), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


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
    default = scores[(scores["source"] != "human") & (scores["country"] == "NONE")][["item_id", "mean_score"]]
    human = scores[(scores["source"] == "human") & (scores["country"] == "JPN")][["item_id", "mean_score"]]
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
    human = scores[scores["source"] == "human"][["country", "item_id", "mean_score"]]
    pairs = scores[scores["source"] != "human"].merge(human, on=["country", "item_id"], suffixes=("", "_h")).dropna(
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
