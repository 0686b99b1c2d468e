"""The main job: RunConfig (YAML round trip, validation), the demo subset, ``run`` end to end on a
tiny local model (files written, what config.yaml records, SYNTHETIC labelling, resumption
without model work, refusal of a different config), and the ``run`` / ``models`` commands."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign import cli, tables  # noqa: E402
from wvsalign.errors import ConfigError  # noqa: E402
from wvsalign.inference.engine import ScoringEngine  # noqa: E402
from wvsalign.inference.testing import save_tiny_model  # noqa: E402
from wvsalign.pipeline import RunConfig, run, select_items  # noqa: E402
from wvsalign.survey.items import CATEGORIES, ItemBank  # noqa: E402

ITEMS = ["Q1", "Q2", "Q46", "Q49", "Q164", "Q57", "Q58"]
COUNTRIES = ["USA", "JPN", "DEU", "BRA", "NGA"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-model", seed=2)


@pytest.fixture(scope="module")
def finished(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    lines: list[str] = []
    config = RunConfig(model=str(model_dir), items=ITEMS, countries=COUNTRIES, out=str(out))
    result = run(config, progress=False, echo=lines.append)
    return result, lines


# ---- RunConfig ------------------------------------------------------------------------------
def test_run_config_yaml_round_trip(tmp_path):
    config = RunConfig(model={"path": "some/folder", "name": "m", "multilingual": True}, items="Q1,Q2",
                       countries=["USA", "western"], templates="persona,default", seed=3, batch_size="8", demo=True)
    assert config.items == ["Q1", "Q2"] and config.templates == ["persona", "default"] and config.batch_size == 8
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    assert RunConfig.from_yaml(path) == config
    assert RunConfig.from_dict(yaml.safe_load(config.to_yaml())) == config


def test_run_config_rejects_unknown_settings_and_bad_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: smollm2-135m\ncountrys: [USA]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown setting\(s\) \['countrys'\]"):
        RunConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        RunConfig(seed=-1)
    with pytest.raises(ConfigError, match="batch_size"):
        RunConfig(batch_size="lots")
    with pytest.raises(ConfigError, match="templates must name at least one value"):
        RunConfig(templates=[])


def test_demo_takes_the_first_two_ordinal_items_of_each_category():
    bank = ItemBank.wvs7()
    demo = select_items(RunConfig(demo=True))
    expected = []
    for category in CATEGORIES:
        expected += [it.item_id for it in bank if it.category == category and it.scale == "ordinal"][:2]
    assert demo.ids == [i for i in bank.ids if i in expected]
    assert len(demo) == 2 * len(bank.categories)
    assert select_items(RunConfig(demo=True, items=["Q1"])).ids == ["Q1"]


# ---- run end to end ---------------------------------------------------------------------------
def test_run_writes_every_table(finished):
    result, _ = finished
    out = result.run_dir
    for name in ("config.yaml", "prompts.parquet", "probs.parquet", "human.parquet", "scores.parquet", "alignment.csv"):
        assert (out / name).exists(), name
    assert list((out / "probs").glob("*.parquet"))
    prompts = pd.read_parquet(out / "prompts.parquet")
    assert len(prompts) == len(ITEMS) * len(COUNTRIES)
    tables.check(pd.read_parquet(out / "probs.parquet"), "probs")
    tables.check(pd.read_parquet(out / "human.parquet"), "human")
    tables.check(pd.read_parquet(out / "scores.parquet"), "scores")
    alignment = tables.check(pd.read_csv(out / "alignment.csv"), "alignment")
    assert set(alignment["group"]) == set(ItemBank.wvs7().filter(ids=ITEMS).categories)


def test_alignment_is_pearson_r_of_model_and_human_mean_scores(finished):
    result, _ = finished
    scores = result.scores
    human = scores[scores["source"] == "human"].set_index(["country", "item_id"])["mean_score"]
    model = scores[scores["source"] != "human"].set_index(["country", "item_id"])["mean_score"]
    bank = ItemBank.wvs7()
    for row in result.alignment.itertuples():
        keys = [k for k in model.index if bank[k[1]].category == row.group and k in human.index]
        r, p = scipy.stats.pearsonr(model.loc[keys], human.loc[keys])
        assert row.n == len(keys)
        assert row.estimate == pytest.approx(r, abs=1e-10) and row.p == pytest.approx(p, abs=1e-10)


def test_config_yaml_records_versions_model_and_synthetic_human(finished):
    result, _ = finished
    record = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert record["status"] == "finished"
    assert RunConfig.from_dict(record["config"]) == result.config
    assert {"wvsalign", "torch", "transformers", "numpy", "pandas", "python"} <= set(record["wvsalign"])
    import torch

    assert record["wvsalign"]["torch"] == str(torch.__version__)
    model = record["model"]
    assert len(model["sha256"]) == 64 and model["params"] == sum(
        p.numel() for p in __import__("wvsalign.inference.models", fromlist=["x"]).load_model(
            model["source"], progress=False).model.parameters())
    assert record["human"]["synthetic"] is True
    assert record["seeds"] == {"option_order": 0, "synthetic_human": 0}
    # a run directory's config.yaml is itself a config file
    assert RunConfig.from_yaml(result.run_dir / "config.yaml") == result.config


def test_output_says_the_human_side_is_synthetic(finished):
    result, lines = finished
    assert any("SYNTHETIC" in line for line in lines)
    summary = result.summary()
    assert "SYNTHETIC" in summary and "alignment" in summary
    for group in result.alignment["group"]:
        assert group in summary


def test_rerun_of_a_finished_run_does_no_model_work(finished, monkeypatch):
    result, _ = finished

    def boom(*args, **kwargs):
        raise AssertionError("model work in a finished run")

    monkeypatch.setattr(ScoringEngine, "logprobs", boom)
    monkeypatch.setattr("wvsalign.inference.models.load_model", boom)
    again = run(result.config, progress=False, echo=None)
    pd.testing.assert_frame_equal(again.probs, result.probs, check_exact=True)
    pd.testing.assert_frame_equal(again.alignment, result.alignment)


def test_run_dir_of_a_different_config_is_refused_unless_overwrite(finished, model_dir, tmp_path):
    result, _ = finished
    out = tmp_path / "run"
    base = dict(model=str(model_dir), items=ITEMS[:3], countries=COUNTRIES[:3], out=str(out))
    run(RunConfig(**base), progress=False, echo=None)
    changed = RunConfig(**{**base, "countries": COUNTRIES[:4]})
    with pytest.raises(ConfigError, match=r"different config \(countries: \['USA', 'JPN', 'DEU'\] ->"):
        run(changed, progress=False, echo=None)
    # settings that do not shape results may change on resumption
    run(RunConfig(**{**base, "batch_size": 2}), progress=False, echo=None)
    redone = run(changed, overwrite=True, progress=False, echo=None)
    assert redone.prompts["country"].nunique() == 4
    assert pd.read_parquet(out / "probs.parquet")["country"].nunique() == 4


def test_run_with_a_wvs_file(model_dir, tmp_path):
    from wvsalign.survey.synthetic import write_synthetic

    path = write_synthetic(tmp_path / "wvs.csv", ItemBank.wvs7().filter(ids=ITEMS[:3]), COUNTRIES[:3],
                           n_per_country=200, seed=5)
    lines: list[str] = []
    result = run(RunConfig(model=str(model_dir), wvs=str(path), items=ITEMS[:3], countries=COUNTRIES[:3],
                           out=str(tmp_path / "run")), progress=False, echo=lines.append)
    assert set(result.human["country"]) == set(COUNTRIES[:3])
    assert result.synthetic  # the file carries the SYNTHETIC marker, and the output says so
    assert any("SYNTHETIC WVS-format file" in line for line in lines)
    shares = result.human.groupby(["country", "item_id"])["share"].sum()
    np.testing.assert_allclose(shares, 1.0)


# ---- commands ---------------------------------------------------------------------------------
def test_cli_run_prints_a_summary(model_dir, tmp_path, capsys):
    out = tmp_path / "cli-run"
    code = cli.main(["run", "--model", str(model_dir), "--items", "Q1,Q46,Q57", "--countries", "USA,JPN,BRA",
                     "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "SYNTHETIC" in printed and "alignment" in printed and str(out) in printed
    config = yaml.safe_load((out / "config.yaml").read_text())["config"]
    assert config["items"] == ["Q1", "Q46", "Q57"] and config["countries"] == ["USA", "JPN", "BRA"]


def test_cli_run_with_config_file_and_bad_input(model_dir, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(RunConfig(model=str(model_dir), items=["Q1", "Q46"], countries=["USA", "JPN"],
                             out=str(tmp_path / "a")).to_yaml())
    assert cli.main(["run", "--config", str(cfg), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert (tmp_path / "b" / "alignment.csv").exists() and not (tmp_path / "a").exists()
    capsys.readouterr()
    assert cli.main(["run", "--model", "no-such-model", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err and "smollm2-135m" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_cli_models_lists_the_registry(capsys):
    assert cli.main(["models", "--format", "csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert {"smollm2-135m", "gemma3-270m"} <= set(table["name"])
    assert cli.main(["models"]) == 0
    assert "Any local Hugging Face folder" in capsys.readouterr().out
