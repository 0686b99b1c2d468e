"""Synthetic WVS-7-format respondents: for demos and tests, never a substitute for real data.

Everything generated here is labelled synthetic: a ``SYNTHETIC`` column (= 1) in the
respondent table, the file label of .sav/.dta files, the parquet attrs, the reader's
``WVSData.synthetic`` and the human table's ``attrs["synthetic"]``.

The model (all draws seeded; a country's draws depend only on the seed, its ISO3 code and
the bank, not on which other countries are generated):

1. **Country latents** (:func:`country_latents`): four values per country. ``secular``
   (traditional -> secular-rational) and ``self_expression`` (survival -> self-expression)
   are the centre of the country's Inglehart-Welzel cultural zone (:data:`ZONE_CENTRES`,
   rough positions on the 2023 map) plus N(0, 0.3) jitter; ``factor3`` and ``factor4`` are
   N(0, 0.5) country effects on the other items.
2. **Respondents**: latent vector = country latents + N(0, 1) per dimension, shifted
   towards traditional/survival with age (-0.25 per 15 years over 45).
3. **Items** (:func:`item_parameters`): the cultural-map items load as
   :data:`CULTURAL_MAP_LOADINGS` says (loadings per step up the raw WVS code, converted to
   the bank's ordinal direction), so a PCA recovers the two map dimensions; other items
   get seeded N(0, 0.35) loadings on the map dimensions and N(0, 0.5) on factors 3-4.
   Each country x item gets an N(0, 0.3) effect. Answers follow an ordered probit: the
   latent ``loadings . z + effect + N(0, 1)`` is cut at thresholds that give the item a
   seeded Dirichlet(3) marginal distribution over its options in ordinal order.
4. **Missing codes**: -1 (don't know) at an item rate U(0.3%, 5%) times a country factor
   U(0.5, 2); -2 (no answer) at U(0.1%, 1%); -5 at 0.1%; -4 (not asked) for the whole
   country on about 2% of the non-map items per country; extra codes (e.g. Q119's 0) at
   U(1%, 4%).
5. **Q154/Q155** (materialist aims, first and second choice; Q155 != Q154): the chance
   of a post-materialist aim (2 say in government, 4 free speech) rises with
   self-expression; Q155 is -3 when Q154 is missing. **Q260** (sex), **Q262** (age).
6. **Weights**: ``W_WEIGHT`` = exp(-0.3 (age-45)/15 + 0.15 male + N(0, 0.35)), scaled to
   mean 1 per country (about 10% of the countries get all-1 weights, as in WVS);
   ``S018 = W_WEIGHT * 1000 / n``.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from .._io import atomic_path
from ..errors import InputError
from .countries import Countries
from .items import Item, ItemBank

LATENTS = ("secular", "self_expression", "factor3", "factor4")

#: (secular, self_expression) centre of each Inglehart-Welzel cultural zone
ZONE_CENTRES: dict[str, tuple[float, float]] = {
    "Protestant Europe": (1.4, 1.7),
    "English-speaking": (0.3, 1.5),
    "Catholic Europe": (0.6, 0.6),
    "Confucian": (1.3, 0.0),
    "Orthodox Europe": (0.9, -1.0),
    "Latin America": (-0.9, 0.5),
    "West & South Asia": (-0.5, -0.8),
    "African-Islamic": (-1.3, -0.6),
}

#: loadings (secular, self_expression) per step UP the raw WVS code of the cultural-map items
CULTURAL_MAP_LOADINGS: dict[str, tuple[float, float]] = {
    "Q164": (-0.85, -0.15),  # importance of God, 1 not at all .. 10 very: traditional
    "Q184": (0.60, 0.35),  # abortion, 1 never .. 10 always justifiable: secular
    "Q254": (0.55, 0.00),  # national pride, 1 very .. 4 not at all proud: secular
    "Q45": (0.55, 0.10),  # more respect for authority, 1 good .. 3 bad thing: secular
    "Q8": (-0.55, -0.15),  # child quality independence, 1 mentioned 2 not: traditional
    "Q14": (-0.45, -0.10),  # determination, perseverance: 1 mentioned 2 not: traditional
    "Q15": (0.65, 0.10),  # religious faith, 1 mentioned 2 not: secular
    "Q17": (0.50, 0.10),  # obedience, 1 mentioned 2 not: secular
    "Q46": (-0.10, -0.55),  # happiness, 1 very .. 4 not at all happy: survival
    "Q57": (-0.10, -0.50),  # trust, 1 most people .. 2 be careful: survival
    "Q209": (-0.15, -0.60),  # petition, 1 have done .. 3 would never: survival
    "Q182": (0.30, 0.80),  # homosexuality, 1 never .. 10 always justifiable: self-expression
}

#: materialist (1 order, 3 prices) and post-materialist (2 say, 4 free speech) aims of Q154/Q155
AIMS_POST = (2, 4)
AIMS_MAT = (1, 3)
LAYOUT = ("SYNTHETIC", "A_STUDY", "A_WAVE", "A_YEAR", "B_COUNTRY", "B_COUNTRY_ALPHA", "D_INTERVIEW", "W_WEIGHT", "S018")
FILE_LABEL = "SYNTHETIC wvsalign data - not real WVS responses"


def _rng(seed: int, key: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(key.encode("utf-8")), stream])


def _country_list(countries: Sequence[str] | str | None) -> list[str]:
    registry = Countries.load()
    return registry.set("default") if countries is None else registry.resolve(countries)


def country_latents(countries: Sequence[str] | str | None = None, *, seed: int = 0) -> pd.DataFrame:
    """The country-level latent values of the synthetic generator (one row per country).

    Parameters
    ----------
    countries : list of str or str, optional
        Countries (codes, names or set names; default: the registry's default set).
    seed : int, default 0
        Seed.

    Returns
    -------
    pandas.DataFrame
        Columns country, zone, secular, self_expression, factor3, factor4.

    Examples
    --------
    >>> country_latents(["USA", "JPN"]).columns.tolist()
    ['country', 'zone', 'secular', 'self_expression', 'factor3', 'factor4']
    """
    registry = Countries.load()
    rows = []
    for iso3 in _country_list(countries):
        country = registry.get(iso3)
        rng = _rng(seed, iso3, 0)
        centre = ZONE_CENTRES[country.zone]  # the registry admits only the zones listed there
        jitter = rng.normal(0.0, 0.3, size=2)
        other = rng.normal(0.0, 0.5, size=2)
        rows.append(
            {"country": iso3, "zone": country.zone, "secular": centre[0] + jitter[0],
             "self_expression": centre[1] + jitter[1], "factor3": other[0], "factor4": other[1]}
        )
    return pd.DataFrame(rows, columns=["country", "zone", *LATENTS])


def item_parameters(bank: ItemBank | None = None, *, seed: int = 0) -> pd.DataFrame:
    """Per item: the synthetic generator's loadings, option probabilities and missing-code rates.

    Parameters
    ----------
    bank : ItemBank, optional
        The items (default: the embedded WVS-7 bank).
    seed : int, default 0
        Seed.

    Returns
    -------
    pandas.DataFrame
        Columns item_id, secular, self_expression, factor3, factor4 (loadings in the bank's
        ordinal direction), marginal (option probabilities in ordinal order), dk_rate,
        na_rate, extra_rate, cultural_map.

    Examples
    --------
    >>> from wvsalign import ItemBank
    >>> item_parameters(ItemBank.wvs7().filter(ids=["Q57"]))["item_id"].tolist()
    ['Q57']
    """
    bank = ItemBank.wvs7() if bank is None else bank
    rows = []
    for item in bank:
        rng = _rng(seed, item.item_id, 1)
        ordered = item.order
        if item.item_id in CULTURAL_MAP_LOADINGS:
            direction = 1.0 if ordered[-1] > ordered[0] else -1.0
            main = np.array(CULTURAL_MAP_LOADINGS[item.item_id]) * direction
            loadings = np.concatenate([main, rng.normal(0.0, 0.1, size=2)])
        else:
            loadings = np.concatenate([rng.normal(0.0, 0.35, size=2), rng.normal(0.0, 0.5, size=2)])
        rows.append(
            {
                "item_id": item.item_id,
                **dict(zip(LATENTS, loadings)),
                "marginal": tuple(rng.dirichlet(np.full(item.n_options, 3.0))),
                "dk_rate": rng.uniform(0.003, 0.05),
                "na_rate": rng.uniform(0.001, 0.01),
                "extra_rate": rng.uniform(0.01, 0.04) if item.extra_codes else 0.0,
                "cultural_map": item.item_id in CULTURAL_MAP_LOADINGS,
            }
        )
    return pd.DataFrame(rows)


def synthetic_respondents(
    bank: ItemBank | None = None,
    countries: Sequence[str] | str | None = None,
    *,
    n_per_country: int = 1200,
    seed: int = 0,
    filler_columns: int = 0,
) -> pd.DataFrame:
    """Synthetic respondents in the WVS-7 column layout (raw codes, negative missing codes included).

    Parameters
    ----------
    bank : ItemBank, optional
        The items (default: the embedded WVS-7 bank).
    countries : list of str or str, optional
        Countries (default: the registry's default set).
    n_per_country : int, default 1200
        Respondents per country.
    seed : int, default 0
        Seed (the same seed gives the same respondents).
    filler_columns : int, default 0
        Extra technical-looking columns (F_0001, ...) for size benchmarks.

    Returns
    -------
    pandas.DataFrame
        Columns SYNTHETIC, A_STUDY, A_WAVE, A_YEAR, B_COUNTRY, B_COUNTRY_ALPHA, D_INTERVIEW,
        W_WEIGHT, S018, the bank's Q-columns (plus Q154, Q155), Q260, Q262 and the fillers.

    Examples
    --------
    >>> from wvsalign import ItemBank
    >>> frame = synthetic_respondents(ItemBank.wvs7().filter(ids=["Q57"]), ["USA"], n_per_country=10)
    >>> len(frame), bool((frame["SYNTHETIC"] == 1).all())
    (10, True)
    """
    bank = ItemBank.wvs7() if bank is None else bank
    if int(n_per_country) != n_per_country or n_per_country < 1:
        raise InputError(f"n_per_country {n_per_country!r}; expected a positive integer")
    if not len(bank):
        raise InputError("the item bank is empty; expected at least one item to generate")
    codes = _country_list(countries)
    if not codes:
        raise InputError("no countries to generate; expected at least one country")
    registry = Countries.load()
    latents = country_latents(codes, seed=seed).set_index("country")
    params = item_parameters(bank, seed=seed)
    items = list(bank)
    tables = _item_tables(items, params)
    blocks = [
        _country_block(registry.get(iso3), latents.loc[iso3], items, params, tables, int(n_per_country), seed)
        for iso3 in codes
    ]
    data = pd.DataFrame({name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]})
    q_columns = sorted((c for c in data.columns if c not in LAYOUT), key=_questionnaire_order)
    data = data[list(LAYOUT) + q_columns]
    if filler_columns:
        data = pd.concat([data, _filler(len(data), int(filler_columns), seed)], axis=1)
    data.attrs["synthetic"] = True
    data.attrs["source"] = f"synthetic (seed={seed})"
    return data


def _questionnaire_order(column: str) -> tuple[int, str]:
    """Q1 < Q2 < ... < Q234 < Q234A < Q235; other names after the Q-columns."""
    match = re.fullmatch(r"Q(\d+)(.*)", column)
    return (int(match.group(1)), match.group(2)) if match else (10**6, column)


def _item_tables(items: list[Item], params: pd.DataFrame) -> dict[str, np.ndarray]:
    """Arrays over items: loadings (J x 4), thresholds on the standard scale (J x Kmax-1, +inf padded)."""
    k_max = max(it.n_options for it in items)
    loadings = params[list(LATENTS)].to_numpy(dtype=np.float64)
    thresholds = np.full((len(items), k_max - 1), np.inf)
    for j, marginal in enumerate(params["marginal"]):
        cum = np.cumsum(marginal)[:-1]
        thresholds[j, : len(cum)] = ndtri(np.clip(cum, 1e-9, 1 - 1e-9))
    # total latent sd: loadings over (between + within) variances + country x item effect + noise
    variance = (loadings**2 * np.array([1.0 + 0.3**2 + 1.0, 1.0 + 0.3**2 + 1.0, 1.25, 1.25])).sum(axis=1) + 0.09 + 1.0
    ordered = np.full((len(items), k_max), -9, dtype=np.int16)
    for j, item in enumerate(items):
        ordered[j, : item.n_options] = item.order
    return {"thresholds": thresholds * np.sqrt(variance)[:, None], "ordered": ordered, "loadings": loadings}


def _country_block(country, latent: pd.Series, items: list[Item], params: pd.DataFrame,
                   tables: dict[str, np.ndarray], n: int, seed: int) -> dict[str, np.ndarray]:
    rng = _rng(seed, country.iso3, 2)
    centre = np.array([latent[name] for name in LATENTS], dtype=np.float64)
    male = rng.random(n) < 0.48
    age = np.round(18 + rng.beta(1.3, 2.0, size=n) * 67).astype(np.int16)
    z = centre + rng.normal(size=(n, len(LATENTS)))
    z[:, :2] -= 0.25 * ((age - 45) / 15.0)[:, None]

    # answers: ordered probit on each item's latent
    effects = rng.normal(0.0, 0.3, size=len(items))
    y = z @ tables["loadings"].T + effects + rng.normal(size=(n, len(items)))
    position = (y[:, :, None] > tables["thresholds"][None, :, :]).sum(axis=2)
    answers = tables["ordered"][np.arange(len(items))[None, :], position]

    # missing and extra codes
    dk_factor = rng.uniform(0.5, 2.0)
    u = rng.random((n, len(items)))
    dk = params["dk_rate"].to_numpy() * dk_factor
    na = params["na_rate"].to_numpy()
    extra = params["extra_rate"].to_numpy()
    answers[u < dk] = -1
    answers[(u >= dk) & (u < dk + na)] = -2
    answers[(u >= dk + na) & (u < dk + na + 0.001)] = -5
    is_extra = (u >= dk + na + 0.001) & (u < dk + na + 0.001 + extra)
    for j in np.flatnonzero(is_extra.any(axis=0)):
        extra_codes = [e.code for e in items[j].extra_codes]
        answers[is_extra[:, j], j] = rng.choice(extra_codes, size=int(is_extra[:, j].sum()))
    not_asked = (rng.random(len(items)) < 0.02) & ~params["cultural_map"].to_numpy()
    answers[:, not_asked] = -4

    columns: dict[str, object] = {it.item_id: answers[:, j].astype(np.int16) for j, it in enumerate(items)}
    columns.update(_aims(rng, z[:, 1]))
    columns["Q260"] = np.where(rng.random(n) < 0.001, -2, np.where(male, 1, 2)).astype(np.int16)
    columns["Q262"] = np.where(rng.random(n) < 0.003, -2, age).astype(np.int16)

    if rng.random() < 0.1:
        weight = np.ones(n)
    else:
        weight = np.exp(-0.3 * (age - 45) / 15.0 + 0.15 * male + rng.normal(0.0, 0.35, size=n))
        weight = weight / weight.mean()
    study = 1 if country.study == "EVS" else 2
    head = {
        "SYNTHETIC": np.ones(n, dtype=np.int8),
        "A_STUDY": np.full(n, study, dtype=np.int8),
        "A_WAVE": np.full(n, 5 if study == 1 else 7, dtype=np.int8),
        "A_YEAR": np.full(n, 2017 + int(rng.integers(0, 6)), dtype=np.int16),
        "B_COUNTRY": np.full(n, country.iso_numeric, dtype=np.int32),
        "B_COUNTRY_ALPHA": np.full(n, country.wvs_alpha, dtype=object),
        "D_INTERVIEW": country.iso_numeric * 1_000_000 + 70_000 + np.arange(1, n + 1, dtype=np.int64),
        "W_WEIGHT": weight,
        "S018": weight * 1000.0 / n,
    }
    return {**head, **columns}


def _aims(rng: np.random.Generator, self_expression: np.ndarray) -> dict[str, np.ndarray]:
    """Q154 (first aim) and Q155 (second aim, never equal to the first)."""
    n = len(self_expression)
    p_post = expit(-0.5 + 0.9 * self_expression)
    p_order = rng.uniform(0.4, 0.7)
    # probability of each aim 1..4 per respondent
    prob = np.column_stack([(1 - p_post) * p_order, p_post / 2, (1 - p_post) * (1 - p_order), p_post / 2])
    first = _draw(rng, prob)
    prob2 = prob.copy()
    prob2[np.arange(n), first - 1] = 0.0
    second = _draw(rng, prob2 / prob2.sum(axis=1, keepdims=True))
    first_missing = rng.random(n) < 0.02
    first = np.where(first_missing, -1, first)
    second = np.where(first_missing, -3, np.where(rng.random(n) < 0.01, -2, second))
    return {"Q154": first.astype(np.int16), "Q155": second.astype(np.int16)}


def _draw(rng: np.random.Generator, prob: np.ndarray) -> np.ndarray:
    """One category 1..K per row of a probability matrix."""
    cum = np.cumsum(prob, axis=1)
    u = rng.random(len(prob))[:, None] * cum[:, -1:]
    return (u > cum).sum(axis=1) + 1


def _filler(n: int, count: int, seed: int) -> pd.DataFrame:
    """Technical-looking columns: mostly small integer codes, some decimals and short strings."""
    rng = np.random.default_rng([int(seed), 99])
    columns: dict[str, object] = {}
    langs = np.array(["en", "es", "fr", "de", "ar", "ru", "zh", "pt"], dtype=object)
    for i in range(count):
        name = f"F_{i + 1:04d}"
        if i % 25 == 1:
            columns[name] = langs[rng.integers(0, len(langs), size=n)]
        elif i % 10 == 0:
            columns[name] = np.round(rng.normal(50, 20, size=n), 2)
        else:
            columns[name] = rng.integers(-2, 6, size=n, dtype=np.int16)
    return pd.DataFrame(columns)


def synthetic_human(
    bank: ItemBank | None = None,
    countries: Sequence[str] | str | None = None,
    *,
    n_per_country: int = 1200,
    seed: int = 0,
    min_n: int = 30,
) -> pd.DataFrame:
    """The ``human`` table of freshly generated synthetic respondents.

    Parameters
    ----------
    bank : ItemBank, optional
        The items (default: the embedded WVS-7 bank).
    countries : list of str or str, optional
        Countries (default: the registry's default set).
    n_per_country : int, default 1200
        Respondents per country.
    seed : int, default 0
        Seed.
    min_n : int, default 30
        As in :func:`~wvsalign.survey.human_distributions`.

    Returns
    -------
    pandas.DataFrame
        The human table, with ``attrs["synthetic"]`` True.

    Examples
    --------
    >>> from wvsalign import ItemBank
    >>> human = synthetic_human(ItemBank.wvs7().filter(ids=["Q57"]), ["USA", "JPN"], n_per_country=100)
    >>> sorted(human["country"].unique()), human.attrs["synthetic"]
    (['JPN', 'USA'], True)
    """
    from .readers import read_wvs

    bank = ItemBank.wvs7() if bank is None else bank
    raw = synthetic_respondents(bank, countries, n_per_country=n_per_country, seed=seed)
    data = read_wvs(raw, items=bank, source=f"synthetic (seed={seed}, n_per_country={n_per_country})")
    return data.distributions(bank, min_n=min_n)


# ---- writers ----------------------------------------------------------------------------------
def write_wvs(respondents: pd.DataFrame, path: str | Path, *, sep: str = ",") -> Path:
    """Write a WVS-layout respondent table to .csv (``sep``), .sav, .dta or .parquet, atomically.

    Tables with a ``SYNTHETIC`` column of ones get the synthetic file label (.sav/.dta) and
    parquet attrs. Country value labels (B_COUNTRY -> name) are written to .sav/.dta.

    Parameters
    ----------
    respondents : pandas.DataFrame
        Respondents in the WVS column layout.
    path : str or Path
        The file to write; its extension chooses the format.
    sep : str, default ","
        CSV delimiter.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        When the extension is not a known format.

    Examples
    --------
    >>> import tempfile, os
    >>> from wvsalign import ItemBank, read_wvs
    >>> bank = ItemBank.wvs7().filter(ids=["Q57"])
    >>> path = write_wvs(synthetic_respondents(bank, ["USA"], n_per_country=20), os.path.join(tempfile.mkdtemp(), "w.dta"))
    >>> read_wvs(path, items=bank).synthetic
    True
    """
    path = Path(path)
    ext = path.suffix.lower()
    synthetic = "SYNTHETIC" in respondents.columns and bool((respondents["SYNTHETIC"] == 1).all())
    with atomic_path(path) as tmp:
        if ext == ".csv":
            import pyarrow as pa
            import pyarrow.csv as pacsv

            table = pa.Table.from_pandas(respondents, preserve_index=False)
            pacsv.write_csv(table, str(tmp), write_options=pacsv.WriteOptions(delimiter=sep))
        elif ext in {".sav", ".dta"}:
            import pyreadstat

            labels = _country_labels(respondents)
            writer = pyreadstat.write_sav if ext == ".sav" else pyreadstat.write_dta
            writer(respondents.reset_index(drop=True), str(tmp), file_label=FILE_LABEL if synthetic else "",
                   variable_value_labels=labels)
        elif ext == ".parquet":
            frame = respondents.reset_index(drop=True)
            frame.attrs = {"synthetic": synthetic, "source": respondents.attrs.get("source", "")}
            frame.to_parquet(tmp, index=False)
        else:
            raise InputError(f"unknown output type {ext or '(none)'!r}; expected .csv, .sav, .dta or .parquet", file=path)
    return path


def _country_labels(respondents: pd.DataFrame) -> dict[str, dict[int, str]]:
    if "B_COUNTRY" not in respondents.columns:
        return {}
    registry = Countries.load()
    labels = {}
    for code in pd.unique(respondents["B_COUNTRY"]):
        if str(int(code)) in registry:
            labels[int(code)] = registry.get(int(code)).name
    return {"B_COUNTRY": labels}


def write_synthetic(
    path: str | Path,
    bank: ItemBank | None = None,
    countries: Sequence[str] | str | None = None,
    *,
    n_per_country: int = 1200,
    seed: int = 0,
    sep: str = ",",
    filler_columns: int = 0,
) -> Path:
    """Generate synthetic respondents and write them to ``path`` (format by extension).

    Parameters
    ----------
    path : str or Path
        The file (.csv, .sav, .dta, .parquet).
    bank, countries, n_per_country, seed, filler_columns
        As in :func:`synthetic_respondents`.
    sep : str, default ","
        CSV delimiter.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> from wvsalign import ItemBank
    >>> path = write_synthetic(os.path.join(tempfile.mkdtemp(), "s.csv"), ItemBank.wvs7().filter(ids=["Q57"]),
    ...                        ["USA"], n_per_country=20)
    >>> path.suffix
    '.csv'
    """
    data = synthetic_respondents(bank, countries, n_per_country=n_per_country, seed=seed, filler_columns=filler_columns)
    return write_wvs(data, path, sep=sep)
