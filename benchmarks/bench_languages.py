"""Scoring speed, prompt length and prefix sharing per prompt language (issue 11, Speed).

For SmolLM2 (or ``--model``) with the persona template, a fixed item sample x the first N
countries of the default set, asked in each language: items/s of the runner (prefix sharing
on), mean tokens per prompt (context plus inner option tokens, the model's own format), the
share of tokens saved by prefix sharing, and the ratio of items/s to English. Then the
projected time of the full grid (8 languages x 55 countries x 239 items, 105,160 prompts) on
this machine from the per-language rates (conservative: with 55 countries per item more of
each prompt is shared than with N).

    python benchmarks/bench_languages.py [--items 12] [--countries 4] [--languages en,zh,es,ar,ru,id,ko,fa,ja]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_scoring import pick_items, tokens_without_sharing  # noqa: E402  (benchmarks/ is on sys.path)

import pandas as pd  # noqa: E402

FULL_LANGUAGES = ("zh", "es", "ar", "ru", "id", "ko", "fa", "ja")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--items", default="12", help="'all', a number N (every k-th item of the bank), or ids Q1,Q2")
    parser.add_argument("--countries", type=int, default=4, help="first N countries of the default set")
    parser.add_argument("--languages", default="en," + ",".join(FULL_LANGUAGES))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    from wvsalign.inference.models import load_backend
    from wvsalign.inference.prefix import unique_tokens
    from wvsalign.inference.runner import score
    from wvsalign.inference.scoring import encode_requests
    from wvsalign.prompts import build_prompts
    from wvsalign.survey.countries import Countries
    from wvsalign.survey.items import ItemBank

    loaded = load_backend(args.model, device="cpu", dtype="float32", progress=False)
    bank = pick_items(ItemBank.wvs7(), args.items)
    countries = Countries.load().set("default")[: args.countries]
    languages = [s.strip() for s in args.languages.split(",") if s.strip()]
    print(f"model {loaded.name}, torch {torch.__version__}, {torch.get_num_threads()} threads, float32, cpu; "
          f"persona template, {len(bank)} items x {len(countries)} countries ({', '.join(countries)}) per language")
    score(build_prompts(bank, countries[:1], templates=["persona"]), loaded, progress=False)  # warm-up
    rows = []
    for language in languages:
        neutral = build_prompts(bank, countries, templates=["persona"], languages=[language])
        requests = encode_requests(loaded.render(neutral), loaded.tokenizer)
        fed, unique = tokens_without_sharing(requests), unique_tokens(requests)
        start = time.perf_counter()
        score(neutral, loaded, progress=False)
        seconds = time.perf_counter() - start
        rows.append({"language": language, "prompts": len(neutral), "tokens/prompt": fed / len(neutral),
                     "shared": 1 - unique / fed, "seconds": seconds, "items/s": len(neutral) / seconds})
    table = pd.DataFrame(rows)
    if "en" in set(table["language"]):
        table["vs en"] = table["items/s"] / table.loc[table["language"] == "en", "items/s"].iloc[0]
    print(table.to_string(index=False, formatters={"shared": "{:.1%}".format, "tokens/prompt": "{:.0f}".format,
                                                    "seconds": "{:.1f}".format, "items/s": "{:.2f}".format,
                                                    "vs en": "{:.2f}".format}))
    per_language = 55 * 239
    full = table[table["language"].isin(FULL_LANGUAGES)]
    if len(full):
        rate = full.set_index("language")["items/s"]
        projected = sum(per_language / rate.get(lang, rate.mean()) for lang in FULL_LANGUAGES)
        print(f"projected full grid (8 languages x 55 countries x 239 items = {8 * per_language:,} prompts) at these "
              f"rates: {projected / 3600:.1f} h on this machine")


if __name__ == "__main__":
    main()
