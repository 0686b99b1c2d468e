"""The Inglehart-Welzel cultural map: country positions from respondent data, model positions
projected with the same loadings, and the cultural distance of a model to each country.

The ten map variables (IVS codes) in WVS-7 terms, each harmonised so that a higher value
points to the secular-rational pole (first five) or the self-expression pole (last five):

=======  ===================================  ===================================================
code     WVS-7 source                         harmonised value (higher = ...)
=======  ===================================  ===================================================
F063     Q164 importance of God, 1..10        11 - Q164 (God less important: secular)
Y003     Q8 + Q14 - Q15 - Q17 (1 = mentioned) autonomy index, -2..2 (autonomy: secular)
G006     Q254 national pride, 1..4 (5: none)  Q254 (less proud: secular); code 5 is missing
F120     Q184 abortion justifiable, 1..10     Q184 (justifiable: secular)
E018     Q45 more respect for authority       Q45: 1 good, 2 don't mind, 3 bad (bad: secular)
Y002     Q154 / Q155 aims (first, second)     1 + number of post-materialist aims (2, 4) chosen
F118     Q182 homosexuality justifiable       Q182 (justifiable: self-expression)
E025     Q209 signing a petition              3 - Q209: 2 have done, 1 might do, 0 never
A165     Q57 most people can be trusted       2 - Q57: 1 trust, 0 need to be careful
A008     Q46 feeling of happiness             5 - Q46: 4 very happy .. 1 not at all happy
=======  ===================================  ===================================================

Fit (as Tao et al. 2024): weighted means and SDs, the weighted correlation matrix of the ten
variables (pairwise complete), its first two principal components as loadings (eigenvector x
sqrt(eigenvalue)), varimax rotation with Kaiser normalisation (R's ``stats::varimax``). The
rotated factor loading mostly on the first five variables is "traditional_secular", the other
"survival_self_expression"; each is signed so its own variables load positively, so positive
scores are secular-rational and self-expression (the map's usual orientation). Respondent
scores are the standardised component scores z @ V Lambda^-1/2 T (missing variables at their
mean, z = 0); a country's position is the weighted mean of its respondents' scores.

Projection: scores are linear in the variables, so the expected score of a respondent drawn
from a model's answer distribution equals the score of the model's expected variable values.
``expected_map_variables`` computes those from a probs (or human) table; Y002 needs Q154 and
Q155, which are not bank items: when they are absent the pooled mean is imputed (z = 0) with a
warning, so the model sits at the pooled average on that variable.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, check_choice
from ..survey.distributions import check_weights
from ._validation import variant_columns
from .correlation import alignment_frame

DIMENSIONS = ("traditional_secular", "survival_self_expression")
SECULAR_VARIABLES = ("F063", "Y003", "G006", "F120", "E018")
SELF_EXPRESSION_VARIABLES = ("Y002", "F118", "E025", "A165", "A008")
MAP_VARIABLES = SECULAR_VARIABLES + SELF_EXPRESSION_VARIABLES
#: single-item variables: WVS column, valid codes, harmonised value per code
_SIMPLE: dict[str, tuple[str, dict[int, float]]] = {
    "F063": ("Q164", {c: 11.0 - c for c in range(1, 11)}),
    "G006": ("Q254", {c: float(c) for c in range(1, 5)}),
    "F120": ("Q184", {c: float(c) for c in range(1, 11)}),
    "E018": ("Q45", {1: 1.0, 2: 2.0, 3: 3.0}),
    "F118": ("Q182", {c: float(c) for c in range(1, 11)}),
    "E025": ("Q209", {1: 2.0, 2: 1.0, 3: 0.0}),
    "A165": ("Q57", {1: 1.0, 2: 0.0}),
    "A008": ("Q46", {1: 4.0, 2: 3.0, 3: 2.0, 4: 1.0}),
}
#: autonomy index: item -> sign (mentioned = code 1, not mentioned = code 2)
_AUTONOMY = {"Q8": 1.0, "Q14": 1.0, "Q15": -1.0, "Q17": -1.0}
_POSTMATERIALIST = ("Q154", "Q155")
_POST_AIMS = (2, 4)
#: every WVS column the map uses
SOURCE_COLUMNS = tuple(sorted({c for c, _ in _SIMPLE.values()} | set(_AUTONOMY) | set(_POSTMATERIALIST),
                              key=lambda c: int(c[1:])))


# ---- variables ------------------------------------------------------------------------------------------
def _codes(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def map_variables(respondents: pd.DataFrame) -> pd.DataFrame:
    """The ten harmonised map variables per respondent (NaN where missing or not asked).

    Parameters
    ----------
    respondents : pandas.DataFrame
        Respondents with WVS-7 columns (:data:`SOURCE_COLUMNS`; absent ones give NaN).

    Returns
    -------
    pandas.DataFrame
        Columns F063, Y003, G006, F120, E018, Y002, F118, E025, A165, A008 (see the module
        docstring), indexed like ``respondents``.

    Examples
    --------
    >>> import pandas as pd
    >>> map_variables(pd.DataFrame({"Q164": [10], "Q57": [1]}))[["F063", "A165"]].values.tolist()
    [[1.0, 1.0]]
    """
    out = pd.DataFrame(index=respondents.index)
    for var, (col, mapping) in _SIMPLE.items():
        out[var] = _codes(respondents, col).map(mapping)
    autonomy = pd.Series(0.0, index=respondents.index)
    for col, sign in _AUTONOMY.items():
        codes = _codes(respondents, col)
        mentioned = codes.map({1: 1.0, 2: 0.0})
        autonomy = autonomy + sign * mentioned
    out["Y003"] = autonomy
    first, second = (_codes(respondents, c) for c in _POSTMATERIALIST)
    valid = first.isin([1, 2, 3, 4]) & second.isin([1, 2, 3, 4])
    post = first.isin(_POST_AIMS).astype(float) + second.isin(_POST_AIMS).astype(float)
    out["Y002"] = np.where(valid, 1.0 + post, np.nan)
    return out[list(MAP_VARIABLES)]


#: the answer-distribution column of each table kind
_VALUE_COLUMN = {"probs": "prob", "human": "share"}


def _distribution_kind(table: object, kind: str | None, function: str) -> str:
    """"probs" or "human": ``kind`` when given (its columns checked), else the one table whose
    columns ``table`` has; an :class:`InputError` naming the columns expected otherwise."""
    expected = "a probs table (columns item_id, code, prob) or a human table (columns item_id, code, share)"
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{function} expects {expected}; got {type(table).__name__}")
    if kind is not None:
        check_choice(kind, "kind", tuple(_VALUE_COLUMN))
        kinds = [kind]
    else:
        kinds = [k for k, col in _VALUE_COLUMN.items() if col in table.columns]
        if len(kinds) != 1:
            found = "both 'prob' and 'share'" if kinds else "neither 'prob' nor 'share'"
            raise InputError(f"{function} expects {expected}; the table has {found}: pass kind='probs' or "
                             f"kind='human'")
    needed = ["item_id", "code", _VALUE_COLUMN[kinds[0]]]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(f"{function} expects {expected}; as a {kinds[0]} table it lacks {missing}")
    return kinds[0]


def expected_map_variables(table: pd.DataFrame, keys: Sequence[str] | None = None, *,
                           kind: str | None = None) -> pd.DataFrame:
    """Expected harmonised map variables per entity from answer distributions.

    Codes outside a variable's valid codes are left out and the rest renormalised.

    Parameters
    ----------
    table : pandas.DataFrame
        A probs table (columns item_id, code, prob; one distribution per prompt, prompts
        averaged within ``keys``) or a human table (item_id, code, share).
    keys : list of str, optional
        The entity columns; default model x country x variant columns for a probs table,
        country for a human table.
    kind : {"probs", "human"}, optional
        Which table ``table`` is; by default the one whose value column (prob or share) it has.

    Returns
    -------
    pandas.DataFrame
        The ``keys`` columns and the ten map variables (F063 ... A008); a variable whose
        items are absent is NaN.

    Raises
    ------
    InputError
        When ``table`` is neither table (the message names the columns expected), or has both
        value columns and no ``kind``.

    Examples
    --------
    >>> import pandas as pd
    >>> from wvsalign.stats import expected_map_variables
    >>> human = pd.DataFrame({"country": "USA", "item_id": "Q57", "code": [1, 2], "share": [0.4, 0.6]})
    >>> float(expected_map_variables(human)["A165"].iloc[0])
    0.4
    """
    kind = _distribution_kind(table, kind, "expected_map_variables")
    value = _VALUE_COLUMN[kind]
    if keys is None:
        keys = ["model", "country"] + variant_columns(table, min_values=0) if value == "prob" else ["country"]
    keys = list(keys)
    unit = keys + (["prompt_id"] if value == "prob" and "prompt_id" in table.columns else [])
    df = table[table["item_id"].isin(SOURCE_COLUMNS)].copy()
    df["code"] = pd.to_numeric(df["code"], errors="coerce")
    entities = table.drop_duplicates(keys)[keys].reset_index(drop=True)
    index = pd.MultiIndex.from_frame(entities)

    def expectation(item: str, mapping: dict[int, float]) -> pd.Series:
        """Expected value per entity: per distribution (prompt), renormalised, then averaged."""
        rows = df[(df["item_id"] == item) & df["code"].isin(list(mapping))]
        if rows.empty:
            return pd.Series(np.nan, index=index)
        w = rows[value].astype(float)
        by = [rows[k] for k in unit]
        per_unit = ((w * rows["code"].map(mapping)).groupby(by, dropna=False).sum()
                    / w.groupby(by, dropna=False).sum())
        per_key = per_unit.groupby(level=list(range(len(keys))), dropna=False).mean()
        if not isinstance(per_key.index, pd.MultiIndex):
            per_key.index = pd.MultiIndex.from_arrays([per_key.index], names=keys)
        return pd.Series(per_key.reindex(index).to_numpy(), index=index)

    out = {var: expectation(col, mapping) for var, (col, mapping) in _SIMPLE.items()}
    out["Y003"] = sum(sign * expectation(col, {1: 1.0, 2: 0.0}) for col, sign in _AUTONOMY.items())
    out["Y002"] = 1.0 + sum(expectation(col, {1: 0.0, 2: 1.0, 3: 0.0, 4: 1.0}) for col in _POSTMATERIALIST)
    result = entities.copy()
    for var in MAP_VARIABLES:
        result[var] = out[var].to_numpy()
    return result


# ---- rotation -------------------------------------------------------------------------------------------------
def varimax(loadings: np.ndarray, *, normalize: bool = True, tol: float = 1e-13, max_iter: int = 10000
            ) -> tuple[np.ndarray, np.ndarray]:
    """Varimax rotation: the iteration of R's ``stats::varimax`` (Kaiser normalisation by default).

    R stops when the criterion grows by less than a relative 1e-5, which leaves the rotation
    angle off by ~1e-3; here the iteration runs until the rotation matrix moves by less than
    ``tol``. Returns (rotated loadings, orthogonal rotation matrix T), rotated = loadings @ T.
    """
    x = np.asarray(loadings, dtype=np.float64)
    p, k = x.shape
    if k < 2:
        return x.copy(), np.eye(k)
    scale = np.sqrt((x**2).sum(axis=1)) if normalize else np.ones(p)
    z = x / scale[:, None]
    rot = np.eye(k)
    for _ in range(max_iter):
        y = z @ rot
        b = z.T @ (y**3 - y * (y**2).sum(axis=0) / p)
        u, _, vt = np.linalg.svd(b)
        new = u @ vt
        moved = np.abs(new - rot).max()
        rot = new
        if moved < tol:
            break
    return (z @ rot) * scale[:, None], rot


def weighted_correlation(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation matrix of the columns of ``x`` (NaN = missing; pairwise complete)."""
    present = (~np.isnan(x)).astype(np.float64)
    x0 = np.where(np.isnan(x), 0.0, x)
    wm = present * w[:, None]
    s = wm.T @ present  # sum of weights where both present
    sa = (wm * x0).T @ present  # sum w x_a over rows where b present too
    saa = (wm * x0**2).T @ present
    sab = (wm * x0).T @ x0
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = sa / s, sa.T / s
        va, vb = saa / s - ma**2, saa.T / s - mb**2
        r = (sab / s - ma * mb) / np.sqrt(va * vb)
    np.fill_diagonal(r, 1.0)
    return r


# ---- the map ----------------------------------------------------------------------------------------------
@dataclass
class CultureMap:
    """Inglehart-Welzel map fitted on respondent-level data (see the module docstring).

    Construct with parameters, then ``fit(respondents, weights="weight")`` (or call
    :func:`culture_map`). After fitting: ``loadings_`` (10 x 2), ``coefficients_`` (score
    weights on standardised variables), ``means_`` and ``sds_`` (weighted), ``eigenvalues_``,
    ``correlation_`` and ``countries_`` (country positions with n respondents).

    Parameters
    ----------
    normalize : bool, default True
        Kaiser normalisation in the varimax rotation.
    country : str, default "country"
        The country column of the respondents.

    Examples
    --------
    >>> import wvsalign as wa
    >>> from wvsalign.stats.cultural_map import SOURCE_COLUMNS
    >>> frame = wa.survey.synthetic_respondents(countries=["USA", "JPN", "NGA", "SWE"], n_per_country=200)
    >>> data = wa.read_wvs(frame, items=["Q8", "Q14", "Q15", "Q17", "Q45", "Q46", "Q57", "Q164", "Q182", "Q184",
    ...                                  "Q209", "Q254"], extra_columns=["Q154", "Q155"])
    >>> fitted = CultureMap().fit(data.respondents)
    >>> fitted.countries_["country"].tolist(), fitted.loadings_.shape
    (['JPN', 'NGA', 'SWE', 'USA'], (10, 2))
    """

    normalize: bool = True
    country: str = "country"

    def fit(self, respondents: pd.DataFrame, weights: str | Sequence[float] | None = "weight") -> "CultureMap":
        """Fit loadings on the respondents' harmonised map variables and place every country."""
        if not isinstance(respondents, pd.DataFrame):
            raise InputError(f"expected a respondents DataFrame, got {type(respondents).__name__}")
        if self.country not in respondents.columns:
            raise InputError(f"the respondents table lacks the country column {self.country!r}", column=self.country)
        w = self._weights(respondents, weights)
        variables = map_variables(respondents)
        empty = [v for v in MAP_VARIABLES if variables[v].notna().sum() < 3]
        if empty:
            raise InputError(f"map variable(s) {empty} have (almost) no valid answers; the respondents need the "
                             f"columns {list(SOURCE_COLUMNS)}")
        x = variables.to_numpy(dtype=np.float64)
        present = ~np.isnan(x)
        wsum = (present * w[:, None]).sum(axis=0)
        means = np.nansum(x * w[:, None], axis=0) / wsum
        sds = np.sqrt(np.nansum((x - means) ** 2 * w[:, None], axis=0) / wsum)
        corr = weighted_correlation(x, w)
        values, vectors = np.linalg.eigh(corr)
        top = np.argsort(values)[::-1][:2]
        lam, vec = values[top], vectors[:, top]
        rotated, rot = varimax(vec * np.sqrt(lam), normalize=self.normalize)
        orient = self._orientation(rotated)
        self.loadings_ = pd.DataFrame(rotated @ orient, index=list(MAP_VARIABLES), columns=list(DIMENSIONS))
        self.coefficients_ = pd.DataFrame((vec / np.sqrt(lam)) @ rot @ orient, index=list(MAP_VARIABLES),
                                          columns=list(DIMENSIONS))
        self.means_ = pd.Series(means, index=list(MAP_VARIABLES))
        self.sds_ = pd.Series(sds, index=list(MAP_VARIABLES))
        self.eigenvalues_ = values[np.argsort(values)[::-1]]
        self.correlation_ = pd.DataFrame(corr, index=list(MAP_VARIABLES), columns=list(MAP_VARIABLES))
        scores = self._scores(x)
        frame = pd.DataFrame(scores, columns=list(DIMENSIONS))
        frame["_w"] = w
        frame[self.country] = respondents[self.country].to_numpy()
        weighted = frame[list(DIMENSIONS)].mul(frame["_w"], axis=0)
        weighted[self.country] = frame[self.country]
        sums = weighted.groupby(self.country, sort=True).sum()
        totals = frame.groupby(self.country, sort=True)["_w"].agg(["sum", "size"])
        positions = sums.div(totals["sum"], axis=0)
        positions["n"] = totals["size"]
        self.countries_ = positions.reset_index().rename(columns={self.country: "country"})
        return self

    # ---- helpers --------------------------------------------------------------------------------------
    def _weights(self, respondents: pd.DataFrame, weights) -> np.ndarray:
        """Positive finite weights, one per respondent; a bad one is named by the respondents' index label."""
        if weights is None:
            return np.ones(len(respondents))
        if isinstance(weights, str):
            if weights not in respondents.columns:
                raise InputError(f"the respondents table lacks the weight column {weights!r}; pass weights=None for "
                                 f"unweighted", column=weights)
            w = pd.to_numeric(respondents[weights], errors="coerce").to_numpy(dtype=np.float64)
            column = weights
        else:
            w = np.asarray(weights, dtype=np.float64)
            column = "weights"
            if w.shape != (len(respondents),):
                raise InputError(f"weights must have one value per respondent ({len(respondents)}); got {w.shape}")
        # read_wvs numbers respondents by their row in the file; other indexes: rows counted from 1
        rows = respondents.index.to_numpy() if pd.api.types.is_integer_dtype(respondents.index) else None
        check_weights(w, column=column, rows=rows)
        return w

    @staticmethod
    def _orientation(rotated: np.ndarray) -> np.ndarray:
        """Signed permutation putting the secular factor first and each factor's own variables positive."""
        first = np.array([v in SECULAR_VARIABLES for v in MAP_VARIABLES])
        affinity = np.abs(rotated[first]).sum(axis=0) - np.abs(rotated[~first]).sum(axis=0)
        order = [int(np.argmax(affinity)), int(np.argmin(affinity))] if affinity[0] != affinity[1] else [0, 1]
        perm = np.zeros((2, 2))
        perm[order[0], 0] = perm[order[1], 1] = 1.0
        reordered = rotated @ perm
        signs = np.sign([reordered[first, 0].sum(), reordered[~first, 1].sum()])
        signs[signs == 0] = 1.0
        return perm * signs[None, :]

    def _check_fitted(self) -> None:
        if not hasattr(self, "loadings_"):
            raise InputError("this CultureMap is not fitted yet; call .fit(respondents) first")

    def _scores(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.means_.to_numpy()) / self.sds_.to_numpy()
        z = np.where(np.isnan(z), 0.0, z)
        return z @ self.coefficients_.to_numpy()

    # ---- use ---------------------------------------------------------------------------------------------
    def transform(self, respondents: pd.DataFrame) -> pd.DataFrame:
        """Map scores of respondents (missing variables at the pooled mean)."""
        self._check_fitted()
        scores = self._scores(map_variables(respondents).to_numpy(dtype=np.float64))
        return pd.DataFrame(scores, columns=list(DIMENSIONS), index=respondents.index)

    def project(self, values: pd.DataFrame, *, kind: str | None = None) -> pd.DataFrame:
        """Place entities (models, model x persona) on the map with the fitted loadings.

        Missing variables (e.g. Y002 without Q154/Q155) are imputed at the pooled mean with a
        warning.

        Parameters
        ----------
        values : pandas.DataFrame
            Expected harmonised map variables per entity (key columns and some of the columns
            F063 ... A008; see :func:`expected_map_variables`), or a probs / human table
            (columns item_id, code and prob / share), converted first.
        kind : {"variables", "probs", "human"}, optional
            Which table ``values`` is; by default a table with ``code`` and ``item_id`` columns
            is a probs / human table and any other the map variables.

        Returns
        -------
        pandas.DataFrame
            The key columns plus the two map dimensions.

        Raises
        ------
        InputError
            When the map is not fitted, or ``values`` is none of the tables expected (the
            message names their columns).
        """
        self._check_fitted()
        if not isinstance(values, pd.DataFrame):
            raise InputError(f"CultureMap.project expects a DataFrame of map variables or a probs / human table; "
                             f"got {type(values).__name__}")
        if kind is not None:
            check_choice(kind, "kind", ("variables", "probs", "human"))
        distributions = kind in ("probs", "human") or (kind is None and {"item_id", "code"} <= set(values.columns))
        if distributions:
            values = expected_map_variables(values, kind=kind)
        elif not any(v in values.columns for v in MAP_VARIABLES):
            raise InputError(f"CultureMap.project expects map variables (some of the columns {list(MAP_VARIABLES)}, "
                             f"see expected_map_variables) or a probs / human table (columns item_id, code, prob / "
                             f"share); got the columns {list(values.columns)[:8]}")
        keys = [c for c in values.columns if c not in MAP_VARIABLES]
        x = values.reindex(columns=list(MAP_VARIABLES)).to_numpy(dtype=np.float64)
        missing = [v for j, v in enumerate(MAP_VARIABLES) if np.isnan(x[:, j]).any()]
        if missing:
            warnings.warn(f"map variable(s) {missing} missing for some rows; imputed at the pooled respondent mean "
                          f"(e.g. Y002 needs Q154 and Q155, which are not bank items)", stacklevel=2)
        out = values[keys].reset_index(drop=True).copy()
        scores = self._scores(x)
        for j, dim in enumerate(DIMENSIONS):
            out[dim] = scores[:, j]
        return out

    def distances(self, positions: pd.DataFrame, countries: Sequence[str] | None = None) -> pd.DataFrame:
        """Euclidean cultural distance of each projected entity to each country on the map.

        ``positions``: the output of :meth:`project` (or a probs table / expected variables,
        projected first). Returns the entity keys (a key named ``country``, e.g. a persona, is
        renamed ``persona``) and the alignment vocabulary: group_by "country", group (map
        country), metric "cultural_distance" (Euclidean), estimate (distance), n (respondents),
        rank (1 = closest), CI and p NaN (method and ci_method "none").
        """
        self._check_fitted()
        if not isinstance(positions, pd.DataFrame):
            raise InputError(f"CultureMap.distances expects a DataFrame of positions; got {type(positions).__name__}")
        if not set(DIMENSIONS) <= set(positions.columns):
            positions = self.project(positions)
        keys = [c for c in positions.columns if c not in DIMENSIONS]
        ref = self.countries_ if countries is None else self.countries_[self.countries_["country"].isin(countries)]
        a = positions[list(DIMENSIONS)].to_numpy(dtype=np.float64)
        b = ref[list(DIMENSIONS)].to_numpy(dtype=np.float64)
        dist = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))  # (entities, countries)
        entity = positions[keys].rename(columns={"country": "persona"}).reset_index(drop=True)
        return alignment_frame(
            entity.loc[np.repeat(np.arange(len(entity)), len(ref))], group_by="country",
            group=np.tile(ref["country"].to_numpy(), len(entity)), metric="cultural_distance", estimate=dist.ravel(),
            ci_low=np.nan, ci_high=np.nan, p=np.nan, n=np.tile(ref["n"].to_numpy(), len(entity)), method="none",
            ci_method="none", rank=pd.DataFrame(dist).rank(axis=1, method="min").to_numpy().ravel().astype(np.int64))


def culture_map(respondents: pd.DataFrame, weights: str | Sequence[float] | None = "weight", *,
                normalize: bool = True, country: str = "country") -> CultureMap:
    """Fit the Inglehart-Welzel map: ``CultureMap(normalize=..., country=...).fit(respondents, weights)``.

    Parameters
    ----------
    respondents : pandas.DataFrame
        Respondents with the WVS-7 columns of the map (:data:`SOURCE_COLUMNS`) and a country column.
    weights : str, array-like or None, default "weight"
        The weight column, one weight per respondent, or None for equal weights.
    normalize : bool, default True
        Kaiser normalisation in the varimax rotation.
    country : str, default "country"
        The country column.

    Returns
    -------
    CultureMap
        The fitted map.

    Raises
    ------
    InputError
        When the country or weight column is missing, a weight is not positive and finite, or
        a map variable has (almost) no valid answers.

    Examples
    --------
    >>> fitted = culture_map(respondents)  # doctest: +SKIP
    >>> fitted.distances(fitted.project(probs))  # doctest: +SKIP
    """
    return CultureMap(normalize=normalize, country=country).fit(respondents, weights)
