"""The conversion cache: GGUF models converted once to a safetensors folder, then reloaded fast.

Loading a GGUF file with transformers dequantizes every tensor and converts the tokenizer
(SmolLM2-135M ~19 s, Gemma 3 270M ~48 s here). wvsalign does that once per GGUF file and
keeps the result under the cache root:

``$WVSALIGN_CACHE`` (default ``$XDG_CACHE_HOME/wvsalign``, else ``~/.cache/wvsalign``)::

    models/<sha256 of the GGUF file>/   config.json (no quantization_config), generation_config.json,
                                        tokenizer files, model.safetensors (tied weights stored once),
                                        wvsalign-cache.json (manifest: sizes and CRC-32 of every file)
    gguf/<file>.gguf                    GGUF files assembled from package chunks (gemma3-270m)
    file_hashes.json                    sha256 of large files by (path, inode, size, mtime), so a file is hashed once

An entry is built in a temporary folder beside its final place, checked (the reloaded
weights and tokenizer must equal the GGUF-loaded ones exactly), given its manifest last and
then renamed into place, under a per-entry lock. A killed writer leaves only a ``.tmp-*``
folder, which is never read and is removed later; an entry whose files do not match its
manifest (truncated, altered, missing) is reported and rebuilt.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterator

from .._io import atomic_path, fsync_path, sha256_file, write_text_atomic
from ..errors import ModelError
from .registry import ModelSpec, assemble_packaged_gguf, packaged_gguf_path

CACHE_ENV = "WVSALIGN_CACHE"
MANIFEST = "wvsalign-cache.json"
CACHE_FORMAT = 1
WEIGHTS = "model.safetensors"
HASHES = "file_hashes.json"
STALE_SECONDS = 3600
_CHUNK = 1 << 22
_PROBE_TEXT = "Question: how important is family? Answer: 10 <|im_end|> Ünïcödé 123"

#: in-process memo of file hashes: resolved path -> (size, mtime_ns, sha256, inode)
_HASH_MEMO: dict[str, tuple[int, int, str, int]] = {}


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache root: ``cache_dir``, else ``$WVSALIGN_CACHE``, else the user cache folder."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "wvsalign"


# ---- file hashes --------------------------------------------------------------------------
def file_sha256(path: str | Path, root: Path, *, progress: bool = False) -> str:
    """sha256 of a file, computed once per (path, inode, size, mtime) and remembered in the cache root."""
    known = remembered_sha256(path, root)
    if known is not None:
        return known
    from tqdm.auto import tqdm

    path = Path(path).resolve()
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"sha256 {path.name}",
              disable=not progress or size < (256 << 20)) as bar:
        sha = sha256_file(path, on_block=bar.update, block_size=_CHUNK)
    remember_sha256(path, sha, root)
    return sha


def remembered_sha256(path: str | Path, root: Path) -> str | None:
    """The remembered sha256 of a file (in memory or in the cache root) if its inode, size and
    mtime still match, else None (a file replaced by another, even of the same size and mtime,
    has another inode)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = str(path)
    known = _HASH_MEMO.get(key) or _disk_memo(root).get(key)
    if known and len(known) >= 4 and (known[0], known[1], known[3]) == (stat.st_size, stat.st_mtime_ns, stat.st_ino):
        _HASH_MEMO[key] = (stat.st_size, stat.st_mtime_ns, known[2], stat.st_ino)
        return known[2]
    return None


def remember_sha256(path: Path, sha256: str, root: Path) -> None:
    """Record a file's sha256 for its current inode, size and mtime (in memory and on disk)."""
    path = Path(path).resolve()
    stat = path.stat()
    _HASH_MEMO[str(path)] = (stat.st_size, stat.st_mtime_ns, sha256, stat.st_ino)
    memo = _disk_memo(root)
    memo[str(path)] = [stat.st_size, stat.st_mtime_ns, sha256, stat.st_ino]
    with contextlib.suppress(OSError):  # a read-only cache only costs a re-hash later
        write_text_atomic(json.dumps(memo, indent=0, sort_keys=True), root / HASHES)


def _disk_memo(root: Path) -> dict[str, list]:
    try:
        memo = json.loads((root / HASHES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def folder_hash(folder: Path, root: Path, *, progress: bool = False) -> str:
    """sha256 over the sorted (relative path, file sha256) of every non-hidden file in ``folder``."""
    import hashlib

    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for file in files:
        digest.update(f"{file.relative_to(folder).as_posix()}\0{file_sha256(file, root, progress=progress)}\n".encode())
    return digest.hexdigest()


# ---- locating GGUF files --------------------------------------------------------------------
def gguf_sha256(spec: ModelSpec, root: Path, *, progress: bool = False, compute: bool = True) -> str | None:
    """sha256 of the spec's GGUF file.

    A packaged file's sha256 is the one its package states, and the file is verified against
    it once per new file: hashed the first time it is seen and again only when its inode,
    size or mtime change (remembered with the sha256 in the cache root's ``file_hashes.json``,
    see :func:`remembered_sha256`); a file that does not match is a :class:`ModelError`. A
    packaged file still to be assembled from chunks is not built here (the package checks
    what it assembles). Other files are hashed once per (path, inode, size, mtime) likewise.

    ``compute=False`` only looks the hash up (stated or remembered), never reading a file:
    None when the file would have to be read.
    """
    if spec.package is not None:
        stated = spec.package.expected_sha256()
        path = packaged_gguf_path(spec, root)
        if stated:
            if compute and not spec.package.assemble and path.is_file():
                actual = file_sha256(path, root, progress=progress)
                if actual != stated:
                    raise ModelError(
                        f"model {spec.name!r}: {path} does not match the sha256 its package {spec.package.package} "
                        f"states ({actual[:12]}... != {stated[:12]}...); the file is damaged or altered: reinstall "
                        f"it with `{spec.package.install}`"
                    )
            return stated
    else:
        assert spec.path is not None
        path = spec.path
    return file_sha256(path, root, progress=progress) if compute else remembered_sha256(path, root)


def gguf_file(spec: ModelSpec, root: Path, *, progress: bool = False) -> Path:
    """The spec's GGUF file, assembling it (atomically) from package chunks when needed."""
    if spec.package is None:
        assert spec.path is not None
        if not spec.path.is_file():
            raise ModelError(f"model {spec.name!r}: no such GGUF file {spec.path}")
        return spec.path
    path = packaged_gguf_path(spec, root)
    if not spec.package.assemble:
        return path
    expected = spec.package.expected_sha256()
    if path.is_file() and (expected is None or file_sha256(path, root, progress=progress) == expected):
        return path
    if progress:
        print(f"wvsalign: writing {path.name} from the {spec.package.package} package to {path.parent}", file=sys.stderr)
    with _locked(path.with_suffix(".lock")), atomic_path(path) as tmp:
        assemble_packaged_gguf(spec, tmp)  # the package checks the result against its sha256
    if expected:
        remember_sha256(path, expected, root)
    return path


# ---- cache entries --------------------------------------------------------------------------
def entry_path(root: Path, sha256: str) -> Path:
    return root / "models" / sha256


def entry_problem(entry: Path, sha256: str | None = None, *, deep: bool = True) -> str | None:
    """Why ``entry`` cannot be trusted, or None when it is sound.

    ``deep`` checks every file's CRC-32 (reads the files once, ~0.1 s per 500 MB); otherwise
    only the manifest and file sizes are checked.
    """
    if not entry.is_dir():
        return "missing"
    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"no readable {MANIFEST}"
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        return "unknown manifest format"
    if sha256 is not None and manifest.get("gguf_sha256") != sha256:
        return "manifest names another GGUF file"
    files = manifest.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files or "config.json" not in files:
        return "manifest lists no weights or config"
    for name, meta in files.items():
        path = entry / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != meta.get("size"):
            return f"{name} has {path.stat().st_size} bytes, the manifest says {meta.get('size')}"
        if deep and _crc32(path) != meta.get("crc32"):
            return f"{name} does not match its checksum"
    return None


def cached_entry_for(spec: ModelSpec, root: Path, *, deep: bool = False, compute: bool = True) -> Path | None:
    """The sound cache entry of a GGUF spec, or None (also for folder models).

    ``compute=False`` does not hash the GGUF file: None unless its hash is stated or remembered.
    """
    if spec.kind != "gguf":
        return None
    try:
        sha = gguf_sha256(spec, root, compute=compute)
    except (ModelError, OSError):
        return None
    if sha is None:
        return None
    entry = entry_path(root, sha)
    return entry if entry_problem(entry, sha, deep=deep) is None else None


def ensure_converted(spec: ModelSpec, root: Path, *, progress: bool = True) -> tuple[Path, Path, str]:
    """A sound cache entry for a GGUF spec (built if missing or corrupt): (entry, gguf path, sha256)."""
    sha = gguf_sha256(spec, root, progress=progress)
    entry = entry_path(root, sha)
    if entry_problem(entry, sha) is None:
        return entry, _source_path(spec, root), sha
    with _writable(root), _locked(entry.with_name(f"{sha}.lock")):
        problem = entry_problem(entry, sha)  # another process may have built it meanwhile
        if problem is None:
            return entry, _source_path(spec, root), sha
        path = gguf_file(spec, root, progress=progress)
        if problem != "missing":  # always reported, progress or not
            print(f"wvsalign: cache entry {entry} is corrupt ({problem}); rebuilding it", file=sys.stderr)
        _convert(path, entry, sha, progress=progress)
    return entry, path, sha


def convert_gguf(
    path: str | Path, root: Path, *, sha256: str | None = None, progress: bool = True
) -> tuple[Path, Any, Any]:
    """Convert a GGUF file into its cache entry (replacing any existing one).

    Returns (entry folder, the GGUF-loaded model, its tokenizer); the model is what transformers
    gives for ``gguf_file=`` (float32, CPU), so callers can compare it with a cached reload.
    """
    path = Path(path)
    sha = sha256 or file_sha256(path, root, progress=progress)
    entry = entry_path(root, sha)
    with _writable(root), _locked(entry.with_name(f"{sha}.lock")):
        model, tokenizer = _convert(path, entry, sha, progress=progress)
    return entry, model, tokenizer


def _convert(path: Path, entry: Path, sha: str, *, progress: bool) -> tuple[Any, Any]:
    """Load the GGUF, write the entry in a temporary folder, check it, rename it into place."""
    _remove_stale(entry.parent)
    if progress:
        print(f"wvsalign: converting {path.name} once to a safetensors copy in {entry}", file=sys.stderr)
    model, tokenizer = load_gguf(path, progress=progress)
    tmp = entry.parent / f".tmp-{sha[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _write_entry(tmp, model, tokenizer, gguf=path, sha256=sha)
        _check_reload(tmp, model, tokenizer, path)
        _install(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model, tokenizer


def load_gguf(path: Path, *, progress: bool = True) -> tuple[Any, Any]:
    """Load a GGUF file with transformers (dequantized to float32, CPU, eval mode)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _progress_bars(progress):
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, local_files_only=True, dtype=torch.float32
            )
        except Exception as exc:  # a damaged or unsupported file fails in many ways
            raise ModelError(f"cannot load GGUF file {path}: {type(exc).__name__}: {exc}") from None
    return model.eval(), tokenizer


# ---- building an entry ------------------------------------------------------------------------
def _write_entry(folder: Path, model: Any, tokenizer: Any, *, gguf: Path, sha256: str) -> None:
    import transformers
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(model).__name__]
    config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_file(_untied_state_dict(model), str(folder / WEIGHTS), metadata={"format": "pt"})
    files = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        fsync_path(file)
        files[file.name] = {"size": file.stat().st_size, "crc32": _crc32(file)}
    manifest = {
        "format": CACHE_FORMAT,
        "gguf_sha256": sha256,
        "gguf_file": str(gguf),
        "transformers": transformers.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    fsync_path(folder / MANIFEST)


def _untied_state_dict(model: Any) -> dict[str, Any]:
    """The state dict with every shared tensor stored once (the first name keeps it)."""
    seen: set[tuple] = set()
    state = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tuple(tensor.stride()))
        if key in seen:
            continue
        seen.add(key)
        state[name] = tensor.detach().contiguous()
    return state


def _check_reload(folder: Path, model: Any, tokenizer: Any, gguf: Path) -> None:
    """Refuse an entry whose reload differs from the GGUF load in any weight or token."""
    import torch

    reloaded, tok = load_folder(folder, dtype=torch.float32)
    original = model.state_dict()
    again = reloaded.state_dict()
    differing = [k for k in original if k not in again or not torch.equal(original[k], again[k])]
    if differing:
        raise ModelError(f"converting {gguf} does not reload identically: tensor(s) {differing[:3]} differ")
    if tok(_PROBE_TEXT)["input_ids"] != tokenizer(_PROBE_TEXT)["input_ids"] or tok.chat_template != tokenizer.chat_template:
        raise ModelError(f"converting {gguf}: the saved tokenizer does not reproduce the GGUF tokenizer")


def load_folder(
    folder: Path, *, dtype: Any, trust_remote_code: bool = False, progress: bool = False
) -> tuple[Any, Any]:
    """Model (eval mode, CPU) and tokenizer from a local Hugging Face folder, never the hub."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with _progress_bars(progress):
            tokenizer = AutoTokenizer.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=trust_remote_code
            )
            model = AutoModelForCausalLM.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=trust_remote_code, dtype=dtype
            )
    except Exception as exc:  # missing files, unknown architectures, damaged weights
        raise ModelError(f"cannot load the model folder {folder}: {type(exc).__name__}: {exc}") from None
    return model.eval(), tokenizer


def _install(tmp: Path, entry: Path) -> None:
    """Rename a finished ``tmp`` entry into place, moving a corrupt old entry aside first."""
    fsync_path(tmp)
    if entry.exists():
        trash = entry.parent / f".trash-{entry.name[:16]}-{uuid.uuid4().hex[:8]}"
        os.replace(entry, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(tmp, entry)
    fsync_path(entry.parent)


def _remove_stale(models_dir: Path) -> None:
    """Remove temporary folders left by killed writers (older than an hour)."""
    if not models_dir.is_dir():
        return
    now = time.time()
    for child in models_dir.iterdir():
        if child.name.startswith((".tmp-", ".trash-")) and now - child.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(child, ignore_errors=True)


def _source_path(spec: ModelSpec, root: Path) -> Path:
    return packaged_gguf_path(spec, root) if spec.package is not None else spec.path  # type: ignore[return-value]


# ---- small utilities --------------------------------------------------------------------------
def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            crc = zlib.crc32(block, crc)
    return crc


@contextlib.contextmanager
def _writable(root: Path) -> Iterator[None]:
    """Turn a permission error in the cache into a ModelError that says what to do."""
    try:
        yield
    except PermissionError as exc:
        raise ModelError(
            f"cannot write the model cache in {root} ({exc.strerror}: {exc.filename}); "
            f"set {CACHE_ENV} to a writable folder"
        ) from None


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (released by the OS if the holder dies)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the atomic rename still protects readers
        yield
        return
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """Hide transformers' progress bars unless ``enabled`` (its GGUF loader's bar included)."""
    import functools

    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if not enabled:
        hf_logging.disable_progress_bar()
        if gguf_tqdm is not None:  # that bar ignores disable_progress_bar()
            gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        yield
    finally:
        if not enabled:
            if gguf_tqdm is not None:
                gguf_utils.tqdm = gguf_tqdm
            if was_enabled:
                hf_logging.enable_progress_bar()
