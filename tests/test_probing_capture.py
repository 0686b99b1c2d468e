"""Activation capture: sites, hooks removed, equality with prompts run alone and with a
recomputation from the layer weights (tiny random Llama, Gemma 3 and GPT-2 built here)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wvsalign.errors import InputError  # noqa: E402
from wvsalign.inference.testing import tiny_model  # noqa: E402
from wvsalign.probing import capture as cap  # noqa: E402
from wvsalign.probing.hooks import site_hooks  # noqa: E402
from wvsalign.probing.sites import decoder_layers, list_sites, n_neurons, resolve_site  # noqa: E402


def tiny_gpt2(seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=128, n_positions=256, n_embd=32, n_layer=2, n_head=4, n_inner=48)
    return GPT2LMHeadModel(cfg).eval()


def contexts(seed=1, n=7):
    """Three families: two long shared prefixes (20 and 24 tokens) and one short (5)."""
    rng = np.random.default_rng(seed)
    shared = rng.integers(5, 120, 20).tolist()
    other = rng.integers(5, 120, 24).tolist()
    out = []
    for i in range(n):
        tail = rng.integers(5, 120, int(rng.integers(1, 9))).tolist()
        out.append(tuple((shared if i % 3 == 1 else other if i % 3 == 2 else shared[:5]) + tail))
    return out


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def silu(x):
    return x * torch.sigmoid(x)


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh((2 / np.pi) ** 0.5 * (x + 0.044715 * x ** 3)))


def recompute(model, ids, act):
    """Per layer the down_proj input at every position, from the MLP input and the weights."""
    inputs = {}
    handles = [b.mlp.register_forward_pre_hook(lambda m, a, i=i: inputs.__setitem__(i, a[0].detach()))
               for i, b in enumerate(decoder_layers(model))]
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([ids]))
    finally:
        for h in handles:
            h.remove()
    out = []
    for i, b in enumerate(decoder_layers(model)):
        x = inputs[i][0]
        g = x @ b.mlp.gate_proj.weight.T
        u = x @ b.mlp.up_proj.weight.T
        out.append({"gate": g, "act": act(g), "down_in": act(g) * u, "up": u})
    return out


def test_sites_listed_per_architecture():
    assert list_sites(tiny_model("llama")) == ["down_in", "act", "gate", "up"]
    assert list_sites(tiny_model("gemma3")) == ["down_in", "act", "gate", "up"]
    assert list_sites(tiny_gpt2()) == ["down_in", "act"]
    assert n_neurons(tiny_model("llama")) == [64, 64]
    assert n_neurons(tiny_gpt2()) == [48, 48]
    with pytest.raises(InputError, match="gate"):
        resolve_site(tiny_gpt2(), "gate")


@pytest.mark.parametrize("arch,act", [("llama", silu), ("gemma3", gelu_tanh)])
def test_capture_equals_recomputation_and_alone(arch, act):
    model = tiny_model(arch)
    ctx = contexts()
    for site in ("down_in", "act", "gate"):
        batched = cap.collect_activations(model, ctx, site=site, k=4, keep_all=True, batch_size=4)
        unshared = cap.collect_activations(model, ctx, site=site, k=4, keep_all=True, batch_size=4,
                                           share_prefixes=False)
        for i, c in enumerate(ctx):
            alone = cap.collect_activations(model, [c], site=site, k=4, keep_all=True)
            ref = torch.stack([layer[site][len(c) - 1] for layer in recompute(model, list(c), act)]).detach().numpy()
            np.testing.assert_allclose(alone.full[0], ref, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(batched.full[i], alone.full[0], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(unshared.full[i], alone.full[0], rtol=1e-4, atol=1e-5)
            # top-k = the k largest of the full vector, in order
            top = np.argsort(-ref, axis=1)[:, :4]
            np.testing.assert_array_equal(batched.topk_indices[i], top)
    assert n_hooks(model) == 0


def test_sharing_happens_and_running_means():
    model = tiny_model("llama")
    ctx = contexts(n=9)
    plan = cap.plan_batches(ctx, 8)
    assert sum(s >= 16 for _, s in plan) >= 2
    supers = cap.merge_groups(plan, ctx, rows_per_pass=64, window=None)
    assert any(len(g) >= 2 for g in supers)  # prefixes of several groups in one pass
    assert all(len(g) == 1 or all(s for _, s in g) for g in supers)
    assert all(len(g) == 1 for g in cap.merge_groups(plan, ctx, rows_per_pass=64, window=8))
    groups = ["a", "b", "a", "c", "b", "a", "c", "a", "b"]
    acts = cap.collect_activations(model, ctx, groups=groups, keep_all=True, k=3)
    assert acts.group_names == ["a", "b", "c"]
    for gi, g in enumerate(acts.group_names):
        rows = [i for i, x in enumerate(groups) if x == g]
        np.testing.assert_allclose(acts.means()[gi], acts.full[rows].astype(np.float64).mean(axis=0), rtol=1e-5,
                                   atol=1e-6)
        assert acts.counts[gi] == len(rows)
    frame = acts.topk_frame()
    assert list(frame.columns[:6]) == list(cap.NEURON_COLUMNS)
    assert len(frame) == 9 * 2 * 3
    means = acts.mean_frame()
    assert len(means) == 3 * 2 * 64


def test_gpt2_down_in_is_act_output():
    model = tiny_gpt2()
    ctx = contexts(n=3)
    a = cap.collect_activations(model, ctx, site="down_in", keep_all=True)
    b = cap.collect_activations(model, ctx, site="act", keep_all=True)
    np.testing.assert_array_equal(a.full, b.full)
    # independent: c_fc then gelu_new by hand
    inputs = {}
    h = decoder_layers(model)[1].mlp.register_forward_pre_hook(lambda m, x: inputs.__setitem__(0, x[0]))
    with torch.no_grad():
        model(input_ids=torch.tensor([list(ctx[0])]))
    h.remove()
    mlp = decoder_layers(model)[1].mlp
    ref = gelu_tanh(inputs[0][0, -1] @ mlp.c_fc.weight + mlp.c_fc.bias).detach()
    np.testing.assert_allclose(a.full[0, 1], ref.numpy(), rtol=1e-4, atol=1e-5)


def test_hooks_removed_on_error():
    model = tiny_model("llama")
    with pytest.raises(RuntimeError, match="boom"):
        with cap.capture(model, 2) as rec:
            assert n_hooks(model) == 2
            rec.set_batch([0], [0])
            raise RuntimeError("boom")
    assert n_hooks(model) == 0

    def bad(layer, x):
        raise ValueError("inside hook")

    with pytest.raises(ValueError, match="inside hook"):
        with site_hooks(model, "act", bad):
            model(input_ids=torch.tensor([[5, 6, 7]]))
    assert n_hooks(model) == 0


def test_bad_input():
    model = tiny_model("llama")
    with pytest.raises(InputError, match="k must"):
        cap.collect_activations(model, [(5, 6)], k=0)
    with pytest.raises(InputError, match="site"):
        cap.collect_activations(model, [(5, 6)], site="mlp_out")
    with pytest.raises(InputError, match="no prompts"):
        cap.collect_activations(model, [])
    assert n_hooks(model) == 0


@pytest.mark.parametrize("family", ["qwen2", "mistral"])
def test_other_gated_families(family):
    from transformers import MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    kw = dict(vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256)
    model = (Qwen2ForCausalLM(Qwen2Config(**kw)) if family == "qwen2" else MistralForCausalLM(MistralConfig(**kw))).eval()
    assert list_sites(model) == ["down_in", "act", "gate", "up"] and n_neurons(model) == [48, 48]
    ctx = contexts(n=4)
    acts = cap.collect_activations(model, ctx, keep_all=True, batch_size=4)
    for i, c in enumerate(ctx):
        ref = torch.stack([layer["down_in"][len(c) - 1] for layer in recompute(model, list(c), silu)]).detach().numpy()
        np.testing.assert_allclose(acts.full[i], ref, rtol=1e-4, atol=1e-5)
    assert n_hooks(model) == 0
