"""Survey stage: the WVS-7 item bank, the country registry, WVS file readers, weighted
country distributions (the ``human`` table), published aggregates and synthetic data.

Names are imported lazily so that ``import wvsalign.survey`` stays cheap.
"""
from __future__ import annotations

from .._lazy import lazy_exports

#: public name -> submodule of wvsalign.survey that defines it
_LAZY: dict[str, str] = {
    "ItemBank": ".items",
    "Item": ".items",
    "CATEGORIES": ".items",
    "option_scores": ".items",
    "Countries": ".countries",
    "Country": ".countries",
    "read_wvs": ".readers",
    "WVSData": ".wvsdata",
    "human_distributions": ".distributions",
    "dropped_cells": ".distributions",
    "NEGATIVE_CODES": ".distributions",
    "DataWarning": "wvsalign.errors",
    "read_aggregates": ".aggregates",
    "synthetic_respondents": ".synthetic",
    "synthetic_human": ".synthetic",
    "write_synthetic": ".synthetic",
    "write_wvs": ".synthetic",
    "country_latents": ".synthetic",
    "item_parameters": ".synthetic",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
