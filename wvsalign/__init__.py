"""wvsalign: whose values does a language model reproduce? (WVS-7 alignment toolkit).

The public API is imported lazily so that ``import wvsalign`` (and the CLI's ``--help``)
stays fast; torch and transformers load only when a model is used.
"""
from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    "ItemBank": "wvsalign.survey.items",
    "Item": "wvsalign.survey.items",
    "CATEGORIES": "wvsalign.survey.items",
    "Countries": "wvsalign.survey.countries",
    "read_wvs": "wvsalign.survey.readers",
    "WVSData": "wvsalign.survey.readers",
    "human_distributions": "wvsalign.survey.distributions",
    "read_aggregates": "wvsalign.survey.aggregates",
    "synthetic_human": "wvsalign.survey.synthetic",
    "build_prompts": "wvsalign.prompts",
    "NO_COUNTRY": "wvsalign.prompts",
    "load_backend": "wvsalign.inference.models",
    "Backend": "wvsalign.inference.models",
    "HFBackend": "wvsalign.inference.models",
    "load_model": "wvsalign.inference.models",
    "list_models": "wvsalign.inference.models",
    "score": "wvsalign.inference.runner",
    "RunConfig": "wvsalign.pipeline",
    "run": "wvsalign.pipeline",
    "mean_scores": "wvsalign.stats.scores",
    "alignment": "wvsalign.stats.correlation",
    "InputError": "wvsalign.errors",
    "WvsalignError": "wvsalign.errors",
}

#: subpackages reachable as attributes (wa.stats.ols, ...)
_SUBMODULES = ("survey", "prompts", "inference", "stats", "pipeline", "tables", "errors")

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, _SUBMODULES)
