"""Answer prefixes: where the model's probability goes, and what it does to alignment.

Scores a fixed sample (every 8th item of the bank x USA, JPN, NGA with the ``persona``
template, plus the same items with the ``default`` template, which names no country) under each
answer prefix (``none``, ``answer``, ``the_answer_is``) with each embedded model (chat format,
CPU, float32), and prints per model x prefix:

* the valid mass (probability on the option labels before normalising) of the persona and the
  default prompts: median and minimum;
* the alignment: Pearson r of the model's and the people's mean scores over the country x item
  pairs of the persona prompts. The people are SYNTHETIC (``synthetic_human``, seed 0): the r
  says how well the model's answers track a generated target, not real WVS answers.

    python benchmarks/bench_answer_prefix.py
    python benchmarks/bench_answer_prefix.py --models smollm2-135m --step 16   # quicker

Where the prefix ends with a space ("Answer: "), wvsalign ends the prompt text before the space
and scores " 1", " 2", ... (the space belongs to the answer: the embedded tokenizers write "ĠA" /
"▁A" as one token, and the plain format does the same after its answer word), so the valid mass
includes the probability of the space. ``--space-in-context`` also prints the figures with the
space forced as part of the prompt (text "...Answer: ", continuations "1", "2", ...; checked to
give the same tokens for these number labels): then the space's own probability is left out.

The last line is ``bench_answer_prefix: ...`` with the best prefix per model by median valid
mass.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="smollm2-135m,gemma3-270m")
    p.add_argument("--prefixes", default="none,answer,the_answer_is")
    p.add_argument("--countries", default="USA,JPN,NGA")
    p.add_argument("--step", type=int, default=8, help="every STEP-th item of the bank (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic human data")
    p.add_argument("--space-in-context", action="store_true",
                   help="also score with the prefix's trailing space forced into the prompt text")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    from scipy import stats as sps

    from wvsalign import stats
    from wvsalign.inference import load_backend, score
    from wvsalign.prompts import build_prompts
    from wvsalign.survey.items import ItemBank
    from wvsalign.survey.synthetic import synthetic_human

    warnings.simplefilter("ignore")
    full = ItemBank.wvs7()
    bank = full.filter(ids=full.ids[:: args.step])
    countries = args.countries.split(",")
    prefixes = args.prefixes.split(",")
    prompts = pd.concat([
        build_prompts(bank, countries, templates=["persona"], answer_prefixes=prefixes),
        build_prompts(bank, None, templates=["default"], answer_prefixes=prefixes),
    ], ignore_index=True)
    human = synthetic_human(bank, countries, seed=args.seed)
    human_scores = stats.human_mean_scores(human, bank)[["country", "item_id", "mean_score"]]
    n_persona = int((prompts["template"] == "persona").sum() // len(prompts["answer_prefix"].unique()))
    print(f"{len(bank)} items (every {args.step}th) x {countries} persona + default template = "
          f"{len(prompts) // len(prefixes)} prompts per prefix ({n_persona} persona); human side: SYNTHETIC")
    rows = []
    for name in args.models.split(","):
        backend = load_backend(name, progress=False, device="cpu", dtype="float32")
        start = time.perf_counter()
        probs = score(prompts, backend, progress=False)
        elapsed = time.perf_counter() - start
        splits = {"space scored": probs}
        if args.space_in_context:
            splits["space in context"] = _space_in_context(prompts, backend, name)
        for split, probs in splits.items():
            per_prompt = probs.drop_duplicates("prompt_id").merge(
                prompts[["prompt_id", "answer_prefix", "template"]], on="prompt_id", suffixes=("", "_p"))
            model_scores = stats.model_mean_scores(probs, bank, variants=["template", "answer_prefix"])
            for prefix in prefixes:
                if split != "space scored" and prefix == "none":
                    continue
                mine = per_prompt[per_prompt["answer_prefix"] == prefix]
                persona = mine.loc[mine["template"] == "persona", "valid_mass"]
                default = mine.loc[mine["template"] == "default", "valid_mass"]
                ms = model_scores[(model_scores["answer_prefix"] == prefix) & (model_scores["template"] == "persona")]
                pair = ms.merge(human_scores, on=["country", "item_id"], suffixes=("_model", "_human")).dropna()
                r, _ = sps.pearsonr(pair["mean_score_model"], pair["mean_score_human"])
                rows.append({"model": name, "answer_prefix": prefix, "split": split,
                             "persona_median": persona.median(), "persona_min": persona.min(),
                             "default_median": default.median(), "default_min": default.min(),
                             "r_synthetic": r, "n_pairs": len(pair)})
        print(f"{name}: {len(prompts)} prompts scored in {elapsed:.1f} s")
    table = pd.DataFrame(rows)
    print()
    print("valid mass (median / min) per template, and Pearson r of model vs SYNTHETIC human mean scores "
          "(persona prompts, country x item pairs)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    scored = table[table["split"] == "space scored"]
    best = scored.loc[scored.groupby("model")["persona_median"].idxmax(), ["model", "answer_prefix"]]
    print("bench_answer_prefix: best median valid mass: " + ", ".join(f"{m} {p}" for m, p in best.itertuples(index=False)))


def _space_in_context(prompts: pd.DataFrame, backend, name: str) -> pd.DataFrame:
    """The probs table with each prefix's trailing space moved from the continuations into the text."""
    from wvsalign.inference.scoring import probs_frame

    rendered = backend.render(prompts[prompts["answer_prefix"] != "none"].reset_index(drop=True))
    moved = rendered["answer_prefix_text"].str.endswith(" ")
    rendered.loc[moved, "text"] = rendered.loc[moved, "text"] + " "
    rendered["continuations"] = [[c[1:] for c in conts] if m else list(conts)
                                 for conts, m in zip(rendered["continuations"], moved)]
    requests = backend.requests(rendered)
    fulls = backend.encode([t + c for t, conts in zip(rendered["text"], rendered["continuations"]) for c in conts])
    pairs = [r.context + c for r in requests for c in r.continuations]
    if any(not r.scored_with_end and tuple(f) != tuple(p) for r, f, p in zip(
            [r for r in requests for _ in r.continuations], fulls, pairs)):
        print(f"NOTE {name}: with the space in the context, some scored tokens differ from the full string's")
    return probs_frame(rendered, requests, backend.logprobs(requests), name)


if __name__ == "__main__":
    main()
