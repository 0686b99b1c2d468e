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
part of it, and the batch size as requested) is refused unless ``overwrite``, which starts it
afresh once the model has loaded (:meth:`ShardStore.begin`).

Each shard also carries, in its parquet metadata, the config it was made with, its prompt
ids' digest and a checksum of its rows, so a lost or damaged ``manifest.json`` is rebuilt
from the intact shards. The folder is locked through its :class:`~wvsalign.runs.RunDir`.
Only files wvsalign wrote are ever deleted (shards by name, the manifest, temporary files);
a folder without a manifest that holds other files is refused, naming them.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
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
#: the parquet metadata key of a shard's own record (config, digest, rows checksum)
SHARD_METADATA = b"wvsalign.shard"
_SHARD_NAME = re.compile(r"^\d{5}-[0-9a-f]{12}\.parquet$")


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
    """The ``probs/`` folder of a run directory: config check, shard checks, atomic writes.

    Parameters
    ----------
    folder : str or Path
        The ``probs/`` folder (its parent is the run directory, whose lock is taken).
    config : mapping
        The scoring config: everything that shapes the shards' numbers.
    overwrite : bool
        Replace shards made with another config (deferred to :meth:`begin`).
    run_dir : RunDir, optional
        The run directory object whose lock the caller already holds.
    """

    def __init__(self, folder: str | Path, config: Mapping[str, Any], *, overwrite: bool = False,
                 run_dir: Any = None) -> None:
        from ..runs import RunDir

        self.folder = Path(folder)
        self.config = dict(config)
        self.problems: list[str] = []
        self._replace = False  # shards of another config, deleted by begin()
        self._dirty = False  # manifest to (re)write
        self.run_dir = run_dir if run_dir is not None else RunDir(self.folder.parent)
        self.run_dir.acquire()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.manifest = self._open(overwrite)
            for tmp in self.folder.glob(".*.tmp"):  # temporary files of a killed write
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            if self._dirty and not self._replace:
                self._save(self.manifest)
        except BaseException:
            self.run_dir.release()
            raise

    def close(self) -> None:
        if self.run_dir is not None:
            self.run_dir.release()
            self.run_dir = None

    def __enter__(self) -> "ShardStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- config -------------------------------------------------------------------------
    def _fresh(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "config": self.config, "model": None, "shards": {}}

    def _open(self, overwrite: bool) -> dict[str, Any]:
        path = self.folder / MANIFEST
        if not path.exists():
            foreign = foreign_files(self.folder)
            if foreign:
                raise ConfigError(
                    f"{self.folder} holds files wvsalign did not write ({', '.join(foreign)}) and no {MANIFEST}; "
                    "it never deletes those: move them away, or use another run directory")
            return self._rebuild(overwrite, "missing")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), dict):
                raise ValueError("not a manifest")
        except (ValueError, OSError) as exc:
            return self._rebuild(overwrite, f"unreadable ({exc})")
        old = manifest.get("config") or {}
        if old != self.config:
            self._refuse_unless(overwrite, old)
            self._replace, self._dirty = True, True
            return self._fresh()
        return manifest

    def _refuse_unless(self, overwrite: bool, old: Mapping[str, Any]) -> None:
        if overwrite:
            return
        from ..runs import differences

        raise ConfigError(
            f"run directory {self.folder.parent} was created by a different config "
            f"({'; '.join(differences(old, self.config))}); pass overwrite=True (--overwrite) to replace its results, "
            "or use another run directory", file=self.folder / MANIFEST)

    def _rebuild(self, overwrite: bool, why: str) -> dict[str, Any]:
        """A manifest rebuilt from the shards whose own metadata shows this config and whose rows check out."""
        manifest = self._fresh()
        self._dirty = True
        files = sorted(p for p in self.folder.iterdir() if _SHARD_NAME.match(p.name))
        if not files:
            return manifest
        kept, skipped = 0, 0
        for path in files:
            meta = _shard_metadata(path)
            if meta is None:
                skipped += 1
                continue
            if meta.get("config") != self.config:
                self._refuse_unless(overwrite, meta.get("config") or {})
                self._replace = True
                return self._fresh()
            try:
                frame = pd.read_parquet(path)
            except Exception:  # noqa: BLE001 - damaged file: recomputed
                skipped += 1
                continue
            if frame_checksum(frame) != meta.get("rows_sha256"):
                skipped += 1
                continue
            manifest["shards"][path.stem] = {
                "rows": int(len(frame)), "bytes": path.stat().st_size, "sha256": sha256_file(path),
                "digest": meta.get("digest"), "prompts": int(meta.get("prompts", 0)),
            }
            kept += 1
        self._report(f"{self.folder / MANIFEST} was {why}; rebuilt from {kept} intact shard(s)"
                     + (f", {skipped} unverifiable shard(s) are recomputed" if skipped else ""))
        return manifest

    def begin(self) -> None:
        """Before the first shard is written (the model has loaded): carry out a pending
        overwrite (delete the old shards, only those wvsalign wrote) and save the manifest."""
        if self._replace:
            clear_folder(self.folder)
            self._replace = False
        if self._dirty:
            self._save(self.manifest)
            self._dirty = False

    def _save(self, manifest: Mapping[str, Any]) -> None:
        write_text_atomic(json.dumps(manifest, indent=1, sort_keys=True), self.folder / MANIFEST)

    def _report(self, message: str) -> None:
        self.problems.append(message)
        if self.run_dir is not None:
            self.run_dir.problems.append(message)
        warnings.warn(message, ShardWarning, stacklevel=3)

    def set_model(self, info: Mapping[str, Any]) -> None:
        """Record the loaded model's metadata (its weights' sha256 is part of the config, checked on opening)."""
        self.begin()
        self.manifest["model"] = dict(info)
        self._save(self.manifest)

    # ---- shards -------------------------------------------------------------------------
    def is_done(self, shard: Shard) -> bool:
        """True when ``shard`` is recorded and its file is intact; damaged shards are reported."""
        entry = self.manifest["shards"].get(shard.name)
        path = self.folder / shard.file
        if entry is None:
            return False
        problem = _shard_problem(path, entry, shard.digest)
        if problem is None:
            return True
        self._report(f"corrupted shard {path}: {problem}; recomputing its {len(shard.rows)} prompts")
        del self.manifest["shards"][shard.name]
        self._save(self.manifest)
        return False

    def write(self, shard: Shard, frame: pd.DataFrame) -> None:
        """Write one shard atomically (with its own record in the parquet metadata), then record it in the manifest."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.begin()
        path = self.folder / shard.file
        table = pa.Table.from_pandas(frame, preserve_index=False)
        own = json.dumps({"config": self.config, "digest": shard.digest, "prompts": int(len(shard.rows)),
                          "rows_sha256": frame_checksum(frame)}, sort_keys=True)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), SHARD_METADATA: own.encode("utf-8")})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
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


def frame_checksum(frame: pd.DataFrame) -> str:
    """sha256 of a table's columns, dtypes and values (equal for a table and its parquet round trip)."""
    digest = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode("utf-8"))
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _shard_metadata(path: Path) -> dict[str, Any] | None:
    """A shard's own record from its parquet metadata (None for damaged or older shards)."""
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(SHARD_METADATA)
        meta = json.loads(raw) if raw else None
    except Exception:  # noqa: BLE001 - damaged file
        return None
    return meta if isinstance(meta, dict) else None


def _shard_problem(path: Path, entry: Mapping[str, Any], digest: str | None) -> str | None:
    """Why a recorded shard cannot be used (None when it is intact)."""
    if digest is not None and entry.get("digest") != digest:
        return "its prompts differ from the plan"
    if not path.exists():
        return "its file is missing"
    if path.stat().st_size != entry.get("bytes"):
        return f"its size is {path.stat().st_size} bytes, the manifest says {entry.get('bytes')}"
    if sha256_file(path) != entry.get("sha256"):
        return "its checksum does not match the manifest"
    return None


def _ours(name: str) -> bool:
    return name in (MANIFEST, ".lock") or bool(_SHARD_NAME.match(name)) or (name.startswith(".") and name.endswith(".tmp"))


def foreign_files(folder: str | Path) -> list[str]:
    """Files of a ``probs/`` folder that wvsalign did not write (names, sorted)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if p.is_dir() or not _ours(p.name))


def clear_folder(folder: str | Path) -> None:
    """Delete the files wvsalign wrote in a ``probs/`` folder (shards, manifest, temporary files);
    anything else stays."""
    for path in Path(folder).iterdir():
        if path.is_file() and _ours(path.name):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def read_intact(folder: str | Path, prompts: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """The rows of a ``probs/`` folder's intact recorded shards, read-only (nothing is written or repaired).

    Returns the table (in the prompts table's order when ``prompts`` is given; None when no
    shard is intact) and the problems found.
    """
    folder = Path(folder)
    problems: list[str] = []
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = dict(manifest["shards"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, [f"{folder / MANIFEST} is unreadable ({exc})"]
    parts = []
    for name in sorted(entries):
        path = folder / f"{name}.parquet"
        problem = _shard_problem(path, entries[name], None)
        if problem is None:
            try:
                parts.append(pd.read_parquet(path))
                continue
            except Exception as exc:  # noqa: BLE001
                problem = f"unreadable ({exc})"
        problems.append(f"shard {path}: {problem}")
    if not parts:
        return None, problems
    table = pd.concat(parts, ignore_index=True)
    if prompts is not None and "prompt_id" in prompts.columns:
        position = pd.Series(range(len(prompts)), index=prompts["prompt_id"].astype(str).to_numpy())
        key = position.reindex(table["prompt_id"].astype(str).to_numpy()).to_numpy()
        table = table.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)
    return table, problems


def _fault_point(name: str) -> None:
    """Fault injection for the kill tests: ``WVSALIGN_FAULT=name:n`` SIGKILLs this process the n-th time
    (``name:n:stop``: SIGSTOPs it, for the tests of concurrent runs)."""
    spec = os.environ.get("WVSALIGN_FAULT")
    if not spec or not spec.startswith(name + ":"):
        return
    count = _FAULT_COUNTS.get(name, 0) + 1
    _FAULT_COUNTS[name] = count
    parts = spec.split(":")
    if count == int(parts[1]) or (count > int(parts[1]) and parts[2:] != ["stop"]):
        import signal

        os.kill(os.getpid(), signal.SIGSTOP if parts[2:] == ["stop"] else signal.SIGKILL)


_FAULT_COUNTS: dict[str, int] = {}
