"""The Inglehart-Welzel map of a report: fitted on respondents, countries and models placed on it.

The map needs respondent-level answers. For runs with synthetic human data the synthetic
respondents are generated again from the run's seed (the map items only); for runs with a WVS
file the file is read again when it is still where config.yaml says. Otherwise there is no map
(and the report says why).
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import pandas as pd

from ..contracts import NO_COUNTRY
from .runs import Run

#: fewest of the map's source items a model must have answered to be placed on the map
MIN_MAP_ITEMS = 6


def map_respondents(run: Run, countries: Sequence[str]) -> tuple[pd.DataFrame | None, str]:
    """Respondents (country, weight, raw item codes) to fit the map on, and a note on where they came from."""
    from pathlib import Path

    from ..stats.cultural_map import SOURCE_COLUMNS
    from ..survey.items import ItemBank
    from ..survey.synthetic import synthetic_respondents

    bank = ItemBank.wvs7()
    ids = {item.item_id for item in bank}
    map_bank = bank.filter(ids=[c for c in SOURCE_COLUMNS if c in ids])
    settings = run.settings
    wvs = settings.get("wvs")
    if not wvs:
        seed = int(settings.get("seed", 0) or 0)
        raw = synthetic_respondents(map_bank, list(countries), seed=seed)
        raw = raw.rename(columns={"B_COUNTRY_ALPHA": "country", "W_WEIGHT": "weight"})
        return raw, f"SYNTHETIC respondents (seed {seed}), regenerated for the map"
    path = Path(str(wvs))
    if not path.is_file():
        return None, f"no map: the WVS file {wvs} named in {run.path / 'config.yaml'} is not on this machine"
    from ..survey import read_wvs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_wvs(path, items=map_bank, countries=list(countries))
    respondents = data.respondents.copy()
    for extra in ("Q154", "Q155"):  # the post-materialist aims are read along when the file has them
        if extra not in respondents.columns:
            respondents[extra] = pd.NA
    return respondents, f"respondents of {path.name}"


def culture_positions(respondents: pd.DataFrame, probs: pd.DataFrame, countries: Any = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str]]:
    """Fit the map and place countries and models on it.

    Parameters
    ----------
    respondents : DataFrame
        Respondent rows (country, weight, the map's raw item codes), e.g. from
        :func:`map_respondents`.
    probs : DataFrame
        The probs table of the models (no-country prompts are left out).
    countries : Countries, optional
        The country registry (default: the embedded one); gives the zones.

    Returns
    -------
    positions : DataFrame
        kind ("country" or "model"), label, zone, traditional_secular, survival_self_expression.
    distances : DataFrame or None
        :meth:`wvsalign.stats.CultureMap.distances` of the placed models (None when none is placed).
    notes : list of str
        Models left off the map and why.
    """
    from ..stats import CultureMap
    from ..stats.cultural_map import DIMENSIONS, SOURCE_COLUMNS, expected_map_variables
    from ..survey.countries import Countries

    registry = Countries.load() if countries is None else countries
    cmap = CultureMap().fit(respondents, weights="weight" if "weight" in respondents.columns else None)
    pos = cmap.countries_.rename(columns={"country": "label"}).assign(kind="country")
    pos["zone"] = pos["label"].map(lambda c: registry.get(c).zone if c in registry else "")
    notes: list[str] = []
    placed = []
    for model, rows in probs.groupby("model", sort=True):
        have = sorted(set(rows["item_id"]) & set(SOURCE_COLUMNS))
        if len(have) < MIN_MAP_ITEMS:
            notes.append(f"{model} is not on the map: it answered {len(have)} of the map's items "
                         f"({', '.join(SOURCE_COLUMNS)}); at least {MIN_MAP_ITEMS} are needed")
            continue
        placed.append(rows[rows["item_id"].isin(SOURCE_COLUMNS) & (rows["country"] != NO_COUNTRY)])
    if not placed:
        return pos[["kind", "label", "zone", *DIMENSIONS]], None, notes
    values = expected_map_variables(pd.concat(placed, ignore_index=True), keys=["model"])
    with warnings.catch_warnings():  # Y002 (Q154/Q155, not bank items) is imputed at the pooled mean
        warnings.simplefilter("ignore")
        models = cmap.project(values)
        distances = cmap.distances(models)
    models = models.rename(columns={"model": "label"}).assign(kind="model", zone="model")
    positions = pd.concat([pos, models], ignore_index=True)[["kind", "label", "zone", *DIMENSIONS]]
    notes.append("Model positions: the model's expected answers over all country personas, projected with the "
                 "countries' loadings; the post-materialism index (Q154/Q155, not bank items) is set to the "
                 "pooled mean.")
    return positions, distances, notes

