"""Header checks shared by the survey readers (private: scikit-learn style).

Both the respondent reader (:func:`wvsalign.survey.read_wvs`) and the aggregate reader
(:func:`wvsalign.survey.read_aggregates`) match column names case-insensitively, refuse
duplicated names and sniff the CSV delimiter the same way, through these helpers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import InputError


def index_columns(header: Sequence[str], path: Path) -> dict[str, str]:
    """Upper-case name -> actual name; duplicated names (also case-insensitively) are errors."""
    seen: dict[str, list[int]] = {}
    for pos, name in enumerate(header):
        seen.setdefault(str(name).strip().upper(), []).append(pos)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if dups:
        name, positions = next(iter(dups.items()))
        more = f" (and {len(dups) - 1} more duplicated name(s))" if len(dups) > 1 else ""
        raise InputError(
            f"appears {len(positions)} times in the header (columns {', '.join(str(p + 1) for p in positions)}){more}; "
            "expected unique column names",
            file=path,
            column=header[positions[0]],
        )
    return {k: header[v[0]] for k, v in seen.items()}


def sniff_sep(first_line: str, path: Path | str) -> str:
    """Comma or semicolon, whichever splits the header line more often (comma on a tie)."""
    commas, semis = first_line.count(","), first_line.count(";")
    if commas == 0 and semis == 0:
        return "\t" if str(path).lower().endswith((".tsv", ".tsv.gz")) else ","
    return "," if commas >= semis else ";"
