"""Cross-check of the probing against a peer tool, nnsight (optional: skipped when it is not installed).

Tiny random Llama and Gemma 3 models (built here, seeded) and token contexts in two families
that share 20 and 24 tokens, so the package takes its shared-prefix (key/value cache) paths,
while nnsight runs each prompt alone: activations at the answer position for every site,
gradient x activation for the majority option and for the mean score, and ablation (zero and
mean replacement at ``down_in``) of the raw logits and of the scoring engine's log-likelihoods.

nnsight runs in a child process (this file run as a script): importing it mounts ``.save`` on
every Python object and patches ``Tensor.backward`` process-wide, which the rest of the test
session must not see. The child rebuilds the same seeded models and proves it with a weight
fingerprint. Full-size figures: ``benchmarks/bench_probe_crosscheck.py``.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHS = ("llama", "gemma3")
SITES = ("gate", "act", "up", "down_in")  # the order they run in within one MLP
NNSIGHT_SITES = {"gate": ("gate_proj", "output"), "act": ("act_fn", "output"), "up": ("up_proj", "output"),
                 "down_in": ("down_proj", "input")}
TARGETS = [1, 2, 0, 2, 1, 0]
NEURONS = {0: [1, 5, 9, 40], 1: [2, 63]}
RTOL = 1e-5  # on max |package - nnsight| / max |nnsight|, float32


def build_requests(seed=0, n=6):
    """Contexts in two families sharing 20 and 24 tokens plus one unshared; 2 or 3 options, one of two tokens."""
    from wvsalign.inference.scoring import ScoringRequest

    rng = np.random.default_rng(seed)
    fam = [rng.integers(5, 120, 20).tolist(), rng.integers(5, 120, 24).tolist()]
    out = []
    for i in range(n):
        tail = rng.integers(5, 120, int(rng.integers(1, 14))).tolist()
        ctx = tuple(fam[i % 2] + tail if i != 2 else tail + [5] * 5)
        conts = ((7,), (8,), (9, 10)) if i % 2 else ((7,), (8,))
        out.append(ScoringRequest(f"p{i}", ctx, conts, False))
    return out


def option_values(reqs):
    return [np.linspace(0.0, 1.0, r.n_options) for r in reqs]


def mean_values(n_layers=2, width=64):
    return np.random.default_rng(3).normal(size=(n_layers, width))


def fingerprint(model):
    return float(sum(p.detach().double().abs().sum() for p in model.parameters()))


# ---- the nnsight side (child process) ---------------------------------------------------------------------
def _nnsight_reference(arch):
    import nnsight
    import torch
    from nnsight import NNsight

    from wvsalign.inference.testing import tiny_model

    net = tiny_model(arch)
    model = NNsight(net)
    layers = model.model.layers
    reqs = build_requests()
    L, N = 2, 64
    out = {"fingerprint": np.array(fingerprint(net))}
    for s in SITES:
        out[f"acts_{s}"] = np.zeros((len(reqs), L, N))
        out[f"major_{s}"] = np.zeros((len(reqs), L, N))
        out[f"mean_{s}"] = np.zeros((len(reqs), L, N))
    out["major_obj"], out["mean_obj"] = np.zeros(len(reqs)), np.zeros(len(reqs))
    for i, req in enumerate(reqs):
        n = len(req.context)
        with torch.no_grad(), model.trace(torch.tensor([list(req.context)])):
            vals = nnsight.save({(l, s): getattr(getattr(layers[l].mlp, NNSIGHT_SITES[s][0]), NNSIGHT_SITES[s][1])
                                 for l in range(L) for s in SITES})
        for (l, s), v in vals.items():
            out[f"acts_{s}"][i, l] = v[0, n - 1].numpy()
        # majority target: log-probability of option TARGETS[i], grad x act maximised over its positions
        cont = list(req.continuations[TARGETS[i]])
        with model.trace(torch.tensor([list(req.context) + cont])):
            vals = nnsight.save({(l, s): getattr(getattr(layers[l].mlp, NNSIGHT_SITES[s][0]), NNSIGHT_SITES[s][1])
                                 for l in range(L) for s in SITES})
            logp = torch.log_softmax(model.output.logits[0].float(), dim=-1)
            obj = sum(logp[n - 1 + t, tok] for t, tok in enumerate(cont))
            saved_obj = obj.detach().save()
            with obj.backward():
                grads = nnsight.save({(l, s): vals[(l, s)].grad for l in reversed(range(L)) for s in reversed(SITES)})
        out["major_obj"][i] = float(saved_obj)
        for (l, s), g in grads.items():
            out[f"major_{s}"][i, l] = (g * vals[(l, s)].detach())[0, n - 1:n - 1 + len(cont)].max(0).values.numpy()
        # mean score: sum_j softmax(ll)_j v_j over the options (one right-padded row each), read at n - 1
        seqs = [list(req.context) + list(c) for c in req.continuations]
        ids = torch.zeros((len(seqs), max(map(len, seqs))), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, :len(s)] = torch.tensor(s)
        values = torch.tensor(option_values(reqs)[i], dtype=torch.float32)
        with model.trace(ids):
            vals = nnsight.save({(l, s): getattr(getattr(layers[l].mlp, NNSIGHT_SITES[s][0]), NNSIGHT_SITES[s][1])
                                 for l in range(L) for s in SITES})
            logp = torch.log_softmax(model.output.logits.float(), dim=-1)
            ll = torch.stack([sum(logp[r, n - 1 + t, tok] for t, tok in enumerate(c))
                              for r, c in enumerate(req.continuations)])
            obj = (torch.softmax(ll, 0) * values).sum()
            saved_obj = obj.detach().save()
            with obj.backward():
                grads = nnsight.save({(l, s): vals[(l, s)].grad for l in reversed(range(L)) for s in reversed(SITES)})
        out["mean_obj"][i] = float(saved_obj)
        for (l, s), g in grads.items():
            out[f"mean_{s}"][i, l] = (g * vals[(l, s)].detach())[:, n - 1].sum(0).numpy()
    # ablation at down_in: raw logits of the contexts (right-padded batch) and every option's log-likelihood
    width = max(len(r.context) for r in reqs)
    ctx = torch.zeros((len(reqs), width), dtype=torch.long)
    for r, req in enumerate(reqs):
        ctx[r, :len(req.context)] = torch.tensor(req.context)
    means = mean_values()
    for mode in ("plain", "zero", "mean"):
        with torch.no_grad(), model.trace(ctx):
            for l, idx in NEURONS.items():
                if mode == "zero":
                    layers[l].mlp.down_proj.input[..., idx] = 0
                elif mode == "mean":
                    layers[l].mlp.down_proj.input[..., idx] = torch.tensor(means[l, idx], dtype=torch.float32)
            logits = nnsight.save(model.output.logits)
        out[f"logits_{mode}"] = logits.numpy()
        lls = []
        for req in reqs:
            n = len(req.context)
            seqs = [list(req.context) + list(c) for c in req.continuations]
            ids = torch.zeros((len(seqs), max(map(len, seqs))), dtype=torch.long)
            for r, s in enumerate(seqs):
                ids[r, :len(s)] = torch.tensor(s)
            with torch.no_grad(), model.trace(ids):
                for l, idx in NEURONS.items():
                    if mode == "zero":
                        layers[l].mlp.down_proj.input[..., idx] = 0
                    elif mode == "mean":
                        layers[l].mlp.down_proj.input[..., idx] = torch.tensor(means[l, idx], dtype=torch.float32)
                logits = nnsight.save(model.output.logits)
            logp = torch.log_softmax(logits.float(), dim=-1)
            lls += [sum(float(logp[r, n - 1 + t, tok]) for t, tok in enumerate(c)) for r, c in enumerate(req.continuations)]
        out[f"ll_{mode}"] = np.array(lls)
    return out


def _child(folder):
    import torch

    torch.set_num_threads(1)
    for arch in ARCHS:
        np.savez(Path(folder) / f"{arch}.npz", **_nnsight_reference(arch))


# ---- the package side (this process) -------------------------------------------------------------------
def assert_close(pkg, ref, rtol=RTOL):
    pkg, ref = np.asarray(pkg, np.float64), np.asarray(ref, np.float64)
    assert pkg.shape == ref.shape
    scale = np.abs(ref).max()
    assert scale > 0
    err = np.abs(pkg - ref).max()
    assert err <= rtol * scale, f"max |diff| {err:.3g} > {rtol:g} x max |nnsight| {scale:.3g}"


if __name__ != "__main__":
    torch = pytest.importorskip("torch")
    if importlib.util.find_spec("nnsight") is None:  # not importorskip: importing it here would patch this process
        pytest.skip("nnsight is not installed (pip install -e .[test])", allow_module_level=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nnsight")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(folder)], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {arch: dict(np.load(folder / f"{arch}.npz")) for arch in ARCHS}


def model_for(arch, ref):
    from wvsalign.inference.testing import tiny_model

    model = tiny_model(arch)
    assert fingerprint(model) == pytest.approx(float(ref[arch]["fingerprint"]), rel=1e-12)  # the child's weights
    return model


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("arch", ARCHS)
def test_activations_match_nnsight(arch, reference):
    from wvsalign.probing.capture import collect_activations

    ref = reference[arch]
    model = model_for(arch, reference)
    for site in SITES:
        acts = collect_activations(model, build_requests(), site=site, keep_all=True, batch_size=4)
        assert_close(acts.full, ref[f"acts_{site}"])
    # and not trivially: another site's values are far from this one's
    assert np.abs(ref["acts_gate"] - ref["acts_down_in"]).max() > 1e-2
    assert n_hooks(model) == 0


@pytest.mark.parametrize("arch", ARCHS)
def test_grad_x_act_majority_matches_nnsight(arch, reference):
    from wvsalign.probing.attribution import attribute

    ref = reference[arch]
    model = model_for(arch, reference)
    for site in SITES:
        res = attribute(model, build_requests(), targets=TARGETS, site=site, keep_all=True, batch_size=8)
        assert_close(res.full, ref[f"major_{site}"])
        np.testing.assert_allclose(res.objective, ref["major_obj"], rtol=0, atol=1e-5)
    assert n_hooks(model) == 0


@pytest.mark.parametrize("arch", ARCHS)
def test_grad_x_act_mean_score_matches_nnsight(arch, reference):
    from wvsalign.probing.attribution import attribute

    ref = reference[arch]
    model = model_for(arch, reference)
    reqs = build_requests()
    for site in ("down_in", "gate"):
        res = attribute(model, reqs, target="mean_score", values=option_values(reqs), site=site, keep_all=True,
                        batch_size=6)
        assert_close(res.full, ref[f"mean_{site}"])
        np.testing.assert_allclose(res.objective, ref["mean_obj"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
def test_ablation_matches_nnsight_intervention(arch, reference):
    from wvsalign.inference.engine import ScoringEngine
    from wvsalign.probing.ablation import ablate

    ref = reference[arch]
    model = model_for(arch, reference)
    reqs = build_requests()
    width = max(len(r.context) for r in reqs)
    ctx = torch.zeros((len(reqs), width), dtype=torch.long)
    real = torch.zeros((len(reqs), width), dtype=torch.bool)
    for r, req in enumerate(reqs):
        ctx[r, :len(req.context)] = torch.tensor(req.context)
        real[r, :len(req.context)] = True
    for mode in ("plain", "zero", "mean"):
        with torch.no_grad():
            if mode == "plain":
                logits = model(input_ids=ctx).logits
                lls = ScoringEngine(model).logprobs(reqs)
            else:
                with ablate(model, NEURONS, mode=mode, means=mean_values()):
                    logits = model(input_ids=ctx).logits
                    lls = ScoringEngine(model).logprobs(reqs)
        assert_close(logits.numpy()[real.numpy()], ref[f"logits_{mode}"][real.numpy()])
        np.testing.assert_allclose(np.concatenate(lls), ref[f"ll_{mode}"], rtol=0, atol=1e-5)
    # the ablations change the logits (the comparison is not blind), and differently
    assert np.abs(ref["logits_zero"] - ref["logits_plain"]).max() > 1e-3
    assert np.abs(ref["logits_mean"] - ref["logits_zero"]).max() > 1e-3
    assert n_hooks(model) == 0


if __name__ == "__main__":
    _child(sys.argv[1])
