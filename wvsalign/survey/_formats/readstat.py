"""SPSS (.sav, .zsav) and Stata (.dta) respondent files, read with pyreadstat."""
from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from .base import Reader


class StatReader(Reader):
    """SPSS .sav and Stata .dta through pyreadstat."""

    def __init__(self, path: Path, sep: str | None) -> None:
        import pyreadstat

        self.path = path
        self._fn = pyreadstat.read_sav if path.suffix.lower() in {".sav", ".zsav"} else pyreadstat.read_dta
        if path.stat().st_size == 0:
            raise InputError(f"is empty; expected an {path.suffix} data file", file=path)
        try:
            _, meta = self._fn(str(path), metadataonly=True)
        except pyreadstat.ReadstatError as exc:
            raise InputError(f"cannot be read as {path.suffix} ({exc}); the file may be truncated or damaged", file=path) from None
        self.columns = list(meta.column_names)
        self.value_labels = dict(meta.variable_value_labels or {})
        self.synthetic_label = "SYNTHETIC" in str(meta.file_label or "").upper()
        self.n_rows = meta.number_rows
        if path.suffix.lower() == ".dta":
            self._check_dta_end()

    def _check_dta_end(self) -> None:
        with open(self.path, "rb") as fh:
            start = fh.read(11)
            fh.seek(max(0, self.path.stat().st_size - 16))
            end = fh.read()
        if start == b"<stata_dta>" and not end.rstrip().endswith(b"</stata_dta>"):
            raise InputError("ends before its closing </stata_dta> tag: the file looks truncated; expected a complete .dta file", file=self.path)

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        import pyreadstat

        try:
            frame, _ = self._fn(str(self.path), usecols=numeric + other, apply_value_formats=False, user_missing=True)
        except pyreadstat.ReadstatError as exc:
            raise InputError(f"cannot be read ({exc}); the file looks truncated or damaged", file=self.path) from None
        if self.n_rows not in (None, -1) and len(frame) != self.n_rows:
            raise InputError(f"holds {len(frame)} rows but its header promises {self.n_rows}: the file looks truncated", file=self.path)
        return {c: frame[c] for c in numeric + other}
