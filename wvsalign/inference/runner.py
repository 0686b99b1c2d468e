"""The runner: score a prompts table with a backend, in resumable shards.

>>> probs = score(prompts, "smollm2-135m", run_dir="runs/smollm2")

The runner sees only :class:`~wvsalign.inference.backend.Backend`: the backend renders the
model-neutral prompts for its model, tokenises them and returns option log-likelihoods. Work
is split into the shards of :mod:`wvsalign.inference.shards`; each shard is scored whole by
one ``backend.logprobs`` call (so a resumed run computes every shard exactly as an
uninterrupted one does) and written atomically. Without ``run_dir`` the same shards are
scored in memory. A finished run directory is read back without loading the weights (a model
given by name is loaded only when work remains). The returned probs table follows the order
of the prompts table (options in presented order); see :mod:`wvsalign.inference.scoring` for
the scoring rule.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from .engine import check_batch_size
from .scoring import SCORING_RULE, check_prompts, probs_frame
from .shards import ShardStore, plan_shards, prompts_digest

#: prompts per shard: the unit of resumption (and of prefix sharing)
DEFAULT_SHARD_SIZE = 512


def score(
    prompts: pd.DataFrame,
    backend: Any = "smollm2-135m",
    run_dir: str | Path | None = None,
    *,
    batch_size: int | str = "auto",
    progress: bool | Callable[[int], None] = True,
    overwrite: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    kind: str = "hf",
    **load_options: Any,
) -> pd.DataFrame:
    """The probs table of model-neutral ``prompts`` under one model.

    Parameters
    ----------
    prompts : DataFrame
        A prompts table (``build_prompts``); the backend renders it for its model.
    backend : Backend, str, Path or mapping
        A :class:`~wvsalign.inference.backend.Backend`, or what
        :func:`~wvsalign.inference.backend.load_backend` accepts (registry name, local folder,
        ``.gguf`` file, spec mapping): then loaded only if work remains.
    run_dir : path, optional
        Shards go to ``run_dir/probs/`` and the consolidated table to ``run_dir/probs.parquet``;
        a re-run resumes (or, when finished, only reads). A run directory made with another
        model identity (name, source, weights' sha256, engine, ...), dtype (as resolved for the
        device: "auto" is float32 on CPU), prompts, shard size or batch size is refused unless
        ``overwrite``, which starts it afresh once the model has loaded. ``run_dir`` may be a
        :class:`~wvsalign.runs.RunDir` whose lock the caller holds.
    batch_size : int or "auto"
        Rows per forward pass, or "auto" (token and memory budgets). It changes the last bits of
        results (other padding and matrix shapes), so it is part of a run directory's identity.
    progress : bool or callable
        A progress bar; or a function called with the number of prompts scored after each batch
        (no bar: e.g. a caller's own bar over many runs).
    overwrite : bool
        Start a run directory of another config afresh.
    shard_size : int
        Prompts per shard (the unit of resumption).
    kind : str
        The backend kind for a model given by name (default "hf").
    **load_options
        For a model given by name: ``device``, ``dtype``, ``trust_remote_code``, ``chat``, ...
        (see :func:`~wvsalign.inference.backend.load_backend`).

    Returns
    -------
    DataFrame
        The probs table, in the order of ``prompts`` (options in presented order);
        ``attrs["model_info"]`` holds the backend's :meth:`~wvsalign.inference.backend.Backend.info`.
    """
    from .backend import Backend, load_backend

    check_prompts(prompts)
    check_batch_size(batch_size)
    if run_dir is not None and Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise InputError("run_dir is a file; expected a folder for the scores (or None)", file=run_dir)
    prompts = prompts.reset_index(drop=True)
    if isinstance(backend, Backend):
        if load_options:
            raise InputError(f"load options {sorted(load_options)} apply to a model given by name, not to a loaded backend")
        be = backend
    else:
        be = load_backend(backend, kind, lazy=True, progress=progress is True, **load_options)
    identity = dict(be.identity())
    rendered = be.render(prompts)
    shards = plan_shards(rendered, shard_size)
    config = {
        "model": {k: v for k, v in identity.items() if k != "dtype"},
        "dtype": identity.get("dtype"),
        "prompts": prompts_digest(prompts),
        "n_prompts": int(len(prompts)),
        "shard_size": int(shard_size),
        "batch_size": batch_size,  # as requested: rows per forward pass change the last bits of results
        "scoring_rule": identity.get("scoring_rule", SCORING_RULE),
    }
    ids = prompts["prompt_id"].astype(str).to_numpy()
    with _store(run_dir, config, overwrite) as store:
        todo = [s for s in shards if store is None or not store.is_done(s)]
        frames: dict[str, pd.DataFrame] = {}
        model_info = (store.manifest.get("model") if store is not None else None) or {"name": be.name}
        if todo:
            _score_shards(rendered, todo, be, store, frames, batch_size=batch_size, progress=progress,
                          done=len(prompts) - sum(len(s.rows) for s in todo))
            model_info = _plain_info(be.info())
        parts = [frames[s.name] if s.name in frames else store.read(s, list(ids[s.rows])) for s in shards]
    table = _in_prompt_order(parts, prompts)
    if store is not None:
        from .._io import write_parquet_atomic

        write_parquet_atomic(table, Path(run_dir) / "probs.parquet")
        table.attrs["shard_problems"] = list(store.problems)
    table.attrs["model_info"] = dict(model_info)
    return table


def _plain_info(info: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): (v if isinstance(v, (str, int, float, bool, type(None))) else str(v)) for k, v in info.items()}


def _score_shards(
    rendered: pd.DataFrame,
    todo: list,
    backend: Any,
    store: ShardStore | None,
    frames: dict[str, pd.DataFrame],
    *,
    batch_size: int | str,
    progress: bool | Callable[[int], None],
    done: int,
) -> None:
    from tqdm.auto import tqdm

    rows = np.concatenate([s.rows for s in todo])
    # tokenise (and check lengths) before any scoring, so bad prompts fail fast
    requests = dict(zip(rows.tolist(), backend.requests(rendered.iloc[rows])))
    if store is not None:
        store.set_model(_plain_info(backend.info()))
    name = backend.name
    bar = tqdm(total=len(rendered), initial=done, unit="prompt", desc=f"scoring {name}",
               disable=progress is not True, dynamic_ncols=True, smoothing=0.1)
    update = progress if callable(progress) else bar.update
    try:
        for shard in todo:
            reqs = [requests[int(i)] for i in shard.rows]
            logprobs = backend.logprobs(reqs, batch_size=batch_size, progress=update)
            frame = probs_frame(rendered.iloc[shard.rows], reqs, logprobs, name)
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
