"""Probing speed and memory: activation capture and gradient x activation attribution vs plain scoring.

Workload: items x the first N countries of the ``default`` set, persona template,
SmolLM2-135M-Instruct on CPU (float32). Each phase runs in its own subprocess so that its
peak resident memory (ru_maxrss) is its own:

* ``score``: plain scoring (the prefix-sharing engine, HF backend, no run directory);
* ``capture``: activations at the answer position (``down_in``, top-5 + running sums per country);
* ``attribute``: gradient x activation for the human-majority option (synthetic human data).

Prints per phase the wall time, prompts/s, peak RSS and the recorder's own arrays, then the
overheads relative to plain scoring (targets from the issue: capture < 1.5x, attribution < 4x).
Model loading is not timed (it happens before the clock starts). A second, half-size capture
run shows whether memory depends on the number of prompts.

    python benchmarks/bench_probe.py                       # 239 items x 10 countries (tens of minutes on 2 cores)
    python benchmarks/bench_probe.py --items 24 --countries 10   # documented smaller size

Timings vary between runs on a shared machine: compare phases within one run, and prefer the
CPU-time ratios when the machine is busy (wall time then depends on the neighbours).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--items", default="all", help="'all' or a number N (every k-th item of the bank)")
    p.add_argument("--countries", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16, help="prompts per prefix-sharing group in capture")
    p.add_argument("--attribution-batch-size", type=int, default=32, help="rows per attribution pass")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--phases", default="score,capture,attribute,half",
                   help="phases to run (comma-separated; 'half' = capture at half the prompts)")
    p.add_argument("--phase", choices=("score", "capture", "attribute"), help=argparse.SUPPRESS)
    p.add_argument("--fraction", type=float, default=1.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def workload(args):
    from wvsalign.prompts import build_prompts
    from wvsalign.survey.countries import Countries
    from wvsalign.survey.items import ItemBank

    bank = ItemBank.wvs7()
    items = list(bank)
    if args.items != "all":
        n = int(args.items)
        step = max(1, len(items) // n)
        items = items[::step][:n]
    bank = bank.filter(ids=[it.item_id for it in items])
    countries = Countries.load().resolve(["default"])[: args.countries]
    prompts = build_prompts(bank, countries)
    if args.fraction < 1:
        prompts = prompts.iloc[: int(len(prompts) * args.fraction)].reset_index(drop=True)
    return bank, countries, prompts


def phase(args) -> dict:
    import torch

    from wvsalign.inference.backend import load_backend
    from wvsalign.probing import api
    from wvsalign.probing.attribution import attribute, majority_targets

    if args.threads:
        torch.set_num_threads(args.threads)
    bank, countries, prompts = workload(args)
    backend = load_backend(args.model, device="cpu", progress=False)
    rendered, requests = api.prepare(backend, prompts)
    backend.model  # load before timing
    extra = {}
    c0 = time.process_time()
    t0 = time.perf_counter()
    if args.phase == "score":
        backend.logprobs(requests)
    elif args.phase == "capture":
        from wvsalign.probing.capture import collect_activations

        acts = collect_activations(backend.model, requests, groups=api.condition_labels(rendered),
                                   batch_size=args.batch_size, model_name=backend.name)
        extra["recorder_mb"] = (acts.sums.nbytes + acts.sumsq.nbytes + acts.topk_indices.nbytes
                                + acts.topk_values.nbytes) / 2**20
    else:
        human = api.human_table(bank, countries)
        targets = majority_targets(rendered, human)
        res = attribute(backend.model, requests, targets=targets, groups=api.condition_labels(rendered),
                        batch_size=args.attribution_batch_size, model_name=backend.name)
        extra["recorder_mb"] = res.sums.nbytes / 2**20
    seconds = time.perf_counter() - t0
    extra["cpu_seconds"] = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"phase": args.phase, "prompts": len(prompts), "seconds": seconds, "peak_rss_mb": rss, **extra}


def run_phase(argv, name, fraction=1.0):
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--phase", name, "--fraction", str(fraction)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args)))
        return
    argv = list(sys.argv[1:] if argv is None else argv)
    phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    results = {}
    for name in [x for x in ("score", "capture", "attribute") if x in phases]:
        results[name] = r = run_phase(argv, name)
        extra = f", recorder arrays {r['recorder_mb']:.1f} MiB" if "recorder_mb" in r else ""
        print(f"{name:9s}: {r['prompts']} prompts in {r['seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU "
              f"({r['prompts'] / r['seconds']:.2f} prompts/s), peak RSS {r['peak_rss_mb']:.0f} MiB{extra}", flush=True)
    if "half" in phases:
        half = run_phase(argv, "capture", 0.5)
        print(f"capture at half the prompts ({half['prompts']}): peak RSS {half['peak_rss_mb']:.0f} MiB, "
              f"recorder arrays {half['recorder_mb']:.1f} MiB")
    if "score" in results:
        base = results["score"]["seconds"]
        cbase = results["score"]["cpu_seconds"]
        parts = [f"{name} {results[name]['seconds'] / base:.2f}x plain scoring wall, "
                 f"{results[name]['cpu_seconds'] / cbase:.2f}x CPU (target < {t})"
                 for name, t in (("capture", "1.5x"), ("attribute", "4x")) if name in results]
        print(f"bench_probe: {results['score']['prompts']} prompts ({args.items} items x {args.countries} countries), "
              + ", ".join(parts))


if __name__ == "__main__":
    main()
