"""CSV respondent files: the header probed with the csv module, the columns read with pyarrow."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ...errors import InputError
from .._validation import sniff_sep
from .base import Reader


def check_text(head: bytes, path: Path) -> None:
    """Refuse UTF-16, binary and non-UTF-8 (e.g. Latin-1) text from the first bytes of a file."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("is UTF-16 text; expected UTF-8 (save the file as UTF-8 CSV)", file=path)
    if b"\x00" in head:
        raise InputError("is a binary file, not CSV text; expected UTF-8 comma- or semicolon-separated text", file=path)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut at the end of the probe
            return
        line = head[: exc.start].count(b"\n") + 1
        raise InputError(f"line {line}: byte {head[exc.start]:#04x} is not UTF-8 (Latin-1 or Windows-1252 text?); "
                         "expected UTF-8 (save the file as UTF-8 CSV)", file=path) from None


class CSVReader(Reader):
    """Comma- or semicolon-separated text (optionally compressed), read with pyarrow."""

    def __init__(self, path: Path, sep: str | None) -> None:
        import pyarrow as pa

        self.path = path
        self.value_labels = {}
        self.synthetic_label = False
        try:
            with pa.input_stream(str(path), compression="detect") as stream:
                head = stream.read(1 << 20)
        except OSError as exc:  # unreadable, or a ".gz" name on a file that is not gzip
            reason = " ".join(str(exc).split())
            hint = f"; the name ends in {path.suffix} but the file is not {path.suffix[1:]}-compressed (rename it)" \
                if path.suffix.lower() in {".gz", ".bz2", ".zst", ".lz4"} else ""
            raise InputError(f"cannot be read ({reason}){hint}", file=path) from None
        check_text(head, path)
        if not head.strip():
            raise InputError("is empty; expected a header line of WVS column names and respondent rows", file=path)
        text = head.decode("utf-8-sig", errors="replace")
        first_line = text.splitlines()[0] if text.splitlines() else ""
        self.sep = sep or sniff_sep(first_line, path)
        self.decimal = "," if self.sep == ";" and DECIMAL_COMMA.search(text[len(first_line):]) else "."
        # the names as written (pyarrow selects columns by them); matching strips and ignores case
        self.columns = list(next(csv.reader([first_line], delimiter=self.sep)))
        if len(self.columns) == 1:
            found = {"\t": "tabs", ";": "semicolons", ",": "commas", "|": "pipes"}
            hint = [v for k, v in found.items() if k in first_line and k != self.sep]
            raise InputError(
                f"the header splits into a single column with delimiter {self.sep!r}"
                f"{' but contains ' + ', '.join(hint) if hint else ''}; expected a comma- or semicolon-separated WVS "
                "file (pass sep= for another delimiter)",
                file=path,
            )

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        wanted = numeric + other
        types = {c: pa.float64() for c in numeric}
        for attempt in ("fast", "text"):
            try:
                table = pacsv.read_csv(
                    str(self.path),
                    read_options=pacsv.ReadOptions(block_size=1 << 24),
                    parse_options=pacsv.ParseOptions(delimiter=self.sep),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=wanted, column_types=types, decimal_point=self.decimal
                    ),
                )
                break
            except pa.ArrowInvalid as exc:
                message = str(exc)
                if "Expected" in message and "columns" in message:
                    raise self._ragged_row_error() from None
                if attempt == "text" or "conversion error" not in message:
                    raise InputError(f"cannot be parsed as CSV: {message.splitlines()[0]}", file=self.path) from None
                types = {c: pa.string() for c in numeric}  # slow path: text, reported value by value
        out: dict[str, object] = {}
        for name in wanted:
            column = table.column(name)
            if pa.types.is_floating(column.type):
                out[name] = column.to_numpy()
            else:
                out[name] = column.to_pandas()
        return out

    def _ragged_row_error(self) -> InputError:
        """Find the first row whose field count differs from the header's (error path only)."""
        import pyarrow as pa

        expected = len(self.columns)
        with pa.input_stream(str(self.path), compression="detect") as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
            reader = csv.reader(text, delimiter=self.sep)
            next(reader, None)
            row = 0
            for fields in reader:
                if not fields:
                    continue
                row += 1
                if len(fields) != expected:
                    last = next(reader, None) is None
                    what = "the last row is cut short: the file looks truncated" if last and len(fields) < expected else "a row has the wrong number of fields"
                    return InputError(
                        f"{what} ({len(fields)} fields); expected {expected} fields as in the header",
                        file=self.path,
                        row=row,
                    )
        return InputError(f"rows with a field count other than the header's {expected}; expected a rectangular CSV", file=self.path)


#: a field such as ;1,25; in a semicolon file: decimal commas (European spreadsheet export)
DECIMAL_COMMA = re.compile(r"(?:^|;)\s*\"?-?\d+,\d+\"?\s*(?:;|$)", re.MULTILINE)
