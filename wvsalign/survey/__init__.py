"""Survey stage: the WVS-7 item bank, the country registry, WVS file readers, weighted
country distributions (the ``human`` table), published aggregates and synthetic data.

Names are imported lazily so that ``import wvsalign.survey`` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule of wvsalign.survey that defines it
_LAZY: dict[str, str] = {
    "ItemBank": "items",
    "Item": "items",
    "CATEGORIES": "items",
    "option_scores": "items",
    "Countries": "countries",
    "Country": "countries",
    "read_wvs": "readers",
    "WVSData": "readers",
    "file_columns": "readers",
    "human_distributions": "distributions",
    "dropped_cells": "distributions",
    "NEGATIVE_CODES": "distributions",
    "DataWarning": "distributions",
    "read_aggregates": "aggregates",
    "synthetic_respondents": "synthetic",
    "synthetic_human": "synthetic",
    "write_synthetic": "synthetic",
    "write_wvs": "synthetic",
    "country_latents": "synthetic",
    "item_parameters": "synthetic",
}

__all__ = sorted(_LAZY) + ["human_mean_scores"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"wvsalign.survey.{_LAZY[name]}"), name)
    if name == "human_mean_scores":  # implemented once, in the stats stage
        return getattr(importlib.import_module("wvsalign.stats"), name)
    raise AttributeError(f"module 'wvsalign.survey' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
