"""The run directory: its layout, its lock, its record (``config.yaml``), the compatibility
checks, ``--overwrite``, and reopening a run read-only.

>>> from wvsalign.runs import RunResult
>>> result = RunResult.load("runs/demo")      # a finished or partial run, read-only
>>> result.status, result.alignment

One :class:`RunDir` owns a run directory:

* the layout (:data:`LAYOUT`): ``config.yaml``, ``prompts.parquet``, ``probs/`` (shards and
  ``manifest.json``, see :mod:`wvsalign.inference.shards`), ``probs.parquet``,
  ``human.parquet``, ``scores.parquet``, ``alignment.csv``, ``run.log``;
* one lock (``.wvsalign.lock``, an exclusive ``flock``) held from the check that a run may
  resume or replace the directory until its last write, ``--overwrite`` included: a second
  process on the same directory is refused with an error naming the holder's pid;
* the record ``config.yaml`` (settings, identity, versions, status: ``running``,
  ``finished`` or ``failed`` with the error);
* the compatibility check (:meth:`RunDir.check`): a run directory made with a different
  identity is refused unless ``overwrite``; what differs is named;
* ``overwrite`` (:meth:`RunDir.clear`): wvsalign deletes only the files of its layout, and
  refuses (naming them) when the directory holds anything else, or a ``config.yaml`` it did
  not write.

:class:`RunResult` is what a run produced; :meth:`RunResult.load` reopens any run directory
without writing anything (it works on a read-only medium).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pandas as pd
import yaml

from . import _yaml
from ._io import write_text_atomic
from .errors import ConfigError, InputError

CONFIG = "config.yaml"
PROMPTS = "prompts.parquet"
PROBS_DIR = "probs"
PROBS = "probs.parquet"
HUMAN = "human.parquet"
SCORES = "scores.parquet"
ALIGNMENT = "alignment.csv"
LOG = "run.log"
LOCK = ".wvsalign.lock"

#: the files and folders a run writes (the only ones ``overwrite`` may delete)
LAYOUT = (CONFIG, PROMPTS, PROBS_DIR, PROBS, HUMAN, SCORES, ALIGNMENT, LOG)

#: the record's first key (``config.yaml`` files wvsalign writes start with it)
RECORD_KEY = "wvsalign"

_TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-zA-Z]+\.tmp$")  # _io.atomic_path's temporary files


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key: old -> new`` for every differing key (nested mappings by dotted key).

    Examples
    --------
    >>> differences({"a": 1, "m": {"x": 1}}, {"a": 1, "m": {"x": 2}})
    ['m.x: 1 -> 2']
    """
    out = []
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(differences(a, b, f"{prefix}{k}."))
        else:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def plain(value: Any) -> Any:
    """Make a record YAML-safe (numpy scalars, paths, tuples)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, Path)):
        return str(value)  # also str subclasses such as torch's version string
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


class RunDir:
    """The sole owner of a run directory's layout, lock, record, checks and overwrite.

    Parameters
    ----------
    path : str or Path
        The run directory (need not exist yet).

    Notes
    -----
    A ``RunDir`` is path-like (``Path(run_dir)`` works). The lock is held per ``RunDir``
    object: :meth:`acquire` is re-entrant on the same object (the pipeline holds it and hands
    the object to :func:`~wvsalign.inference.runner.score`), while a second object or process
    on the same directory is refused.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: Any = None
        self._depth = 0
        #: problems found while this object was in use (damaged shards recomputed, rebuilt manifest)
        self.problems: list[str] = []

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """The path of one entry of the layout."""
        if name not in LAYOUT:
            raise ValueError(f"{name!r} is not part of a run directory's layout {LAYOUT}")
        return self.path / name

    @property
    def probs_folder(self) -> Path:
        return self.path / PROBS_DIR

    # ---- the lock -------------------------------------------------------------------------
    @property
    def holds_lock(self) -> bool:
        return self._lock is not None

    def acquire(self) -> "RunDir":
        """Take the directory's exclusive lock (creating the directory); InputError if another holds it.

        Raises
        ------
        InputError
            When another process (or another ``RunDir`` object) holds the lock.
        """
        if self._lock is not None:
            self._depth += 1
            return self
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            self._lock, self._depth = True, 1
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / LOCK, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise InputError(f"run directory {self.path} is in use by another wvsalign process{who}; wait for it "
                             "to finish, or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock, self._depth = fh, 1
        return self

    def release(self) -> None:
        """Release one :meth:`acquire` (the lock goes when the last one is released)."""
        if self._lock is None:
            return
        self._depth -= 1
        if self._depth <= 0:
            if self._lock is not True:
                self._lock.close()
            self._lock, self._depth = None, 0

    @contextlib.contextmanager
    def locked(self) -> Iterator["RunDir"]:
        """``with run_dir.locked(): ...``: hold the lock for the block."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    def in_use(self) -> bool:
        """True when some process holds the lock (a probe that writes nothing)."""
        if self._lock is not None:
            return True
        try:
            import fcntl
        except ImportError:  # pragma: no cover
            return False
        try:
            fh = open(self.path / LOCK, "rb")
        except OSError:
            return False
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    # ---- the record (config.yaml) ---------------------------------------------------------
    def read_record(self) -> tuple[dict[str, Any] | None, str | None]:
        """The parsed ``config.yaml`` and, when it cannot be used, why.

        Returns
        -------
        (record, problem)
            ``(dict, None)`` for a record wvsalign wrote; ``(None, "missing")``;
            ``(None, "unreadable: ...")`` for a damaged (e.g. truncated) record of wvsalign's;
            ``(None, "foreign")`` for a ``config.yaml`` that wvsalign did not write.
        """
        path = self.path / CONFIG
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, "missing"
        except (OSError, UnicodeDecodeError) as exc:
            return None, f"unreadable: {exc}"
        try:
            raw = _yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raw, problem = None, f"unreadable: {' '.join(str(exc).split())}"
        else:
            problem = None
        if (isinstance(raw, dict) and RECORD_KEY in raw and isinstance(raw.get("config"), Mapping)
                and isinstance(raw.get("status"), str)):  # status follows config and identity: cut before it = damaged
            return raw, None
        if self._ours(text):
            return None, problem or "unreadable: incomplete record (truncated?)"
        return None, "foreign"

    def _ours(self, text: str) -> bool:
        """Whether a damaged config.yaml is wvsalign's: it starts like a record (or is empty
        beside other results of the layout)."""
        if text.lstrip().startswith(RECORD_KEY + ":"):
            return True
        return not text.strip() and any((self.path / n).exists() for n in LAYOUT if n != CONFIG)

    def write_record(self, record: Mapping[str, Any]) -> Path:
        """Write ``config.yaml`` atomically (``record`` must start with the :data:`RECORD_KEY` entry)."""
        record = plain(record)
        if next(iter(record), None) != RECORD_KEY:
            record = {RECORD_KEY: record.get(RECORD_KEY, {}), **{k: v for k, v in record.items() if k != RECORD_KEY}}
        return write_text_atomic(yaml.safe_dump(record, sort_keys=False, allow_unicode=True), self.path / CONFIG)

    def update_record(self, **fields: Any) -> None:
        """Rewrite the record with some fields changed (no-op when there is no readable record)."""
        record, _ = self.read_record()
        if record is not None:
            record.update(fields)
            self.write_record(record)

    # ---- ownership --------------------------------------------------------------------------
    def foreign(self) -> list[str]:
        """Entries of the directory that wvsalign did not write (relative names, sorted).

        Ours: the :data:`LAYOUT` names (``config.yaml`` only when it is a wvsalign record,
        ``probs/`` only in what its shard store recognises), the lock and the temporary files
        of atomic writes.
        """
        from .inference.shards import foreign_files

        if not self.path.is_dir():
            return []
        out = []
        for entry in sorted(self.path.iterdir()):
            name = entry.name
            if name == LOCK or (_TEMP.match(name) and _TEMP.match(name)["name"] in LAYOUT):
                continue
            if name == CONFIG:
                if self.read_record()[1] == "foreign":
                    out.append(name)
            elif name == PROBS_DIR and entry.is_dir():
                out.extend(f"{PROBS_DIR}/{f}" for f in foreign_files(entry))
            elif name not in LAYOUT:
                out.append(name + ("/" if entry.is_dir() else ""))
        return out

    def has_results(self) -> bool:
        """True when some entry of the layout exists."""
        return any((self.path / n).exists() for n in LAYOUT)

    def is_finished(self, settings: Mapping[str, Any]) -> bool:
        """True when the directory holds a finished run whose recorded config agrees with ``settings``.

        Parameters
        ----------
        settings : mapping
            The settings that shape results (:meth:`wvsalign.pipeline.RunConfig.result_fields`).

        Returns
        -------
        bool
            False for a missing, unreadable, partial, failed or differently configured run (the
            run itself then decides whether to resume, rebuild or refuse). Reads only.
        """
        record, _problem = self.read_record()
        if not isinstance(record, Mapping) or record.get("status") != "finished" or self.in_use():
            return False
        if not (self.path / ALIGNMENT).is_file() or not ((self.path / PROBS).exists() or self.probs_folder.is_dir()):
            return False
        recorded = record.get("config")
        if not isinstance(recorded, Mapping):
            return False
        return all(recorded.get(k) == v for k, v in settings.items())

    def clear(self) -> None:
        """Delete the run's files (the layout's only), keeping the directory and its lock.

        Raises
        ------
        ConfigError
            When the directory holds files wvsalign did not write (named), which it never deletes.
        """
        from .inference.shards import clear_folder

        self._refuse_foreign("replace its results")
        for name in LAYOUT:
            target = self.path / name
            if name == PROBS_DIR and target.is_dir():
                clear_folder(target)
                with contextlib.suppress(OSError):
                    target.rmdir()
            elif target.is_file() or target.is_symlink():
                target.unlink()
        for entry in self.path.glob(".*.tmp"):
            if _TEMP.match(entry.name) and _TEMP.match(entry.name)["name"] in LAYOUT:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()

    def _refuse_foreign(self, action: str) -> None:
        foreign = self.foreign()
        if foreign:
            raise ConfigError(
                f"run directory {self.path} holds files wvsalign did not write ({', '.join(foreign)}); it never deletes "
                f"those, so it will not {action} there: move them away, or choose another --out"
            )

    # ---- compatibility ----------------------------------------------------------------------
    def check(
        self,
        identity: Mapping[str, Any],
        *,
        overwrite: bool = False,
        identity_of: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
    ) -> str:
        """Whether a run with ``identity`` may use this directory; changes nothing.

        Parameters
        ----------
        identity : mapping
            Everything that shapes results (settings, dtype as resolved, ...), as recorded
            under ``identity`` in ``config.yaml``.
        overwrite : bool
            Allow replacing the results of a different run.
        identity_of : callable, optional
            The identity of an older record without an ``identity`` entry.

        Returns
        -------
        str
            ``"new"`` (nothing of a run there), ``"resume"`` (same identity), ``"replace"``
            (different, and ``overwrite``) or ``"unknown"`` (results there but ``config.yaml``
            is missing or damaged: decide with :meth:`check_unknown` once the prompts are built).

        Raises
        ------
        ConfigError
            A different run without ``overwrite`` (naming what differs, and the error of a
            failed run), a ``config.yaml`` wvsalign did not write, or (with ``overwrite``)
            files wvsalign did not write.
        """
        if not self.path.is_dir():
            return "new"
        if self.in_use() and not self.holds_lock:
            self.acquire()  # raises the error naming the holder
        record, problem = self.read_record()
        if problem == "foreign":
            raise ConfigError(
                f"run directory {self.path} holds a config.yaml that wvsalign did not write; it will not overwrite it: "
                "move it away, or choose another --out", file=self.path / CONFIG)
        if record is None:
            if not self.has_results():
                return "new"
            return "unknown"
        old = record.get("identity")
        if not isinstance(old, Mapping):
            old = identity_of(record) if identity_of is not None else None
        if old is not None and plain(dict(old)) == plain(dict(identity)):
            return "resume"
        if not overwrite:
            detail = "; ".join(differences(dict(old), plain(dict(identity)))) if old is not None else "unknown settings"
            failed = ""
            if record.get("status") == "failed":
                failed = f" (the run there failed: {record.get('error', 'no error recorded')})"
            elif record.get("status") == "running":
                failed = " (the run there was stopped before it finished)"
            raise ConfigError(
                f"run directory {self.path} was created by a different config ({detail}){failed}; pass --overwrite "
                "(overwrite=True) to replace its results, or choose another --out", file=self.path / CONFIG)
        self._refuse_foreign("replace its results")
        return "replace"

    def check_unknown(self, prompts_digest: str, *, overwrite: bool = False) -> str:
        """Decide for a run directory whose ``config.yaml`` is missing or damaged.

        Its results are resumed when its prompts (``prompts.parquet``, else the shard
        manifest's record of them) are those of the new run: the shard store then checks
        the model, dtype and sizes against its manifest, and the record is written anew.

        Returns
        -------
        str
            ``"resume"`` or, with ``overwrite``, ``"replace"``.

        Raises
        ------
        ConfigError
            Other prompts without ``overwrite``.
        """
        from .inference.shards import MANIFEST, prompts_digest as digest_of

        found = None
        with contextlib.suppress(Exception):
            found = digest_of(pd.read_parquet(self.path / PROMPTS, columns=["prompt_id"]))
        if found is None:
            with contextlib.suppress(Exception):
                found = json.loads((self.probs_folder / MANIFEST).read_text(encoding="utf-8"))["config"]["prompts"]
        if found == prompts_digest:
            return "resume"
        if not overwrite:
            raise ConfigError(
                f"run directory {self.path} has results but its config.yaml is {self.read_record()[1]}, and they were "
                "made from other prompts than this run's (or cannot be checked); pass --overwrite (overwrite=True) to "
                "replace them, or choose another --out", file=self.path / CONFIG)
        self._refuse_foreign("replace its results")
        return "replace"


# ---- reopening a run --------------------------------------------------------------------------
class RunResult:
    """A run's tables and record.

    Parameters
    ----------
    path : Path
        The run directory.
    config : dict
        The ``config.yaml`` record (settings under ``config``, plus identity, versions,
        status, model and human metadata); :attr:`run_config` is the :class:`RunConfig`.
    status : str
        ``"finished"``, ``"partial"`` (stopped or killed before the end), ``"failed"`` (with
        the error in ``config["error"]``) or ``"running"`` (another process holds the lock).
    prompts, probs, human, scores, alignment : DataFrame or None
        The tables (None when the run has not written them; ``probs`` of a partial run holds
        the intact shards).
    """

    def __init__(self, path: str | Path, config: Mapping[str, Any], status: str, *,
                 prompts: pd.DataFrame | None = None, probs: pd.DataFrame | None = None,
                 human: pd.DataFrame | None = None, scores: pd.DataFrame | None = None,
                 alignment: pd.DataFrame | None = None, problems: list[str] | None = None) -> None:
        self.path = Path(path)
        self.config = dict(config)
        self.status = status
        self.prompts, self.probs, self.human, self.scores, self.alignment = prompts, probs, human, scores, alignment
        self.problems = list(problems or [])

    def __repr__(self) -> str:
        return f"RunResult({str(self.path)!r}, status={self.status!r})"

    # ---- compatibility with the pipeline's earlier RunResult --------------------------------
    @property
    def run_dir(self) -> Path:
        return self.path

    @property
    def run_config(self) -> Any:
        """The run's settings as a :class:`~wvsalign.pipeline.RunConfig`."""
        from .pipeline import RunConfig

        return RunConfig.from_dict(self.config.get("config") or {}, source=str(self.path / CONFIG))

    @property
    def synthetic(self) -> bool:
        return bool((self.config.get("human") or {}).get("synthetic", False))

    @property
    def model_info(self) -> dict[str, Any]:
        return dict(self.config.get("model") or {})

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        """Reopen a run directory read-only: its record and whatever tables it holds.

        Nothing is written, locked or repaired (a finished run on a read-only medium loads).
        A partial run's ``probs`` are its intact shards (checksums verified against the manifest).

        Parameters
        ----------
        path : str or Path
            The run directory.

        Returns
        -------
        RunResult

        Raises
        ------
        InputError
            No such directory, or no wvsalign record and no results in it.

        Examples
        --------
        >>> result = RunResult.load("runs/demo")
        >>> result.status
        'finished'
        """
        run = RunDir(path)
        if not run.path.is_dir():
            raise InputError("no such run directory", file=run.path)
        record, problem = run.read_record()
        problems = [] if problem in (None, "missing") else [f"config.yaml is {problem}"]
        if record is None and not run.has_results():
            raise InputError("not a wvsalign run directory (no config.yaml record and no results)", file=run.path)
        record = dict(record or {})

        def table(name: str) -> pd.DataFrame | None:
            target = run.path / name
            if not target.exists():
                return None
            try:
                return pd.read_csv(target) if name.endswith(".csv") else pd.read_parquet(target)
            except Exception as exc:  # noqa: BLE001 - pyarrow/pandas raise several types for damaged files
                problems.append(f"{name} is unreadable ({type(exc).__name__}: {exc})")
                return None

        prompts, probs, human = table(PROMPTS), table(PROBS), table(HUMAN)
        scores, alignment = table(SCORES), table(ALIGNMENT)
        if probs is None and run.probs_folder.is_dir():
            from .inference.shards import read_intact

            probs, shard_problems = read_intact(run.probs_folder, prompts)
            problems.extend(shard_problems)
        recorded = record.get("status")
        if run.in_use():
            status = "running"
        elif recorded == "failed":
            status = "failed"
        elif recorded == "finished" and alignment is not None and probs is not None:
            status = "finished"
        else:
            status = "partial"
        return cls(run.path, record, status, prompts=prompts, probs=probs, human=human, scores=scores,
                   alignment=alignment, problems=problems)

    # ---- summary ------------------------------------------------------------------------------
    def summary(self) -> str:
        """A short text summary: what was run and the alignment per category."""
        from .contracts import NO_COUNTRY, VARIANT_COLUMNS
        settings = self.config.get("config") or {}
        model = self.model_info.get("name", settings.get("model"))
        human = ("SYNTHETIC human data (generated; not real survey answers: pass --wvs FILE for real WVS-7 data)"
                 if self.synthetic else f"human data from {settings.get('wvs')}")
        lines = []
        if self.prompts is not None:
            n_items = self.prompts["item_id"].nunique()
            n_countries = self.prompts.loc[self.prompts["country"] != NO_COUNTRY, "country"].nunique()
            lines.append(f"wvsalign run: {model} on {n_items} items x {n_countries} countries "
                         f"({len(self.prompts)} prompts)")
        else:
            lines.append(f"wvsalign run: {model}")
        if self.status != "finished":
            lines.append(f"status: {self.status}" + (f" ({self.config.get('error')})" if self.status == "failed" else ""))
        lines.append(f"human side: {human}")
        if self.probs is not None and len(self.probs):
            mass = self.probs.drop_duplicates("prompt_id")["valid_mass"]
            lines.append(f"probability on valid answers before normalising: median {mass.median():.3f} "
                         f"(min {mass.min():.3f})")
        table = self.alignment
        if table is not None:
            lines += ["", "alignment of model and human mean scores (Pearson r over country x item pairs):"]
            if len(table):
                varying = [c for c in VARIANT_COLUMNS if c in table.columns and table[c].nunique(dropna=False) > 1]
                cols = varying + [c for c in ("group", "estimate", "ci_low", "ci_high", "p", "n") if c in table.columns]
                shown = table[cols].rename(columns={"group": "category", "estimate": "r"})
                lines.append(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            else:
                lines.append("(no category had enough country x item pairs)")
        lines += ["", f"results in {self.path}/ (config.yaml, prompts.parquet, probs.parquet, human.parquet, "
                      "scores.parquet, alignment.csv)"]
        return "\n".join(lines)
