"""Inference: backends (the model interface), models (registry, loading, conversion cache),
the scoring rule, the batched prefix-sharing engine and the resumable runner.

>>> from wvsalign.inference import score, load_backend
>>> probs = score(prompts, load_backend("smollm2-135m"), run_dir="runs/smollm2")

Names are imported lazily so that ``import wvsalign.inference`` does not import torch.
"""
from __future__ import annotations

from .._lazy import lazy_exports

#: public name -> submodule of wvsalign.inference that defines it
_LAZY: dict[str, str] = {
    # backends
    "Backend": ".backend",
    "HFBackend": ".backend",
    "load_backend": ".backend",
    "register_backend": ".backend",
    "backend_names": ".backend",
    # models (registry, loading, cache)
    "load_model": ".models",
    "load_tokenizer": ".models",
    "list_models": ".models",
    "model_spec": ".models",
    "LoadedModel": ".models",
    "ModelInfo": ".models",
    # scoring rule and reference
    "SCORING_RULE": ".scoring",
    "ScoringRequest": ".scoring",
    "encode_requests": ".scoring",
    "naive_logprobs": ".scoring",
    "normalise": ".scoring",
    "probs_frame": ".scoring",
    # engine and prefix tree
    "ScoringEngine": ".engine",
    "build_tree": ".prefix",
    "unique_tokens": ".prefix",
    # runner and run directories
    "score": ".runner",
    "DEFAULT_SHARD_SIZE": ".runner",
    "versions": ".runner",
    "plan_shards": ".shards",
    "ShardStore": ".shards",
    "ShardWarning": ".shards",
    # tiny random models for tests and smoke runs
    "save_tiny_model": ".testing",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
