"""Loading the embedded models: straight from GGUF vs from wvsalign's conversion cache (prints a table).

For each model, in a fresh temporary cache: a load straight from the GGUF file with
transformers, the one-time conversion into the cache (a GGUF load, writing, and the check
that the copy reloads identically), then ``load_model`` from the cache (median of three), with
its parts: the manifest/CRC check, the tokenizer and the weights. Also prints the largest
logit difference between the GGUF load and the cached reload (0 when bit-identical).

    python benchmarks/bench_model_loading.py [--models smollm2-135m gemma3-270m]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from wvsalign.inference import cache  # noqa: E402
from wvsalign.inference.models import load_model, model_spec  # noqa: E402

TEXT = "Question: How important is God in your life?\n\n1. Not at all important\n2\n3\n\nAnswer: 10"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def bench(name: str) -> dict[str, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = model_spec(name)
        path = cache.gguf_file(spec, root, progress=False)
        sha = cache.gguf_sha256(spec, root)
        (gguf_model, gguf_tok), t_gguf = timed(cache.load_gguf, path, progress=False)
        ids = torch.tensor([gguf_tok(TEXT)["input_ids"]])
        with torch.no_grad():
            reference = gguf_model(input_ids=ids).logits
        del gguf_model
        _, t_convert = timed(cache.convert_gguf, path, root, sha256=sha, progress=False)
        entry = cache.entry_path(root, sha)
        reloads, checks, toks, weights = [], [], [], []
        for _ in range(3):
            loaded, t = timed(load_model, name, cache_dir=root, progress=False)
            reloads.append(t)
            checks.append(timed(cache.entry_problem, entry, sha)[1])
            toks.append(timed(AutoTokenizer.from_pretrained, str(entry), local_files_only=True)[1])
            weights.append(timed(AutoModelForCausalLM.from_pretrained, str(entry), local_files_only=True,
                                 dtype=torch.float32)[1])
        with torch.no_grad():
            diff = (loaded.model(input_ids=ids).logits - reference).abs().max().item()
    return {
        "gguf load s": t_gguf, "convert s": t_convert, "cached load s": statistics.median(reloads),
        "crc check s": statistics.median(checks), "tokenizer s": statistics.median(toks),
        "weights s": statistics.median(weights), "max |dlogit|": diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    args = parser.parse_args()
    rows = {name: bench(name) for name in args.models}
    keys = list(next(iter(rows.values())))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':<14}" + "".join(f"{k:>15}" for k in keys))
    for name, row in rows.items():
        print(f"{name:<14}" + "".join(f"{row[k]:>15.3g}" for k in keys))


if __name__ == "__main__":
    main()
