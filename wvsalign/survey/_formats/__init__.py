"""The file formats of WVS respondent files, one module each (private).

``open_reader(path, sep)`` returns the :class:`~.base.Reader` of ``path``'s format:
:mod:`.csv` (comma or semicolon text), :mod:`.readstat` (SPSS .sav and Stata .dta),
:mod:`.parquet`; :class:`~.base.FrameReader` serves a DataFrame already in memory.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from .base import FrameReader, Reader

__all__ = ["FORMATS", "FrameReader", "Reader", "format_of", "open_reader"]

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".sav": "sav", ".zsav": "sav", ".dta": "dta",
           ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = {".gz", ".bz2", ".zst", ".lz4"}


def format_of(path: Path) -> str:
    """The format name ("csv", "sav", "dta", "parquet") of ``path`` from its suffixes."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext not in FORMATS:
        raise InputError(f"unknown file type {ext or '(none)'!r}; expected one of {sorted(FORMATS)}", file=path)
    if FORMATS[ext] != "csv" and path.suffix.lower() in _COMPRESSED:
        raise InputError(f"compressed {ext} files are not supported; expected an uncompressed {ext}", file=path)
    return FORMATS[ext]


def open_reader(path: Path, sep: str | None = None) -> Reader:
    """The reader of ``path`` (its header probed); ``sep`` is the CSV delimiter (None: sniffed)."""
    fmt = format_of(path)
    if not path.exists():
        raise InputError("file not found; expected a WVS-7 file (.csv, .sav, .dta or .parquet)", file=path)
    if path.is_dir():
        raise InputError("is a folder; expected a WVS-7 file (.csv, .sav, .dta or .parquet)", file=path)
    if fmt == "csv":
        from .csv import CSVReader

        return CSVReader(path, sep)
    if fmt == "parquet":
        from .parquet import ParquetReader

        return ParquetReader(path, sep)
    from .readstat import StatReader

    return StatReader(path, sep)
