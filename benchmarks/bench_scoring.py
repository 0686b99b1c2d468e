"""Scoring speed: wvsalign's runner vs naive per-option scoring vs lm-evaluation-harness.

Scores the same prompts (SmolLM2-135M-Instruct, CPU, float32) three ways in one run and prints
items/s (items = prompts) for each, the ratios, max |dp| between them (option probabilities
normalised over the options, from the same continuations), and the fraction of the FLOP floor
that wvsalign reaches: floor = 2 x parameters x unique tokens / the measured fp32 matmul rate,
where unique tokens are the tokens left once shared prefixes are counted once (the radix tree
of all fed sequences, :func:`wvsalign.inference.prefix.unique_tokens`).

Default workload: all items x the first 10 countries of the ``default`` set, persona template.
wvsalign scores the whole workload; lm-evaluation-harness (``HFLM.loglikelihood`` on the same
loaded model, same (context, continuation) strings) and the naive reference score a seeded
random sample of it (``--lmeval-prompts``, ``--naive-prompts``; ``all`` for everything), so the
run takes minutes rather than an hour. It also prints how much each template shares.

    python benchmarks/bench_scoring.py                      # the default workload
    python benchmarks/bench_scoring.py --items 24 --countries 5 --lmeval-prompts 60 --naive-prompts 20  # quick

Timings vary between runs on a shared machine: compare methods within one run. The last line
is ``bench_scoring: ...`` with the headline figures.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--items", default="all", help="'all', a number N (every k-th item of the bank), or ids Q1,Q2")
    p.add_argument("--countries", type=int, default=10, help="first N countries of the default set (default 10)")
    p.add_argument("--template", default="persona")
    p.add_argument("--lmeval-prompts", default="400", help="prompts scored by lm-eval (a seeded sample) or 'all'")
    p.add_argument("--naive-prompts", default="60", help="prompts scored naively (a seeded sample) or 'all'")
    p.add_argument("--lmeval-batch-size", type=int, default=8)
    p.add_argument("--whole", action="store_true", help="also time wvsalign without prefix sharing (whole sequences)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-sharing-table", action="store_true", help="skip the per-template sharing table")
    return p.parse_args()


def matmul_rate(torch) -> float:
    """The machine's fp32 matmul rate (FLOP/s): best of several 2048^3 products."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(8):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * 2048**3 / best


def pick_items(bank, spec: str):
    if spec == "all":
        return bank
    if spec.isdigit():
        n = int(spec)
        step = max(1, len(bank) // n)
        return bank.filter(ids=bank.ids[::step][:n])
    return bank.filter(ids=spec)


def sample(n_total: int, spec: str, seed: int) -> np.ndarray:
    if spec == "all" or int(spec) >= n_total:
        return np.arange(n_total)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=int(spec), replace=False))


def lmeval_logprobs(loaded, prompts: pd.DataFrame, requests, batch_size: int) -> list[np.ndarray]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=batch_size, device=str(loaded.device))
    instances = []
    for text, conts, end, req in zip(prompts["text"], prompts["continuations"], prompts["label_end"], requests):
        for cont in conts:  # the same strings wvsalign scores (label, plus label_end where the prefix rule applies)
            scored = cont + (end if req.scored_with_end else "")
            instances.append(Instance(request_type="loglikelihood", doc={}, arguments=(text, scored), idx=len(instances)))
    results = lm.loglikelihood(instances, disable_tqdm=True)
    flat = np.array([r[0] for r in results], dtype=np.float64)
    counts = [len(c) for c in prompts["continuations"]]
    return np.split(flat, np.cumsum(counts)[:-1])


def tokens_without_sharing(requests) -> int:
    """Tokens fed when nothing is shared across prompts: each context once, plus each option's inner tokens."""
    return sum(len(r.context) + sum(len(c) - 1 for c in r.continuations) for r in requests)


def sharing_table(bank, countries, tokenizer) -> pd.DataFrame:
    from wvsalign.inference.prefix import unique_tokens
    from wvsalign.inference.scoring import encode_requests
    from wvsalign.prompts import build_prompts, render_prompts

    rows = []
    for template in ("persona", "third_person", "persona_system", "default"):
        prompts = render_prompts(build_prompts(bank, countries, templates=[template]), tokenizer)
        reqs = encode_requests(prompts, tokenizer)
        total = tokens_without_sharing(reqs)
        unique = unique_tokens(reqs)
        rows.append({"template": template, "prompts": len(prompts), "tokens": total, "unique_tokens": unique,
                     "shared": 1 - unique / total})
    return pd.DataFrame(rows)


def main() -> None:
    args = parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lm-eval").setLevel(logging.ERROR)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from wvsalign.inference.engine import ScoringEngine
    from wvsalign.inference.models import load_backend
    from wvsalign.inference.prefix import unique_tokens
    from wvsalign.inference.runner import score
    from wvsalign.inference.scoring import encode_requests, naive_logprobs, probs_frame
    from wvsalign.prompts import build_prompts
    from wvsalign.survey.countries import Countries
    from wvsalign.survey.items import ItemBank

    loaded = load_backend(args.model, device="cpu", dtype="float32", progress=False)
    bank = pick_items(ItemBank.wvs7(), args.items)
    countries = Countries.load().set("default")[: args.countries]
    neutral = build_prompts(bank, countries, templates=[args.template])
    prompts = loaded.render(neutral)  # what the runner scores: the model's own format
    requests = encode_requests(prompts, loaded.tokenizer)
    params = loaded.info()["params"]
    unique = unique_tokens(requests)
    fed = tokens_without_sharing(requests)
    print(f"model {loaded.name} ({params:,} parameters), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, float32, cpu")
    print(f"workload: {len(bank)} items x {len(countries)} countries, template {args.template}: "
          f"{len(prompts)} prompts, {sum(len(c) for c in prompts['continuations'])} options, "
          f"{sum(r.scored_with_end for r in requests)} prompts scored with label_end")
    print(f"tokens: {fed:,} fed without sharing (contexts + inner continuation tokens), {unique:,} unique")

    rate_before = matmul_rate(torch)
    start = time.perf_counter()
    ours = score(neutral, loaded, progress=False)
    t_ours = time.perf_counter() - start
    rate = max(rate_before, matmul_rate(torch))
    floor = 2 * params * unique / rate
    results = {"wvsalign": (len(prompts), t_ours)}
    print(f"fp32 matmul rate: {rate / 1e9:.0f} GFLOP/s (best 2048^3 product, before/after the wvsalign run)")
    print(f"wvsalign   : {len(prompts) / t_ours:7.2f} items/s ({len(prompts)} prompts in {t_ours:.1f} s); "
          f"FLOP floor {floor:.1f} s -> {floor / t_ours:.0%} of the floor")

    if args.whole:
        engine = ScoringEngine(loaded.model, share_prefixes=False)
        start = time.perf_counter()
        engine.logprobs(requests)
        t_whole = time.perf_counter() - start
        results["whole"] = (len(prompts), t_whole)
        print(f"no sharing : {len(prompts) / t_whole:7.2f} items/s (wvsalign's engine, every sequence whole)")

    dps = {}
    lm_idx = sample(len(prompts), args.lmeval_prompts, args.seed)
    if len(lm_idx):
        sub = prompts.iloc[lm_idx].reset_index(drop=True)
        sub_reqs = [requests[i] for i in lm_idx]
        start = time.perf_counter()
        theirs = lmeval_logprobs(loaded, sub, sub_reqs, args.lmeval_batch_size)
        t_lm = time.perf_counter() - start
        results["lm-eval"] = (len(sub), t_lm)
        lm_table = probs_frame(sub, sub_reqs, theirs, "lm-eval")
        ours_sub = ours.set_index(["prompt_id", "code"]).loc[list(zip(lm_table["prompt_id"], lm_table["code"]))]
        dps["wvsalign vs lm-eval"] = float(np.abs(ours_sub["prob"].to_numpy() - lm_table["prob"].to_numpy()).max())
        print(f"lm-eval    : {len(sub) / t_lm:7.2f} items/s ({len(sub)} sampled prompts in {t_lm:.1f} s, "
              f"lm-evaluation-harness {importlib.metadata.version('lm_eval')} HFLM.loglikelihood, "
              f"batch size {args.lmeval_batch_size})")
    naive_idx = sample(len(prompts), args.naive_prompts, args.seed + 1)
    if len(naive_idx):
        sub = prompts.iloc[naive_idx].reset_index(drop=True)
        sub_reqs = [requests[i] for i in naive_idx]
        start = time.perf_counter()
        naive = naive_logprobs(loaded.model, sub_reqs)
        t_naive = time.perf_counter() - start
        results["naive"] = (len(sub), t_naive)
        naive_table = probs_frame(sub, sub_reqs, naive, "naive")
        ours_sub = ours.set_index(["prompt_id", "code"]).loc[list(zip(naive_table["prompt_id"], naive_table["code"]))]
        dps["wvsalign vs naive"] = float(np.abs(ours_sub["prob"].to_numpy() - naive_table["prob"].to_numpy()).max())
        print(f"naive      : {len(sub) / t_naive:7.2f} items/s ({len(sub)} sampled prompts in {t_naive:.1f} s, "
              "one forward pass per prompt x option)")

    speed = {k: n / t for k, (n, t) in results.items()}
    for other in [k for k in speed if k != "wvsalign"]:
        print(f"ratio wvsalign / {other}: {speed['wvsalign'] / speed[other]:.1f}x")
    for name, dp in dps.items():
        print(f"max |dp| {name}: {dp:.2e}")

    if not args.no_sharing_table:
        table = sharing_table(bank, countries, loaded.tokenizer)
        print("prefix sharing by template (same items x countries):")
        print(table.to_string(index=False, formatters={"shared": "{:.1%}".format}))

    lm_ratio = speed["wvsalign"] / speed["lm-eval"] if "lm-eval" in speed else float("nan")
    print(f"bench_scoring: wvsalign {speed['wvsalign']:.1f} items/s, {lm_ratio:.1f}x lm-eval, "
          f"{floor / t_ours:.0%} of FLOP floor, max |dp| vs lm-eval {dps.get('wvsalign vs lm-eval', float('nan')):.1e}")


if __name__ == "__main__":
    main()
