"""Models in one import: backends, the registry, loading and the conversion cache.

``from wvsalign.inference.models import load_backend, list_models`` gives the public API whose
parts live in :mod:`~wvsalign.inference.backend` (the :class:`Backend` interface, the backend
registry, :class:`HFBackend`), :mod:`~wvsalign.inference.registry` (names, local paths,
metadata), :mod:`~wvsalign.inference.loading` (device, dtype, :class:`LoadedModel`) and
:mod:`~wvsalign.inference.cache` (GGUF conversion cache). The modules import one another in
one direction only: registry <- cache <- loading <- backend <- models.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .backend import Backend, HFBackend, backend_names, load_backend, register_backend
from .cache import CACHE_ENV, cache_root, cached_entry_for, convert_gguf, entry_problem, file_sha256
from .loading import (
    LoadedModel, ModelInfo, context_length, load_model, load_tokenizer, resolve_device, resolve_dtype,
)
from .registry import ModelSpec, Registry, model_spec

__all__ = [
    "Backend", "CACHE_ENV", "HFBackend", "LoadedModel", "ModelInfo", "ModelSpec", "Registry", "backend_names",
    "cache_root", "context_length", "convert_gguf", "entry_problem", "file_sha256", "list_models", "load_backend",
    "load_model", "load_tokenizer", "model_spec", "register_backend", "resolve_device", "resolve_dtype",
]


def list_models(registry: Registry | None = None, *, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per registered model: name, description, params, instruction_tuned, multilingual,
    installed, cached (a converted copy is in the cache), source, install.

    Parameters
    ----------
    registry : Registry, optional
        Default: the embedded ``models.yaml``.
    cache_dir : path, optional
        The conversion cache root (default: ``$WVSALIGN_CACHE`` or the user cache folder).

    Returns
    -------
    DataFrame
        Reads no model file (hashes only as remembered).
    """
    registry = registry or Registry.load()
    root = cache_root(cache_dir)
    rows = []
    for name in registry.names:
        spec = registry.get(name)
        pkg = spec.package
        installed = pkg.installed() if pkg else bool(spec.path and spec.path.exists())
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "params": spec.params,
                "instruction_tuned": spec.instruction_tuned,
                "multilingual": spec.multilingual,
                "installed": installed,
                # hashes only as remembered: listing never reads a model file
                "cached": installed and cached_entry_for(spec, root, compute=False) is not None,
                "source": f"PyPI {pkg.package}: {pkg.file}" if pkg else str(spec.path),
                "install": pkg.install if pkg else "",
            }
        )
    return pd.DataFrame(rows, columns=["name", "description", "params", "instruction_tuned", "multilingual",
                                       "installed", "cached", "source", "install"])
