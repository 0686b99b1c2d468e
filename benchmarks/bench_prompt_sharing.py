"""Prefix sharing by template: tokens fed to the model vs tokens left once shared prefixes count once.

Measures what the runner shares: the radix tree over the token sequences of all prompts
(:func:`wvsalign.inference.prefix.unique_tokens` over
:func:`wvsalign.inference.scoring.encode_requests`), so the chat header and system messages
that prompts of different items have in common count as well as the prefix an item's
countries share. It prints the "prefix sharing by template" table of ``bench_scoring.py``
(the same function) on that benchmark's default workload (all items x the first 10
countries of the default set), needing only the tokenizer (no model is run): per template
the prompts, the tokens fed without sharing (contexts plus the inner tokens of each option),
the unique tokens, and the share of tokens saved.

    python benchmarks/bench_prompt_sharing.py [--model smollm2-135m] [--items N] [--countries N (0: all)]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_scoring import pick_items, sharing_table  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from wvsalign.inference.models import load_tokenizer  # noqa: E402
from wvsalign.survey.countries import Countries  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--items", default="all", help="'all', a number N (every k-th item of the bank), or ids Q1,Q2")
    parser.add_argument("--countries", type=int, default=10, help="first N countries of the default set (default 10; 0: all)")
    args = parser.parse_args()
    tok = load_tokenizer(args.model, progress=False)
    bank = pick_items(ItemBank.wvs7(), args.items)
    countries = Countries.load().set("default")[: args.countries or None]
    print(f"model {args.model}; {len(bank)} items x {len(countries)} countries (default set); "
          f"format {'chat' if tok.chat_template else 'plain'}")
    start = time.perf_counter()
    table = sharing_table(bank, countries, tok)
    print(table.to_string(index=False, formatters={"shared": "{:.1%}".format}))
    print(f"({time.perf_counter() - start:.1f} s to build and tokenise)")


if __name__ == "__main__":
    main()
