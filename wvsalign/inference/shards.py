"""Resumable results on disk: append-only parquet shards with a manifest.

A scoring run directory holds ``probs/``:

* ``manifest.json``: the scoring config the shards were made with, the model's metadata,
  and one entry per finished shard (rows, sha256 of the file, its prompt ids' digest);
* ``<k>-<digest>.parquet``: one shard per block of prompts of the plan.

The plan is deterministic: prompts sorted by text (prompts that share a prefix sit
together, so a shard keeps most of the sharing), then cut every ``shard_size`` prompts; a
shard's name carries the digest of its prompt ids. Each shard is written atomically and then
recorded in the manifest (rewritten atomically), so after a kill at any point every shard
is either complete and recorded, complete but unrecorded (recomputed), or absent. A shard
whose file is missing, unreadable, of the wrong size or checksum, or holds other prompts is
reported (:class:`ShardWarning`) and recomputed. Leftover temporary files of a killed write
are removed. A directory made with a different config (the model's weights, by sha256, are
part of it) is refused unless ``overwrite``, which starts it afresh.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .._io import atomic_path, sha256_file, write_text_atomic
from ..errors import ConfigError, InputError, ShardWarning  # noqa: F401  (ShardWarning re-exported)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Shard:
    """A block of prompts scored and stored together."""

    name: str
    rows: np.ndarray  # positions of its prompts in the prompts table, in plan order
    digest: str  # sha1 of its prompt ids

    @property
    def file(self) -> str:
        return f"{self.name}.parquet"


def _digest(ids: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(ids).encode("utf-8")).hexdigest()


def prompts_digest(prompts: pd.DataFrame) -> str:
    """A fingerprint of a prompts table (its prompt ids, order-free)."""
    return _digest(sorted(str(p) for p in prompts["prompt_id"]))


def plan_shards(prompts: pd.DataFrame, shard_size: int) -> list[Shard]:
    """The deterministic shard plan: sort by text (then id), cut every ``shard_size`` prompts."""
    if not (isinstance(shard_size, int) and shard_size > 0):
        raise InputError("shard_size must be a positive integer", value=shard_size)
    ids = prompts["prompt_id"].astype(str).to_numpy()
    order = sorted(range(len(prompts)), key=lambda i: (str(prompts["text"].iat[i]), ids[i]))
    shards = []
    for k, start in enumerate(range(0, len(order), shard_size)):
        rows = np.asarray(order[start:start + shard_size], dtype=np.int64)
        digest = _digest(list(ids[rows]))
        shards.append(Shard(name=f"{k:05d}-{digest[:12]}", rows=rows, digest=digest))
    return shards


class ShardStore:
    """The ``probs/`` folder of a run directory: config check, shard checks, atomic writes."""

    def __init__(self, folder: str | Path, config: Mapping[str, Any], *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.config = dict(config)
        self.problems: list[str] = []
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.folder)
        self.manifest = self._open(overwrite)
        for tmp in self.folder.glob(".*.tmp"):  # temporary files of a killed write
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "ShardStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- config -------------------------------------------------------------------------
    def _open(self, overwrite: bool) -> dict[str, Any]:
        path = self.folder / MANIFEST
        fresh = {"version": MANIFEST_VERSION, "config": self.config, "model": None, "shards": {}}
        if not path.exists():
            if any(self.folder.glob("*.parquet")) and not overwrite:
                raise ConfigError(
                    f"{self.folder} holds shards but no {MANIFEST}; it was not made by this version of wvsalign "
                    "or was damaged: pass overwrite=True (--overwrite) to start it afresh, or use another run directory"
                )
            self._clear()
            self._save(fresh)
            return fresh
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), dict):
                raise ValueError("not a manifest")
        except (ValueError, OSError) as exc:
            self._report(f"{path} is unreadable ({exc}); every shard is recomputed")
            self._clear()
            self._save(fresh)
            return fresh
        old = manifest.get("config") or {}
        if old != self.config:
            if not overwrite:
                diffs = _differences(old, self.config)
                raise ConfigError(
                    f"run directory {self.folder.parent} was created by a different config ({'; '.join(diffs)}); "
                    "pass overwrite=True (--overwrite) to replace its results, or use another run directory",
                    file=self.folder / MANIFEST,
                )
            self._clear()
            self._save(fresh)
            return fresh
        return manifest

    def _clear(self) -> None:
        for child in self.folder.iterdir():
            if child.name == ".lock":
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def _save(self, manifest: Mapping[str, Any]) -> None:
        write_text_atomic(json.dumps(manifest, indent=1, sort_keys=True), self.folder / MANIFEST)

    def _report(self, message: str) -> None:
        self.problems.append(message)
        warnings.warn(message, ShardWarning, stacklevel=3)

    def set_model(self, info: Mapping[str, Any]) -> None:
        """Record the loaded model's metadata (its weights' sha256 is part of the config, checked on opening)."""
        self.manifest["model"] = dict(info)
        self._save(self.manifest)

    # ---- shards -------------------------------------------------------------------------
    def is_done(self, shard: Shard) -> bool:
        """True when ``shard`` is recorded and its file is intact; damaged shards are reported."""
        entry = self.manifest["shards"].get(shard.name)
        path = self.folder / shard.file
        if entry is None:
            return False
        problem = None
        if entry.get("digest") != shard.digest:
            problem = "its prompts differ from the plan"
        elif not path.exists():
            problem = "its file is missing"
        elif path.stat().st_size != entry.get("bytes"):
            problem = f"its size is {path.stat().st_size} bytes, the manifest says {entry.get('bytes')}"
        elif sha256_file(path) != entry.get("sha256"):
            problem = "its checksum does not match the manifest"
        if problem is None:
            return True
        self._report(f"corrupted shard {path}: {problem}; recomputing its {len(shard.rows)} prompts")
        del self.manifest["shards"][shard.name]
        self._save(self.manifest)
        return False

    def write(self, shard: Shard, frame: pd.DataFrame) -> None:
        """Write one shard atomically, then record it in the manifest."""
        path = self.folder / shard.file
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
            _fault_point("shard_tmp_written")
        _fault_point("shard_written")
        self.manifest["shards"][shard.name] = {
            "rows": int(len(frame)), "bytes": path.stat().st_size, "sha256": sha256_file(path),
            "digest": shard.digest, "prompts": int(len(shard.rows)),
        }
        self._save(self.manifest)
        _fault_point("shard_recorded")

    def read(self, shard: Shard, prompt_ids: Sequence[str]) -> pd.DataFrame:
        """Read a finished shard and check it holds exactly its prompts (InputError if not)."""
        path = self.folder / shard.file
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise InputError(f"unreadable shard ({type(exc).__name__}: {exc}); re-run to recompute it", file=path) from None
        entry = self.manifest["shards"][shard.name]
        if len(frame) != entry["rows"] or set(frame["prompt_id"].astype(str)) != set(prompt_ids):
            raise InputError("shard rows do not match its manifest entry; re-run to recompute it", file=path)
        return frame


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key: old -> new`` for every differing key (nested mappings by dotted key)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_differences(a, b, f"{prefix}{k}."))
        else:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _lock(folder: Path) -> Any:
    """An exclusive lock on ``folder`` (released when the process ends, even when killed)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return None
    fh = open(folder / ".lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise InputError(f"{folder} is in use by another wvsalign process; wait for it to finish") from None
    return fh


def _fault_point(name: str) -> None:
    """Fault injection for the kill tests: ``WVSALIGN_FAULT=name:n`` SIGKILLs this process the n-th time."""
    spec = os.environ.get("WVSALIGN_FAULT")
    if not spec or not spec.startswith(name + ":"):
        return
    count = _FAULT_COUNTS.get(name, 0) + 1
    _FAULT_COUNTS[name] = count
    if count >= int(spec.split(":", 1)[1]):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_FAULT_COUNTS: dict[str, int] = {}
