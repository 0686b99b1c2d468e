"""Bias indices: whose opinions a model reproduces.

- ``western_bias``: mean per-country alignment over Western countries minus the mean over the
  other countries, with a stratified bootstrap CI (countries resampled within each side, as
  scipy.stats.bootstrap on two samples) and a permutation p (the Western label shuffled
  across countries; all arrangements when there are at most ``n_perm`` of them).
- ``zone_bias``: the same for each Inglehart-Welzel cultural zone against all other countries.
- ``default_ranking``: for the no-country default condition (country ``NONE``), the countries
  ranked by how close the model's default answers are to each country's people.
- ``steerability``: per country, alignment with the country persona minus alignment of the
  default answers, with a paired item bootstrap CI and a permutation p (persona and default
  answers swapped item by item: the null of a persona that changes nothing).

"Alignment of a country" is any per-country value in an alignment-style table (group_by ==
"country"): a correlation over items (``alignment(scores, by="country")``) or a distribution
similarity (``distribution_similarity(..., by="country")``). A scores table is turned into
per-country correlations first.
"""
from __future__ import annotations

import itertools
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import contracts
from ..contracts import HUMAN
from ..errors import InputError, check_choice
from ..survey.countries import Countries
from ..survey.items import ItemBank
from .bootstrap import (
    CI_METHODS, check_count, check_level, cluster_sums, draw_counts, interval, permutation_pvalue,
)
from .correlation import (
    ALIGNMENT_COLUMNS, METRICS, alignment, alignment_frame, group_labels, model_keys, pearson_from_sums,
)
from ._validation import check_table, human_rows, variant_columns
from .scores import DEFAULT_COUNTRY
from .similarity import METRICS as SIMILARITY_METRICS
from .similarity import distribution_similarity

BIAS_COLUMNS = ALIGNMENT_COLUMNS + ("mean_in", "mean_out", "n_in", "n_out")


# ---- the two-sample test ------------------------------------------------------------------------
def mean_difference(
    values: np.ndarray,
    inside: np.ndarray,
    *,
    n_boot: int = 2000,
    n_perm: int = 9999,
    seed: int = 0,
    level: float = 0.95,
    ci_method: str = "percentile",
) -> dict[str, np.ndarray]:
    """Mean of the ``inside`` columns minus mean of the others, for every row of ``values`` (R, C).

    Bootstrap: a fresh ``default_rng(seed)`` draws the inside columns, then the outside ones
    (as scipy.stats.bootstrap((inside, outside), ...)). Permutation: the inside labels are
    shuffled across columns (rng ``default_rng([1, seed])``), or all C-choose-n arrangements
    are enumerated when there are at most ``n_perm``; two-sided p as scipy.stats.permutation_test.
    Returns estimate, ci_low, ci_high, p, mean_in, mean_out (each (R,)), n_in, n_out.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    inside = np.asarray(inside, dtype=bool)
    n_in, n_out = int(inside.sum()), int((~inside).sum())
    a, b = values[:, inside], values[:, ~inside]
    rows = values.shape[0]
    mean_in = a.mean(axis=1) if n_in else np.full(rows, np.nan)
    mean_out = b.mean(axis=1) if n_out else np.full(rows, np.nan)
    estimate = mean_in - mean_out
    low = np.full(rows, np.nan)
    high = np.full(rows, np.nan)
    p = np.full(rows, np.nan)
    if n_in >= 1 and n_out >= 1 and n_boot:
        rng = np.random.default_rng(seed)
        m_in = draw_counts(n_in, n_boot, rng)
        m_out = draw_counts(n_out, n_boot, rng)
        theta_b = (m_in @ a.T) / n_in - (m_out @ b.T) / n_out  # (B, R)
        jack = None
        if ci_method == "bca":
            jack = [(a.sum(1, keepdims=True) - a) / max(n_in - 1, 1) - mean_out[:, None],
                    mean_in[:, None] - (b.sum(1, keepdims=True) - b) / max(n_out - 1, 1)]
        low, high = interval(theta_b, estimate, level=level, method=ci_method, jackknife=jack)
    if n_in >= 1 and n_out >= 1 and n_perm:
        labels, exact = _label_draws(values.shape[1], n_in, n_perm, seed)
        null = (labels @ values.T) / n_in - ((1.0 - labels) @ values.T) / n_out  # (P, R)
        p = permutation_pvalue(null, estimate, exact=exact)
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "p": p, "mean_in": mean_in,
            "mean_out": mean_out, "n_in": n_in, "n_out": n_out}


def _label_draws(n: int, n_in: int, n_perm: int, seed: int) -> tuple[np.ndarray, bool]:
    """(P, n) 0/1 matrices marking the inside columns: all arrangements, or ``n_perm`` random ones."""
    if math.comb(n, n_in) <= n_perm:
        combos = np.array(list(itertools.combinations(range(n), n_in)), dtype=np.int64)
        labels = np.zeros((len(combos), n))
        labels[np.arange(len(combos))[:, None], combos] = 1.0
        return labels, True
    rng = np.random.default_rng([1, seed])
    u = rng.random((n_perm, n))
    cut = np.partition(u, n_in - 1, axis=1)[:, n_in - 1:n_in]
    return (u <= cut).astype(np.float64), False


# ---- per-country alignment -----------------------------------------------------------------------
def per_country(
    data: pd.DataFrame, *, metric: str = "pearson", human_model: str = HUMAN, function: str = "western_bias"
) -> tuple[pd.DataFrame, list[str]]:
    """Per-country values (an alignment table restricted to group_by == "country") and its key columns.

    ``data`` must satisfy the alignment contract or the scores contract (then per-country
    correlations with ``metric`` are computed first); anything else is an :class:`InputError`
    naming the columns of both."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"{function}(data=...) expects an alignment or scores table (DataFrame), "
                         f"got {type(data).__name__}")
    is_alignment = all(c in data.columns for c in contracts.COLUMNS["alignment"])
    is_scores = all(c in data.columns for c in contracts.COLUMNS["scores"])
    if not is_alignment and not is_scores:
        lacks = {t: [c for c in contracts.COLUMNS[t] if c not in data.columns] for t in ("alignment", "scores")}
        raise InputError(f"{function}(data=...) expects an alignment table with per-country rows (columns "
                         f"{list(contracts.COLUMNS['alignment'])}; lacks {lacks['alignment']}) or a scores table "
                         f"(columns {list(contracts.COLUMNS['scores'])}; lacks {lacks['scores']})")
    if not is_alignment:
        data = alignment(data, by="country", metric=metric, ci="none", human_model=human_model)
    check_table(data, "alignment", argument="data", function=function)
    rows = data[data["group_by"] == "country"]
    if rows.empty:
        raise InputError("the alignment table has no per-country rows (group_by == 'country'); "
                         "compute it with alignment(scores, by='country')", column="group_by")
    keys = ["model"] + variant_columns(rows) + ["metric"]
    return rows, keys


def _membership(codes: Sequence[str], countries: Countries | Mapping | None, field: str) -> pd.Series:
    """Per country code: the registry's ``field`` (western flag or cultural zone)."""
    if countries is None:
        countries = Countries.load()
    out = {}
    for code in codes:
        if isinstance(countries, Mapping):
            if code not in countries:
                raise InputError(f"country {code!r} is not in the given {field} mapping", column="group", value=code)
            out[code] = countries[code]
        else:
            if code not in countries:
                raise InputError(f"country {code!r} is not in the country registry; pass countries= with its "
                                 f"{field}", column="group", value=code)
            out[code] = getattr(countries.get(code), field)
    return pd.Series(out)


def _group_test(
    rows: pd.DataFrame,
    keys: list[str],
    split: Mapping[str, pd.Series],
    *,
    group_by: str,
    n_boot: int,
    n_perm: int,
    seed: int,
    level: float,
    ci_method: str,
) -> pd.DataFrame:
    """One mean-difference row per key combination and per named split (country -> inside flag)."""
    n_boot = check_count(n_boot, "n_boot", 2)
    n_perm = check_count(n_perm, "n_perm", 1)
    level = check_level(level)
    ci_method = check_choice(ci_method, "ci_method", CI_METHODS)
    dup = rows.duplicated(keys + ["group"])
    if dup.any():
        first = rows[dup].iloc[0]
        raise InputError(f"more than one per-country value for {dict(first[keys + ['group']])}; keep one row per "
                         f"model configuration, metric and country (the variant columns that tell them apart)",
                         column="group")
    wide = rows.pivot(index=keys, columns="group", values="estimate")
    out = []
    for name, inside_by_country in split.items():
        # rows with the same set of available countries share their draws
        available = ~wide.isna()
        for _, idx in available.groupby(list(available.columns), sort=False).groups.items():
            sub = wide.loc[idx]
            cols = [c for c in sub.columns if sub[c].notna().all()]
            inside = inside_by_country.reindex(cols, fill_value=False).to_numpy(dtype=bool)
            res = mean_difference(sub[cols].to_numpy(), inside, n_boot=n_boot, n_perm=n_perm, seed=seed,
                                  level=level, ci_method=ci_method)
            if res["n_in"] == 0 or res["n_out"] == 0:
                continue
            out.append(alignment_frame(
                sub.index.to_frame(index=False), group_by=group_by, group=name,
                **{k: res[k] for k in ("estimate", "ci_low", "ci_high", "p")}, n=len(cols), method="permutation",
                ci_method=ci_method, resampled="country", level=level,
                **{k: res[k] for k in ("mean_in", "mean_out", "n_in", "n_out")}))
    if not out:
        raise InputError(f"no model has countries on both sides of the {group_by} split; check the country codes "
                         f"and the registry's {group_by} values", column="group")
    result = pd.concat(out, ignore_index=True)
    variant = [k for k in keys if k not in ("model", "metric")]
    return result[["model"] + variant + list(BIAS_COLUMNS[1:])].reset_index(drop=True)


def western_bias(
    data: pd.DataFrame,
    countries: Countries | Mapping[str, bool] | None = None,
    *,
    metric: str = "pearson",
    n_boot: int = 2000,
    n_perm: int = 9999,
    seed: int = 0,
    level: float = 0.95,
    ci_method: str = "percentile",
    human_model: str = HUMAN,
) -> pd.DataFrame:
    """Alignment(Western countries) - alignment(non-Western countries) per model and metric.

    Parameters
    ----------
    data : pandas.DataFrame
        An alignment table with per-country rows (group_by "country"), or a scores table
        (then per-country correlations with ``metric`` are computed first).
    countries : Countries or mapping, optional
        The registry (default: the embedded one; its ``western`` flag) or a mapping ISO3 -> bool.
    metric : {"pearson", "spearman"}, default "pearson"
        The correlation, when ``data`` is a scores table.
    n_boot : int, default 2000
        Bootstrap replicates (countries resampled within each side).
    n_perm : int, default 9999
        Permutations of the Western label (all arrangements when there are at most n_perm).
    seed, level, ci_method
        Seed, confidence level, bootstrap interval ("percentile" or "bca").
    human_model : str, default "human"
        The ``model`` value of the people's rows of a scores table.

    Returns
    -------
    pandas.DataFrame
        The alignment vocabulary (group_by "western", group "western vs non-western", metric
        = the per-country metric, estimate = the difference, p from the permutation test,
        method "permutation", n = countries) plus mean_in, mean_out, n_in, n_out, and the group
        sizes again under their own names, n_western and n_non_western.

    Notes
    -----
    The groups are unequal: of the 55 countries of the default set only 9 are Western under the
    registry's rule (see ``wvsalign/data/country_sets.yaml``), so the Western mean rests on 9
    countries; the CI and the permutation p account for it, a reader should know it.

    Raises
    ------
    InputError
        When ``data`` is neither table (the columns of both are named), has no per-country
        rows, or a country is not in ``countries``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from wvsalign import stats
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["USA", "DEU", "SWE", "JPN", "NGA", "BRA"], ["Q1", "Q2", "Q3", "Q4"]],
    ...                                   names=["country", "item_id"]).to_frame(index=False).assign(category="k")
    >>> people = grid.assign(model="human", mean_score=rng.uniform(0, 1, len(grid)))
    >>> scores = pd.concat([people, people.assign(model="m", mean_score=people["mean_score"] + 0.1)])
    >>> row = stats.western_bias(scores, n_boot=200, n_perm=200).iloc[0]
    >>> row.metric, row.method, int(row.n_in), int(row.n_out)
    ('pearson', 'permutation', 3, 3)
    """
    rows, keys = per_country(data, metric=metric, human_model=human_model, function="western_bias")
    western = _membership(rows["group"].unique(), countries, "western").astype(bool)
    out = _group_test(rows, keys, {"western vs non-western": western}, group_by="western", n_boot=n_boot,
                      n_perm=n_perm, seed=seed, level=level, ci_method=ci_method)
    return out.assign(n_western=out["n_in"], n_non_western=out["n_out"])


def zone_bias(
    data: pd.DataFrame,
    countries: Countries | Mapping[str, str] | None = None,
    *,
    metric: str = "pearson",
    n_boot: int = 2000,
    n_perm: int = 9999,
    seed: int = 0,
    level: float = 0.95,
    ci_method: str = "percentile",
    human_model: str = HUMAN,
) -> pd.DataFrame:
    """Alignment(countries of a cultural zone) - alignment(all other countries), per zone.

    As :func:`western_bias`, one row per model x metric x Inglehart-Welzel zone. p-values are
    per zone; correct them for the number of zones (e.g. Holm, :func:`adjust_table`) before
    reading them as a family.

    Parameters
    ----------
    data : pandas.DataFrame
        An alignment table with per-country rows, or a scores table.
    countries : Countries or mapping, optional
        The registry (its ``zone``) or a mapping ISO3 -> zone.
    metric, n_boot, n_perm, seed, level, ci_method, human_model
        As in :func:`western_bias`.

    Returns
    -------
    pandas.DataFrame
        As :func:`western_bias`, with group_by "zone" and group = the zone.

    Raises
    ------
    InputError
        As :func:`western_bias`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from wvsalign import stats
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["USA", "DEU", "SWE", "JPN", "NGA", "BRA"], ["Q1", "Q2", "Q3", "Q4"]],
    ...                                   names=["country", "item_id"]).to_frame(index=False).assign(category="k")
    >>> people = grid.assign(model="human", mean_score=rng.uniform(0, 1, len(grid)))
    >>> scores = pd.concat([people, people.assign(model="m", mean_score=people["mean_score"] + 0.1)])
    >>> sorted(stats.zone_bias(scores, n_boot=50, n_perm=50)["group"])[:2]
    ['African-Islamic', 'Confucian']
    """
    rows, keys = per_country(data, metric=metric, human_model=human_model, function="zone_bias")
    zones = _membership(rows["group"].unique(), countries, "zone").astype(str)
    split = {zone: zones == zone for zone in sorted(zones.unique())}
    return _group_test(rows, keys, split, group_by="zone", n_boot=n_boot, n_perm=n_perm, seed=seed, level=level,
                       ci_method=ci_method)


# ---- default condition ---------------------------------------------------------------------------
def broadcast_default(frame: pd.DataFrame, countries: Sequence[str], default_country: str = "NONE") -> pd.DataFrame:
    """The rows of the no-country default condition repeated once per country (country column replaced).

    A model asked without a country gives one answer per item; comparing it with each country's
    people needs that answer once per country.

    Parameters
    ----------
    frame : pandas.DataFrame
        A scores or probs table holding the default condition's rows (``country == default_country``).
    countries : sequence of str
        The countries to repeat them for.
    default_country : str, default "NONE"
        The country value of the default condition (:data:`wvsalign.contracts.NO_COUNTRY`).

    Returns
    -------
    pandas.DataFrame
        The default rows, once per country (a probs table's ``prompt_id`` gets ``@<country>``).

    Raises
    ------
    InputError
        When ``frame`` has no default rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from wvsalign import stats
    >>> rows = pd.DataFrame({"model": "m", "country": "NONE", "item_id": ["Q1", "Q2"], "mean_score": [0.2, 0.7]})
    >>> out = stats.broadcast_default(rows, ["USA", "JPN"])
    >>> sorted(zip(out["country"], out["item_id"]))
    [('JPN', 'Q1'), ('JPN', 'Q2'), ('USA', 'Q1'), ('USA', 'Q2')]
    """
    default = frame[frame["country"] == default_country]
    if default.empty:
        raise InputError(f"no rows of the no-country default condition (country == {default_country!r})",
                         column="country", value=default_country)
    if "prompt_id" in default.columns:  # a probs table: one prompt per country copy
        reps = [default.assign(country=c, prompt_id=default["prompt_id"].astype(str) + "@" + c) for c in countries]
    else:
        reps = [default.assign(country=c) for c in countries]
    return pd.concat(reps, ignore_index=True)


def default_ranking(
    data: pd.DataFrame,
    human: pd.DataFrame | None = None,
    bank: ItemBank | None = None,
    *,
    metric: str = "pearson",
    default_country: str = DEFAULT_COUNTRY,
    ci: str | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    human_model: str = HUMAN,
) -> pd.DataFrame:
    """Countries ranked by the similarity of the model's default answers to each country's people.

    Parameters
    ----------
    data : pandas.DataFrame
        A scores table with the human rows and the model's default rows (country ``NONE``)
        for a correlation ``metric``; a probs table with default prompts for "js" /
        "wasserstein".
    human : pandas.DataFrame, optional
        The human table (only with a probs table).
    bank : ItemBank, optional
        The item bank (default: the embedded WVS-7 bank).
    metric : {"pearson", "spearman", "js", "wasserstein"}, default "pearson"
        Correlation over items, or mean distribution similarity over items.
    default_country : str, default "NONE"
        The country of the default condition.
    ci : str, optional
        "fisher" (default for correlations), "bootstrap" over items (default for similarities)
        or "none".
    n_boot, level, seed, human_model
        As in :func:`wvsalign.stats.alignment`.

    Returns
    -------
    pandas.DataFrame
        The alignment vocabulary plus ``rank`` (1 = closest) per model configuration.

    Raises
    ------
    InputError
        When ``data`` is not the table the metric needs (its missing columns are named) or
        has no default rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from wvsalign import stats
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["USA", "DEU", "SWE", "JPN", "NGA", "BRA"], ["Q1", "Q2", "Q3", "Q4"]],
    ...                                   names=["country", "item_id"]).to_frame(index=False).assign(category="k")
    >>> people = grid.assign(model="human", mean_score=rng.uniform(0, 1, len(grid)))
    >>> scores = pd.concat([people, people.assign(model="m", mean_score=people["mean_score"] + 0.1)])
    >>> default = scores[scores["model"] == "m"].drop_duplicates("item_id").assign(country="NONE")
    >>> ranked = stats.default_ranking(pd.concat([scores, default]))
    >>> int(ranked["rank"].min()), ranked["metric"].iloc[0]
    (1, 'pearson')
    """
    check_choice(metric, "metric", METRICS + tuple(SIMILARITY_METRICS))
    if metric in METRICS:
        ci = check_choice(ci or "fisher", "ci", ("fisher", "bootstrap", "none"))
        check_table(data, "scores", argument="data", function=f"default_ranking(metric={metric!r})")
        is_human = human_rows(data, human_model)
        countries = sorted(data.loc[is_human, "country"].unique())
        broadcast = broadcast_default(data[~is_human], countries, default_country)
        table = alignment(pd.concat([data[is_human], broadcast], ignore_index=True), by="country", metric=metric,
                          ci=ci, resample="items", n_boot=n_boot, level=level, seed=seed, human_model=human_model)
    else:
        if human is None:
            raise InputError(f"metric={metric!r} compares distributions: pass the probs table as data and the human "
                             f"table as human=")
        ci = check_choice(ci or "bootstrap", "ci", ("bootstrap", "none"))
        check_table(data, "probs", argument="data", function=f"default_ranking(metric={metric!r})")
        check_table(human, "human", argument="human", function="default_ranking")
        countries = sorted(human["country"].unique())
        broadcast = broadcast_default(data, countries, default_country)
        table = distribution_similarity(broadcast, human, bank, metric=metric, by="country", ci=ci, resample="items",
                                        n_boot=n_boot, level=level, seed=seed)
    keys = ["model"] + variant_columns(table, min_values=0)
    table["rank"] = (table.groupby(keys, dropna=False)["estimate"].rank(ascending=False, method="min")
                     .astype("Int64"))
    return table.sort_values(keys + ["rank"], kind="stable").reset_index(drop=True)


def steerability(
    scores: pd.DataFrame,
    *,
    default_country: str = DEFAULT_COUNTRY,
    n_boot: int = 2000,
    n_perm: int = 9999,
    seed: int = 0,
    level: float = 0.95,
    ci_method: str = "percentile",
    human_model: str = HUMAN,
) -> pd.DataFrame:
    """Per model x country: Pearson r(persona answers, people) - r(default answers, people), over items.

    CI: bootstrap over items, persona and default answers of an item kept together (paired).
    p: permutation test that swaps the persona and default answer of each item at random (all
    2^J swaps when there are at most ``n_perm``): the null of a persona that changes nothing.

    Parameters
    ----------
    scores : pandas.DataFrame
        A scores table with human rows, persona rows (country = the persona's country) and
        default rows (country ``NONE``) of the same model configuration.
    default_country : str, default "NONE"
        The country of the default condition.
    n_boot, n_perm, seed, level, ci_method
        Bootstrap replicates, permutations, seed, confidence level, bootstrap interval.
    human_model : str, default "human"
        The ``model`` value of the people's rows.

    Returns
    -------
    pandas.DataFrame
        The alignment vocabulary (group_by "country", metric "steerability", method
        "permutation") plus r_persona and r_default.

    Raises
    ------
    InputError
        When ``scores`` is not a scores table, has no default rows, or no item has a persona,
        default and human answer.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from wvsalign import stats
    >>> rng = np.random.default_rng(0)
    >>> grid = pd.MultiIndex.from_product([["USA", "DEU", "SWE", "JPN", "NGA", "BRA"], ["Q1", "Q2", "Q3", "Q4"]],
    ...                                   names=["country", "item_id"]).to_frame(index=False).assign(category="k")
    >>> people = grid.assign(model="human", mean_score=rng.uniform(0, 1, len(grid)))
    >>> scores = pd.concat([people, people.assign(model="m", mean_score=people["mean_score"] + 0.1)])
    >>> default = scores[scores["model"] == "m"].drop_duplicates("item_id").assign(country="NONE")
    >>> steer = stats.steerability(pd.concat([scores, default]), n_boot=100, n_perm=100)
    >>> steer["metric"].iloc[0], len(steer)
    ('steerability', 6)
    """
    n_boot = check_count(n_boot, "n_boot", 2)
    n_perm = check_count(n_perm, "n_perm", 1)
    level = check_level(level)
    ci_method = check_choice(ci_method, "ci_method", CI_METHODS)
    check_table(scores, "scores", argument="scores", function="steerability")
    keys = model_keys(scores, human_model)
    is_human = human_rows(scores, human_model)
    human = scores.loc[is_human, ["country", "item_id", "mean_score"]].rename(columns={"mean_score": "y"})
    models = scores[~is_human]
    # persona and default prompts differ in their template: match on the other columns
    match = [k for k in keys if k != "template"]
    default = models[models["country"] == default_country][match + ["item_id", "mean_score"]]
    if default.empty:
        raise InputError(f"no rows of the no-country default condition (country == {default_country!r})",
                         column="country", value=default_country)
    if default.duplicated(match + ["item_id"]).any():
        raise InputError("more than one default answer per model configuration and item; keep the variant columns "
                         "that distinguish them", column="mean_score")
    persona = models[models["country"] != default_country][keys + ["country", "item_id", "mean_score"]]
    triples = (persona.rename(columns={"mean_score": "x"})
               .merge(default.rename(columns={"mean_score": "d"}), on=match + ["item_id"], how="inner")
               .merge(human, on=["country", "item_id"], how="inner").dropna(subset=["x", "d", "y"]))
    if triples.empty:
        raise InputError("no item has a persona answer, a default answer and a human answer for the same model "
                         "and country", column="country")
    gid = triples.groupby(keys + ["country"], sort=True, dropna=False).ngroup().to_numpy()
    item = pd.factorize(triples["item_id"], sort=True)[0]
    order = np.lexsort((item, gid))  # rows by group, then item (the swap test relies on it)
    triples, gid, item = triples.iloc[order].reset_index(drop=True), gid[order], item[order]
    n_groups = int(gid.max()) + 1
    n = np.bincount(gid, minlength=n_groups)
    x, d, y = (triples[c].to_numpy(dtype=np.float64) for c in ("x", "d", "y"))
    centre = (np.bincount(gid, weights=x + d, minlength=n_groups) / (2 * n))[gid]
    x, d = x - centre, d - centre
    y = y - (np.bincount(gid, weights=y, minlength=n_groups) / n)[gid]
    feats = np.column_stack([np.ones_like(x), x, y, d, x * x, y * y, d * d, x * y, d * y])

    def stat(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rp = pearson_from_sums(s[..., [0, 1, 2, 4, 5, 7]])
        rd = pearson_from_sums(s[..., [0, 3, 2, 6, 5, 8]])
        return rp, rd

    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    r_p = np.full(n_groups, np.nan)
    r_d = np.full(n_groups, np.nan)
    for block in cluster_sums(feats, gid, np.zeros_like(item), item, resample="items", n_boot=n_boot, seed=seed,
                              jackknife=ci_method == "bca"):
        rp, rd = stat(block.full)
        r_p[block.groups], r_d[block.groups] = rp, rd
        bp, bd = stat(block.replicates)
        jack = None
        if block.jackknife:
            jack = [np.subtract(*stat(j)) for j in block.jackknife]
        lo, hi = interval(bp - bd, rp - rd, level=level, method=ci_method, jackknife=jack)
        low[block.groups], high[block.groups] = lo, hi
    estimate = r_p - r_d
    p = _swap_test(x, d, y, gid, item, n_groups, estimate, n_perm, seed)
    labels = group_labels(triples, gid)
    out = alignment_frame(labels[keys], group_by="country", group=labels["country"], metric="steerability",
                          estimate=estimate, ci_low=low, ci_high=high, p=p, n=n, method="permutation",
                          ci_method=ci_method, resampled="item", level=level, r_persona=r_p, r_default=r_d)
    return check_table(out, "alignment", argument="scores", function="steerability")


def _swap_test(x, d, y, gid, item, n_groups, observed, n_perm, seed) -> np.ndarray:
    """Two-sided p of r(x,y) - r(d,y) when x and d are swapped item by item (vectorised over swaps)."""
    p = np.full(n_groups, np.nan)
    bounds = np.searchsorted(gid, np.arange(n_groups + 1))  # rows are sorted by group, then item
    frame = pd.DataFrame({"g": gid, "i": item})
    sigs = frame.groupby("g")["i"].apply(tuple)
    for sig, groups in sigs.groupby(sigs, sort=False).groups.items():
        items = np.asarray(sig)
        j = len(items)
        exact = 2**j <= n_perm
        if exact:
            swaps = ((np.arange(2**j)[:, None] >> np.arange(j)[None, :]) & 1).astype(np.float64)
        else:
            swaps = np.random.default_rng([2, seed]).integers(0, 2, (n_perm, j)).astype(np.float64)
        for start in range(0, len(groups), 64):
            chunk = np.asarray(groups[start:start + 64])
            # per group, item-ordered vectors (rows of each group are sorted by item)
            rows = [np.arange(bounds[g], bounds[g + 1]) for g in chunk]
            xs = np.stack([x[r] for r in rows], axis=1)  # (J, g)
            ds = np.stack([d[r] for r in rows], axis=1)
            ys = np.stack([y[r] for r in rows], axis=1)
            # a swap adds delta = d - x to x and subtracts it from d (and likewise for squares, products)
            delta = ds - xs
            moved = swaps @ np.hstack([delta, ds**2 - xs**2, delta * ys])
            m1, m2, m3 = moved[:, :len(chunk)], moved[:, len(chunk):2 * len(chunk)], moved[:, 2 * len(chunk):]
            sx, sxx, sxy = xs.sum(0) + m1, (xs**2).sum(0) + m2, (xs * ys).sum(0) + m3
            sd, sdd, sdy = ds.sum(0) - m1, (ds**2).sum(0) - m2, (ds * ys).sum(0) - m3
            sw = np.full_like(sx, float(j))
            sy = np.broadcast_to(ys.sum(0), sx.shape)
            syy = np.broadcast_to((ys**2).sum(0), sx.shape)
            rp = pearson_from_sums(np.stack([sw, sx, sy, sxx, syy, sxy], axis=-1))
            rd = pearson_from_sums(np.stack([sw, sd, sy, sdd, syy, sdy], axis=-1))
            p[chunk] = permutation_pvalue(rp - rd, observed[chunk], exact=exact)
    return p
