"""Reports: publication tables, figures and a self-contained HTML report from run and study directories.

``wvsalign.report(dirs, out="report")`` (the package itself is callable; it is
:func:`wvsalign.report.build.report`) writes ``report.html``, ``tables/`` and ``figures/``.
The pieces are usable from scripts: :mod:`wvsalign.report.tables` (publication tables from the
tidy tables, via :mod:`wvsalign.stats`) and :mod:`wvsalign.report.figures` (``plot_x(table,
ax=None) -> Axes``). Names load lazily: matplotlib is imported only when a figure is drawn.
"""
from __future__ import annotations

import sys
import types
from typing import Any

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "report": ".build",
    "Report": ".build",
    "build_tables": ".build",
    "build_figures": ".build",
    "Table": ".tables",
    "alignment_table": ".tables",
    "country_table": ".tables",
    "bias_table": ".tables",
    "comparison_table": ".tables",
    "regression_table": ".tables",
    "size_regressions": ".tables",
    "SizeRegressions": ".tables",
    "format_table": ".tables",
    "similarity_table": ".tables",
    "cultural_distance_table": ".tables",
    "ranking_table": ".tables",
    "category_means": ".tables",
    "stars": ".tables",
    "plot_alignment_heatmap": ".figures",
    "plot_country_alignment": ".figures",
    "plot_model_vs_human": ".figures",
    "plot_bias": ".figures",
    "plot_culture_map": ".figures",
    "plot_format_robustness": ".figures",
    "plot_alignment_vs_size": ".figures",
    "save_figure": ".figures",
    "culture_positions": ".culture",
    "load_runs": ".runs",
    "read_run": ".runs",
    "find_runs": ".runs",
    "combine": ".data",
    "ReportData": ".data",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, ("tables", "figures", "html", "build", "runs", "data",
                                                               "culture"))


class _CallableModule(types.ModuleType):
    """Lets ``wvsalign.report(dirs, out=...)`` call :func:`wvsalign.report.build.report` while
    ``wvsalign.report`` stays the package (``wvsalign.report.tables``, ...)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .build import report

        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
