"""Models in one import: the registry, loading and the conversion cache.

``from wvsalign.inference.models import load_model, list_models`` gives the public API whose
parts live in :mod:`~wvsalign.inference.registry` (names, local paths, metadata),
:mod:`~wvsalign.inference.loading` (device, dtype, :class:`LoadedModel`) and
:mod:`~wvsalign.inference.cache` (GGUF conversion cache).
"""
from __future__ import annotations

from .cache import CACHE_ENV, cache_root, convert_gguf, entry_problem, file_sha256
from .loading import (
    LoadedModel, ModelInfo, context_length, load_model, load_tokenizer, resolve_device, resolve_dtype,
)
from .registry import ModelSpec, Registry, list_models, model_spec

__all__ = [
    "CACHE_ENV", "LoadedModel", "ModelInfo", "ModelSpec", "Registry", "cache_root", "context_length",
    "convert_gguf", "entry_problem", "file_sha256", "list_models", "load_model", "load_tokenizer",
    "model_spec", "resolve_device", "resolve_dtype",
]
