"""The reader interface of the WVS file formats, and the reader of a DataFrame in memory."""
from __future__ import annotations

import pandas as pd


class Reader:
    """Header probe + column read for one file format.

    A reader learns the header (``columns``), the value labels of labelled columns
    (``value_labels``: column -> code -> label, .sav/.dta) and whether the file says it is
    synthetic (``synthetic_label``) when it is opened; ``read`` then returns the requested
    columns only (``numeric`` as float arrays or numeric series, ``other`` as they are).
    """

    columns: list[str]
    value_labels: dict[str, dict]
    synthetic_label: bool

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        raise NotImplementedError


class FrameReader(Reader):
    """A DataFrame already in memory, in the WVS column layout."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.columns = [str(c) for c in frame.columns]
        self.value_labels = {}
        self.synthetic_label = frame.attrs.get("synthetic") is True

    def read(self, *, numeric: list[str], other: list[str]) -> dict[str, object]:
        return {c: self.frame[c].reset_index(drop=True) for c in numeric + other}
