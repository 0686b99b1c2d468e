"""One policy for model-level terms: ``wvsalign.stats.estimable_terms`` (rank checked against
numpy.linalg.matrix_rank), shared by ``Study.regression`` and the report's regressions (the same
kept/dropped terms, note and estimates on the same study), and a study's metadata overrides
reaching the report."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import wvsalign as wa
from wvsalign import stats
from wvsalign.errors import InputError
from wvsalign.report import data as report_data
from wvsalign.report import runs as report_runs
from wvsalign.report import tables as T
from wvsalign.report.testing import small_human, synthetic_study
from wvsalign.study import Study
from wvsalign.study.results import DEFAULT_TERMS

ROOT = Path(__file__).resolve().parents[1]

#: four models: size, multilingual and instruction tuning all separable
FOUR = [
    {"model": "m1", "params": 10**8, "noise": 0.8, "seed": 11, "multilingual": False, "instruction_tuned": True},
    {"model": "m2", "params": 10**9, "noise": 0.5, "seed": 12, "multilingual": True, "instruction_tuned": False},
    {"model": "m3", "params": 10**10, "noise": 0.3, "seed": 13, "multilingual": True, "instruction_tuned": True},
    {"model": "m4", "params": 10**9, "noise": 0.6, "seed": 14, "multilingual": False, "instruction_tuned": False},
]


@pytest.fixture(scope="module")
def human():
    return small_human()


def _design(units: pd.DataFrame, terms: list[str]) -> np.ndarray:
    """The unit-level design by hand: intercept and one column per term."""
    cols = [np.ones(len(units))]
    for term in terms:
        cols.append(np.log10(units["params"].to_numpy(float)) if term == "np.log10(params)"
                    else units[term].to_numpy(float))
    return np.column_stack(cols)


@pytest.mark.parametrize("seed", range(12))
def test_rank_logic_matches_numpy_matrix_rank(seed):
    """Kept terms span the design: 1 + len(kept) == matrix_rank(full design), and each kept term raises the rank."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    units = pd.DataFrame({"model": [f"m{i}" for i in range(n)],
                          "params": 10.0 ** rng.choice([8, 9, 10], size=n),
                          "multilingual": rng.integers(0, 2, size=n).astype(float),
                          "instruction_tuned": rng.integers(0, 2, size=n).astype(float),
                          "x": rng.normal(size=n)})
    if seed % 3 == 0:  # a term that is a combination of others
        units["x"] = 1.0 - units["multilingual"]
    rows = pd.concat([units.assign(group=g) for g in "abc"], ignore_index=True)  # model x category rows
    terms = ["np.log10(params)", "multilingual", "instruction_tuned", "x"]
    chosen = stats.estimable_terms(rows, terms)
    assert chosen.n_units == n
    assert 1 + len(chosen.kept) == np.linalg.matrix_rank(_design(units, terms))
    for i in range(len(chosen.kept)):
        assert np.linalg.matrix_rank(_design(units, chosen.kept[:i + 1])) == i + 2
    for term in chosen.dropped:  # each dropped term adds nothing to the terms kept before it
        before = [t for t in chosen.kept if terms.index(t) < terms.index(term)]
        assert np.linalg.matrix_rank(_design(units, before + [term])) == 1 + len(before)
    assert list(chosen.kept) + list(chosen.dropped) != [] and set(chosen.kept) | set(chosen.dropped) == set(terms)
    assert (chosen.note == "") == (not chosen.dropped)


def test_missing_metadata_and_too_few_models():
    rows = pd.DataFrame({"model": list("abc"), "params": [1e8, np.nan, 1e10], "multilingual": [0.0, 1.0, 1.0]})
    chosen = stats.estimable_terms(rows, ["np.log10(params)", "multilingual", "family"])
    assert chosen.kept == ["multilingual"]
    assert chosen.dropped["np.log10(params)"] == "np.log10(params): not recorded for ['b']"
    assert chosen.dropped["family"] == "family: no metadata 'family'"
    assert chosen.note.startswith("With 3 models, 1 model-level term(s) can be estimated")
    with pytest.raises(InputError, match="at least two models"):
        stats.estimable_terms(rows.iloc[:1], ["multilingual"])


@pytest.mark.parametrize("n_models", [2, 4])
def test_study_and_report_keep_the_same_terms_with_the_same_note(tmp_path, human, n_models):
    folder = synthetic_study(tmp_path / "study", FOUR[:n_models], human)
    study = Study.load(folder)
    fit = study.regression()
    combined = report_data.combine(report_runs.load_runs([folder]))
    sizes = T.size_regressions(T.alignment_table(combined.scores).data, combined.models)
    assert sizes.terms.kept == fit.kept and list(sizes.terms.dropped) == fit.dropped
    assert sizes.terms.note == fit.note
    # the hand-worked expectation: 2 models identify one term (size); 4 separable models all three
    assert fit.kept == (["np.log10(params)"] if n_models == 2 else list(DEFAULT_TERMS))
    assert ("With 2 models, 1 model-level term(s)" in fit.note) == (n_models == 2)
    # the report fits the study's regression (the last one with those terms) and shows its note
    label = "(2) size + category" if n_models == 2 else "(3) size + training"
    report_fit = sizes.fits[label]
    assert report_fit.model.formula == "estimate ~ " + " + ".join(fit.kept) + " + C(group)"
    data = study.regression_data()
    ref = smf.ols("estimate ~ " + " + ".join(fit.kept) + " + C(group)", data=data).fit(cov_type="HC3")
    for term in fit.kept:
        assert report_fit.result.params[term] == pytest.approx(ref.params[term], rel=1e-9)
        assert report_fit.result.bse[term] == pytest.approx(ref.bse[term], rel=1e-9)
    tables, _ = wa.report.build_tables(combined, n_boot=50, n_perm=49)
    regressions = {t.name: t for t in tables}["regressions"]
    assert bool(fit.note) == (n_models == 2)
    if fit.note:
        assert regressions.note.endswith(fit.note)
    shown = set(regressions.display["term"])
    assert set(fit.kept) <= shown and not set(fit.dropped) & shown


def test_study_with_two_conditions_counts_models_not_runs(tmp_path, human):
    """Two models x two conditions: four runs in the report, two models for the terms (as Study.regression),
    with condition effects in both."""
    folder = synthetic_study(tmp_path / "study", FOUR[:2], human, condition=("persona", "third"))
    study = Study.load(folder)
    fit = study.regression()
    combined = report_data.combine(report_runs.load_runs([folder]))
    assert len(combined.labels) == 4 and sorted(set(combined.models["unit"])) == ["m1", "m2"]
    sizes = T.size_regressions(T.alignment_table(combined.scores).data, combined.models)
    assert sizes.terms.n_units == 2 and sizes.terms.note == fit.note and sizes.terms.kept == fit.kept
    report_fit = sizes.fits["(2) size + category"]
    assert report_fit.model.formula == "estimate ~ np.log10(params) + C(group) + C(condition)"
    ref = smf.ols("estimate ~ np.log10(params) + C(group) + C(condition)", data=study.regression_data()).fit(
        cov_type="HC3")
    assert report_fit.result.params["np.log10(params)"] == pytest.approx(ref.params["np.log10(params)"], rel=1e-9)
    assert report_fit.result.bse["np.log10(params)"] == pytest.approx(ref.bse["np.log10(params)"], rel=1e-9)


def test_report_of_a_study_uses_the_study_metadata(tmp_path, human):
    models = [dict(FOUR[0], metadata={"multilingual": True, "family": "custom-fam"}), FOUR[1]]
    folder = synthetic_study(tmp_path / "study", models, human)
    run = folder / "runs" / "m1" / "persona"
    recorded = report_runs.read_run(run).model_info
    assert recorded["multilingual"] is False and recorded["family"] == "synthetic"  # what the run recorded
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, "-m", "wvsalign", "report", str(folder), "--out", str(out), "--no-figures",
                           "--n-boot", "50", "--n-perm", "49", "--quiet"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "tables" / "models.csv").set_index("model")
    assert table.loc["m1", "family"] == "custom-fam" and bool(table.loc["m1", "multilingual"]) is True
    assert table.loc["m2", "family"] == "synthetic" and bool(table.loc["m2", "multilingual"]) is True
    shown = pd.read_csv(out / "tables" / "models.csv")  # the same as Study.load's merge
    study = Study.load(folder).models.set_index("model")
    for col in ("family", "multilingual", "params"):
        assert list(shown.set_index("model")[col]) == list(study[col]), col
    # wa.report with the run directory alone keeps the run's config.yaml metadata
    rep = wa.report([run], out=tmp_path / "rep_run", figures=False, n_boot=50, n_perm=49)
    plain = rep.tables["models"].data.set_index("model")
    assert plain.loc["m1", "family"] == "synthetic" and not plain.loc["m1", "multilingual"]


def test_a_study_record_that_cannot_be_read_is_a_note(tmp_path, human):
    folder = synthetic_study(tmp_path / "study", FOUR[:2], human)
    (folder / "study.yaml").write_text("models: [m1, m2]\nsurprise: 1\n")
    runs = report_runs.load_runs([folder])
    assert all(r.study_model is None for r in runs)
    assert sum("not a study record" in n for r in runs for n in r.notes) == 1  # said once
    assert runs[0].model_info["family"] == "synthetic"


def test_size_line_of_a_study_with_two_conditions_is_the_reference_conditions_line(tmp_path, human):
    """The figure's line comes from '(1) size' with C(condition): drawn for the first condition, it equals
    intercept + slope x log10(params) of that fit (the report once crashed here, with figures on)."""
    folder = synthetic_study(tmp_path / "study", FOUR[:2], human, condition=("persona", "third"))
    combined = report_data.combine(report_runs.load_runs([folder]))
    sizes = T.size_regressions(T.alignment_table(combined.scores).data, combined.models)
    fit = sizes.fits["(1) size"]
    assert "C(condition)" in fit.model.formula
    rows = sizes.rows.dropna(subset=["log10_params"])
    line = T.size_line(fit, rows, points=5)
    params = fit.result.params
    expected = params["Intercept"] + params["np.log10(params)"] * line["log10_params"]
    np.testing.assert_allclose(line["fit"], expected, rtol=1e-10)
    assert (line["ci_low"] <= line["fit"]).all() and (line["fit"] <= line["ci_high"]).all()
    rep = wa.report([folder], out=tmp_path / "rep", n_boot=50, n_perm=49)
    assert "alignment_vs_size" in rep.figures
