"""Atomic file writes (a reader never sees a half-written file, a crash leaves none behind) and file hashes."""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(target)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_path(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _new_temp_file(target: Path) -> Path:
    """A new empty file beside ``target`` with the usual mode: created 0o666, so the kernel
    applies the process umask (mkstemp would make it 0600; reading the umask means setting it)."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"cannot create a temporary file beside {target}")


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a directory's entry to disk (best effort: errors are ignored)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_output_path(path: object, flag: str, *, kind: str = "file", suffixes: tuple[str, ...] = ()) -> Path:
    """Check an output path before any work: not empty, no parent that is a file, a file path
    that is not a folder (``kind="file"``) or a folder path that is not a file (``kind="dir"``),
    and one of ``suffixes`` when given. Missing parent folders are fine: they are created when
    the output is written.

    Raises
    ------
    InputError
        Naming ``flag``, the path and what was expected.
    """
    from .errors import InputError

    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"{flag} is empty; expected a {'folder' if kind == 'dir' else 'file'} path", value=path)
    target = Path(path)
    for parent in [target, *target.parents][1:] if kind == "file" else [*target.parents]:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{flag}: {parent} is a file, not a directory; expected a path under a folder", file=target)
    if kind == "file" and target.is_dir():
        raise InputError(f"{flag} is a directory; expected a file path", file=target)
    if kind == "dir" and target.exists() and not target.is_dir():
        raise InputError(f"{flag} is a file, not a directory; expected a run directory", file=target)
    if suffixes and target.suffix.lower() not in suffixes:
        raise InputError(f"{flag} has the suffix {target.suffix or '(none)'!r}; expected one of {list(suffixes)}",
                         file=target)
    return target


def write_parquet_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to parquet at ``path`` atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to CSV at ``path`` atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return Path(path)


def sha256_file(path: str | Path, *, on_block: Callable[[int], None] | None = None, block_size: int = 1 << 22) -> str:
    """The hex sha256 of a file, read in blocks (``on_block(n_bytes)`` after each, for progress bars)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(block_size):
            digest.update(block)
            if on_block is not None:
                on_block(len(block))
    return digest.hexdigest()
