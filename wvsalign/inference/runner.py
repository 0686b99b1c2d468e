"""The runner: score a prompts table with a model, batched, prefix-sharing and resumable.

>>> probs = score(prompts, model="smollm2-135m", run_dir="runs/smollm2")

Work is split into the shards of :mod:`wvsalign.inference.shards`; each shard is scored
whole by :class:`~wvsalign.inference.engine.ScoringEngine` (so a resumed run computes every
shard exactly as an uninterrupted one does) and written atomically. Without ``run_dir``
the same shards are scored in memory. A finished run directory is read back without
loading the model. The returned probs table follows the order of the prompts table (options
in presented order); see :mod:`wvsalign.inference.scoring` for the scoring rule.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from .. import __version__
from .engine import ScoringEngine, check_batch_size
from .scoring import SCORING_RULE, check_prompts, encode_requests, probs_frame
from .shards import ShardStore, plan_shards, prompts_digest

#: prompts per shard: the unit of resumption (and of prefix sharing)
DEFAULT_SHARD_SIZE = 512


def score(
    prompts: pd.DataFrame,
    model: Any = "smollm2-135m",
    run_dir: str | Path | None = None,
    *,
    batch_size: int | str = "auto",
    device: Any = None,
    dtype: Any = None,
    progress: bool = True,
    overwrite: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    trust_remote_code: bool = False,
) -> pd.DataFrame:
    """The probs table of ``prompts`` under ``model`` (a registry name, a local path, a model
    spec mapping, or a :class:`~wvsalign.inference.models.LoadedModel`).

    With ``run_dir``, shards go to ``run_dir/probs/`` and the consolidated table to
    ``run_dir/probs.parquet``; a re-run resumes (or, when finished, only reads). A run
    directory made with another model (name, source or weights' sha256), dtype (as resolved
    for the device: "auto" is float32 on CPU), prompts, shard size or batch size is refused
    unless ``overwrite``, which starts it afresh once the model has loaded. ``run_dir`` may be
    a :class:`~wvsalign.runs.RunDir` whose lock the caller holds. ``batch_size``: rows per
    forward pass, or "auto" (token and memory budgets); it changes the last bits of results
    (different padding and matrix shapes), so it is part of a run directory's identity.
    """
    check_prompts(prompts)
    check_batch_size(batch_size)
    prompts = prompts.reset_index(drop=True)
    shards = plan_shards(prompts, shard_size)
    source = _ModelSource(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code, progress=progress)
    config = {
        "model": source.identity(),
        "dtype": source.dtype_name(),
        "prompts": prompts_digest(prompts),
        "n_prompts": int(len(prompts)),
        "shard_size": int(shard_size),
        "batch_size": batch_size,  # as requested: rows per forward pass change the last bits of results
        "scoring_rule": SCORING_RULE,
    }
    ids = prompts["prompt_id"].astype(str).to_numpy()
    with _store(run_dir, config, overwrite) as store:
        todo = [s for s in shards if store is None or not store.is_done(s)]
        frames: dict[str, pd.DataFrame] = {}
        model_info = (store.manifest.get("model") if store is not None else None) or {"name": source.name()}
        if todo:
            loaded = source.load()
            model_info = _info_dict(loaded)
            _warn_on_other_format(prompts, loaded)
            if store is not None:
                store.set_model(model_info)
            _score_shards(prompts, todo, loaded, store, frames, batch_size=batch_size, progress=progress,
                          done=len(prompts) - sum(len(s.rows) for s in todo))
        parts = [frames[s.name] if s.name in frames else store.read(s, list(ids[s.rows])) for s in shards]
    table = _in_prompt_order(parts, prompts)
    if store is not None:
        from .._io import write_parquet_atomic

        write_parquet_atomic(table, Path(run_dir) / "probs.parquet")
        table.attrs["shard_problems"] = list(store.problems)
    table.attrs["model_info"] = dict(model_info)
    return table


def _warn_on_other_format(prompts: pd.DataFrame, loaded: Any) -> None:
    """Warn when the prompts were built for another format than the model's own (e.g. plain
    ``Question: ... Answer:`` text for a chat model: ``build_prompts`` was not given its tokenizer)."""
    from ..prompts.formats import get_format

    tokenizer = getattr(loaded, "tokenizer", None)
    if tokenizer is None or "prompt_format" not in prompts.columns:
        return
    own = get_format(tokenizer).name
    other = sorted(set(prompts["prompt_format"].astype(str)) - {own})
    if other:
        warnings.warn(
            f"prompts built in format(s) {other} are scored with {_model_name(loaded)}, whose own format is {own!r}; "
            f"build them with build_prompts(..., tokenizer=<the model>) unless this is intended",
            UserWarning, stacklevel=3,
        )


def _info_dict(loaded: Any) -> dict[str, Any]:
    info = getattr(loaded, "info", None)
    if hasattr(info, "to_dict"):
        return {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v)) for k, v in info.to_dict().items()}
    return {"name": _model_name(loaded)}


def _score_shards(
    prompts: pd.DataFrame,
    todo: list,
    loaded: Any,
    store: ShardStore | None,
    frames: dict[str, pd.DataFrame],
    *,
    batch_size: int | str,
    progress: bool,
    done: int,
) -> None:
    from tqdm.auto import tqdm

    from .loading import context_length

    tokenizer = loaded.tokenizer
    rows = np.concatenate([s.rows for s in todo])
    # tokenise (and check lengths) before any model work, so bad prompts fail fast
    limit = context_length(loaded.model.config, tokenizer)
    requests = dict(zip(rows.tolist(), encode_requests(prompts.iloc[rows], tokenizer, context_length=limit)))
    engine = ScoringEngine(loaded.model, batch_size=batch_size,
                           pad_token_id=getattr(tokenizer, "pad_token_id", None) or 0)
    name = _model_name(loaded)
    bar = tqdm(total=len(prompts), initial=done, unit="prompt", desc=f"scoring {name}", disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    try:
        for shard in todo:
            reqs = [requests[int(i)] for i in shard.rows]
            logprobs = engine.logprobs(reqs, progress=bar.update)
            frame = probs_frame(prompts.iloc[shard.rows], reqs, logprobs, name)
            if store is not None:
                store.write(shard, frame)
            else:
                frames[shard.name] = frame
    finally:
        bar.close()


def _in_prompt_order(parts: list[pd.DataFrame], prompts: pd.DataFrame) -> pd.DataFrame:
    """Concatenate shards and sort rows by the prompts table's order (options kept in presented order)."""
    if not parts:
        return probs_frame(prompts.iloc[:0], [], [], "")
    table = pd.concat(parts, ignore_index=True)
    position = pd.Series(np.arange(len(prompts)), index=prompts["prompt_id"].astype(str).to_numpy())
    key = position.loc[table["prompt_id"].astype(str).to_numpy()].to_numpy()
    return table.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)


@contextlib.contextmanager
def _store(run_dir: Any, config: Mapping[str, Any], overwrite: bool) -> Iterator[ShardStore | None]:
    """The shard store of ``run_dir`` (a path or a :class:`~wvsalign.runs.RunDir`, whose lock is
    taken, or re-entered when the caller holds it), or None without a run directory."""
    if run_dir is None:
        yield None
        return
    from ..runs import RunDir

    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    store = ShardStore(rd.probs_folder, config, overwrite=overwrite, run_dir=rd)
    try:
        yield store
    finally:
        store.close()


def _model_name(loaded: Any) -> str:
    info = getattr(loaded, "info", None)
    return str(getattr(info, "name", None) or getattr(loaded, "name", None) or type(loaded.model).__name__)


class _ModelSource:
    """A model given by name/path/spec (loaded only when there is work) or already loaded."""

    def __init__(self, model: Any, *, device: Any, dtype: Any, trust_remote_code: bool, progress: bool) -> None:
        self.model = model
        self.device, self.dtype = device, dtype
        self.trust_remote_code, self.progress = trust_remote_code, progress
        self.loaded = model if hasattr(model, "model") and hasattr(model, "tokenizer") else None
        self.spec = None
        if self.loaded is None:
            from .models import model_spec

            self.spec = model_spec(model)  # resolves names and paths now: unknown models fail early

    def name(self) -> str:
        return _model_name(self.loaded) if self.loaded is not None else self.spec.name

    def identity(self) -> dict[str, Any]:
        """Name, source and weights' sha256 of the model (the same whether given by name or loaded).

        The sha256 is the GGUF file's or the folder's (as :class:`~wvsalign.inference.loading.ModelInfo`
        records it), remembered by path, size and mtime: changed weights make a different identity.
        """
        info = getattr(self.loaded, "info", None)
        spec = self.spec if self.spec is not None else getattr(self.loaded, "spec", None)
        sha = getattr(info, "sha256", None)
        if spec is None:
            return {"name": info.name, "source": str(getattr(info, "source", "")), "sha256": sha}
        if not sha:
            from .cache import cache_root, folder_hash, gguf_sha256

            root = cache_root()
            sha = (gguf_sha256(spec, root, progress=self.progress) if spec.kind == "gguf"
                   else folder_hash(spec.path, root, progress=self.progress))
        source = str(spec.path) if spec.path is not None else f"{spec.package.package}:{spec.package.file}"
        return {"name": spec.name, "source": source, "sha256": sha}

    def dtype_name(self) -> str:
        """The dtype the model is (or will be) scored in: "auto" resolved for the device (float32 on CPU)."""
        if self.loaded is not None:
            return str(self.loaded.dtype).replace("torch.", "")
        from .loading import resolve_device, resolve_dtype

        return str(resolve_dtype(self.dtype, resolve_device(self.device))).replace("torch.", "")

    def load(self) -> Any:
        if self.loaded is None:
            from .models import load_model

            self.loaded = load_model(self.spec, device=self.device, dtype=self.dtype,
                                     trust_remote_code=self.trust_remote_code, progress=self.progress)
        return self.loaded


def versions() -> dict[str, str]:
    """Versions of wvsalign and the libraries that shape its numbers (recorded with runs)."""
    import platform

    out = {"wvsalign": __version__, "python": platform.python_version()}
    for mod in ("torch", "transformers", "numpy", "pandas", "pyarrow", "tokenizers"):
        try:
            out[mod] = str(__import__(mod).__version__)
        except ImportError:  # pragma: no cover
            out[mod] = "missing"
    return out
