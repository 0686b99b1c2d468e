"""The tables passed between stages (the contracts of ARCHITECTURE.md), the names they share,
and their checks.

Each stage takes and returns plain pandas DataFrames with at least the columns of
:data:`COLUMNS`. Extra columns are allowed and travel along. ``check(df, "human")`` raises an
:class:`~wvsalign.errors.InputError` naming the table, the missing columns and the columns
expected, or the first broken rule.

Vocabulary (one meaning per name, in every table and every argument):

``model``
    The model column of the probs, scores and alignment tables (a model name; in the scores
    table the people's rows have ``model == "human"``, :data:`HUMAN`).
``metric``
    The agreement statistic that ``estimate`` holds: ``pearson``, ``spearman``,
    ``js_similarity``, ``wasserstein_similarity``, ``steerability``, ``icc2_1``,
    ``krippendorff_alpha``, ``format_shift``, ``cultural_distance``, ... As an argument,
    ``metric=`` chooses that statistic (``alignment(scores, metric="spearman")``).
``method``
    The inference method behind ``p`` (and the test of a comparison): ``t-test``,
    ``permutation``, ``F-test``, ``steiger``, ``williams``, ``zou``, ...; ``"none"`` where the
    row has no p-value. ``ci_method`` names how the interval was obtained (``fisher``,
    ``percentile``, ``bca``, ``mcgraw-wong``, ``none``). As an argument, ``method=`` chooses
    the test (``compare_correlations(method="steiger")``, ``adjust_pvalues(method="holm")``).
``by``
    Grouping: the rows of an alignment-style table per ``group_by`` / ``group``
    (``by="category"``: one row per category). Never anything else.
``variants``
    The prompt-variant columns (:data:`VARIANT_COLUMNS`) kept apart rather than averaged
    (``model_mean_scores(probs, variants=[])`` averages over every variant).
``country``
    An ISO3 code; :data:`NO_COUNTRY` (``"NONE"``) marks the prompts whose template names no
    country (the no-country default condition).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError

#: the country of prompts whose template names no country (the no-country default condition)
NO_COUNTRY = "NONE"

#: the value of the ``model`` column on the people's rows of a scores table
HUMAN = "human"

#: minimum columns of each contract table
COLUMNS: dict[str, tuple[str, ...]] = {
    # one row per item (ItemBank.to_frame()); one row per item x option: ItemBank.options_frame()
    "items": ("item_id", "category", "stem", "options", "scale", "scores", "reverse"),
    "options": ("item_id", "category", "code", "label", "position", "score"),
    # one row per country x item x option
    "human": ("country", "item_id", "code", "share", "n", "n_eff"),
    # one row per prompt, model-neutral: system and user messages, labels and their codes
    "prompts": (
        "prompt_id", "item_id", "country", "language", "template", "option_order",
        "system", "user", "labels", "codes",
    ),
    # prompts rendered for one model (a backend's render): text ends where the answer begins;
    # continuations (what follows text when the model answers each label) and label_end (what
    # follows an answer) are what the scorer reads
    "rendered": (
        "prompt_id", "item_id", "country", "language", "template", "option_order",
        "labels", "codes", "text", "continuations", "label_end",
    ),
    # one row per prompt x option; valid_mass: the probability on the valid labels before normalising
    "probs": (
        "model", "prompt_id", "item_id", "country", "template", "code", "label", "prob", "logprob",
        "valid_mass",
    ),
    # one row per model x country x item (x kept variants); model == "human" on the people's rows
    "scores": ("model", "country", "item_id", "category", "mean_score"),
    # one row per model x group x metric
    "alignment": (
        "model", "group_by", "group", "metric", "estimate", "ci_low", "ci_high", "p", "n",
    ),
}

#: prompt-variant columns of the probs table (template always, the others where present); those
#: present travel into the scores table and tell model configurations apart in the stats tables
VARIANT_COLUMNS: tuple[str, ...] = ("template", "instruction", "label_style", "option_order", "language",
                                    "answer_prefix")

#: columns whose values sum to one within a group
SUMS_TO_ONE: dict[str, tuple[str, tuple[str, ...]]] = {
    "human": ("share", ("country", "item_id")),
    "probs": ("prob", ("model", "prompt_id")),
}


def check(df: pd.DataFrame, table: str, *, source: str | None = None, atol: float = 1e-6) -> pd.DataFrame:
    """Check that ``df`` satisfies the contract of ``table``; return it unchanged.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to check.
    table : str
        One of the contract names of :data:`COLUMNS` ("items", "options", "human", "prompts",
        "probs", "scores", "alignment").
    source : str, optional
        Where the table came from (a file name, say), put in the error message.
    atol : float, default 1e-6
        Tolerance of the sums-to-one rule (:data:`SUMS_TO_ONE`).

    Returns
    -------
    pandas.DataFrame
        ``df`` itself.

    Raises
    ------
    InputError
        When ``df`` is not a DataFrame, lacks a column of the contract (the message names the
        missing columns and the table expected) or breaks a sums-to-one rule.
    ValueError
        When ``table`` is not a contract name (a programming error).

    Examples
    --------
    >>> import pandas as pd
    >>> from wvsalign.contracts import check
    >>> check(pd.DataFrame({"country": ["USA"]}), "human")
    Traceback (most recent call last):
    ...
    wvsalign.errors.InputError: the human table lacks column(s) ['item_id', 'code', 'share', 'n', 'n_eff']; expected at least ['country', 'item_id', 'code', 'share', 'n', 'n_eff']
    """
    if table not in COLUMNS:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(COLUMNS)}")
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame for the {table} table, got {type(df).__name__}", file=source)
    missing = [c for c in COLUMNS[table] if c not in df.columns]
    if missing:
        raise InputError(
            f"the {table} table lacks column(s) {missing}; expected at least {list(COLUMNS[table])}",
            file=source,
        )
    if table in SUMS_TO_ONE and len(df):
        col, keys = SUMS_TO_ONE[table]
        keys = tuple(k for k in keys if k in df.columns)
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise InputError(f"{col} must be numeric", file=source, column=col, row=row, value=df[col].iloc[row])
        if (values < -atol).any() or (values > 1 + atol).any():
            row = int(np.flatnonzero(((values < -atol) | (values > 1 + atol)).to_numpy())[0])
            raise InputError(f"{col} must lie in [0, 1]", file=source, column=col, row=row, value=values.iloc[row])
        sums = values.groupby([df[k] for k in keys], sort=False).sum()
        bad = sums[(sums - 1).abs() > atol]
        if len(bad):
            raise InputError(
                f"{col} must sum to 1 within each {' x '.join(keys)}; group {bad.index[0]} sums to {bad.iloc[0]:.6g}",
                file=source,
                column=col,
            )
    return df
