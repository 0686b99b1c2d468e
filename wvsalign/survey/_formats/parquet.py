"""Parquet respondent files, read with pyarrow."""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import InputError
from .base import Reader


class ParquetReader(Reader):
    """Parquet respondent files (pandas attrs in the schema metadata say whether they are synthetic)."""

    def __init__(self, path: Path, sep: str | None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.value_labels = {}
        if path.stat().st_size == 0:
            raise InputError("is empty; expected a parquet file", file=path)
        try:
            self._file = pq.ParquetFile(str(path))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot be read as parquet ({exc}); the file may be truncated or damaged", file=path) from None
        self.columns = list(self._file.schema_arrow.names)
        meta = self._file.schema_arrow.metadata or {}
        try:
            attrs = json.loads(meta.get(b"PANDAS_ATTRS", b"{}"))
        except ValueError:
            attrs = {}
        self.synthetic_label = isinstance(attrs, dict) and attrs.get("synthetic") is True

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        import pyarrow as pa

        try:
            table = self._file.read(columns=numeric + other)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot be read ({exc}); the file looks truncated or damaged", file=self.path) from None
        return {c: table.column(c).to_pandas() for c in numeric + other}
