"""Kill tests: a scoring run killed with SIGKILL at several points (before any shard, mid-way
through writing one, between writing and recording one, after one and after several, and at
random moments) resumes to a table identical to an uninterrupted run: no row lost or duplicated.

Each run is a subprocess scoring a tiny random model saved as a local folder. Exact kill points
come from the runner's fault injection (``WVSALIGN_FAULT=<point>:<n>`` SIGKILLs the process the
n-th time it reaches that point). The random kills come from outside while shards are scored
and written (one prompt per shard there): once a seeded random number of shards is recorded, after
a further seeded random fraction of the reference run's time per shard (its scoring time, from
the moment the worker has imported everything and loaded the model, which it prints). Timed by
the run's progress rather than the clock, they land in scoring however busy the machine is.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign.inference.shards import plan_shards  # noqa: E402
from wvsalign.inference.testing import save_tiny_model  # noqa: E402
from wvsalign.prompts import build_prompts, render_prompts  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402

SHARD_SIZE = 4  # the exact kill points
RANDOM_SHARD_SIZE = 1  # the random kills: many small shards, so kills fall before, inside and after shard writes

WORKER = """
import sys, time, pandas as pd
from wvsalign.inference.models import load_backend
from wvsalign.inference.runner import score
prompts = pd.read_parquet(sys.argv[1])
loaded = load_backend(sys.argv[2], progress=False)
print("scoring", flush=True)  # imports and model load done: what follows is the run's own work
start = time.perf_counter()
score(prompts, loaded, sys.argv[3], shard_size=int(sys.argv[4]), progress=False)
print(f"scored in {time.perf_counter() - start:.6f} s", flush=True)
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    model = save_tiny_model(root / "tiny-model", seed=1)
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q164", "Q57", "Q46"])
    prompts = build_prompts(bank, ["USA", "JPN", "DEU", "BRA"])
    path = root / "prompts.parquet"
    prompts.to_parquet(path, index=False)
    start = time.perf_counter()
    reference = _run(path, model, root / "reference")
    seconds = time.perf_counter() - start
    assert reference.returncode == 0, reference.stderr
    table = pd.read_parquet(root / "reference" / "probs.parquet")
    assert table["prompt_id"].nunique() == len(prompts) == 16
    return root, path, model, table, seconds


@pytest.fixture(scope="module")
def random_setup(setup):
    """More prompts (48), one per shard, and the reference run's scoring time (model load excluded)."""
    root, _, model, _, _ = setup
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q164", "Q57", "Q46", "Q2", "Q58"])
    prompts = build_prompts(bank, ["USA", "JPN", "DEU", "BRA"],
                            templates=["persona", "third_person"])
    path = root / "prompts-random.parquet"
    prompts.to_parquet(path, index=False)
    reference = _run(path, model, root / "reference-random", shard_size=RANDOM_SHARD_SIZE)
    assert reference.returncode == 0, reference.stderr
    scoring = float(reference.stdout.split("scored in ")[1].split()[0])
    table = pd.read_parquet(root / "reference-random" / "probs.parquet")
    assert table["prompt_id"].nunique() == len(prompts) == 48
    return root, path, model, table, scoring


def _env(fault=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("WVSALIGN_FAULT", None)
    if fault:
        env["WVSALIGN_FAULT"] = fault
    return env


def _run(prompts_path, model, run_dir, fault=None, timeout=300, shard_size=SHARD_SIZE):
    return subprocess.run([sys.executable, "-c", WORKER, str(prompts_path), str(model), str(run_dir), str(shard_size)],
                          env=_env(fault), capture_output=True, text=True, timeout=timeout)


def _recorded(run_dir):
    """Shards the run directory's manifest records (0 before it exists)."""
    try:
        return len(json.loads((run_dir / "probs" / "manifest.json").read_text())["shards"])
    except FileNotFoundError:
        return 0


def _wait_for_shards(proc, run_dir, n, timeout=120):
    """Wait until ``run_dir`` records ``n`` shards (False if the process ended or time ran out first)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if _recorded(run_dir) >= n:
            return True
        time.sleep(0.002)
    return False


def _check_resumed(run_dir, reference, n_shards):
    table = pd.read_parquet(run_dir / "probs.parquet")
    pd.testing.assert_frame_equal(table, reference, check_exact=True)
    assert not table.duplicated(["prompt_id", "code"]).any()
    assert len(list((run_dir / "probs").glob("*.parquet"))) == n_shards
    assert not list((run_dir / "probs").glob(".*.tmp"))


@pytest.mark.parametrize("fault, shards_before", [
    ("shard_tmp_written:1", 0),   # mid-write of the first shard: nothing finished yet
    ("shard_recorded:1", 1),      # after one shard
    ("shard_written:2", 1),       # second shard on disk but not yet in the manifest
    ("shard_tmp_written:3", 2),   # mid-write of the third shard
    ("shard_recorded:3", 3),      # after several shards
])
def test_killed_run_resumes_to_the_same_table(setup, fault, shards_before):
    root, prompts_path, model, reference, _ = setup
    run_dir = root / f"run-{fault.replace(':', '-')}"
    killed = _run(prompts_path, model, run_dir, fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _recorded(run_dir) == shards_before
    assert not (run_dir / "probs.parquet").exists()
    resumed = _run(prompts_path, model, run_dir)
    assert resumed.returncode == 0, resumed.stderr
    _check_resumed(run_dir, reference, len(plan_shards(render_prompts(pd.read_parquet(prompts_path)), SHARD_SIZE)))


def test_randomly_killed_run_resumes_to_the_same_table(random_setup):
    root, prompts_path, model, reference, scoring = random_setup
    run_dir = root / "run-random"
    n_shards = len(plan_shards(render_prompts(pd.read_parquet(prompts_path)), RANDOM_SHARD_SIZE))
    per_shard = scoring / n_shards
    rng = np.random.default_rng(7)
    kills, mid_run = 0, 0
    for _ in range(5):
        before = _recorded(run_dir)
        target = before + int(rng.integers(1, max(2, (n_shards - before) // 3)))  # kill once this many are recorded ...
        if target >= n_shards:
            break
        delay = float(rng.uniform(0.0, 1.5)) * per_shard  # ... and a bit more: within the next shard or two
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(prompts_path), str(model), str(run_dir),
                                 str(RANDOM_SHARD_SIZE)], env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout.readline().strip() == "scoring"
        if _wait_for_shards(proc, run_dir, target):
            time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
            proc.wait()
            mid_run += before < _recorded(run_dir) < n_shards  # killed while scoring, after recording shards
        proc.wait()
        proc.stdout.close()
    final = _run(prompts_path, model, run_dir, shard_size=RANDOM_SHARD_SIZE)
    assert final.returncode == 0, final.stderr
    assert kills >= 1 and mid_run >= 1, (kills, mid_run)
    _check_resumed(run_dir, reference, n_shards)
