"""Studies: the study file (validation with messages naming the file and key), running every model x
condition as run directories (resumable, kill -9 included, models not loaded when finished), the
combined tables with metadata joined, and the cross-model statistics checked against direct
computations (scipy, statsmodels, Holm by hand)."""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign.errors import ConfigError, InputError  # noqa: E402
from wvsalign.inference.testing import save_tiny_model  # noqa: E402
from wvsalign.study import Study, StudySpec, run_study  # noqa: E402
from wvsalign.study.results import _identifiable_terms  # noqa: E402

ITEMS = ["Q1", "Q2", "Q46", "Q49", "Q57", "Q58", "Q164", "Q165"]
COUNTRIES = ["USA", "JPN", "DEU", "BRA", "NGA"]


def _spec_dict(models, **extra):
    base = {
        "name": "tiny",
        "models": models,
        "conditions": {"persona": {"templates": ["persona"]}, "third": {"templates": ["third_person"]}},
        "items": ITEMS,
        "countries": COUNTRIES,
        "seed": 3,
    }
    base.update(extra)
    return base


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return [save_tiny_model(root / f"m{i}", seed=i) for i in range(3)]


@pytest.fixture(scope="module")
def study_file(tiny_models, tmp_path_factory):
    models = [
        {"name": "small", "model": str(tiny_models[0]),
         "metadata": {"params": 1e8, "multilingual": False, "instruction_tuned": True, "family": "a"}},
        {"name": "large", "model": str(tiny_models[1]),
         "metadata": {"params": 1e9, "multilingual": True, "instruction_tuned": False, "family": "b"}},
    ]
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(yaml.safe_dump(_spec_dict(models)))
    return path


@pytest.fixture(scope="module")
def finished(study_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("studies") / "tiny"
    lines: list[str] = []
    study = run_study(study_file, out, progress=False, echo=lines.append)
    return study, out, lines


# ---- the study file ---------------------------------------------------------------------------
@pytest.mark.parametrize("raw, message", [
    ({"models": []}, "'models' must be a non-empty list"),
    ({"models": ["a"], "modles": 1}, r"unknown key\(s\) \['modles'\]"),
    ({"models": ["a", "a"]}, r"model name\(s\) \['a'\] appear more than once"),
    ({"models": [{"model": "a", "metadata": {"params": -3}}]}, "params must be a positive number"),
    ({"models": [{"model": "a", "metadata": {"multilingual": "yes"}}]}, "multilingual must be true or false"),
    ({"models": [{"model": "a", "name": "../x"}]}, "it names a folder"),
    ({"models": ["a"], "conditions": {"p": {"templats": ["persona"]}}}, r"condition 'p' has unknown key"),
    ({"models": ["a"], "human": "real"}, "'human' must be 'synthetic' or {wvs: FILE}"),
    ({"models": ["a"], "conditions": {"p": {"templates": ["nonsense"]}}}, "nonsense"),
])
def test_study_file_errors_name_the_file_and_the_key(tmp_path, raw, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message) as info:
        StudySpec.from_yaml(path)
    assert "bad.yaml" in str(info.value)


def test_shipped_study_files_parse_and_plan(tmp_path):
    root = os.path.join(os.path.dirname(__file__), "..", "data", "studies")
    names = sorted(f for f in os.listdir(root) if f.endswith(".yaml"))
    assert {"demo.yaml", "full.yaml", "kim_baek_2024.yaml"} <= set(names)
    for name in names:
        spec = StudySpec.from_yaml(os.path.join(root, name))
        plan = spec.plan(tmp_path)
        assert len(plan) == len(spec.models) * len(spec.conditions)
        assert spec.synthetic  # the shipped files run on synthetic data until a WVS file is named
    demo = StudySpec.from_yaml(os.path.join(root, "demo.yaml"))
    assert [m.model for m in demo.models] == ["smollm2-135m", "gemma3-270m"] and demo.demo


# ---- running ------------------------------------------------------------------------------------
def test_study_writes_one_run_directory_per_model_and_condition(finished):
    study, out, lines = finished
    assert sorted(study.runs) == [("large", "persona"), ("large", "third"), ("small", "persona"), ("small", "third")]
    for model in ("small", "large"):
        for cond in ("persona", "third"):
            assert (out / "runs" / model / cond / "alignment.csv").is_file()
    assert (out / "study.yaml").is_file()
    assert any("SYNTHETIC" in line for line in lines)


def test_combined_tables_carry_model_condition_and_metadata(finished):
    study, _, _ = finished
    al = study.alignment
    assert set(al["model"]) == {"small", "large"} and set(al["condition"]) == {"persona", "third"}
    small = al[al["model"] == "small"]
    assert (small["params"] == 1e8).all() and (small["family"] == "a").all()
    assert not small["multilingual"].astype(bool).any()
    probs = study.probs
    assert set(probs["model"]) == {"small", "large"}
    # probabilities of each prompt sum to one in the combined table
    sums = probs.groupby(["model", "condition", "prompt_id"])["prob"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)


def test_alignment_equals_pearson_of_the_scores(finished):
    study, _, _ = finished
    scores = study.scores
    al = study.alignment
    checked = 0
    for row in al.itertuples():
        sub = scores[(scores["condition"] == row.condition) & (scores["category"] == row.group)]
        wide = sub.pivot_table(index=["country", "item_id"], columns="model", values="mean_score").dropna()
        if row.model not in wide or len(wide) < 3 or not np.isfinite(row.estimate):
            continue
        r, p = scipy.stats.pearsonr(wide[row.model], wide["human"])
        assert row.estimate == pytest.approx(r, abs=1e-10)
        assert row.p == pytest.approx(p, rel=1e-6, abs=1e-12)
        checked += 1
    assert checked >= 4


def test_rerun_loads_no_model_and_changes_nothing(finished, study_file, monkeypatch):
    study, out, _ = finished
    before = {k: r.probs.copy() for k, r in study.runs.items()}
    import wvsalign.study.running as running

    def refuse(*args, **kwargs):
        raise AssertionError("a finished study must not load a model")

    monkeypatch.setattr(running, "_load", refuse)
    again = run_study(study_file, out, progress=False, echo=None)
    for key, table in before.items():
        pd.testing.assert_frame_equal(again.runs[key].probs, table, check_exact=True)


def test_study_killed_mid_way_resumes_to_identical_tables(finished, study_file, tmp_path):
    study, _, _ = finished
    out = tmp_path / "killed"
    env = dict(os.environ, HF_HUB_OFFLINE="1", WVSALIGN_FAULT="shard_recorded:2")
    cmd = [sys.executable, "-m", "wvsalign", "study", "run", str(study_file), "--out", str(out), "--quiet"]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode != 0  # SIGKILLed at the second recorded shard
    env.pop("WVSALIGN_FAULT")
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    again = Study.load(out)
    for key, result in study.runs.items():
        pd.testing.assert_frame_equal(again.runs[key].probs, result.probs, check_exact=True)
        pd.testing.assert_frame_equal(again.runs[key].alignment, result.alignment, check_exact=True)


def test_study_load_refuses_a_folder_without_study_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no study.yaml"):
        Study.load(tmp_path)


# ---- cross-model statistics ---------------------------------------------------------------------
def _holm(p):
    p = np.asarray(p, float)
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


def test_compare_models_equals_steiger_by_hand_and_holm(finished):
    study, _, _ = finished
    table = study.compare_models(method="steiger")
    assert set(table["condition"]) == {"persona", "third"}
    scores = study.scores
    for row in table.itertuples():
        sub = scores[scores["condition"] == row.condition]
        wide = sub.pivot_table(index=["country", "item_id"], columns="model", values="mean_score").dropna()
        a, b, h = wide[row.model_a], wide[row.model_b], wide["human"]
        r1, r2, r12 = np.corrcoef(a, h)[0, 1], np.corrcoef(b, h)[0, 1], np.corrcoef(a, b)[0, 1]
        n = len(wide)
        # Steiger (1980) Z with the pooled r-bar (cocor's steiger1980)
        z1, z2 = np.arctanh(r1), np.arctanh(r2)
        rbar = (r1 + r2) / 2
        psi = r12 * (1 - 2 * rbar**2) - 0.5 * rbar**2 * (1 - 2 * rbar**2 - r12**2)
        c = psi / (1 - rbar**2) ** 2
        z = (z1 - z2) * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
        assert row.estimate == pytest.approx(r1 - r2, abs=1e-10)
        assert row.statistic == pytest.approx(z, rel=1e-8)
        assert row.p == pytest.approx(2 * scipy.stats.norm.sf(abs(z)), rel=1e-7)
    np.testing.assert_allclose(table["p_adjusted"], _holm(table["p"]), rtol=1e-12)


def test_regression_with_two_models_keeps_one_term_and_says_so(finished):
    study, _, _ = finished
    fit = study.regression(condition="persona")
    assert fit.kept == ["np.log10(params)"]
    assert fit.dropped == ["multilingual", "instruction_tuned"]
    assert "With 2 models" in fit.note and "dropped" in fit.summary()
    data = study.regression_data("persona")
    ref = smf.ols("estimate ~ np.log10(params) + C(group)", data=data).fit(cov_type="HC3")
    tidy = fit.tidy().set_index("term")
    assert tidy.loc["np.log10(params)", "estimate"] == pytest.approx(ref.params["np.log10(params)"], rel=1e-10)
    assert tidy.loc["np.log10(params)", "std_error"] == pytest.approx(ref.bse["np.log10(params)"], rel=1e-10)


def test_report_of_the_study_uses_its_metadata_and_its_regression_terms(finished):
    """The report of a study directory: the study file's metadata (not what the runs recorded) and
    the same model-level terms and note as Study.regression."""
    from wvsalign.report import data as report_data
    from wvsalign.report import runs as report_runs
    from wvsalign.report import tables as T

    study, out, _ = finished
    runs = [r for r in report_runs.load_runs([out]) if r.condition == "persona"]
    recorded = {r.path.parts[-2]: r.config["model"] for r in runs}
    assert all(info.get("family") not in ("a", "b") for info in recorded.values())  # the backend's own
    combined = report_data.combine(runs)
    by_run = combined.models.set_index(combined.models["run"].map(lambda p: Path(p).parts[-2]))
    assert by_run.loc["small", "family"] == "a" and by_run.loc["large", "family"] == "b"
    assert by_run.loc["small", "params"] == 1e8 and bool(by_run.loc["large", "multilingual"]) is True
    sizes = T.size_regressions(T.alignment_table(combined.scores).data, combined.models)
    fit = study.regression(condition="persona")
    assert sizes.terms.kept == fit.kept and list(sizes.terms.dropped) == fit.dropped and sizes.terms.note == fit.note


def test_identifiable_terms_with_more_models():
    data = pd.DataFrame({
        "model": ["a", "b", "c", "d"],
        "params": [1e8, 1e9, 1e10, 1e9],
        "multilingual": [0.0, 1.0, 1.0, 0.0],
        "instruction_tuned": [1.0, 0.0, 1.0, 0.0],
    })
    kept, dropped, note = _identifiable_terms(data, ["np.log10(params)", "multilingual", "instruction_tuned"])
    assert kept == ["np.log10(params)", "multilingual", "instruction_tuned"] and not dropped and note == ""
    collinear = data.assign(instruction_tuned=1.0 - data["multilingual"])
    kept, dropped, note = _identifiable_terms(collinear, ["np.log10(params)", "multilingual", "instruction_tuned"])
    assert dropped == ["instruction_tuned"] and "no information beyond" in note
    with pytest.raises(InputError, match="at least two models"):
        _identifiable_terms(data.iloc[:1], ["np.log10(params)"])


def test_study_show_command_prints_the_tables(finished):
    _, out, _ = finished
    proc = subprocess.run([sys.executable, "-m", "wvsalign", "study", "show", str(out)], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr
    assert "alignment (Pearson r" in proc.stdout and "small" in proc.stdout and "SYNTHETIC" in proc.stdout
