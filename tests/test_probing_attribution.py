"""Gradient x activation against an independent autograd computation; selections, targets and
control items against hand-worked values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from wvsalign.errors import InputError  # noqa: E402
from wvsalign.inference.scoring import ScoringRequest  # noqa: E402
from wvsalign.inference.testing import tiny_model  # noqa: E402
from wvsalign.probing import attribution as at  # noqa: E402
from wvsalign.probing import control  # noqa: E402
from wvsalign.probing.sites import decoder_layers  # noqa: E402


def requests(seed=0, n=5):
    rng = np.random.default_rng(seed)
    fam = [rng.integers(5, 120, 20).tolist(), rng.integers(5, 120, 24).tolist()]
    out = []
    for i in range(n):
        tail = rng.integers(5, 120, int(rng.integers(1, 14))).tolist()
        ctx = tuple(fam[i % 2] + tail if i != 2 else tail + [5] * 5)  # two families sharing 20 and 24 tokens
        conts = ((7,), (8,), (9, 10)) if i % 2 else ((7,), (8,))
        out.append(ScoringRequest(f"p{i}", ctx, conts, False))
    return out


def reference(model, req, j=None, values=None):
    """Per layer grad x act at down_in by perturbation variables on the full CausalLM (logits of every position)."""
    rows = [j] if j is not None else list(range(req.n_options))
    lls, acts, deltas = [], [], []
    for r in rows:
        cont = req.continuations[r]
        ids = torch.tensor([list(req.context) + list(cont)])
        layer_acts, layer_deltas = [], []

        def pre(m, a, store_a=layer_acts, store_d=layer_deltas):
            d = torch.zeros_like(a[0], requires_grad=True)
            store_a.append(a[0].detach())
            store_d.append(d)
            return (a[0] + d,)

        hs = [b.mlp.down_proj.register_forward_pre_hook(pre) for b in decoder_layers(model)]
        try:
            logits = model(input_ids=ids).logits[0].float()
        finally:
            for h in hs:
                h.remove()
        n = len(req.context)
        lp = torch.log_softmax(logits, -1)
        lls.append(sum(lp[n - 1 + t, tok] for t, tok in enumerate(cont)))
        acts.append(layer_acts)
        deltas.append(layer_deltas)
    if j is not None:
        obj = lls[0]
    else:
        obj = (torch.softmax(torch.stack(lls), 0) * torch.tensor(values, dtype=torch.float32)).sum()
    flat = [d for ds in deltas for d in ds]
    grads = torch.autograd.grad(obj, flat)
    L = len(decoder_layers(model))
    n = len(req.context)
    out = []
    for layer in range(L):
        if j is not None:
            ga = grads[layer][0] * acts[0][layer][0]
            k = len(req.continuations[j])
            out.append(ga[n - 1:n - 1 + k].max(0).values)
        else:
            out.append(sum(grads[r * L + layer][0, n - 1] * acts[r][layer][0, n - 1] for r in range(len(rows))))
    return torch.stack(out).detach().numpy(), float(obj.detach())


@pytest.mark.parametrize("arch,share,batch", [("llama", True, 3), ("llama", True, 8), ("gemma3", True, 8),
                                              ("llama", False, 3)])
def test_majority_grad_x_act_equals_autograd(arch, share, batch):
    model = tiny_model(arch)
    reqs = requests()
    targets = [1, 2, 0, 2, 1]
    res = at.attribute(model, reqs, targets=targets, keep_all=True, batch_size=batch, groups=list("aabab"),
                       share_prefixes=share)
    if share:  # the shared path was taken; with 8 rows, the prefixes of both families in one pass (Llama)
        from wvsalign.probing.capture import merge_groups, plan_batches

        ctx = [r.context for r in reqs]
        plan = plan_batches(ctx, batch)
        assert sum(s >= 16 for _, s in plan) == 2
        if batch == 8:
            assert max(len(g) for g in merge_groups(plan, ctx, rows_per_pass=8, window=None)) == 2
    for i, req in enumerate(reqs):
        ref, obj = reference(model, req, j=targets[i])
        np.testing.assert_allclose(res.full[i], ref, rtol=1e-3, atol=1e-5)
        assert res.objective[i] == pytest.approx(obj, abs=1e-4)
    np.testing.assert_allclose(res.means()[0], res.full[[0, 1, 3]].astype(np.float64).mean(0), rtol=1e-5, atol=1e-7)
    assert list(res.counts) == [3, 2]
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == 0


@pytest.mark.parametrize("share", [True, False])
def test_mean_score_grad_x_act_equals_autograd(share):
    model = tiny_model("llama")
    reqs = requests(seed=4, n=4)
    values = [np.linspace(0, 1, r.n_options) for r in reqs]
    res = at.attribute(model, reqs, target="mean_score", values=values, keep_all=True, batch_size=6,
                       share_prefixes=share)
    for i, req in enumerate(reqs):
        ref, obj = reference(model, req, values=values[i])
        np.testing.assert_allclose(res.full[i], ref, rtol=1e-3, atol=1e-6)
        assert res.objective[i] == pytest.approx(obj, abs=1e-5)


def test_skipped_prompts_and_errors():
    model = tiny_model("llama")
    reqs = requests(n=3)
    res = at.attribute(model, reqs, targets=[0, -1, 1], groups=["x", "y", "x"])
    assert res.meta["skipped"] == 1 and np.isnan(res.objective[1])
    assert list(res.counts) == [2, 0]
    with pytest.raises(InputError, match="targets"):
        at.attribute(model, reqs)
    with pytest.raises(InputError, match="values"):
        at.attribute(model, reqs, target="mean_score")


def test_majority_targets():
    prompts = pd.DataFrame({"country": ["A", "A", "B"], "item_id": ["q1", "q2", "q1"],
                            "codes": [[3, 2, 1], [1, 2], [3, 2, 1]]})
    human = pd.DataFrame({"country": ["A"] * 5 + ["B"] * 3, "item_id": ["q1"] * 3 + ["q2"] * 2 + ["q1"] * 3,
                          "code": [1, 2, 3, 1, 2, 1, 2, 3], "share": [.2, .5, .3, .5, .5, .1, .1, .8]})
    # A/q1: code 2 (index 1 in reversed order); A/q2 tie -> lowest code 1 (index 0); B/q1: code 3 (index 0)
    assert at.majority_targets(prompts, human).tolist() == [1, 0, 0]
    assert at.majority_targets(prompts.assign(country=["C", "A", "B"]), human).tolist() == [-1, 0, 0]


def test_culture_general_by_hand():
    cult = np.array([[5.0, 4.0, 3.0, 0.0], [2.0, 9.0, 1.0, 0.0]])
    ctrl = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 8.5, 0.0, 1.0]])
    # diff: [[5,4,3,0],[2,0.5,1,-1]]: top 3 of 8 = (0,0),(0,1),(0,2); control top 1 of 8 = (1,1)
    sel = at.culture_general(cult, ctrl, share=3 / 8, control_share=1 / 8)
    assert set(zip(sel.layer, sel.neuron)) == {(0, 0), (0, 1), (0, 2)}
    # a neuron strong in the control task is removed even if its difference is large
    ctrl2 = ctrl.copy()
    ctrl2[0, 0] = 4.9  # among the top 2 control scores (with (1, 1))
    cult2 = cult.copy()
    cult2[0, 0] = 30.0  # the largest difference (25.1)
    assert set(zip(*at.culture_general(cult2, ctrl2, share=1 / 8, control_share=1 / 8)[["layer", "neuron"]].T.values)) \
        == {(0, 0)}
    sel2 = at.culture_general(cult2, ctrl2, share=1 / 8, control_share=2 / 8)
    assert len(sel2) == 0


def test_culture_specific_by_hand():
    scores = np.zeros((3, 1, 4))
    scores[0, 0] = [10, 1, 1, 0]
    scores[1, 0] = [10, 1, 5, 0]
    scores[2, 0] = [1, 1, 1, 0]
    sel = at.culture_specific(scores, ["A", "B", "C"], share=0.5, z_min=0.5)
    # per-neuron z over countries (ddof 1): neuron 0: [.577,.577,-1.155]; neuron 2: [-.577,1.155,-.577]
    got = {(c, n) for c, n in zip(sel.condition, sel.neuron)}
    assert got == {("A", 0), ("B", 0), ("B", 2)}
    z = sel[(sel.condition == "B") & (sel.neuron == 2)]["z"].item()
    x = scores[:, 0, 2]
    assert z == pytest.approx((x[1] - x.mean()) / x.std(ddof=1))
    excl = pd.DataFrame({"layer": [0], "neuron": [0]})
    sel3 = at.culture_specific(scores, ["A", "B", "C"], share=0.5, z_min=0.5, exclude=excl)
    assert set(zip(sel3.condition, sel3.neuron)) == {("B", 2)}
    dist = at.layer_distribution(sel, 2)
    assert dist[(dist.condition == "B") & (dist.layer == 0)]["n"].item() == 2
    assert dist[(dist.condition == "B") & (dist.layer == 1)]["n"].item() == 0


def test_control_items_file_and_accuracy(tmp_path):
    items = control.load_control_items()
    assert len(items) >= 30 and len({i.item_id for i in items}) == len(items)
    assert {i.kind for i in items} == set(control.KINDS)
    twelve = next(i for i in items if i.item_id == "C01")
    assert twelve.options[twelve.answer] == "twelve"
    bad = tmp_path / "c.yaml"
    bad.write_text("items:\n  - {id: X, kind: fact, question: q, options: [a, b], answer: c}\n")
    with pytest.raises(InputError, match="answer is not one of the options"):
        control.load_control_items(bad)
    bad.write_text("items:\n  - {id: X, kind: fact, question: q, options: ['1', '2'], answer: '1'}\n")
    with pytest.raises(InputError, match="bare numbers"):
        control.load_control_items(bad)
    two = items[:2]  # C01 answer code 3, C02 answer code 3
    probs = pd.DataFrame({
        "prompt_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4,
        "item_id": ["C01"] * 4 + ["C02"] * 4 + ["C01"] * 4,
        "country": ["X"] * 8 + ["Y"] * 4,
        "code": [1, 2, 3, 4] * 3,
        "prob": [.1, .1, .7, .1, .5, .2, .2, .1, .25, .25, .4, .1],
    })
    acc = control.control_accuracy(probs, two).set_index("group")
    assert acc.loc["all", "correct"] == 2 and acc.loc["all", "n"] == 3
    assert acc.loc["X", "accuracy"] == 0.5 and acc.loc["Y", "accuracy"] == 1.0
    assert acc.loc["all", "mean_prob_correct"] == pytest.approx((.7 + .2 + .4) / 3)
