"""Kill tests: a scoring run killed with SIGKILL at several points (before any shard, mid-way
through writing one, between writing and recording one, after one and after several, and at
random moments) resumes to a table identical to an uninterrupted run: no row lost or duplicated.

Each run is a subprocess scoring a tiny random model saved as a local folder. Exact kill points
come from the runner's fault injection (``WVSALIGN_FAULT=<point>:<n>`` SIGKILLs the process the
n-th time it reaches that point); the random kills come from outside, after a seeded delay.
"""
from __future__ import annotations

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
from wvsalign.inference.testing import save_tiny_model, tiny_tokenizer  # noqa: E402
from wvsalign.prompts import build_prompts  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402

SHARD_SIZE = 4

WORKER = """
import sys, pandas as pd
from wvsalign.inference.runner import score
prompts = pd.read_parquet(sys.argv[1])
score(prompts, sys.argv[2], sys.argv[3], shard_size=int(sys.argv[4]), progress=False)
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    model = save_tiny_model(root / "tiny-model", seed=1)
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q164", "Q57", "Q46"])
    prompts = build_prompts(bank, ["USA", "JPN", "DEU", "BRA"], tokenizer=tiny_tokenizer())
    path = root / "prompts.parquet"
    prompts.to_parquet(path, index=False)
    start = time.perf_counter()
    reference = _run(path, model, root / "reference")
    seconds = time.perf_counter() - start
    assert reference.returncode == 0, reference.stderr
    table = pd.read_parquet(root / "reference" / "probs.parquet")
    assert table["prompt_id"].nunique() == len(prompts) == 16
    return root, path, model, table, seconds


def _run(prompts_path, model, run_dir, fault=None, timeout=300):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("WVSALIGN_FAULT", None)
    if fault:
        env["WVSALIGN_FAULT"] = fault
    return subprocess.run([sys.executable, "-c", WORKER, str(prompts_path), str(model), str(run_dir), str(SHARD_SIZE)],
                          env=env, capture_output=True, text=True, timeout=timeout)


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
    recorded = pd.read_json(run_dir / "probs" / "manifest.json", typ="series")["shards"]
    assert len(recorded) == shards_before
    assert not (run_dir / "probs.parquet").exists()
    resumed = _run(prompts_path, model, run_dir)
    assert resumed.returncode == 0, resumed.stderr
    _check_resumed(run_dir, reference, len(plan_shards(pd.read_parquet(prompts_path), SHARD_SIZE)))


def test_randomly_killed_run_resumes_to_the_same_table(setup):
    root, prompts_path, model, reference, seconds = setup
    run_dir = root / "run-random"
    rng = np.random.default_rng(7)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("WVSALIGN_FAULT", None)
    kills = 0
    for _ in range(5):  # kill after 30-90% of an uninterrupted run's time (imports included)
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(prompts_path), str(model), str(run_dir),
                                 str(SHARD_SIZE)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(rng.uniform(0.3, 0.9)) * seconds)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    final = _run(prompts_path, model, run_dir)
    assert final.returncode == 0, final.stderr
    assert kills >= 1
    _check_resumed(run_dir, reference, len(plan_shards(pd.read_parquet(prompts_path), SHARD_SIZE)))
