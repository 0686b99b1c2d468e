"""Ablation: channel equivalences the maths implies, empty set bit-identical, mean replacement
against an edited down projection, random sets matched per layer, the ablated backend."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from wvsalign.errors import InputError  # noqa: E402
from wvsalign.inference.engine import ScoringEngine  # noqa: E402
from wvsalign.inference.scoring import ScoringRequest  # noqa: E402
from wvsalign.inference.testing import tiny_model  # noqa: E402
from wvsalign.probing import ablation as ab  # noqa: E402
from wvsalign.probing.sites import decoder_layers  # noqa: E402

IDS = torch.tensor([[2, 17, 33, 50, 61, 9, 88, 40, 12, 100, 7, 64]])


def logits(model, neurons=None, site="down_in", mode="zero", means=None):
    with torch.no_grad():
        if neurons is None:
            return model(input_ids=IDS).logits
        with ab.ablate(model, neurons, site=site, mode=mode, means=means):
            return model(input_ids=IDS).logits


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_channel_equivalences(arch):
    model = tiny_model(arch)
    base = logits(model)
    for layer, i in ((0, 3), (1, 40)):
        s = {layer: [i]}
        down = logits(model, s, "down_in")
        assert not torch.equal(down, base)  # the ablation does something
        assert torch.equal(logits(model, s, "act"), down)  # act_i = 0 -> down_in_i = 0 * up_i = 0
        up = logits(model, s, "up")  # down_in_i = act_i * 0 (maybe -0.0)
        torch.testing.assert_close(up, down, rtol=0, atol=0)
        gate = logits(model, s, "gate")  # act(0) = 0 for SiLU and tanh-GELU
        torch.testing.assert_close(gate, down, rtol=0, atol=1e-6)
        # another channel gives other logits
        assert not torch.allclose(logits(model, {layer: [i + 1]}, "down_in"), down)
    assert n_hooks(model) == 0


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_zero_and_mean_equal_edited_weights(arch):
    model = tiny_model(arch)
    neurons = {0: [1, 5, 9], 1: [2]}
    means = np.random.default_rng(0).normal(size=(2, 64))
    zero = logits(model, neurons)
    mean = logits(model, neurons, mode="mean", means=means)
    # independent: a copy whose down_proj columns are zeroed, plus W[:, i] * c as a bias for mean mode
    import copy

    edited = copy.deepcopy(model)
    biases = {}
    with torch.no_grad():
        for layer, idx in neurons.items():
            w = decoder_layers(edited)[layer].mlp.down_proj.weight
            biases[layer] = (w[:, idx] @ torch.tensor(means[layer, idx], dtype=w.dtype)).clone()
            w[:, idx] = 0
    torch.testing.assert_close(logits(edited), zero, rtol=1e-5, atol=1e-5)
    hs = [decoder_layers(edited)[l].mlp.down_proj.register_forward_hook(lambda m, a, o, b=b: o + b)
          for l, b in biases.items()]
    try:
        torch.testing.assert_close(logits(edited), mean, rtol=1e-5, atol=1e-5)
    finally:
        for h in hs:
            h.remove()
    # mean mode with zero means is zero mode
    assert torch.equal(logits(model, neurons, mode="mean", means=np.zeros((2, 64))), zero)


def test_empty_set_is_bit_identical_also_through_the_engine():
    model = tiny_model("llama")
    base = logits(model)
    for empty in ({}, None, pd.DataFrame({"layer": [], "neuron": []}, dtype=np.int64), {0: []}):
        assert torch.equal(logits(model, empty), base)
    reqs = [ScoringRequest(f"p{i}", tuple(range(5 + i, 30 + i)), ((7,), (8,), (9, 10)), False) for i in range(4)]
    plain = ScoringEngine(model).logprobs(reqs)
    with ab.ablate(model, {}):
        same = ScoringEngine(model).logprobs(reqs)
    for a, b in zip(plain, same):
        assert np.array_equal(a, b)
    with ab.ablate(model, {1: list(range(0, 64, 2))}):
        moved = ScoringEngine(model).logprobs(reqs)
    assert not all(np.array_equal(a, b) for a, b in zip(plain, moved))


def test_generation_while_ablating():
    model = tiny_model("llama")
    neurons = {0: list(range(10)), 1: list(range(20, 40))}
    with ab.ablate(model, neurons):
        out = model.generate(IDS, max_new_tokens=3, do_sample=False, pad_token_id=0)
    expected = logits(model, neurons)[0, -1].argmax().item()
    assert out[0, IDS.shape[1]].item() == expected
    assert n_hooks(model) == 0


def test_random_sets_match_per_layer():
    real = ab.normalise_neurons(pd.DataFrame({"layer": [0, 0, 2, 2, 2, 5], "neuron": [1, 7, 3, 3, 9, 0]}))
    assert {k: v.tolist() for k, v in real.items()} == {0: [1, 7], 2: [3, 9], 5: [0]}
    widths = [16] * 6
    draws = [ab.random_matched(real, widths, seed) for seed in range(12)]
    for d in draws:
        assert {l: len(v) for l, v in d.items()} == {l: len(v) for l, v in real.items()}
        for l, v in d.items():
            assert len(set(v.tolist())) == len(v) and not set(v.tolist()) & set(real[l].tolist())
            assert v.min() >= 0 and v.max() < 16
    assert len({tuple(np.concatenate(list(d.values()))) for d in draws}) > 6
    assert all(np.array_equal(a, b) for a, b in zip(draws[3].values(), ab.random_matched(real, widths, 3).values()))


def test_neuron_set_checks_and_hash():
    model = tiny_model("llama")
    with pytest.raises(InputError, match="outside"):
        with ab.ablate(model, {2: [0]}):
            pass
    with pytest.raises(InputError, match=r"\[0, 64\)"):
        with ab.ablate(model, {0: [64]}):
            pass
    with pytest.raises(InputError, match="means"):
        with ab.ablate(model, {0: [1]}, mode="mean"):
            pass
    assert n_hooks(model) == 0
    a = ab.neuron_set_sha256(ab.normalise_neurons({0: [3, 1]}))
    assert a == ab.neuron_set_sha256(ab.normalise_neurons({0: [1, 3, 3]}))
    assert a != ab.neuron_set_sha256(ab.normalise_neurons({0: [1, 4]}))
    assert a != ab.neuron_set_sha256(ab.normalise_neurons({0: [1, 3]}), site="act")


@pytest.fixture(scope="module")
def tiny_backend(tmp_path_factory):
    from wvsalign.inference.backend import load_backend
    from wvsalign.inference.testing import save_tiny_model

    folder = save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    return load_backend(str(folder), device="cpu", progress=False)


def test_ablated_backend(tiny_backend):
    base = tiny_backend
    model = base.model
    neurons = pd.DataFrame({"layer": [0, 1, 1], "neuron": [4, 8, 9]})
    wrapped = ab.AblatedBackend(base, neurons, "zero")
    ident = wrapped.identity()
    assert {k: v for k, v in ident.items() if k != "ablation"} == base.identity()
    assert ident["ablation"]["n_neurons"] == 3 and ident["ablation"]["per_layer"] == {"0": 1, "1": 2}
    assert ident["ablation"]["sha256"] == ab.neuron_set_sha256(ab.normalise_neurons(neurons))
    assert "ablation" not in base.identity()  # the base is not changed
    assert wrapped.tokenizer is base.tokenizer and wrapped.name == base.name
    reqs = [ScoringRequest("p", tuple(range(5, 25)), ((7,), (8,)), False)]
    with ab.ablate(model, neurons):
        expected = ScoringEngine(model).logprobs(reqs)
    got = wrapped.logprobs(reqs)
    assert np.array_equal(got[0], expected[0])
    assert not np.array_equal(base.logprobs(reqs)[0], got[0])
    assert n_hooks(model) == 0
    empty = ab.AblatedBackend(base, None)
    assert np.array_equal(empty.logprobs(reqs)[0], base.logprobs(reqs)[0])


def test_ablated_runs_are_run_directories(tiny_backend, tmp_path):
    from wvsalign.inference.runner import score
    from wvsalign.prompts import build_prompts
    from wvsalign.survey.items import ItemBank

    bank = ItemBank.wvs7()
    prompts = build_prompts(bank.filter(ids=[it.item_id for it in bank][:3]), ["JPN", "DEU"])
    neurons = {0: [1, 2, 3], 1: [10]}
    wrapped = ab.AblatedBackend(tiny_backend, neurons)
    plain = score(prompts, tiny_backend, tmp_path / "plain", progress=False)
    first = score(prompts, wrapped, tmp_path / "ablated", progress=False)
    again = score(prompts, ab.AblatedBackend(tiny_backend, neurons), tmp_path / "ablated", progress=False)
    assert np.array_equal(first["prob"].to_numpy(), again["prob"].to_numpy())
    assert not np.allclose(first["prob"].to_numpy(), plain["prob"].to_numpy())
    with pytest.raises(InputError):
        score(prompts, ab.AblatedBackend(tiny_backend, {0: [1, 2]}), tmp_path / "ablated", progress=False)
    with pytest.raises(InputError):
        score(prompts, wrapped, tmp_path / "plain", progress=False)
    empty = score(prompts, ab.AblatedBackend(tiny_backend, {}), tmp_path / "empty", progress=False)
    assert np.array_equal(empty["prob"].to_numpy(), plain["prob"].to_numpy())


@pytest.mark.slow
def test_channel_equivalences_on_smollm2():
    from wvsalign.inference import load_model

    model = load_model("smollm2-135m", progress=False).model
    base = logits(model)
    for layer, i in ((0, 11), (17, 700), (29, 1535)):
        s = {layer: [i]}
        down = logits(model, s, "down_in")
        assert torch.equal(logits(model, s, "act"), down)
        torch.testing.assert_close(logits(model, s, "up"), down, rtol=0, atol=0)
        torch.testing.assert_close(logits(model, s, "gate"), down, rtol=0, atol=1e-5)
        assert not torch.equal(down, base)
    assert torch.equal(logits(model, {}), base)
