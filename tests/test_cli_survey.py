"""The survey subcommands of the ``wvsalign`` CLI: items, countries, human, synthetic."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings

import pandas as pd
import pytest

from wvsalign import cli
from wvsalign.survey.countries import Countries
from wvsalign.survey.distributions import DataWarning
from wvsalign.survey.items import ItemBank
from wvsalign.survey.readers import read_wvs


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_items_json_csv_and_filters(capsys):
    code, out, _ = run(capsys, "items", "--ids", "Q46,Q164", "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert [r["item_id"] for r in records] == ["Q46", "Q164"]
    assert records[0]["stem"] == ItemBank.wvs7()["Q46"].stem
    assert records[0]["options"][0] == [1, ItemBank.wvs7()["Q46"].labels[0]]
    code, out, _ = run(capsys, "items", "--category", "religion", "--format", "csv")
    frame = pd.read_csv(io.StringIO(out))
    assert frame["item_id"].tolist() == ItemBank.wvs7().filter(categories="religion").ids
    assert (frame["category"] == "religion").all()
    code, out, _ = run(capsys, "items")
    assert code == 0 and f"{len(ItemBank.wvs7())} item(s) in 12 categories" in out


def test_countries_sets_and_members(capsys):
    registry = Countries.load()
    code, out, _ = run(capsys, "countries", "--sets")
    assert code == 0
    for name in registry.set_names:
        assert f"{name} ({len(registry.set(name))} countries): {registry.set_rule(name)}" in out
    code, out, _ = run(capsys, "countries", "--set", "western", "--format", "csv")
    assert pd.read_csv(io.StringIO(out))["iso3"].tolist() == registry.set("western")
    code, _, err = run(capsys, "countries", "--set", "nosuchset")
    assert code == 2 and "unknown country set 'nosuchset'" in err


def test_synthetic_then_human_end_to_end(tmp_path, capsys):
    wvs = tmp_path / "demo.sav"
    code, out, _ = run(capsys, "synthetic", "--out", str(wvs), "--countries", "USA,JPN", "--n", "120", "--seed", "4")
    assert code == 0 and "SYNTHETIC" in out
    out_path = tmp_path / "human.parquet"
    code, out, err = run(capsys, "human", "--wvs", str(wvs), "--out", str(out_path), "--items", "Q46,Q57", "--min-n", "20")
    assert code == 0, err
    assert "of SYNTHETIC human shares" in out
    written = pd.read_parquet(out_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        expected = read_wvs(wvs, items=["Q46", "Q57"]).distributions(min_n=20)
    pd.testing.assert_frame_equal(written, expected)
    assert written.attrs["synthetic"] is True


def test_human_from_aggregates(tmp_path, capsys):
    agg = tmp_path / "agg.csv"
    agg.write_text("iso3,item,option,percent,n\nUSA,Q57,1,40,1000\nUSA,Q57,2,60,1000\nJPN,Q57,1,35,900\nJPN,Q57,2,65,900\n")
    out_path = tmp_path / "h.parquet"
    code, out, err = run(capsys, "human", "--aggregates", str(agg), "--out", str(out_path), "--countries", "JPN")
    assert code == 0, err
    human = pd.read_parquet(out_path)
    assert human["country"].tolist() == ["JPN", "JPN"]
    assert human["share"].tolist() == pytest.approx([0.35, 0.65])


def test_human_without_usable_rows_fails_and_writes_nothing(tmp_path, capsys):
    wvs = tmp_path / "demo.csv"
    run(capsys, "synthetic", "--out", str(wvs), "--countries", "USA", "--n", "40", "--items", "Q46")
    out_path = tmp_path / "h.parquet"
    code, _, err = run(capsys, "human", "--wvs", str(wvs), "--out", str(out_path), "--items", "Q46", "--min-n", "100")
    assert code == 2 and "no country x item has at least --min-n 100 valid answers" in err
    assert not out_path.exists()


@pytest.mark.parametrize("command", ["items", "countries", "human", "synthetic"])
def test_help_explains_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"wvsalign {command}" in text


def test_survey_commands_do_not_import_torch(tmp_path):
    code = (
        "import sys; from wvsalign import cli; "
        "assert cli.main(['items', '--ids', 'Q1']) == 0; "
        "assert cli.main(['countries', '--sets']) == 0; "
        f"assert cli.main(['synthetic', '--out', r'{tmp_path / 'd.csv'}', '--countries', 'USA', '--n', '40']) == 0; "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "source, flag",
    [("--aggregates", ["--min-n", "5"]), ("--aggregates", ["--weight", "none"]),
     ("--aggregates", ["--keep-missing"]), ("--wvs", ["--renormalise"])],
)
def test_human_flags_of_the_other_source_are_errors(tmp_path, capsys, source, flag):
    path = tmp_path / "in.csv"
    path.write_text("iso3,item,option,share\nUSA,Q57,1,0.4\nUSA,Q57,2,0.6\n")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["human", source, str(path), "--out", str(tmp_path / "h.parquet"), *flag])
    assert exit_.value.code == 2
    needs = "--aggregates" if source == "--wvs" else "--wvs"
    assert f"{flag[0]} applies only with {needs}, not with {source}" in capsys.readouterr().err
    assert not (tmp_path / "h.parquet").exists()


def test_human_is_strict_only_when_items_and_countries_are_named(tmp_path, capsys):
    from wvsalign.survey.synthetic import synthetic_respondents, write_wvs

    frame = synthetic_respondents(ItemBank.wvs7().filter(ids=["Q46", "Q57"]), "USA,JPN", n_per_country=60, seed=1)
    frame.loc[frame.B_COUNTRY_ALPHA == "JPN", "Q57"] = -4
    wvs = write_wvs(frame, tmp_path / "w.csv")
    out_path = tmp_path / "h.parquet"
    code, _, err = run(capsys, "human", "--wvs", str(wvs), "--out", str(out_path), "--items", "Q46,Q57",
                       "--countries", "USA,JPN", "--min-n", "10")
    assert code == 2 and "country JPN has no valid answer to item Q57 (-4 not asked 60)" in err
    assert not out_path.exists()
    code, out, err = run(capsys, "human", "--wvs", str(wvs), "--out", str(out_path), "--items", "Q46,Q57", "--min-n", "10")
    assert code == 0, err
    assert "warning:" in err and "no valid answers" in err
    human = pd.read_parquet(out_path)
    assert human[(human.country == "JPN") & (human.item_id == "Q57")].empty


def test_human_passes_on_warnings_that_are_not_data_warnings(tmp_path, capsys, monkeypatch):
    import wvsalign.survey.aggregates as aggregates

    real = aggregates.read_aggregates

    def noisy(*args, **kwargs):
        warnings.warn("something else", FutureWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "read_aggregates", noisy)
    agg = tmp_path / "agg.csv"
    agg.write_text("iso3,item,option,share\nUSA,Q57,1,0.4\nUSA,Q57,2,0.6\n")
    with pytest.warns(FutureWarning, match="something else"):
        code, _, err = run(capsys, "human", "--aggregates", str(agg), "--out", str(tmp_path / "h.parquet"))
    assert code == 0, err
