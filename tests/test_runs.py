"""The run directory (wvsalign.runs): one lock over the whole directory (two real ``wvsalign run``
processes, the second with ``--overwrite``), reopening a run read-only, deleting only what wvsalign
wrote, ``--overwrite`` only after the new model has loaded, the batch size in the run identity,
rebuilding a damaged ``config.yaml`` or a lost ``probs/manifest.json`` from the checksummed
shards, and ``status: failed`` with the error."""
from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign.errors import ConfigError, InputError, ModelError  # noqa: E402
from wvsalign.inference.engine import ScoringEngine  # noqa: E402
from wvsalign.inference.runner import score  # noqa: E402
from wvsalign.inference.shards import ShardWarning  # noqa: E402
from wvsalign.inference.testing import save_tiny_model, tiny_tokenizer  # noqa: E402
from wvsalign.pipeline import RunConfig, run  # noqa: E402
from wvsalign.prompts import build_prompts  # noqa: E402
from wvsalign.runs import LOCK, RunDir, RunResult  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402

ITEMS = ["Q1", "Q46", "Q57"]
COUNTRIES = ["USA", "JPN", "BRA"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-model", seed=3)


@pytest.fixture(scope="module")
def prompts():
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q46", "Q57", "Q164"])
    return build_prompts(bank, ["USA", "JPN", "DEU"], tokenizer=tiny_tokenizer())


def _config(model_dir, out, **changes):
    return RunConfig(**{**dict(model=str(model_dir), items=ITEMS, countries=COUNTRIES, out=str(out)), **changes})


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: (kind, size, mtime_ns, sha256) for files, mtime for folders."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        key = str(path.relative_to(folder))
        if path.is_file():
            out[key] = ("file", st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            out[key] = ("dir", st.st_mtime_ns)
    out["."] = ("dir", folder.stat().st_mtime_ns)
    return out


def _no_model_work(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("model work where none was expected")

    monkeypatch.setattr(ScoringEngine, "logprobs", boom)
    monkeypatch.setattr("wvsalign.inference.models.load_model", boom)


# ---- RunResult.load ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    return run(_config(model_dir, out), progress=False, echo=None)


def _guard_writes(monkeypatch):
    """Make every way of writing, renaming, deleting or creating files from Python raise."""
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise AssertionError(f"opened for writing: {file} ({mode})")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND):
            raise AssertionError(f"os.open for writing: {path}")
        return real_os_open(path, flags, *args, **kwargs)

    def forbidden(name):
        def fail(*args, **kwargs):
            raise AssertionError(f"{name} called: {args}")
        return fail

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    for name in ("replace", "rename", "unlink", "remove", "mkdir", "makedirs", "rmdir", "truncate"):
        monkeypatch.setattr(os, name, forbidden(f"os.{name}"))
    monkeypatch.setattr(shutil, "rmtree", forbidden("shutil.rmtree"))


def _check_loaded(loaded, result):
    assert loaded.status == "finished"
    assert loaded.run_config == result.run_config
    for name in ("probs", "human", "scores"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(result, name), check_exact=True)
    pd.testing.assert_series_equal(loaded.prompts["prompt_id"], result.prompts["prompt_id"])
    pd.testing.assert_series_equal(loaded.prompts["user"], result.prompts["user"])
    pd.testing.assert_frame_equal(loaded.alignment, pd.read_csv(result.run_dir / "alignment.csv"), check_exact=True)
    assert loaded.config["status"] == "finished" and loaded.config["human"]["synthetic"] is True
    assert loaded.summary().splitlines()[0] == result.summary().splitlines()[0]


def test_load_reopens_a_finished_run_without_writing_anything(finished, monkeypatch):
    """Read-only three ways (tests run as root, so chmod alone does not stop writes): the files
    are chmod a-w, every Python route to writing/renaming/deleting raises while loading, and no
    file's content, size or mtime (nor a folder's entries) changes."""
    folder = finished.run_dir
    before = _snapshot(folder)
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    try:
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        with monkeypatch.context() as m:
            _guard_writes(m)
            loaded = RunResult.load(folder)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert _snapshot(folder) == before
    _check_loaded(loaded, finished)


def test_load_works_on_a_read_only_mount(finished, tmp_path):
    """The run directory bind-mounted read-only (where the test may mount; skipped otherwise)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    ok = subprocess.run(["mount", "--bind", str(finished.run_dir), str(mount)], capture_output=True).returncode == 0
    if not ok:
        pytest.skip("cannot bind-mount here")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        with pytest.raises(OSError):
            (mount / "probe").write_text("x")  # really read-only
        loaded = RunResult.load(mount)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    _check_loaded(loaded, finished)


def test_load_reopens_a_partial_run(prompts, model_dir, tmp_path, monkeypatch):
    """A scoring stopped after two shards: its intact shards come back, a damaged one is reported
    (not repaired), and nothing is written."""
    from wvsalign.inference.shards import ShardStore

    out = tmp_path / "run"
    real, written = ShardStore.write, []

    def interrupted(self, shard, frame):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(shard.name)
        real(self, shard, frame)

    with monkeypatch.context() as m:
        m.setattr(ShardStore, "write", interrupted)
        with pytest.raises(KeyboardInterrupt):
            score(prompts, str(model_dir), out, shard_size=2, progress=False)
    reference = score(prompts, str(model_dir), shard_size=2, progress=False)
    shard = out / "probs" / f"{written[1]}.parquet"
    shard.write_bytes(shard.read_bytes()[:50])  # damaged
    before = _snapshot(out)
    loaded = RunResult.load(out)
    assert _snapshot(out) == before
    assert loaded.status == "partial" and loaded.alignment is None and loaded.config == {}
    assert len(loaded.problems) == 1 and written[1] in loaded.problems[0]
    ids = loaded.probs["prompt_id"].unique()
    assert len(ids) == 4  # two intact shards of two prompts
    expected = reference[reference["prompt_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded.probs.sort_values(["prompt_id", "code"]).reset_index(drop=True),
                                  expected.sort_values(["prompt_id", "code"]).reset_index(drop=True), check_exact=True)


def test_load_of_something_else_is_refused(tmp_path):
    with pytest.raises(InputError, match="no such run directory"):
        RunResult.load(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a wvsalign run directory"):
        RunResult.load(tmp_path)


# ---- the lock ---------------------------------------------------------------------------------
def test_second_holder_of_a_run_directory_is_refused_naming_the_pid(tmp_path):
    first, second = RunDir(tmp_path / "run"), RunDir(tmp_path / "run")
    with first.locked():
        with first.locked():  # re-entrant on the same object
            assert second.in_use()
            with pytest.raises(InputError, match=rf"in use by another wvsalign process \(pid {os.getpid()}\)"):
                second.acquire()
        assert first.holds_lock
    assert not first.holds_lock and not second.in_use()
    with second.locked():
        pass


def _cli(model_dir, out, countries, *extra, fault=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("WVSALIGN_FAULT", None)
    if fault:
        env["WVSALIGN_FAULT"] = fault
    cmd = [sys.executable, "-m", "wvsalign", "run", "--model", str(model_dir), "--items", ",".join(ITEMS),
           "--countries", ",".join(countries), "--out", str(out), "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_stopped(proc, timeout=120):
    """Wait until ``proc`` has stopped itself (SIGSTOP at a fault point, holding the lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.communicate()}")
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.01)
    raise AssertionError("the first run never reached its stop point")


def _consistent(out, countries):
    """Every table of the directory belongs to the run over ``countries``."""
    record = yaml.safe_load((out / "config.yaml").read_text())
    assert record["status"] == "finished" and record["config"]["countries"] == countries
    prompts = pd.read_parquet(out / "prompts.parquet")
    assert sorted(prompts["country"].unique()) == sorted(countries)
    assert sorted(pd.read_parquet(out / "human.parquet")["country"].unique()) == sorted(countries)
    probs = pd.read_parquet(out / "probs.parquet")
    assert set(probs["prompt_id"]) == set(prompts["prompt_id"])
    assert sorted(pd.read_parquet(out / "scores.parquet")["country"].unique()) == sorted(countries)
    manifest = json.loads((out / "probs" / "manifest.json").read_text())
    shards = sorted(p.stem for p in (out / "probs").glob("*.parquet"))
    assert sorted(manifest["shards"]) == shards
    assert RunResult.load(out).status == "finished"


@pytest.mark.parametrize("second_overwrites_a_finished_run", [False, True])
def test_two_runs_on_one_directory_cannot_mix(model_dir, tmp_path, second_overwrites_a_finished_run):
    """Two real ``wvsalign run`` processes: the first is stopped (SIGSTOP, so it holds the lock)
    in the middle of scoring; the second, with other countries and --overwrite, is refused with
    a clear error naming the first's pid; the first then finishes, and every table is its own.
    Variant: the directory already holds a finished run of the second's settings, which the
    first replaces with --overwrite while the second tries to resume it."""
    out = tmp_path / "run"
    a_countries, b_countries = ["USA", "JPN", "BRA"], ["DEU", "NGA"]
    a_extra = []
    if second_overwrites_a_finished_run:
        done = _cli(model_dir, out, b_countries)
        assert done.wait(300) == 0, done.communicate()
        a_extra = ["--overwrite"]
    first = _cli(model_dir, out, a_countries, *a_extra, fault="shard_recorded:1:stop")
    try:
        _wait_stopped(first)
        second = _cli(model_dir, out, b_countries, *([] if second_overwrites_a_finished_run else ["--overwrite"]))
        stdout, stderr = second.communicate(timeout=300)
        assert second.returncode == 2, (stdout, stderr)
        assert f"is in use by another wvsalign process (pid {first.pid})" in stderr, stderr
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    _consistent(out, a_countries)


# ---- deleting only what wvsalign wrote --------------------------------------------------------
def test_score_refuses_a_probs_folder_with_foreign_files_and_no_manifest(prompts, model_dir, tmp_path):
    probs = tmp_path / "run" / "probs"
    probs.mkdir(parents=True)
    (probs / "notes.txt").write_text("my notes")
    (probs / "table.parquet").write_bytes(b"mine")
    before = _snapshot(tmp_path / "run")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"files wvsalign did not write \(notes\.txt, table\.parquet\)"):
            score(prompts.iloc[:2], str(model_dir), tmp_path / "run", progress=False, overwrite=overwrite)
    after = _snapshot(tmp_path / "run")
    after.pop(LOCK), after.pop(".")  # the lock file is the only addition
    before.pop(".")
    assert after == before


def test_overwrite_refuses_a_foreign_config_yaml(model_dir, tmp_path, capsys):
    from wvsalign import cli

    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.yaml").write_text(_config(model_dir, out).to_yaml())  # the user's own settings file
    (out / "analysis.py").write_text("print('mine')")
    before = _snapshot(out)
    for extra in ([], ["--overwrite"]):
        code = cli.main(["run", "--model", str(model_dir), "--items", "Q1", "--countries", "USA", "--out", str(out),
                         "--quiet", *extra])
        assert code == 2
        err = capsys.readouterr().err
        assert "holds a config.yaml that wvsalign did not write" in err
    assert _snapshot(out) == before


def test_overwrite_refuses_user_files_beside_a_run(finished, model_dir, tmp_path, capsys):
    from wvsalign import cli

    out = tmp_path / "run"
    shutil.copytree(finished.run_dir, out)
    (out / "notes.md").write_text("my notes")
    (out / "probs" / "extra.csv").write_text("a,b\n")
    before = _snapshot(out)
    code = cli.main(["run", "--model", str(model_dir), "--items", "Q1", "--countries", "USA", "--out", str(out),
                     "--quiet", "--overwrite"])
    assert code == 2
    err = capsys.readouterr().err
    assert "holds files wvsalign did not write (notes.md, probs/extra.csv)" in err
    assert _snapshot(out) == before
    # without them, --overwrite replaces the run
    (out / "notes.md").unlink()
    (out / "probs" / "extra.csv").unlink()
    result = run(_config(model_dir, out, items=["Q1"], countries=["USA"]), overwrite=True, progress=False, echo=None)
    assert set(result.prompts["country"]) == {"USA"} and RunResult.load(out).status == "finished"


# ---- overwrite only after the new model has loaded -------------------------------------------
def test_overwrite_with_an_unloadable_model_leaves_the_finished_run(finished, model_dir, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished.run_dir, out)
    broken = tmp_path / "broken-model"
    shutil.copytree(model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # its tokenizer loads, its weights do not
    before = _snapshot(out)
    with pytest.raises(ModelError, match="cannot load"):
        run(_config(broken, out, countries=["USA", "DEU"]), overwrite=True, progress=False, echo=None)
    after = _snapshot(out)
    after.pop(LOCK, None), before.pop(LOCK, None), after.pop("."), before.pop(".")
    assert after == before  # nothing replaced, config.yaml still says finished
    assert RunResult.load(out).status == "finished"


def test_score_overwrite_with_unloadable_weights_keeps_the_old_shards(prompts, model_dir, tmp_path):
    out = tmp_path / "run"
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    score(prompts.iloc[:4], str(folder), out, shard_size=2, progress=False)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # other weights (sha256), and unloadable
    before = _snapshot(out)
    with pytest.raises(ModelError, match="cannot load"):
        score(prompts.iloc[:4], str(folder), out, shard_size=2, progress=False, overwrite=True)
    after = _snapshot(out)
    after.pop(LOCK), before.pop(LOCK)  # the lock file records the last holder's pid
    assert after == before


# ---- batch size and shard size ----------------------------------------------------------------
def test_resume_with_another_batch_or_shard_size_is_refused(prompts, model_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    first = score(prompts, str(model_dir), out, batch_size=1, shard_size=4, progress=False)
    manifest = json.loads((out / "probs" / "manifest.json").read_text())
    assert manifest["config"]["batch_size"] == 1 and manifest["config"]["shard_size"] == 4
    with pytest.raises(ConfigError, match=r"different config \(batch_size: 1 -> 'auto'\)"):
        score(prompts, str(model_dir), out, shard_size=4, progress=False)
    with pytest.raises(ConfigError, match=r"different config \(shard_size: 4 -> 3\)"):
        score(prompts, str(model_dir), out, batch_size=1, shard_size=3, progress=False)
    with monkeypatch.context() as m:
        _no_model_work(m)
        again = score(prompts, str(model_dir), out, batch_size=1, shard_size=4, progress=False)
    pd.testing.assert_frame_equal(again, first, check_exact=True)


def test_pipeline_records_the_batch_size_as_requested(model_dir, tmp_path):
    out = tmp_path / "run"
    run(_config(model_dir, out, items=["Q1"], batch_size=3), progress=False, echo=None)
    record = yaml.safe_load((out / "config.yaml").read_text())
    assert record["identity"]["batch_size"] == 3
    with pytest.raises(ConfigError, match=r"batch_size: 3 -> 'auto'"):
        run(_config(model_dir, out, items=["Q1"]), progress=False, echo=None)


# ---- rebuilding config.yaml and the manifest --------------------------------------------------
def test_truncated_config_yaml_is_rebuilt(finished, model_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(finished.run_dir, out)
    text = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(text[: len(text) // 3])
    lines = []
    with monkeypatch.context() as m:
        _no_model_work(m)
        again = run(_config(model_dir, out), progress=False, echo=lines.append)
    pd.testing.assert_frame_equal(again.probs, finished.probs, check_exact=True)
    assert any("is rebuilt" in line for line in lines)
    record = yaml.safe_load((out / "config.yaml").read_text())
    assert record["status"] == "finished"
    assert RunConfig.from_dict(record["config"]).result_fields() == finished.run_config.result_fields()
    # a damaged config.yaml does not let a run with other prompts in
    (out / "config.yaml").write_text(text[:40])
    with pytest.raises(ConfigError, match="config.yaml is unreadable.*other prompts"):
        run(_config(model_dir, out, countries=["USA"]), progress=False, echo=None)


def test_lost_manifest_is_rebuilt_from_the_checksummed_shards(prompts, model_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    reference = score(prompts, str(model_dir), out, shard_size=4, progress=False)
    manifest_path = out / "probs" / "manifest.json"
    original = json.loads(manifest_path.read_text())
    manifest_path.unlink()
    with monkeypatch.context() as m:
        _no_model_work(m)
        with pytest.warns(ShardWarning, match=r"manifest\.json was missing; rebuilt from 3 intact shard\(s\)"):
            again = score(prompts, str(model_dir), out, shard_size=4, progress=False)
    pd.testing.assert_frame_equal(again, reference, check_exact=True)
    assert json.loads(manifest_path.read_text())["shards"] == original["shards"]
    # lost again, and one shard truncated: the intact ones are kept, the damaged one recomputed
    manifest_path.write_text('{"version": 1, "conf')  # a truncated manifest
    victim = sorted((out / "probs").glob("*.parquet"))[1]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.warns(ShardWarning, match=r"rebuilt from 2 intact shard\(s\), 1 unverifiable"):
        again = score(prompts, str(model_dir), out, shard_size=4, progress=False)
    pd.testing.assert_frame_equal(again, reference, check_exact=True)
    # shards made with another config, and no manifest: refused, naming the difference
    manifest_path.unlink()
    with pytest.raises(ConfigError, match=r"different config \(batch_size: 'auto' -> 2\)"):
        score(prompts, str(model_dir), out, shard_size=4, batch_size=2, progress=False)


def test_a_shard_carries_its_own_record(prompts, model_dir, tmp_path):
    import pyarrow.parquet as pq

    from wvsalign.inference.shards import SHARD_METADATA, frame_checksum

    out = tmp_path / "run"
    score(prompts.iloc[:4], str(model_dir), out, shard_size=4, progress=False)
    shard = next((out / "probs").glob("*.parquet"))
    meta = json.loads(pq.read_schema(shard).metadata[SHARD_METADATA])
    manifest = json.loads((out / "probs" / "manifest.json").read_text())
    assert meta["config"] == manifest["config"] and meta["digest"] == manifest["shards"][shard.stem]["digest"]
    frame = pd.read_parquet(shard)
    assert meta["rows_sha256"] == frame_checksum(frame)
    changed = frame.copy()
    changed.loc[0, "prob"] = float(changed.loc[0, "prob"]) + 1e-12
    assert frame_checksum(changed) != meta["rows_sha256"]


# ---- failures are recorded --------------------------------------------------------------------
def test_a_failure_in_scoring_is_recorded_and_does_not_block_confusingly(model_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"

    def fails(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    with monkeypatch.context() as m:
        m.setattr(ScoringEngine, "logprobs", fails)
        with pytest.raises(RuntimeError, match="simulated"):
            run(_config(model_dir, out), progress=False, echo=None)
    record = yaml.safe_load((out / "config.yaml").read_text())
    assert record["status"] == "failed" and record["error"] == "RuntimeError: out of memory (simulated)"
    loaded = RunResult.load(out)
    assert loaded.status == "failed" and "simulated" in loaded.summary()
    with pytest.raises(ConfigError, match=r"countries: .*the run there failed: RuntimeError: out of memory"):
        run(_config(model_dir, out, countries=["USA"]), progress=False, echo=None)
    result = run(_config(model_dir, out), progress=False, echo=None)  # the same settings simply resume
    assert RunResult.load(out).status == "finished" and len(result.alignment)


def test_is_finished_agrees_with_the_recorded_config_and_the_result_files(finished, model_dir, tmp_path):
    import shutil

    config = _config(model_dir, finished.run_dir)
    assert RunDir(finished.run_dir).is_finished(config.result_fields())
    # another setting that shapes results, a missing directory, a failed or damaged run: not finished
    assert not RunDir(finished.run_dir).is_finished(_config(model_dir, finished.run_dir, seed=7).result_fields())
    assert not RunDir(tmp_path / "nothing").is_finished(config.result_fields())
    copy = tmp_path / "copy"
    shutil.copytree(finished.run_dir, copy)
    assert RunDir(copy).is_finished(config.result_fields())
    (copy / "alignment.csv").unlink()
    assert not RunDir(copy).is_finished(config.result_fields())
    shutil.rmtree(copy)
    shutil.copytree(finished.run_dir, copy)
    text = (copy / "config.yaml").read_text()
    (copy / "config.yaml").write_text(text.replace("status: finished", "status: failed"))
    assert not RunDir(copy).is_finished(config.result_fields())
    (copy / "config.yaml").write_text(text[: len(text) // 2])  # truncated record
    assert not RunDir(copy).is_finished(config.result_fields())


def test_progress_may_be_a_callback_that_counts_every_prompt(model_dir, tmp_path, capsys):
    counted = []
    result = run(_config(model_dir, tmp_path / "cb"), progress=counted.append, echo=None)
    n_prompts = result.probs["prompt_id"].nunique()
    assert sum(counted) == n_prompts and all(n > 0 for n in counted)
    assert "scoring" not in capsys.readouterr().err  # no bar of its own
