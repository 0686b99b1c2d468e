"""Contract checks (tables), one-line input errors, atomic writes and the lazy package namespace."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from wvsalign import contracts
from wvsalign._io import atomic_path, write_parquet_atomic
from wvsalign.errors import InputError, check_choice


def _human(shares):
    return pd.DataFrame(
        {"country": "USA", "item_id": "Q1", "code": range(1, len(shares) + 1), "share": shares, "n": 10, "n_eff": 9.5}
    )


def test_check_accepts_valid_human_table():
    df = _human([0.5, 0.25, 0.25])
    assert contracts.check(df, "human") is df


def test_check_names_missing_column():
    with pytest.raises(InputError, match=r"lacks column\(s\) \['n_eff'\]"):
        contracts.check(_human([1.0]).drop(columns="n_eff"), "human", source="h.csv")


def test_check_rejects_shares_not_summing_to_one():
    with pytest.raises(InputError, match="sums to 0.9"):
        contracts.check(_human([0.5, 0.4]), "human")


def test_check_rejects_share_out_of_range():
    with pytest.raises(InputError, match="row 1"):
        contracts.check(_human([0.5, 1.5, -1.0]), "human")


def test_input_error_is_one_line_and_names_place():
    err = InputError("expected numbers\nnot text", file="x.csv", column="Q1", row=3, value="abc")
    assert "\n" not in str(err)
    assert str(err).startswith("x.csv, column 'Q1', row 3:")
    assert "'abc'" in str(err)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_write_parquet_atomic_roundtrip(tmp_path):
    df = _human([0.5, 0.5])
    path = write_parquet_atomic(df, tmp_path / "sub" / "h.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)
    assert [p.name for p in path.parent.iterdir()] == ["h.parquet"]


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_parquet_atomic(_human([1.0]), tmp_path / "h.parquet")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_atomic_writes_leave_the_process_umask_alone(tmp_path, monkeypatch):
    """Setting the umask to read it is process-wide (a race with other threads): never done."""
    def no_umask(mask):
        raise AssertionError("os.umask called during a write")

    monkeypatch.setattr(os, "umask", no_umask)
    path = write_parquet_atomic(_human([1.0]), tmp_path / "h.parquet")
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == ["h.parquet"]


def test_contracts_hold_the_columns_the_stages_read():
    assert {"text", "continuations", "label_end"} <= set(contracts.COLUMNS["rendered"])  # what the scorer reads
    assert {"system", "user", "labels", "codes"} <= set(contracts.COLUMNS["prompts"])  # model-neutral prompts
    assert "valid_mass" in contracts.COLUMNS["probs"]
    probs = pd.DataFrame({"model": "m", "prompt_id": "p", "item_id": "Q1", "country": "USA", "template": "persona",
                          "code": [1, 2], "label": ["1", "2"], "prob": [0.5, 0.5], "logprob": -0.69})
    with pytest.raises(InputError, match=r"the probs table lacks column\(s\) \['valid_mass'\]"):
        contracts.check(probs, "probs")
    contracts.check(probs.assign(valid_mass=0.9), "probs")


def test_check_choice_names_argument_value_and_choices():
    assert check_choice("bca", "ci_method", ("percentile", "bca")) == "bca"
    with pytest.raises(InputError, match=r"^argument by='region'; expected one of \['country', 'item'\]$"):
        check_choice("region", "by", ("country", "item"))
    with pytest.raises(InputError, match=r"^unknown label style 'roman' in label_styles; expected one of \['number'"):
        check_choice("roman", "label_styles", ("number", "letter"), what="label style")


def test_dir_lists_public_names_and_the_version():
    import wvsalign

    names = dir(wvsalign)
    assert "__version__" in names and "build_prompts" in names and "stats" in names
    assert "_LAZY" not in names and "lazy_exports" not in names
    assert "__version__" not in wvsalign.__all__
