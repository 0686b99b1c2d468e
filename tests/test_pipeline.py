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

from wvsalign import cli, contracts  # noqa: E402
from wvsalign.errors import ConfigError  # noqa: E402
from wvsalign.inference.engine import ScoringEngine  # noqa: E402
from wvsalign.inference.testing import save_tiny_model  # noqa: E402
from wvsalign.pipeline import RunConfig, run, select_items  # noqa: E402
from wvsalign.survey.countries import Countries  # noqa: E402
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


DEMO_IDS = ["Q1", "Q2", "Q46", "Q47", "Q57", "Q58", "Q106", "Q107", "Q112", "Q113", "Q121", "Q122", "Q131", "Q132",
            "Q158", "Q159", "Q164", "Q165", "Q176", "Q177", "Q199", "Q200", "Q235", "Q236"]


def test_demo_takes_the_first_two_ordinal_items_of_each_category():
    demo = select_items(RunConfig(demo=True))
    assert demo.ids == DEMO_IDS
    assert len(demo) == 2 * len(CATEGORIES) == 24
    assert [demo[i].category for i in DEMO_IDS[::2]] == list(CATEGORIES)
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
    contracts.check(pd.read_parquet(out / "probs.parquet"), "probs")
    contracts.check(pd.read_parquet(out / "human.parquet"), "human")
    contracts.check(pd.read_parquet(out / "scores.parquet"), "scores")
    alignment = contracts.check(pd.read_csv(out / "alignment.csv"), "alignment")
    assert set(alignment["group"]) == set(ItemBank.wvs7().filter(ids=ITEMS).categories)


def test_alignment_is_pearson_r_of_model_and_human_mean_scores(finished):
    result, _ = finished
    scores = result.scores
    human = scores[scores["model"] == "human"].set_index(["country", "item_id"])["mean_score"]
    model = scores[scores["model"] != "human"].set_index(["country", "item_id"])["mean_score"]
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
    assert RunConfig.from_dict(record["config"]) == result.run_config
    assert {"wvsalign", "torch", "transformers", "numpy", "pandas", "python"} <= set(record["wvsalign"])
    import torch

    assert record["wvsalign"]["torch"] == str(torch.__version__)
    model = record["model"]
    # the tiny Llama (tokenizer 102 tokens, hidden 32, 2 layers, 4 query / 2 key-value heads of 8, MLP 64,
    # tied embeddings): embeddings 102 x 32 + per layer (q, o 32 x 32, k, v 32 x 16, 3 MLP 32 x 64,
    # 2 norms 32) + final norm 32
    per_layer = 2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 64 + 2 * 32
    assert len(model["sha256"]) == 64 and model["params"] == 102 * 32 + 2 * per_layer + 32 == 21856
    assert record["human"]["synthetic"] is True
    assert record["seeds"] == {"option_order": 0, "synthetic_human": 0}
    # a run directory's config.yaml is itself a config file
    assert RunConfig.from_yaml(result.run_dir / "config.yaml") == result.run_config


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
    monkeypatch.setattr("wvsalign.inference.loading.load_model", boom)
    again = run(result.run_config, progress=False, echo=None)
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
    # settings that do not shape results may change on resumption; the batch size does (by a few ulps)
    run(RunConfig(**{**base, "device": "cpu"}), progress=False, echo=None)
    with pytest.raises(ConfigError, match=r"different config \(batch_size: 'auto' -> 2\)"):
        run(RunConfig(**{**base, "batch_size": 2}), progress=False, echo=None)
    redone = run(changed, overwrite=True, progress=False, echo=None)
    assert redone.prompts["country"].nunique() == 4
    assert pd.read_parquet(out / "probs.parquet")["country"].nunique() == 4


def test_a_bad_wvs_file_leaves_no_config_behind(model_dir, tmp_path):
    from wvsalign.errors import InputError

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    out = tmp_path / "run"
    base = dict(model=str(model_dir), items=ITEMS[:2], countries=COUNTRIES[:2], out=str(out))
    with pytest.raises(InputError):
        run(RunConfig(**base, wvs=str(bad)), progress=False, echo=None)
    assert not (out / "config.yaml").exists()
    result = run(RunConfig(**base), progress=False, echo=None)  # the corrected run is not refused
    assert result.synthetic and (out / "alignment.csv").exists()


def test_dtype_is_compared_as_resolved(model_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    base = dict(model=str(model_dir), items=ITEMS[:2], countries=COUNTRIES[:2], out=str(out), device="cpu")
    first = run(RunConfig(**base), progress=False, echo=None)  # dtype auto: float32 on CPU
    assert yaml.safe_load((out / "config.yaml").read_text())["dtype"] == "float32"

    def boom(*args, **kwargs):
        raise AssertionError("model work in a finished run")

    monkeypatch.setattr(ScoringEngine, "logprobs", boom)
    monkeypatch.setattr("wvsalign.inference.loading.load_model", boom)
    again = run(RunConfig(**base, dtype="float32"), progress=False, echo=None)
    pd.testing.assert_frame_equal(again.probs, first.probs, check_exact=True)
    with pytest.raises(ConfigError, match="dtype: 'float32' -> 'bfloat16'"):
        run(RunConfig(**base, dtype="bfloat16"), progress=False, echo=None)


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


def test_run_with_a_wvs_file_where_a_country_was_not_asked_an_item(model_dir, tmp_path):
    """Unless the user named both the items and the countries, an item not asked in a country (all -4)
    and an item column the file lacks are left out with a DataWarning, as the survey readers document."""
    from wvsalign.errors import InputError
    from wvsalign.survey.distributions import DataWarning, dropped_cells
    from wvsalign.survey.synthetic import synthetic_respondents, write_wvs

    bank = ItemBank.wvs7().filter(categories="economic")
    frame = synthetic_respondents(bank, COUNTRIES[:3], n_per_country=100, seed=5)
    frame.loc[frame.B_COUNTRY_ALPHA == "JPN", "Q107"] = -4
    path = write_wvs(frame.drop(columns="Q111"), tmp_path / "wvs.csv")
    config = RunConfig(model=str(model_dir), wvs=str(path), categories=["economic"], countries=COUNTRIES[:3],
                       out=str(tmp_path / "run"))
    with pytest.warns(DataWarning) as record:
        result = run(config, progress=False, echo=None)
    messages = " ".join(str(w.message) for w in record)
    assert "skipped: ['Q111']" in messages and "no valid answers" in messages
    human = result.human
    assert set(human["country"]) == set(COUNTRIES[:3]) and "Q111" not in set(human["item_id"])
    assert human[(human.country == "JPN") & (human.item_id == "Q107")].empty
    assert dropped_cells(human).to_dict("records") == [{"country": "JPN", "item_id": "Q107", "n": 0, "reason": "no valid answers"}]
    assert len(result.alignment) > 0
    # items and countries both named: the unasked cell is an error, before any model work
    strict = RunConfig(model=str(model_dir), wvs=str(path), items=["Q106", "Q107"], countries=COUNTRIES[:3],
                       out=str(tmp_path / "strict"))
    with pytest.raises(InputError, match="country JPN has no valid answer to item Q107"):
        run(strict, progress=False, echo=None)


def test_run_on_a_wvs_file_without_some_default_countries(model_dir, tmp_path):
    """Countries of the default set that a user's file lacks are left out and named; countries the user
    names explicitly must all be in the file."""
    from wvsalign.errors import InputError
    from wvsalign.survey.synthetic import write_synthetic

    bank = ItemBank.wvs7().filter(ids=["Q46", "Q57", "Q164"])
    path = write_synthetic(tmp_path / "subset.csv", bank, ["USA", "JPN", "NGA", "FRA"], n_per_country=80, seed=1)
    lines: list[str] = []
    config = RunConfig(model=str(model_dir), wvs=str(path), items=["Q46", "Q57", "Q164"], out=str(tmp_path / "run"))
    result = run(config, progress=False, echo=lines.append)
    in_default = [c for c in Countries.load().set("default") if c in {"USA", "JPN", "NGA", "FRA"}]
    assert sorted(result.human["country"].unique()) == sorted(in_default)  # FRA (EVS) is not in the default set
    assert sorted(result.prompts["country"].unique()) == sorted(in_default)
    note = next(line for line in lines if "left out" in line)
    assert f"{55 - len(in_default)} of the 55 countries" in note and "BRA" in note
    named = RunConfig(model=str(model_dir), wvs=str(path), items=["Q46"], countries=["USA", "BRA"],
                      out=str(tmp_path / "named"))
    with pytest.raises(InputError, match="BRA"):
        run(named, progress=False, echo=None)


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
