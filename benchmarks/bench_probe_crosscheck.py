"""Cross-check of the neuron probing against a peer tool (nnsight): activations, gradient x
activation and ablation must agree.

For each model, the same prompts (items x countries, persona template, the model's own
rendering and scoring rule through ``wvsalign.probing.api.prepare``) go through

* the package: ``api.activations(..., keep_all=True)`` per site (batched, shared prefixes in a
  key/value cache), ``attribute(..., keep_all=True)`` for the log-probability of the
  human-majority option (synthetic human table), and ``AblatedBackend(...).logprobs`` with a
  seeded random set of ~1% of the neurons of every layer zeroed at ``down_in``;
* nnsight (``NNsight(model).trace``), one prompt at a time, no padding, no cache: each site
  read as ``layers[L].mlp.<module>.input/output`` (``down_in`` = ``down_proj.input``, ``act`` =
  ``act_fn.output``, ``gate`` = ``gate_proj.output``, ``up`` = ``up_proj.output``) at the answer
  position; the target log-probability summed from the model's own logits (so Gemma's final
  logit soft-capping comes from transformers, not from the package), its gradients read as
  ``.grad`` inside ``with objective.backward():``, grad x act maximised over the positions that
  predict the option's tokens (the package's definition); ablation as the intervention
  ``down_proj.input[..., idx] = 0`` on every option's sequence.

Printed per model and site: max abs difference, the scale-relative difference (max abs diff /
max |nnsight value|), the largest element-wise relative difference among elements above 1e-3
of that scale, and each tool's wall time. Exits 1 when a scale-relative difference exceeds
``--rtol`` (float32: 1e-5) or the log-probabilities differ by more than ``--atol-logprob``.

    python benchmarks/bench_probe_crosscheck.py                          # tiny random Llama + Gemma 3, SmolLM2
    python benchmarks/bench_probe_crosscheck.py --models tiny,smollm2,gemma3 --items 4 --countries 3

Needs ``nnsight`` (``pip install -e .[bench]``). Model loading is not timed.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: site -> (MLP submodule, "input" | "output"): the nnsight reading of the package's sites
NNSIGHT_SITES = {"gate": ("gate_proj", "output"), "act": ("act_fn", "output"), "up": ("up_proj", "output"),
                 "down_in": ("down_proj", "input")}
#: the order the sites run in within one MLP (gradients are read in the reverse order)
FORWARD_ORDER = ("gate", "act", "up", "down_in")
MODELS = {"tiny": ("tiny-llama", "tiny-gemma3"), "smollm2": ("smollm2-135m",), "gemma3": ("gemma3-270m",)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="tiny,smollm2", help="comma-separated: tiny, smollm2, gemma3")
    p.add_argument("--items", type=int, default=4, help="items (every k-th of the bank)")
    p.add_argument("--countries", type=int, default=3, help="the first N countries of the default set")
    p.add_argument("--sites", default="down_in,act,gate,up")
    p.add_argument("--ablate-share", type=float, default=0.01, help="share of every layer's neurons zeroed")
    p.add_argument("--rtol", type=float, default=1e-5, help="tolerance on max|diff| / max|nnsight value|")
    p.add_argument("--atol-logprob", type=float, default=1e-4, help="tolerance on log-probabilities (nats)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    return p.parse_args(argv)


# ---- comparison ------------------------------------------------------------------------------
@dataclass
class Diff:
    """How far the package's array is from nnsight's."""

    max_abs: float
    scale: float  # max |reference|
    elem_rel: float  # largest |diff| / |ref| among elements with |ref| > 1e-3 * scale

    @property
    def rel(self) -> float:
        return self.max_abs / self.scale if self.scale > 0 else self.max_abs


def compare(pkg: Any, ref: Any) -> Diff:
    import numpy as np

    pkg, ref = np.asarray(pkg, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if pkg.shape != ref.shape:
        raise ValueError(f"shapes differ: {pkg.shape} vs {ref.shape}")
    d = np.abs(pkg - ref)
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    big = np.abs(ref) > 1e-3 * scale
    elem = float((d[big] / np.abs(ref[big])).max()) if big.any() else 0.0
    return Diff(float(d.max()) if d.size else 0.0, scale, elem)


# ---- the nnsight side ------------------------------------------------------------------------------
def nnsight_probe(net: Any, requests: list, targets: Any, sites: list[str]) -> dict[str, Any]:
    """Per prompt (alone), every site's activation at the answer position, grad x act for the
    majority option's log-probability and that log-probability, through nnsight.

    Returns ``{"acts": {site: (P, L, N)}, "gxa": {site: (P, L, N)}, "objective": (P,),
    "seconds_acts": float, "seconds_gxa": float}`` (NaN rows where a prompt has no target).
    """
    import nnsight
    import numpy as np
    import torch
    from nnsight import NNsight

    model = NNsight(net)
    layers = model.model.layers
    n_layers, width = len(net.model.layers), int(net.model.layers[0].mlp.down_proj.in_features)
    order = [s for s in FORWARD_ORDER if s in sites]
    acts = {s: np.full((len(requests), n_layers, width), np.nan, np.float32) for s in sites}
    gxa = {s: np.full((len(requests), n_layers, width), np.nan, np.float32) for s in sites}
    objective = np.full(len(requests), np.nan)

    t0 = time.perf_counter()
    with torch.no_grad():
        for i, req in enumerate(requests):
            n = len(req.context)
            with model.trace(torch.tensor([list(req.context)])):
                vals = nnsight.save({})
                for layer in range(n_layers):
                    for s in order:
                        module, io = NNSIGHT_SITES[s]
                        vals[(layer, s)] = getattr(getattr(layers[layer].mlp, module), io)[0, n - 1]
            for (layer, s), v in vals.items():
                acts[s][i, layer] = v.float().numpy()
    seconds_acts = time.perf_counter() - t0

    t0 = time.perf_counter()
    for i, req in enumerate(requests):
        j = int(targets[i])
        if j < 0:
            continue
        n, cont = len(req.context), list(req.continuations[j])
        with model.trace(torch.tensor([list(req.context) + cont])):
            vals = nnsight.save({})
            for layer in range(n_layers):
                for s in order:
                    module, io = NNSIGHT_SITES[s]
                    vals[(layer, s)] = getattr(getattr(layers[layer].mlp, module), io)
            logp = torch.log_softmax(model.output.logits[0].float(), dim=-1)
            obj = sum(logp[n - 1 + t, tok] for t, tok in enumerate(cont))
            obj_saved = obj.detach().save()
            with obj.backward():
                grads = nnsight.save({})
                for layer in reversed(range(n_layers)):
                    for s in reversed(order):
                        grads[(layer, s)] = vals[(layer, s)].grad
        objective[i] = float(obj_saved)
        at = slice(n - 1, n - 1 + len(cont))  # the positions that predict the option's tokens
        for (layer, s), g in grads.items():
            ga = (g[0, at] * vals[(layer, s)].detach()[0, at]).float()
            gxa[s][i, layer] = ga.max(dim=0).values.numpy()
    seconds_gxa = time.perf_counter() - t0
    return {"acts": acts, "gxa": gxa, "objective": objective, "seconds_acts": seconds_acts, "seconds_gxa": seconds_gxa}


def nnsight_logprobs(net: Any, requests: list, neurons: dict[int, Any] | None) -> tuple[list, float]:
    """Per request, every option's log-likelihood (sum over its tokens) with ``neurons`` zeroed
    at ``down_proj.input`` by an nnsight intervention (all options of a prompt in one right-padded batch)."""
    import nnsight
    import numpy as np
    import torch
    from nnsight import NNsight

    model = NNsight(net)
    out = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for req in requests:
            n = len(req.context)
            seqs = [list(req.context) + list(c) for c in req.continuations]
            ids = torch.zeros((len(seqs), max(map(len, seqs))), dtype=torch.long)
            for r, s in enumerate(seqs):
                ids[r, :len(s)] = torch.tensor(s)  # right padding: the real positions never see it
            with model.trace(ids):
                for layer, idx in (neurons or {}).items():
                    model.model.layers[layer].mlp.down_proj.input[..., torch.as_tensor(idx)] = 0
                logits = nnsight.save(model.output.logits)
            logp = torch.log_softmax(logits.float(), dim=-1)
            out.append(np.array([sum(float(logp[r, n - 1 + t, tok]) for t, tok in enumerate(c))
                                 for r, c in enumerate(req.continuations)]))
    return out, time.perf_counter() - t0


# ---- the package side ------------------------------------------------------------------------------
def load(name: str, tmp: Path) -> Any:
    from wvsalign.inference.backend import load_backend

    if name.startswith("tiny-"):
        from wvsalign.inference.testing import save_tiny_model

        folder = save_tiny_model(tmp / name, name.split("-", 1)[1])
        return load_backend(str(folder), device="cpu", dtype="float32", progress=False)
    return load_backend(name, device="cpu", dtype="float32", progress=False)


def workload(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from wvsalign.prompts import build_prompts
    from wvsalign.probing import api
    from wvsalign.survey.countries import Countries
    from wvsalign.survey.items import ItemBank

    bank = ItemBank.wvs7()
    items = list(bank)
    step = max(1, len(items) // args.items)
    bank = bank.filter(ids=[it.item_id for it in items[::step][: args.items]])
    countries = Countries.load().resolve(["default"])[: args.countries]
    prompts = build_prompts(bank, countries)
    return bank, prompts, api.human_table(bank, countries)


def random_set(widths: list[int], share: float, seed: int = 0) -> dict[int, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return {layer: np.sort(rng.choice(w, size=max(1, int(round(share * w))), replace=False))
            for layer, w in enumerate(widths)}


@dataclass
class Report:
    model: str
    rows: list[tuple[str, str, Diff]] = field(default_factory=list)  # (what, site, diff)
    times: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def check_model(name: str, args: argparse.Namespace, tmp: Path) -> Report:
    import numpy as np
    import torch

    from wvsalign.probing import api
    from wvsalign.probing.ablation import AblatedBackend
    from wvsalign.probing.attribution import attribute, majority_targets
    from wvsalign.probing.sites import list_sites, n_neurons

    bank, prompts, human = workload(args)
    backend = load(name, tmp)
    net = backend.model
    sites = [s for s in args.sites.split(",") if s in list_sites(net)]
    rendered, requests = api.prepare(backend, prompts)
    targets = majority_targets(rendered, human)
    groups = api.condition_labels(rendered)
    pad = int(getattr(backend.tokenizer, "pad_token_id", None) or 0)
    rep = Report(f"{name} ({len(requests)} prompts, {len(n_neurons(net))} x {n_neurons(net)[0]} neurons)")
    with torch.no_grad():  # warm-up, untimed
        net(input_ids=torch.tensor([list(requests[0].context)]))

    pkg_acts, pkg_gxa = {}, {}
    t0 = time.perf_counter()
    for s in sites:
        pkg_acts[s] = api.activations(backend, prompts, site=s, keep_all=True)
    rep.times[f"package activations ({len(sites)} sites, one run each)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in sites:
        pkg_gxa[s] = attribute(net, requests, targets=targets, site=s, groups=groups, keep_all=True,
                               model_name=backend.name, pad_token_id=pad)
    rep.times[f"package grad x act ({len(sites)} sites, one run each)"] = time.perf_counter() - t0
    neurons = random_set(n_neurons(net), args.ablate_share)
    t0 = time.perf_counter()
    base_lp = backend.logprobs(requests)
    abl_lp = AblatedBackend(backend, neurons).logprobs(requests)
    rep.times["package scoring (plain + ablated)"] = time.perf_counter() - t0

    ref = nnsight_probe(net, requests, targets, sites)
    rep.times["nnsight activations (all sites, one pass)"] = ref["seconds_acts"]
    rep.times["nnsight grad x act (all sites, one backward)"] = ref["seconds_gxa"]
    ref_base, t_base = nnsight_logprobs(net, requests, None)
    ref_abl, t_abl = nnsight_logprobs(net, requests, neurons)
    rep.times["nnsight scoring (plain + ablated)"] = t_base + t_abl

    has = targets >= 0
    for s in sites:
        rep.rows.append(("activation", s, compare(pkg_acts[s].full, ref["acts"][s])))
        rep.rows.append(("grad x act", s, compare(pkg_gxa[s].full[has], ref["gxa"][s][has])))
    rep.rows.append(("objective", "-", compare(pkg_gxa[sites[0]].objective[has], ref["objective"][has])))
    flat = lambda xs: np.concatenate([np.asarray(x, dtype=np.float64) for x in xs])  # noqa: E731
    rep.rows.append(("logprob plain", "-", compare(flat(base_lp), flat(ref_base))))
    rep.rows.append(("logprob ablated", "down_in", compare(flat(abl_lp), flat(ref_abl))))
    effect = float(np.abs(flat(ref_abl) - flat(ref_base)).max())
    rep.rows.append(("ablation effect (nnsight)", "down_in", Diff(effect, 1.0, 0.0)))
    if effect == 0:
        rep.failures.append("the ablation did not change any log-probability (the check would be blind)")
    for what, site, d in rep.rows:
        if what.startswith("ablation effect"):
            continue
        bad = d.max_abs > args.atol_logprob if what.startswith(("logprob", "objective")) else d.rel > args.rtol
        if bad:
            rep.failures.append(f"{what} at {site}: max abs {d.max_abs:.3g}, relative {d.rel:.3g}")
    if sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules()):
        rep.failures.append("hooks left on the model")
    return rep


def print_report(rep: Report) -> None:
    print(f"\n== {rep.model}")
    print(f"{'quantity':28s} {'site':8s} {'max abs diff':>13s} {'max |nnsight|':>13s} {'rel (scale)':>11s} "
          f"{'rel (elem)':>10s}")
    for what, site, d in rep.rows:
        if what.startswith("ablation effect"):
            print(f"{what:28s} {site:8s} {d.max_abs:13.4g}   (max |ablated - plain| log-prob, nats)")
        else:
            print(f"{what:28s} {site:8s} {d.max_abs:13.3e} {d.scale:13.4g} {d.rel:11.2e} {d.elem_rel:10.2e}")
    for k, v in rep.times.items():
        print(f"  wall {k}: {v:.2f} s")
    for f in rep.failures:
        print(f"  FAIL {f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("nnsight") is None:
        print("bench_probe_crosscheck needs nnsight: pip install -e .[bench]", file=sys.stderr)
        return 2
    import torch
    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore")
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    names = []
    for key in (m.strip() for m in args.models.split(",") if m.strip()):
        if key not in MODELS:
            print(f"unknown model {key!r}; expected one of {sorted(MODELS)}", file=sys.stderr)
            return 2
        names += MODELS[key]
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rep = check_model(name, args, Path(tmp))
            print_report(rep)
            sys.stdout.flush()
            failed += [f"{name}: {f}" for f in rep.failures]
    print(f"\nbench_probe_crosscheck: {len(names)} models, {'FAILED: ' + '; '.join(failed) if failed else 'all within tolerance'}"
          f" (rtol {args.rtol:g} on max|diff|/max|nnsight|, log-probs atol {args.atol_logprob:g}; {args.threads} thread(s))")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
