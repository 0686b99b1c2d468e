"""A self-contained HTML page: inline CSS, figures embedded as base64 PNG, no scripts, no network."""
from __future__ import annotations

import base64
import html
import struct
from dataclasses import dataclass
from typing import Sequence

from .tables import Table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.banner { background: #b00020; color: #fff; padding: 0.8em 1em; font-weight: bold; font-size: 1.1em;
          border-radius: 4px; margin: 1em 0; }
.meta { color: #555; font-size: 0.9em; }
table.report-table { border-collapse: collapse; font-size: 0.82em; margin: 0.5em 0; }
table.report-table th, table.report-table td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left;
                                               white-space: nowrap; }
table.report-table th { background: #f3f3f3; }
.scroll { overflow-x: auto; max-height: 40em; overflow-y: auto; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: 0.85em; }
ul.notes li { font-size: 0.9em; }
"""


@dataclass
class Figure:
    """An embedded figure: its name (HTML id ``figure-<name>``), caption and PNG bytes."""

    name: str
    caption: str
    png: bytes

    @property
    def size(self) -> tuple[int, int]:
        """Width and height in pixels, read from the PNG header."""
        if self.png[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError(f"figure {self.name}: not PNG data")
        return struct.unpack(">II", self.png[16:24])

    def to_html(self) -> str:
        width, height = self.size
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<figure id="figure-{html.escape(self.name)}">'
                f'<img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
                f'alt="{html.escape(self.caption)}"><figcaption>{html.escape(self.caption)}</figcaption></figure>')


def table_section(table: Table) -> str:
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (f'<section id="section-{html.escape(table.name)}"><h2>{html.escape(table.title)}</h2>'
            f'<div class="scroll">{table.to_html()}</div>{note}</section>')


def page(title: str, *, banner: str | None, intro: Sequence[str], meta_tables: Sequence[Table],
         tables: Sequence[Table], figures: Sequence[Figure], notes: Sequence[str]) -> str:
    """The report page.

    Parameters
    ----------
    title : str
    banner : str or None
        Shown at the top in red (the SYNTHETIC-data warning); None for no banner.
    intro : sequence of str
        Paragraphs (plain text) under the title: where the human data came from, the runs.
    meta_tables : sequence of Table
        Models, conditions, package versions (shown before the results).
    tables, figures : sequences
        The results, in order.
    notes : sequence of str
        What could not be computed and why.
    """
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if banner:
        parts.append(f'<div class="banner" id="synthetic-banner">{html.escape(banner)}</div>')
    parts += [f'<p class="meta">{html.escape(p)}</p>' for p in intro]
    parts += [table_section(t) for t in meta_tables]
    parts.append('<h2 id="results">Results</h2>')
    parts += [table_section(t) for t in tables]
    parts.append('<h2 id="figures">Figures</h2>')
    parts += [f.to_html() for f in figures]
    if notes:
        parts.append('<section id="section-notes"><h2>Notes</h2><ul class="notes">'
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
