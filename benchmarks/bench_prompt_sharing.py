"""How many prompt tokens the countries of one item share, per template (prints a table).

The runner computes a prefix shared by several prompts once, so what counts for speed is the
number of tokens left once shared prefixes are counted once. For each template this prints,
over all items x the default country set: tokens per prompt, the tokens one item's prompts
share across countries, and total / unique tokens (the most prefix sharing can save).

    python benchmarks/bench_prompt_sharing.py [--model smollm2-135m] [--plain]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign.inference.models import load_tokenizer  # noqa: E402
from wvsalign.prompts import build_prompts  # noqa: E402
from wvsalign.survey.countries import Countries  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402

TEMPLATES = ("persona", "third_person", "persona_system", "default")


def common_prefix(seqs: list[list[int]]) -> int:
    n = min(map(len, seqs))
    for i in range(n):
        first = seqs[0][i]
        if any(s[i] != first for s in seqs[1:]):
            return i
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--plain", action="store_true", help="plain prompts even if the tokenizer has a chat template")
    args = parser.parse_args()
    tok = load_tokenizer(args.model, progress=False)
    bank = ItemBank.wvs7()
    countries = Countries.load().set("default")
    print(f"model {args.model}; {len(bank)} items x {len(countries)} countries (default set); "
          f"format {'plain' if args.plain or not tok.chat_template else 'chat'}")
    print(f"{'template':<15} {'prompts':>8} {'tokens/prompt':>14} {'shared/item':>12} {'shared %':>9} "
          f"{'total/unique':>13} {'build s':>8}")
    for template in TEMPLATES:
        start = time.perf_counter()
        df = build_prompts(bank, countries, templates=template, tokenizer=tok, chat=False if args.plain else None)
        built = time.perf_counter() - start
        ids = tok(df.text.tolist(), add_special_tokens=False)["input_ids"]
        df = df.assign(ids=ids, n=[len(i) for i in ids])
        total = int(df.n.sum())
        unique, shared = 0, []
        for _, group in df.groupby("item_id", sort=False):
            seqs = group.ids.tolist()
            k = common_prefix(seqs) if len(seqs) > 1 else 0
            shared.append(k)
            unique += k + int(sum(len(s) - k for s in seqs))
        print(f"{template:<15} {len(df):>8} {df.n.mean():>14.1f} {np.mean(shared):>12.1f} "
              f"{100 * np.mean(shared) / df.n.mean():>8.1f}% {total / unique:>13.2f} {built:>8.2f}")


if __name__ == "__main__":
    main()
