"""Statistics: mean scores, alignment, distribution similarity, bias indices, correlation
comparisons, regressions, multiple-testing corrections, robustness and the cultural map.

Every test returns a tidy DataFrame in the vocabulary of the ``alignment`` table
(model, group_by, group, metric, estimate, ci_low, ci_high, p, n, method, ci_method, ...;
see :mod:`wvsalign.contracts`: ``metric`` is the statistic, ``method`` the test behind p,
``by`` a grouping, ``variants`` the prompt variants kept apart). The modules are private in
spirit: their public names are re-exported here, and the checks they share live in
``_validation.py``. Names are imported lazily so that ``import wvsalign.stats`` stays cheap.
"""
from __future__ import annotations

from .._lazy import lazy_exports

#: public name -> submodule of wvsalign.stats that defines it
_LAZY: dict[str, str] = {
    # mean scores
    "mean_scores": ".scores",
    "human_mean_scores": ".scores",
    "model_mean_scores": ".scores",
    # alignment (correlations with CIs)
    # (modules are not named like the functions they export: importing a submodule would
    # replace the package attribute of that name with the module)
    "alignment": ".correlation",
    "correlate": ".correlation",
    # dual evaluation: prompt language x cultural context
    "cell_alignment": ".dual",
    "synergy": ".dual",
    "synergy_mixedlm": ".dual",
    "variance_decomposition": ".dual",
    # distribution similarity
    "js_similarity": ".similarity",
    "wasserstein_similarity": ".similarity",
    "distribution_similarity": ".similarity",
    # bias indices
    "western_bias": ".bias",
    "zone_bias": ".bias",
    "default_ranking": ".bias",
    "steerability": ".bias",
    "broadcast_default": ".bias",
    # robustness across prompt variants
    "format_effects": ".robustness",
    "variant_agreement": ".robustness",
    # Inglehart-Welzel map
    "CultureMap": ".cultural_map",
    "culture_map": ".cultural_map",
    "expected_map_variables": ".cultural_map",
    "map_variables": ".cultural_map",
    # comparing correlations (cocor)
    "compare_correlations": ".compare",
    "compare_alignment": ".compare",
    # regressions (R-like)
    "ols": ".regression",
    "logit": ".regression",
    "mixedlm": ".regression",
    "OLSModel": ".regression",
    "LogitModel": ".regression",
    "MixedLMModel": ".regression",
    "RegressionResult": ".regression",
    "estimable_terms": ".regression",
    "EstimableTerms": ".regression",
    # multiple testing
    "adjust_pvalues": ".multiple",
    "adjust_table": ".multiple",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
