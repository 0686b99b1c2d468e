"""Country registry: every WVS-7 / EVS-2017 country or territory and named country sets.

Data: ``wvsalign/data/countries.csv`` (one row per country or territory; 90 rows) and
``wvsalign/data/country_sets.yaml`` (named sets, each with its rule written down; the header
of that file documents every column of the CSV and the Western rule).
Countries are identified by ISO 3166-1 alpha-3 codes (``iso3``) throughout wvsalign;
the WVS file's own alpha codes (``wvs_alpha``: e.g. ``MOR`` for Morocco, ``NIR`` for
Northern Ireland), numeric ``B_COUNTRY`` codes, English names and aliases (the file's value
labels such as "Taiwan ROC") are translated by :meth:`Countries.get`.

>>> reg = Countries.load()
>>> reg.get("MOR").iso3, reg.get(840).name, len(reg.set("default"))
('MAR', 'United States', 55)
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import pandas as pd

from .. import _yaml
from ..errors import InputError

#: required columns of countries.csv (``aliases`` is optional)
CSV_COLUMNS = (
    "iso3", "wvs_alpha", "iso_numeric", "name", "languages", "zone", "western", "continent",
    "study", "sample",
)
#: Inglehart-Welzel cultural zones of the 2023 cultural map
ZONES = (
    "African-Islamic", "Catholic Europe", "Confucian", "English-speaking", "Latin America",
    "Orthodox Europe", "Protestant Europe", "West & South Asia",
)
#: the Western rule: a country is western when its zone is one of these
WESTERN_ZONES = ("English-speaking", "Protestant Europe", "Catholic Europe")
STUDIES = ("WVS", "EVS", "WVS+EVS")
SAMPLES = ("national", "territory", "subnational")
CONTINENTS = ("Africa", "Asia", "Europe", "North America", "South America", "Oceania")
#: keys a set specification may have
SET_KEYS = ("rule", "members", "where", "exclude", "include")


@dataclass(frozen=True)
class Country:
    """One country or territory of the WVS-7 / EVS joint file (a row of ``data/countries.csv``).

    Parameters
    ----------
    iso3 : str
        ISO 3166-1 alpha-3 code, the ``country`` of every table.
    wvs_alpha : str
        The alpha code the WVS file uses (``B_COUNTRY_ALPHA``; differs from iso3 for a few).
    iso_numeric : int
        ISO numeric code, the WVS ``B_COUNTRY``.
    name : str
        English name.
    languages : tuple of str
        ISO 639-1 codes of the main interview languages, main first.
    zone : str
        Inglehart-Welzel cultural zone (one of :data:`ZONES`).
    western : bool
        Whether the zone is a Western one (:data:`WESTERN_ZONES`).
    continent, study, sample : str
        Continent, "WVS" / "EVS" / "WVS+EVS", "national" / "territory" / "subnational".
    aliases : tuple of str, default ()
        More names that resolve to this country.

    Examples
    --------
    >>> from wvsalign.survey import Countries
    >>> jpn = Countries.load().get("Japan")
    >>> jpn.iso3, jpn.zone, jpn.western
    ('JPN', 'Confucian', False)
    """

    iso3: str
    wvs_alpha: str
    iso_numeric: int
    name: str
    languages: tuple[str, ...]  # ISO 639-1 codes of the main interview languages, main first
    zone: str  # Inglehart-Welzel cultural zone
    western: bool
    continent: str
    study: str  # "WVS", "EVS" or "WVS+EVS"
    sample: str  # "national", "territory" or "subnational"
    aliases: tuple[str, ...] = ()  # other names accepted by look-ups

    @property
    def language(self) -> str:
        """Main interview language (ISO 639-1)."""
        return self.languages[0]

    @property
    def in_wvs7(self) -> bool:
        """True when the WVS-7 fielded this country (study WVS or WVS+EVS)."""
        return self.study in ("WVS", "WVS+EVS")


def _key(code: object) -> str:
    """Normalised look-up key: stripped, upper case; numbers without leading zeros or '.0'."""
    text = str(code).strip().upper()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if text.isdigit():
        text = str(int(text))
    return text


class Countries:
    """The country registry: countries, their codes, names, zones and named country sets.

    ``Countries.load()`` gives the embedded registry; construct one from a table to use another.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per country with the columns :data:`CSV_COLUMNS` (``aliases`` optional).
    sets : mapping, optional
        Named country sets: name -> specification (rule, members, where, exclude, include).
    source : str, default "countries table"
        Where the table came from, put in error messages.

    Raises
    ------
    InputError
        When a column is missing, a value is invalid, an iso3 code repeats or a look-up key
        (code, name, alias) belongs to two countries; the message names the row.

    Examples
    --------
    >>> from wvsalign.survey import Countries
    >>> registry = Countries.load()
    >>> registry.resolve("JPN,deu")
    ['JPN', 'DEU']
    >>> registry.get(392).name
    'Japan'
    """

    def __init__(
        self, table: pd.DataFrame, sets: Mapping[str, Mapping] | None = None, *, source: str = "countries table"
    ) -> None:
        missing = [c for c in CSV_COLUMNS if c not in table.columns]
        if missing:
            raise InputError(f"country table lacks column(s) {missing}; expected {list(CSV_COLUMNS)}", file=source)
        self._countries: dict[str, Country] = {}
        self._lookup: dict[str, str] = {}
        for row_no, row in enumerate(table.to_dict("records"), start=1):  # row 1 = first data row
            country = _parse_row(row, source=source, row=row_no)
            if country.iso3 in self._countries:
                raise InputError(
                    "duplicate iso3 code; expected one row per country",
                    file=source, column="iso3", row=row_no, value=country.iso3,
                )
            self._countries[country.iso3] = country
            for column, key in _lookup_keys(country):
                owner = self._lookup.setdefault(_key(key), country.iso3)
                if owner != country.iso3:
                    raise InputError(
                        f"look-up key {key!r} of {country.iso3} is already used by {owner}; "
                        "expected codes, names and aliases unique across countries",
                        file=source,
                        column=column,
                        row=row_no,
                    )
        self._sets: dict[str, Mapping] = {}
        for name, spec in dict(sets or {}).items():
            self._sets[str(name)] = _check_set(str(name), spec, self)

    # ---- construction -------------------------------------------------------------
    @classmethod
    def load(cls) -> "Countries":
        """The embedded registry (cached)."""
        return _load_embedded()

    @classmethod
    def from_files(cls, csv_path: str | Path, sets_path: str | Path | None = None) -> "Countries":
        """A registry from a CSV in the layout of countries.csv and, optionally, a sets YAML."""
        csv_path = Path(csv_path)
        if not csv_path.is_file():
            raise InputError("no such country table; expected a CSV in the layout of wvsalign/data/countries.csv", file=csv_path)
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        sets = None
        if sets_path is not None:
            sets = _read_sets(Path(sets_path))
        return cls(table, sets, source=str(csv_path))

    # ---- access ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._countries)

    def __iter__(self) -> Iterator[Country]:
        return iter(self._countries.values())

    def __contains__(self, code: object) -> bool:
        return _key(code) in self._lookup

    def __repr__(self) -> str:
        return f"Countries({len(self)} countries, {len(self._sets)} sets)"

    def get(self, code: str | int) -> Country:
        """A country by ISO3, WVS alpha code, numeric code, English name or alias (case-insensitive)."""
        key = _key(code)
        if key not in self._lookup:
            raise InputError(
                f"unknown country {code!r}; expected an ISO3 code, WVS alpha code, numeric code or name "
                f"of a WVS-7/EVS country (e.g. USA, JPN, 840)"
            )
        return self._countries[self._lookup[key]]

    def __getitem__(self, code: str | int) -> Country:
        return self.get(code)

    def resolve(self, codes: Iterable[str | int] | str) -> list[str]:
        """ISO3 codes for a list (or comma-separated string) of codes, names or set names."""
        if isinstance(codes, str):
            codes = [c.strip() for c in codes.split(",") if c.strip()]
        out: list[str] = []
        for code in codes:
            if isinstance(code, str) and code in self._sets:
                out.extend(self.set(code))
            else:
                out.append(self.get(code).iso3)
        return list(dict.fromkeys(out))

    def name(self, iso3: str) -> str:
        return self.get(iso3).name

    # ---- sets -----------------------------------------------------------------------
    @property
    def set_names(self) -> list[str]:
        return list(self._sets)

    def set_rule(self, name: str) -> str:
        """The written rule of a named set."""
        return str(self._set_spec(name).get("rule", ""))

    def set(self, name: str) -> list[str]:
        """ISO3 codes of a named country set: a ``members`` list in its own order; a filter
        (``where``, then ``exclude``) in registry order, followed by ``include`` in its order."""
        spec = self._set_spec(name)
        if "members" in spec:
            return list(dict.fromkeys(self.get(c).iso3 for c in spec["members"]))
        keep = list(self)
        for column, allowed in (spec.get("where") or {}).items():
            allowed_keys = {_value_key(a) for a in (allowed if isinstance(allowed, list) else [allowed])}
            keep = [c for c in keep if _value_key(getattr(c, column)) in allowed_keys]
        exclude = {self.get(c).iso3 for c in spec.get("exclude") or []}
        include = [self.get(c).iso3 for c in spec.get("include") or []]
        members = [c.iso3 for c in keep if c.iso3 not in exclude]
        return list(dict.fromkeys(members + include))

    def _set_spec(self, name: str) -> Mapping:
        if name not in self._sets:
            raise InputError(f"unknown country set {name!r}; expected one of {self.set_names}")
        return self._sets[name]

    # ---- tables ---------------------------------------------------------------------
    def to_frame(self, codes: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per country (all, or the given ones), in the columns of countries.csv."""
        chosen = [self.get(c) for c in codes] if codes is not None else list(self)
        frame = pd.DataFrame([c.__dict__ for c in chosen], columns=[f.name for f in fields(Country)])
        frame["languages"] = frame["languages"].map(";".join)
        frame["aliases"] = frame["aliases"].map(";".join)
        return frame

    def sets_frame(self) -> pd.DataFrame:
        """One row per named set: set, n (members), rule."""
        return pd.DataFrame(
            [{"set": name, "n": len(self.set(name)), "rule": self.set_rule(name)} for name in self._sets],
            columns=["set", "n", "rule"],
        )


# ---- parsing ----------------------------------------------------------------------------
def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y"}:
        return True
    if text in {"0", "false", "no", "n"}:
        return False
    return None


def _value_key(value: object) -> str:
    """Comparable text of a column value or of an allowed value in a set's ``where``
    (booleans and the strings true/false compare alike)."""
    text = str(value).strip()
    return text.lower() if text.lower() in {"true", "false"} else text


def _split(value: object) -> tuple[str, ...]:
    """';'-separated values; a missing value (None, NaN, empty) gives none."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ()
    return tuple(s.strip() for s in str(value).split(";") if s.strip())


def _parse_row(record: Mapping, *, source: str, row: int) -> Country:
    """One CSV row -> :class:`Country`; every error names the row and column."""

    def text(column: str) -> str:
        value = record.get(column)
        value = "" if value is None else str(value).strip()
        if not value or value.lower() == "nan":
            raise InputError("empty value; expected a value in every row", file=source, column=column, row=row)
        return value

    def choice(column: str, allowed: Sequence[str]) -> str:
        value = text(column)
        if value not in allowed:
            raise InputError(f"expected one of {list(allowed)}", file=source, column=column, row=row, value=value)
        return value

    iso3 = text("iso3").upper()
    if len(iso3) != 3 or not iso3.isalpha():
        raise InputError("expected a three-letter ISO 3166-1 alpha-3 code", file=source, column="iso3", row=row, value=iso3)
    try:
        numeric = int(float(text("iso_numeric")))
    except ValueError:
        raise InputError(
            "expected an integer code", file=source, column="iso_numeric", row=row, value=record.get("iso_numeric")
        ) from None
    western = _as_bool(text("western"))
    if western is None:
        raise InputError("expected true or false", file=source, column="western", row=row, value=record.get("western"))
    zone = choice("zone", ZONES)
    if western != (zone in WESTERN_ZONES):
        raise InputError(
            f"western is {str(western).lower()} for zone {zone!r}; expected true exactly for the zones "
            f"{list(WESTERN_ZONES)} (the Western rule)",
            file=source, column="western", row=row, value=record.get("western"),
        )
    languages = _split(text("languages"))
    bad = [lang for lang in languages if len(lang) != 2 or not lang.isalpha() or not lang.islower()]
    if bad:
        raise InputError(
            "expected ';'-separated two-letter ISO 639-1 codes", file=source, column="languages", row=row, value=bad[0]
        )
    return Country(
        iso3=iso3,
        wvs_alpha=text("wvs_alpha").upper(),
        iso_numeric=numeric,
        name=text("name"),
        languages=languages,
        zone=zone,
        western=western,
        continent=choice("continent", CONTINENTS),
        study=choice("study", STUDIES),
        sample=choice("sample", SAMPLES),
        aliases=_split(record.get("aliases")),
    )


def _lookup_keys(country: Country) -> list[tuple[str, str]]:
    """(column, key) pairs under which :meth:`Countries.get` finds a country."""
    keys = [("iso3", country.iso3), ("wvs_alpha", country.wvs_alpha), ("iso_numeric", str(country.iso_numeric))]
    return keys + [("name", country.name)] + [("aliases", a) for a in country.aliases]


def _check_set(name: str, spec: object, registry: Countries) -> Mapping:
    """Validate one set specification against the registry; return it."""
    where = f"country set {name!r}"
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: expected a mapping with a rule and members or where/exclude/include")
    unknown = [k for k in spec if k not in SET_KEYS]
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; expected keys among {list(SET_KEYS)}")
    if not str(spec.get("rule", "")).strip():
        raise InputError(f"{where}: no written rule; expected a 'rule' text that says who is in the set")
    columns = {f.name for f in fields(Country)}
    for column in spec.get("where") or {}:
        if column not in columns:
            raise InputError(f"{where}: filters on unknown column {column!r}; expected one of {sorted(columns)}")
    for key in ("members", "exclude", "include"):
        for code in spec.get(key) or []:
            if code not in registry:
                raise InputError(f"{where}: {key} names unknown country {code!r}; expected a code of the registry")
    return spec


def _read_sets(path: Path) -> Mapping[str, Mapping]:
    raw = _yaml.load_file(path, what="country-set file (YAML in the layout of country_sets.yaml)")
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sets"), Mapping):
        raise InputError("expected a mapping with the named sets under 'sets'", file=path)
    return raw["sets"]


@lru_cache(maxsize=1)
def _load_embedded() -> Countries:
    data = resources.files("wvsalign").joinpath("data")
    with resources.as_file(data.joinpath("countries.csv")) as csv_path, \
            resources.as_file(data.joinpath("country_sets.yaml")) as sets_path:
        return Countries.from_files(csv_path, sets_path)
