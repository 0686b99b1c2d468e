"""Hostile inputs (issue 8, section 3): every bad input to the CLI or the API is one error line
that names the culprit, with no traceback, and no file is created or changed.

Each CLI case runs ``wvsalign.cli.main`` in-process (stderr captured) and asserts exit status
2, exactly one ``wvsalign CMD: error:`` line containing the expected culprit, no
``Traceback`` and an unchanged folder (inputs and outputs). Each API case asserts an
``InputError`` (``ConfigError`` is a subclass) whose one-line message names the culprit.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wvsalign import cli
from wvsalign.errors import ConfigError, InputError

ITEMS = ["Q1", "Q46", "Q57"]
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- input files
@pytest.fixture(scope="module")
def D(tmp_path_factory) -> Path:
    """A folder of good and bad input files, written once and never changed by any case."""
    from wvsalign.survey.readers import read_wvs
    from wvsalign.survey.synthetic import synthetic_respondents, write_wvs

    d = tmp_path_factory.mktemp("hostile_inputs")
    raw = synthetic_respondents(countries=["USA", "JPN"], n_per_country=60, seed=3)
    keep = ["B_COUNTRY", "B_COUNTRY_ALPHA", "W_WEIGHT"] + ITEMS
    raw = raw[keep].reset_index(drop=True)
    good = write_wvs(raw, d / "good.csv")
    text = good.read_text()
    header, *rows = text.splitlines()
    # Latin-1 bytes in the country column
    latin = raw.copy()
    latin["B_COUNTRY_ALPHA"] = latin["B_COUNTRY_ALPHA"].astype(object)
    latin.loc[4, "B_COUNTRY_ALPHA"] = "Côte"
    latin.to_csv(d / "latin1.csv", index=False, encoding="latin-1")
    (d / "textgz.csv.gz").write_text(text)                                    # text named .csv.gz
    with gzip.open(d / "truncated.csv.gz", "wb") as fh:
        fh.write(text.encode())
    (d / "truncated.csv.gz").write_bytes((d / "truncated.csv.gz").read_bytes()[:200])
    (d / "utf16.csv").write_bytes(text.encode("utf-16"))
    (d / "binary.csv").write_bytes(bytes(range(256)) * 40)
    (d / "binary.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 4)
    (d / "binary.sav").write_bytes(bytes(range(256)) * 4)
    (d / "binary.dta").write_bytes(bytes(range(256)) * 4)
    (d / "empty.csv").write_bytes(b"")
    (d / "header_only.csv").write_text(header + "\n")
    (d / "no_ext").write_text(text)
    (d / "wrong.xlsx").write_text(text)
    (d / "a_dir.csv").mkdir()
    # a 50 MB field in an unused column
    big = raw.copy()
    big["NOTE"] = ""
    big.loc[0, "NOTE"] = "x" * (50 * 1024 * 1024)
    big.to_csv(d / "bigfield.csv", index=False)
    # text weight, text codes, bad codes
    tw = raw.astype({"W_WEIGHT": object})
    tw.loc[2, "W_WEIGHT"] = "heavy"
    tw.to_csv(d / "textweight.csv", index=False)
    neg = raw.copy()
    neg.loc[3, "Q46"] = -77
    neg.to_csv(d / "negcode.csv", index=False)
    huge = raw.astype({"Q46": object})
    huge.loc[5, "Q46"] = "1e400"
    huge.to_csv(d / "hugecode.csv", index=False)
    (d / "dupcols.csv").write_text(header + ",Q1\n" + "\n".join(r + ",1" for r in rows) + "\n")
    (d / "ragged.csv").write_text(header + "\n" + "\n".join(rows[:5]) + "\n" + rows[5] + ",1,2,3\n")
    (d / "nocountry.csv").write_text("\n".join(",".join(c for c in r.split(",")[2:]) for r in text.splitlines()) + "\n")
    # aggregates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file holds 3 of the bank's items
        agg = read_wvs(good).distributions(min_n=1)[["country", "item_id", "code", "share", "n"]]
    agg.to_csv(d / "agg.csv", index=False)
    atext = (d / "agg.csv").read_text()
    (d / "agg_trunc.csv").write_text(atext[: len(atext) // 2 + 7])
    alat = agg.astype({"country": object})
    alat.loc[1, "country"] = "Côte"
    alat.to_csv(d / "agg_latin1.csv", index=False, encoding="latin-1")
    for name, value in [("agg_1e400", "1e400"), ("agg_neg", "-7"), ("agg_inf", "inf"), ("agg_code_text", "two"),
                        ("agg_code_frac", "1.5")]:
        a = agg.astype({"code": object})
        a.loc[2, "code"] = value
        a.to_csv(d / f"{name}.csv", index=False)
    a = agg.astype({"share": object})
    a.loc[0, "share"] = "lots"
    a.to_csv(d / "agg_share_text.csv", index=False)
    a = agg.copy()
    a.loc[0, "share"] = -0.2
    a.to_csv(d / "agg_share_neg.csv", index=False)
    a = agg.copy()
    a.loc[0, "country"] = "ATLANTIS"
    a.to_csv(d / "agg_country.csv", index=False)
    a = agg.copy()
    a.loc[0, "item_id"] = "Q999"
    a.to_csv(d / "agg_item.csv", index=False)
    (d / "agg_utf16.csv").write_bytes(atext.encode("utf-16"))
    (d / "agg_binary.csv").write_bytes(bytes(range(256)) * 8)
    (d / "agg_binary.parquet").write_bytes(b"PAR1" + bytes(range(200)))
    agg.drop(columns=["share"]).to_csv(d / "agg_noshare.csv", index=False)
    # translations
    (d / "tr_binary.yaml").write_bytes(bytes(range(256)) * 4)
    (d / "tr_bad.yaml").write_text("language: xx\n  bad: [unclosed\n")
    # study files
    (d / "study_badyaml.yaml").write_text("models: [smollm2-135m\nitems: Q1\n")
    (d / "study_unknown_key.yaml").write_text("models: [smollm2-135m]\nitems: [Q1]\ncolour: blue\n")
    (d / "study_missing_model.yaml").write_text("models: [no-such-model-xyz]\nitems: [Q1]\ncountries: [USA]\n")
    (d / "study_list.yaml").write_text("- 1\n- 2\n")
    (d / "study_binary.yaml").write_bytes(bytes(range(256)) * 4)
    (d / "config_bad.yaml").write_text("items: [Q1\n")
    (d / "config_unknown.yaml").write_text("itemz: [Q1]\n")
    (d / "config_list.yaml").write_text("- a\n- b\n")
    (d / "not_a_run").mkdir()
    (d / "not_a_run" / "hello.txt").write_text("hi")
    (d / "a_file.txt").write_text("I am a file")
    # a model folder with config.json but no tokenizer
    (d / "model_no_tok").mkdir()
    (d / "model_no_tok" / "config.json").write_text('{"model_type": "llama"}')
    (d / "model_empty").mkdir()
    unreadable = d / "unreadable.csv"
    unreadable.write_text(text)
    os.chmod(unreadable, 0)
    yield d
    os.chmod(unreadable, 0o644)


def _snapshot(*folders: Path) -> dict[str, tuple]:
    out = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                p = Path(root) / name
                st = p.lstat()
                out[str(p)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def _fill(template: str, d: Path, t: Path) -> str:
    return template.replace("{D}", str(d)).replace("{T}", str(t))


AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

# --------------------------------------------------------------------------- CLI cases
# (id, argv, substrings every one of which must be in the error line)
CLI_CASES = [
    # --wvs files
    ("wvs-latin1", "human --wvs {D}/latin1.csv --out {T}/h.parquet", ["latin1.csv", "UTF-8"]),
    ("wvs-text-named-gz", "human --wvs {D}/textgz.csv.gz --out {T}/h.parquet", ["textgz.csv.gz", "not gz-compressed"]),
    ("wvs-truncated-gz", "human --wvs {D}/truncated.csv.gz --out {T}/h.parquet", ["truncated.csv.gz"]),
    ("wvs-utf16", "human --wvs {D}/utf16.csv --out {T}/h.parquet", ["utf16.csv", "UTF-16"]),
    ("wvs-binary-csv", "human --wvs {D}/binary.csv --out {T}/h.parquet", ["binary.csv"]),
    ("wvs-binary-parquet", "human --wvs {D}/binary.parquet --out {T}/h.parquet", ["binary.parquet"]),
    ("wvs-binary-sav", "human --wvs {D}/binary.sav --out {T}/h.parquet", ["binary.sav"]),
    ("wvs-binary-dta", "human --wvs {D}/binary.dta --out {T}/h.parquet", ["binary.dta"]),
    ("wvs-empty", "human --wvs {D}/empty.csv --out {T}/h.parquet", ["empty.csv"]),
    ("wvs-header-only", "human --wvs {D}/header_only.csv --out {T}/h.parquet", ["header_only.csv"]),
    ("wvs-no-ext", "human --wvs {D}/no_ext --out {T}/h.parquet", ["no_ext"]),
    ("wvs-xlsx", "human --wvs {D}/wrong.xlsx --out {T}/h.parquet", ["wrong.xlsx"]),
    ("wvs-dir", "human --wvs {D}/a_dir.csv --out {T}/h.parquet", ["a_dir.csv"]),
    ("wvs-missing", "human --wvs {D}/nope.csv --out {T}/h.parquet", ["nope.csv"]),
    ("wvs-bigfield", "human --wvs {D}/bigfield.csv --out {T}/h.parquet", ["bigfield.csv"]),
    ("wvs-text-weight", "human --wvs {D}/textweight.csv --out {T}/h.parquet", ["W_WEIGHT", "heavy", "number"]),
    ("wvs-neg-code", "human --wvs {D}/negcode.csv --out {T}/h.parquet", ["Q46", "-77"]),
    ("wvs-1e400", "human --wvs {D}/hugecode.csv --out {T}/h.parquet", ["Q46", "inf", "row 6"]),
    ("wvs-dup-cols", "human --wvs {D}/dupcols.csv --out {T}/h.parquet", ["dupcols.csv", "Q1"]),
    ("wvs-ragged", "human --wvs {D}/ragged.csv --out {T}/h.parquet", ["ragged.csv"]),
    ("wvs-no-country", "human --wvs {D}/nocountry.csv --out {T}/h.parquet", ["country"]),
    ("wvs-unknown-weight", "human --wvs {D}/good.csv --weight WXYZ --out {T}/h.parquet", ["WXYZ"]),
    ("wvs-unknown-country", "human --wvs {D}/good.csv --countries ATLANTIS --out {T}/h.parquet", ["ATLANTIS"]),
    ("wvs-unknown-item", "human --wvs {D}/good.csv --items Q9999 --out {T}/h.parquet", ["Q9999"]),
    ("wvs-bad-keep-missing", "human --wvs {D}/good.csv --keep-missing abc --out {T}/h.parquet", ["abc"]),
    # --aggregates files
    ("agg-latin1", "human --aggregates {D}/agg_latin1.csv --out {T}/h.parquet", ["agg_latin1.csv", "UTF-8"]),
    ("agg-truncated", "human --aggregates {D}/agg_trunc.csv --out {T}/h.parquet", ["agg_trunc.csv", "truncated"]),
    ("agg-1e400", "human --aggregates {D}/agg_1e400.csv --out {T}/h.parquet", ["code", "1e400"]),
    ("agg-1e400-renorm", "human --aggregates {D}/agg_1e400.csv --renormalise --out {T}/h.parquet", ["code", "1e400"]),
    ("agg-negative", "human --aggregates {D}/agg_neg.csv --out {T}/h.parquet", ["code", "-7"]),
    ("agg-inf", "human --aggregates {D}/agg_inf.csv --out {T}/h.parquet", ["code", "inf"]),
    ("agg-code-text", "human --aggregates {D}/agg_code_text.csv --out {T}/h.parquet", ["code", "two"]),
    ("agg-code-frac", "human --aggregates {D}/agg_code_frac.csv --out {T}/h.parquet", ["code", "1.5"]),
    ("agg-share-text", "human --aggregates {D}/agg_share_text.csv --out {T}/h.parquet", ["share", "lots"]),
    ("agg-share-negative", "human --aggregates {D}/agg_share_neg.csv --out {T}/h.parquet", ["share"]),
    ("agg-country", "human --aggregates {D}/agg_country.csv --out {T}/h.parquet", ["ATLANTIS"]),
    ("agg-item", "human --aggregates {D}/agg_item.csv --out {T}/h.parquet", ["Q999"]),
    ("agg-utf16", "human --aggregates {D}/agg_utf16.csv --out {T}/h.parquet", ["agg_utf16.csv", "UTF-16"]),
    ("agg-binary", "human --aggregates {D}/agg_binary.csv --out {T}/h.parquet", ["agg_binary.csv"]),
    ("agg-binary-parquet", "human --aggregates {D}/agg_binary.parquet --out {T}/h.parquet", ["agg_binary.parquet"]),
    ("agg-no-share", "human --aggregates {D}/agg_noshare.csv --out {T}/h.parquet", ["share"]),
    ("agg-missing", "human --aggregates {D}/nope.csv --out {T}/h.parquet", ["nope.csv"]),
    ("agg-empty", "human --aggregates {D}/empty.csv --out {T}/h.parquet", ["empty.csv"]),
    ("agg-unreadable", "human --aggregates {D}/unreadable.csv --out {T}/h.parquet", ["unreadable.csv"]),
    ("agg-dir", "human --aggregates {D}/a_dir.csv --out {T}/h.parquet", ["a_dir.csv"]),
    ("agg-gz-text", "human --aggregates {D}/textgz.csv.gz --out {T}/h.parquet", ["textgz.csv.gz"]),
    # human --out
    ("human-out-dir", "human --wvs {D}/good.csv --out {T}", [str("{T}"), "directory"]),
    ("human-out-empty", ["human", "--wvs", "{D}/good.csv", "--out", ""], ["--out"]),
    ("human-out-under-file", "human --wvs {D}/good.csv --out {D}/a_file.txt/h.parquet", ["a_file.txt", "not a directory"]),
    ("human-out-deep-under-file", "human --wvs {D}/good.csv --out {D}/a_file.txt/x/y/h.parquet", ["a_file.txt"]),
    ("human-out-bad-ext", "human --wvs {D}/good.csv --out {T}/h.xlsx", ["h.xlsx", ".parquet"]),
    ("human-out-is-input", "human --wvs {D}/good.csv --out {D}/good.csv", ["good.csv"]),
    ("human-min-n-0", "human --wvs {D}/good.csv --min-n 0 --out {T}/h.parquet", ["--min-n", "0"]),
    ("human-min-n-neg", "human --wvs {D}/good.csv --min-n -5 --out {T}/h.parquet", ["--min-n", "-5"]),
    ("human-items-empty", ["human", "--wvs", "{D}/good.csv", "--items", "", "--out", "{T}/h.parquet"], ["--items", "empty"]),
    ("human-items-comma", "human --wvs {D}/good.csv --items , --out {T}/h.parquet", ["--items", "empty"]),
    ("human-items-spaces", ["human", "--wvs", "{D}/good.csv", "--items", " , ", "--out", "{T}/h.parquet"], ["--items"]),
    ("human-countries-empty", ["human", "--wvs", "{D}/good.csv", "--countries", "", "--out", "{T}/h.parquet"], ["--countries"]),
    ("human-agg-items-empty", ["human", "--aggregates", "{D}/agg.csv", "--items", "", "--out", "{T}/h.parquet"], ["--items"]),
    ("human-min-n-too-high", "human --wvs {D}/good.csv --min-n 100000 --out {T}/h.parquet", ["--min-n"]),
    # synthetic
    ("synth-sep-ab", "synthetic --out {T}/s.csv --countries USA --n 5 --sep ab", ["--sep", "ab"]),
    ("synth-sep-dot", "synthetic --out {T}/s.csv --countries USA --n 5 --sep .", ["--sep", "'.'"]),
    ("synth-sep-minus", "synthetic --out {T}/s.csv --countries USA --n 5 --sep=-", ["--sep", "'-'"]),
    ("synth-sep-digit", "synthetic --out {T}/s.csv --countries USA --n 5 --sep 1", ["--sep", "'1'"]),
    ("synth-sep-quote", ["synthetic", "--out", "{T}/s.csv", "--countries", "USA", "--n", "5", "--sep", '"'], ["--sep"]),
    ("synth-sep-empty", ["synthetic", "--out", "{T}/s.csv", "--countries", "USA", "--n", "5", "--sep", ""], ["--sep"]),
    ("synth-items-empty", ["synthetic", "--out", "{T}/s.csv", "--countries", "USA", "--n", "5", "--items", ""], ["--items", "empty"]),
    ("synth-items-comma", "synthetic --out {T}/s.csv --countries USA --n 5 --items ,", ["--items", "empty"]),
    ("synth-items-unknown", "synthetic --out {T}/s.csv --countries USA --n 5 --items Q9999", ["Q9999"]),
    ("synth-countries-unknown", "synthetic --out {T}/s.csv --countries ATLANTIS --n 5", ["ATLANTIS"]),
    ("synth-countries-empty", ["synthetic", "--out", "{T}/s.csv", "--countries", "", "--n", "5"], ["--countries"]),
    ("synth-n-0", "synthetic --out {T}/s.csv --countries USA --n 0", ["--n", "0"]),
    ("synth-n-neg", "synthetic --out {T}/s.csv --countries USA --n -3", ["--n", "-3"]),
    ("synth-out-ext", "synthetic --out {T}/s.xlsx --countries USA --n 5", ["s.xlsx"]),
    ("synth-out-dir", "synthetic --out {T} --countries USA --n 5", ["directory"]),
    ("synth-out-under-file", "synthetic --out {D}/a_file.txt/s.csv --countries USA --n 5", ["a_file.txt"]),
    ("synth-out-empty", ["synthetic", "--out", "", "--countries", "USA", "--n", "5"], ["--out"]),
    # run: validated before any data or model is read
    ("run-out-file", "run --out {D}/a_file.txt --items Q1 --countries USA", ["a_file.txt"]),
    ("run-out-under-file", "run --out {D}/a_file.txt/run --items Q1 --countries USA", ["a_file.txt"]),
    ("run-out-empty", ["run", "--out", "", "--items", "Q1", "--countries", "USA"], ["out"]),
    ("run-items-empty", ["run", "--out", "{T}/r", "--items", "", "--countries", "USA"], ["items", "empty"]),
    ("run-items-comma", "run --out {T}/r --items , --countries USA", ["items", "empty"]),
    ("run-items-unknown", "run --out {T}/r --items Q9999 --countries USA", ["Q9999"]),
    ("run-countries-unknown", "run --out {T}/r --items Q1 --countries ATLANTIS", ["ATLANTIS"]),
    ("run-countries-empty", ["run", "--out", "{T}/r", "--items", "Q1", "--countries", ""], ["countries"]),
    ("run-templates", "run --out {T}/r --items Q1 --countries USA --templates bogus", ["bogus", "template"]),
    ("run-languages", "run --out {T}/r --items Q1 --countries USA --languages klingon", ["klingon", "language"]),
    ("run-label-styles", "run --out {T}/r --items Q1 --countries USA --label-styles roman", ["roman", "label"]),
    ("run-instructions", "run --out {T}/r --items Q1 --countries USA --instructions shout", ["shout"]),
    ("run-option-orders", "run --out {T}/r --items Q1 --countries USA --option-orders sideways", ["sideways"]),
    ("run-categories", "run --out {T}/r --categories nosuchcat --countries USA", ["nosuchcat"]),
    ("run-min-n-0", "run --out {T}/r --items Q1 --countries USA --min-n 0", ["min_n", "0"]),
    ("run-batch-size", "run --out {T}/r --items Q1 --countries USA --batch-size lots", ["batch_size", "lots"]),
    ("run-batch-size-0", "run --out {T}/r --items Q1 --countries USA --batch-size 0", ["batch_size", "0"]),
    ("run-device", "run --out {T}/r --items Q1 --countries USA --device toaster", ["toaster"]),
    ("run-dtype", "run --out {T}/r --items Q1 --countries USA --dtype float7", ["float7"]),
    ("run-backend", "run --out {T}/r --items Q1 --countries USA --backend nosuch", ["nosuch"]),
    ("run-wvs-missing", "run --out {T}/r --items Q1 --countries USA --wvs {D}/nope.csv", ["nope.csv"]),
    ("run-wvs-latin1", "run --out {T}/r --items Q1 --countries USA --wvs {D}/latin1.csv", ["latin1.csv"]),
    ("run-model-no-tokenizer", "run --out {T}/r --items Q1 --countries USA --model {D}/model_no_tok", ["model_no_tok", "tokenizer"]),
    ("run-model-empty-dir", "run --out {T}/r --items Q1 --countries USA --model {D}/model_empty", ["model_empty"]),
    ("run-model-unknown", "run --out {T}/r --items Q1 --countries USA --model no-such-model-xyz", ["no-such-model-xyz"]),
    ("run-model-text-gguf", "run --out {T}/r --items Q1 --countries USA --model {D}/a_file.txt", ["a_file.txt"]),
    ("run-config-missing", "run --config {D}/nope.yaml --out {T}/r", ["nope.yaml"]),
    ("run-config-bad-yaml", "run --config {D}/config_bad.yaml --out {T}/r", ["config_bad.yaml"]),
    ("run-config-unknown-key", "run --config {D}/config_unknown.yaml --out {T}/r", ["itemz"]),
    ("run-config-list", "run --config {D}/config_list.yaml --out {T}/r", ["config_list.yaml"]),
    ("run-config-binary", "run --config {D}/binary.csv --out {T}/r", ["binary.csv"]),
    # study and report
    ("study-bad-yaml", "study run {D}/study_badyaml.yaml --out {T}/s", ["study_badyaml.yaml"]),
    ("study-unknown-key", "study run {D}/study_unknown_key.yaml --out {T}/s", ["colour"]),
    ("study-missing-model", "study run {D}/study_missing_model.yaml --out {T}/s", ["no-such-model-xyz"]),
    ("study-list", "study run {D}/study_list.yaml --out {T}/s", ["study_list.yaml"]),
    ("study-binary", "study run {D}/study_binary.yaml --out {T}/s", ["study_binary.yaml"]),
    ("study-missing-file", "study run {D}/nope.yaml --out {T}/s", ["nope.yaml"]),
    ("study-show-not-study", "study show {D}/not_a_run", ["not_a_run"]),
    ("report-not-a-run", "report {D}/not_a_run", ["not_a_run"]),
    ("report-a-file", "report {D}/a_file.txt", ["a_file.txt"]),
    ("report-missing", "report {D}/nope", ["nope"]),
    # listing commands
    ("items-unknown-category", "items --category nosuchcat", ["nosuchcat"]),
    ("items-unknown-id", "items --ids Q9999", ["Q9999"]),
    ("countries-unknown-set", "countries --set nosuchset", ["nosuchset"]),
]


def _cli(argv, d: Path, t: Path, capsys) -> tuple[int, str]:
    args = [_fill(a, d, t) for a in (argv.split() if isinstance(argv, str) else argv)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = cli.main(args)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_hostile(case, D, tmp_path, capsys, monkeypatch):
    name, argv, culprits = case
    if "unreadable" in name and AS_ROOT:
        pytest.skip("root reads a file of mode 000; an unreadable file cannot be simulated")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(D, work)
    code, err = _cli(argv, D, work, capsys)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ": error:" in ln]
    assert code == 2, err
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("wvsalign"), line
    for culprit in culprits:
        assert _fill(culprit, D, work) in line, (culprit, line)
    assert "np.float64" not in line and "np.int64" not in line, line
    assert _snapshot(D, work) == before, "files were created or changed"


# --------------------------------------------------------------------------- API cases
def _read(*args, **kwargs):
    from wvsalign.survey.readers import read_wvs

    return read_wvs(*args, **kwargs)


def _dist(path, **kwargs):
    return _read(path).distributions(**kwargs)


def _agg(*args, **kwargs):
    from wvsalign.survey.aggregates import read_aggregates

    return read_aggregates(*args, **kwargs)


def _prompts(*args, **kwargs):
    from wvsalign.prompts import build_prompts

    return build_prompts(*args, **kwargs)


def _bank(ids):
    from wvsalign.survey.items import ItemBank

    return ItemBank.wvs7().filter(ids=ids)


def _alignment(*args, **kwargs):
    from wvsalign.stats.correlation import alignment

    return alignment(*args, **kwargs)


def _score(**kwargs):
    from wvsalign.inference.runner import score

    return score(**kwargs)


def _config(**kwargs):
    from wvsalign.pipeline import RunConfig

    return RunConfig(**kwargs)


def _translation(path):
    from wvsalign.prompts import translations

    return translations.load_translation(path)


# (id, call(D, T), substrings of the message)
API_CASES = [
    ("read_wvs-int", lambda d, t: _read(123), ["123", "path"]),
    ("read_wvs-None", lambda d, t: _read(None), ["None", "path"]),
    ("read_wvs-list", lambda d, t: _read(["a.csv"]), ["path"]),
    ("read_wvs-sep-double", lambda d, t: _read(d / "good.csv", sep=";;"), ["sep", "';;'"]),
    ("read_wvs-keep-missing-5", lambda d, t: _read(d / "good.csv", keep_missing=5), ["keep_missing", "5"]),
    ("read_wvs-extra-str", lambda d, t: _read(d / "good.csv", extra_columns="Q154"), ["extra_columns", "Q154"]),
    ("read_wvs-latin1", lambda d, t: _read(d / "latin1.csv"), ["latin1.csv", "UTF-8"]),
    ("read_wvs-utf16", lambda d, t: _read(d / "utf16.csv"), ["utf16.csv"]),
    ("read_wvs-binary", lambda d, t: _read(d / "binary.csv"), ["binary.csv"]),
    ("read_wvs-unreadable", lambda d, t: _read(d / "unreadable.csv"), ["unreadable.csv"]),
    ("read_wvs-dir", lambda d, t: _read(d / "a_dir.csv"), ["a_dir.csv"]),
    ("read_wvs-text-gz", lambda d, t: _read(d / "textgz.csv.gz"), ["textgz.csv.gz"]),
    ("read_wvs-weight-int", lambda d, t: _read(d / "good.csv", weight=5), ["weight", "5"]),
    ("read_wvs-text-weight", lambda d, t: _dist(d / "textweight.csv", min_n=1), ["W_WEIGHT", "heavy"]),
    ("distributions-min_n-str", lambda d, t: _dist(d / "good.csv", min_n="3"), ["min_n", "'3'"]),
    ("distributions-min_n-0", lambda d, t: _dist(d / "good.csv", min_n=0), ["min_n", "0"]),
    ("distributions-min_n-float", lambda d, t: _dist(d / "good.csv", min_n=2.5), ["min_n", "2.5"]),
    ("read_aggregates-frame", lambda d, t: _agg(pd.DataFrame({"a": [1]})), ["DataFrame", "path"]),
    ("read_aggregates-None", lambda d, t: _agg(None), ["None"]),
    ("read_aggregates-1e400", lambda d, t: _agg(d / "agg_1e400.csv", renormalise=True), ["1e400"]),
    ("read_aggregates-negative", lambda d, t: _agg(d / "agg_neg.csv"), ["-7"]),
    ("read_aggregates-truncated", lambda d, t: _agg(d / "agg_trunc.csv"), ["agg_trunc.csv", "truncated"]),
    ("read_aggregates-latin1", lambda d, t: _agg(d / "agg_latin1.csv"), ["agg_latin1.csv", "UTF-8"]),
    ("build_prompts-list", lambda d, t: _prompts(["Q1"]), ["ItemBank"]),
    ("build_prompts-str", lambda d, t: _prompts("Q1"), ["ItemBank"]),
    ("alignment-path", lambda d, t: _alignment("x.parquet", "y.parquet"), ["DataFrame", "str"]),
    ("score-run_dir-file", lambda d, t: _score(prompts=_prompts(_bank(["Q1"]), ["USA"]), backend=str(d / "model_empty"),
                                               run_dir=d / "a_file.txt"), ["a_file.txt"]),
    ("translation-binary", lambda d, t: _translation(d / "tr_binary.yaml"), ["tr_binary.yaml"]),
    ("translation-bad-yaml", lambda d, t: _translation(d / "tr_bad.yaml"), ["tr_bad.yaml"]),
    ("runconfig-templates", lambda d, t: _config(templates=["bogus"]), ["bogus"]),
    ("runconfig-languages", lambda d, t: _config(languages=["klingon"]), ["klingon"]),
    ("runconfig-label-styles", lambda d, t: _config(label_styles=["roman"]), ["roman"]),
    ("runconfig-items-empty", lambda d, t: _config(items=[]), ["items", "empty"]),
    ("runconfig-min_n-0", lambda d, t: _config(min_n=0), ["min_n"]),
    ("runconfig-out-file", lambda d, t: _config(out=str(d / "a_file.txt")), ["a_file.txt"]),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_hostile(case, D, tmp_path, monkeypatch):
    name, call, culprits = case
    if "unreadable" in name and AS_ROOT:
        pytest.skip("root reads a file of mode 000; an unreadable file cannot be simulated")
    monkeypatch.chdir(tmp_path)
    before = _snapshot(D, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError) as err:
            call(D, tmp_path)
    text = str(err.value)
    assert "\n" not in text, text
    for culprit in culprits:
        assert culprit in text, (culprit, text)
    assert "np.float64" not in text and "np.int64" not in text, text
    assert _snapshot(D, tmp_path) == before, "files were created or changed"


def test_hostile_case_count():
    assert len(CLI_CASES) + len(API_CASES) >= 100


# --------------------------------------------------------------------------- section 4: quiet output
def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_closed_pipe_exits_quietly():
    """'wvsalign items | head -1': a real pipe closed after one line; no traceback, status 141
    (128 + SIGPIPE, as a Unix tool killed by the closed pipe)."""
    proc = subprocess.Popen([sys.executable, "-m", "wvsalign", "items", "--format", "csv"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), cwd=REPO)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as head does
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first.startswith(b"item_id") or first.strip(), first
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert err == "", err
    assert code in (0, 141), code


def test_closed_pipe_in_shell():
    out = subprocess.run(f"{sys.executable} -m wvsalign items | head -1", shell=True, capture_output=True, text=True,
                         env=_env(), cwd=REPO, timeout=120)
    assert out.stdout.count("\n") == 1
    assert out.stderr == "", out.stderr


def test_run_logs_library_warnings_to_run_log(tmp_path):
    """A run of a tiny model prints no library warning on stderr; run.log exists and holds every
    warning raised during the run (here one planted from a library module), once, with its source."""
    from wvsalign.inference.testing import save_tiny_model

    model = save_tiny_model(tmp_path / "tiny")
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "sitecustomize.py").write_text(
        "import warnings\n"
        "import wvsalign.pipeline as p\n"
        "_run = p.run\n"
        "def run(*a, **k):\n"
        "    for _ in range(3):\n"
        "        warnings.warn_explicit('past_key_values is deprecated, use Cache', FutureWarning, 'transformers/x.py', 7)\n"
        "    return _run(*a, **k)\n"
        "p.run = run\n"
    )
    out = tmp_path / "run"
    env = _env()
    env["PYTHONPATH"] = f"{plant}{os.pathsep}{REPO}"
    proc = subprocess.run([sys.executable, "-m", "wvsalign", "run", "--model", str(model), "--items", "Q46",
                           "--countries", "USA,JPN", "--out", str(out), "--quiet", "--device", "cpu"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower(), proc.stderr
    log = (out / "run.log").read_text()
    planted = [ln for ln in log.splitlines() if "past_key_values is deprecated" in ln]
    assert len(planted) == 1, log  # three warnings, logged once
    assert "FutureWarning" in planted[0] and "transformers/x.py:7" in planted[0]
