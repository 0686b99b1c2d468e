"""Reports from real run directories written by ``wvsalign run`` with two tiny random models (slow)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats as sps

import wvsalign as wa

ROOT = Path(__file__).resolve().parents[1]
ITEMS = "Q1,Q2,Q27,Q46,Q57,Q164,Q182,Q184,Q106"
COUNTRIES = "USA,DEU,JPN,NGA,BRA,RUS"


@pytest.mark.slow
def test_report_of_a_two_model_study_made_by_wvsalign_run(tmp_path):
    from wvsalign.inference.testing import save_tiny_model

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    study = tmp_path / "study"
    (study / "runs").mkdir(parents=True)
    (study / "study.yaml").write_text("models: [tinyA, tinyB]\n")
    for name, seed in (("tinyA", 0), ("tinyB", 1)):
        folder = save_tiny_model(tmp_path / name, seed=seed)
        proc = subprocess.run([sys.executable, "-m", "wvsalign", "run", "--model", str(folder), "--items", ITEMS,
                               "--countries", COUNTRIES, "--quiet", "--out", str(study / "runs" / name / "persona")],
                              capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([sys.executable, "-m", "wvsalign", "report", str(study), "--out", str(tmp_path / "rep"),
                           "--n-boot", "100", "--n-perm", "99"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert 'id="synthetic-banner"' in html
    table = pd.read_csv(tmp_path / "rep" / "tables" / "alignment_by_category.csv")
    assert sorted(table["model"].unique()) == ["tinyA", "tinyB"]
    # the report's overall r equals pearsonr on the run's own scores.parquet
    scores = pd.read_parquet(study / "runs" / "tinyA" / "persona" / "scores.parquet")
    human = scores[scores["model"] == "human"][["country", "item_id", "mean_score"]]
    pairs = scores[scores["model"] != "human"].merge(human, on=["country", "item_id"], suffixes=("", "_h")).dropna(
        subset=["mean_score", "mean_score_h"])
    row = table[(table["model"] == "tinyA") & (table["group"] == "all")].iloc[0]
    assert row["estimate"] == pytest.approx(sps.pearsonr(pairs["mean_score"], pairs["mean_score_h"])[0], abs=1e-9)
    conditions = pd.read_csv(tmp_path / "rep" / "tables" / "conditions.csv")
    assert set(conditions["condition"]) == {"persona"}
    assert wa.report.runs.find_runs([study])[0][1] == study
