"""Studies on Ray: a local Ray cluster (127.0.0.1 only, two worker CPUs, a small object store) runs a
tiny study to the same tables as the local executor, also when a worker process is killed by its
PID in the middle of a run (Ray re-submits the task, which resumes from the shards already
written). Skipped when Ray is not installed (``pip install wvsalign[ray]``); the spec and CLI
checks run without it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign.errors import ConfigError, ModelError  # noqa: E402
from wvsalign.inference.testing import save_tiny_model  # noqa: E402
from wvsalign.study import StudySpec, run_study  # noqa: E402
from wvsalign.study.spec import StudyResources  # noqa: E402

ITEMS = ["Q1", "Q2", "Q46", "Q49", "Q57", "Q58"]
COUNTRIES = ["USA", "JPN", "DEU", "BRA"]
FAULT = "shard_recorded:1:stop"  # every worker stops itself after recording its first shard


def _spec_dict(models, **extra):
    base = {"name": "tiny", "models": models,
            "conditions": {"persona": {"templates": ["persona"]}, "third": {"templates": ["third_person"]}},
            "items": ITEMS, "countries": COUNTRIES, "seed": 5,
            "resources": {"num_cpus": 1, "num_gpus": 0, "memory": 200_000_000}}
    base.update(extra)
    return base


# ---- without Ray --------------------------------------------------------------------------------
@pytest.mark.parametrize("resources, message", [
    ({"num_cpu": 1}, r"resources has unknown key\(s\) \['num_cpu'\]"),
    ({"num_cpus": -1}, "resources.num_cpus must be a number >= 0"),
    ({"num_gpus": "two"}, "resources.num_gpus must be a number >= 0"),
    ({"memory": 0}, "resources.memory must be a positive number of bytes"),
    ([1, 2], "'resources' must be a mapping"),
])
def test_resources_are_validated_naming_the_file(tmp_path, resources, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"models": ["smollm2-135m"], "resources": resources}))
    with pytest.raises(ConfigError, match=message) as info:
        StudySpec.from_yaml(path)
    assert "bad.yaml" in str(info.value)


def test_resources_default_and_parse():
    spec = StudySpec.from_dict({"models": ["smollm2-135m"]})
    assert spec.resources == StudyResources(num_cpus=1.0, num_gpus=0.0, memory=None)
    spec = StudySpec.from_dict({"models": ["smollm2-135m"], "resources": {"num_gpus": 0.5, "memory": 4e9}})
    assert spec.resources == StudyResources(num_cpus=1.0, num_gpus=0.5, memory=4_000_000_000)
    assert StudySpec.from_dict(spec.to_dict()).resources == spec.resources  # study.yaml round trip


def test_unknown_executor_and_ray_flags_without_ray_executor(tmp_path, capsys):
    from wvsalign.cli import main

    with pytest.raises(ConfigError, match="unknown executor"):
        run_study(StudySpec.from_dict({"models": ["smollm2-135m"]}), tmp_path / "s", executor="dask", echo=None)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"models": ["smollm2-135m"]}))
    assert main(["study", "run", str(path), "--out", str(tmp_path / "o"), "--num-gpus", "1"]) != 0
    assert "apply to --executor ray only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_ray_names_the_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    spec = StudySpec.from_dict({"models": ["smollm2-135m"]})
    with pytest.raises(ConfigError, match=r"pip install wvsalign\[ray\]"):
        run_study(spec, tmp_path / "s", executor="ray", echo=None)
    assert not (tmp_path / "s").exists()  # nothing written before the check


# ---- on a local Ray cluster -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    models = [{"name": "a", "model": str(save_tiny_model(root / "a", seed=1)), "metadata": {"family": "a"}},
              {"name": "b", "model": str(save_tiny_model(root / "b", seed=2)), "metadata": {"family": "b"}}]
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(yaml.safe_dump(_spec_dict(models)))
    return path


@pytest.fixture(scope="module")
def local(study_file, tmp_path_factory):
    """The local executor's study, with torch on one thread as each Ray run (num_cpus: 1) is: CPU
    matmuls round differently with other thread counts, so identical tables need equal threads."""
    import torch

    out = tmp_path_factory.mktemp("local") / "tiny"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_study(study_file, out, progress=False, echo=None)
    finally:
        torch.set_num_threads(threads)


def _ray_cluster(env_vars=None):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             _node_ip_address="127.0.0.1", log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", **(env_vars or {})}})
    return ray


def _same_tables(a, b):
    assert sorted(a.runs) == sorted(b.runs) and len(a.runs) == 4
    for key, result in a.runs.items():
        pd.testing.assert_frame_equal(b.runs[key].probs, result.probs, check_exact=True)
        pd.testing.assert_frame_equal(b.runs[key].scores, result.scores, check_exact=True)
        pd.testing.assert_frame_equal(b.runs[key].alignment, result.alignment, check_exact=True)
    pd.testing.assert_frame_equal(b.alignment, a.alignment, check_exact=True)


@pytest.mark.slow
def test_ray_study_from_the_cli_equals_local_study(study_file, local, tmp_path):
    """``wvsalign study run --executor ray --address ...`` (a second driver joining the test's cluster)."""
    ray = _ray_cluster()
    out = tmp_path / "tiny"
    try:
        address = ray.get_runtime_context().gcs_address
        cmd = [sys.executable, "-m", "wvsalign", "study", "run", str(study_file), "--out", str(out),
               "--executor", "ray", "--address", address, "--num-cpus", "1", "--memory", "150000000"]
        done = subprocess.run(cmd, env=dict(os.environ, HF_HUB_OFFLINE="1"), capture_output=True, text=True,
                              timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "submitted 4 run(s) to Ray (1 CPU, 0 GPU, 150000000 bytes each)" in done.stdout
        assert "4/4" in done.stderr.replace("\r", "\n").splitlines()[-1]  # the bar over runs, at the end
        # a second run submits nothing: every run is finished
        lines: list[str] = []
        again = run_study(study_file, out, progress=False, echo=lines.append, executor="ray")
        assert ray.is_initialized()  # a cluster the caller started is left running
        # a run's own error is not retried: the study stops naming the run and the cause
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(_spec_dict([{"name": "gone", "model": str(tmp_path / "no-such-model")}],
                                                 conditions={"persona": {"templates": ["persona"]}})))
        # a model that does not exist is refused before anything is written or submitted
        with pytest.raises(ModelError, match="no such model file or folder") as info:
            run_study(bad, tmp_path / "bad", progress=False, echo=None, executor="ray")
        assert "no-such-model" in str(info.value) and not (tmp_path / "bad").exists()
    finally:
        ray.shutdown()
    assert any("4 of 4 run(s) finished already" in line for line in lines)
    _same_tables(local, again)


def _stopped_workers(psutil):
    found = []
    for proc in psutil.process_iter(["pid", "status", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if proc.info["status"] == psutil.STATUS_STOPPED and "ray::" in cmd:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.slow
def test_killed_worker_is_retried_and_resumes_to_identical_tables(study_file, local, tmp_path):
    import threading

    psutil = pytest.importorskip("psutil")
    ray = _ray_cluster({"WVSALIGN_FAULT": FAULT})
    out = tmp_path / "tiny"
    killed: list[int] = []
    kept: dict[str, tuple[int, int]] = {}
    errors: list[BaseException] = []
    finished = threading.Event()

    def killer():
        # runs until the study returns, so no worker is ever left stopped
        while not finished.is_set():
            for proc in _stopped_workers(psutil):
                try:
                    if not killed:
                        # a worker in the middle of a run: a shard recorded, the run's tables not written
                        partial = [p for p in out.glob("runs/*/*") if list(p.glob("probs/*.parquet"))
                                   and not (p / "probs.parquet").exists()]
                        if not partial:
                            errors.append(AssertionError("a stopped worker but no run with shards and no tables"))
                        for shard in sorted(out.glob("runs/*/*/probs/*.parquet")):
                            st = shard.stat()
                            kept[str(shard)] = (st.st_ino, st.st_mtime_ns)
                        proc.send_signal(signal.SIGKILL)
                        killed.append(proc.pid)
                    else:
                        proc.send_signal(signal.SIGCONT)  # later workers: let them go on
                except psutil.NoSuchProcess:
                    continue
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    proc.send_signal(signal.SIGCONT)
            time.sleep(0.2)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        study = run_study(study_file, out, progress=False, echo=None, executor="ray")
    finally:
        finished.set()
        thread.join(10)
        ray.shutdown()
    assert not errors, errors
    assert len(killed) == 1, "no worker was stopped mid-run"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    _same_tables(local, study)
    # the shards written before the kill were resumed, not recomputed: same files, untouched
    assert kept
    for name, (ino, mtime) in kept.items():
        st = os.stat(name)
        assert (st.st_ino, st.st_mtime_ns) == (ino, mtime), name
