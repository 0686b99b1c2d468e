"""Country registry: every WVS-7 / EVS-2017 country or territory and named country sets.

Data: ``wvsalign/data/countries.csv`` (one row per country or territory) and
``wvsalign/data/country_sets.yaml`` (named sets, each with its rule written down).
Countries are identified by ISO 3166-1 alpha-3 codes (``iso3``) throughout wvsalign;
the WVS file's own alpha codes (``wvs_alpha``: e.g. ``MOR`` for Morocco, ``NIR`` for
Northern Ireland) and numeric ``B_COUNTRY`` codes are translated on reading.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Iterator, Mapping, Sequence

import pandas as pd
import yaml

from ..errors import InputError

CSV_COLUMNS = (
    "iso3", "wvs_alpha", "iso_numeric", "name", "languages", "zone", "western", "continent",
    "study", "sample",
)


@dataclass(frozen=True)
class Country:
    """One country or territory of the WVS-7 / EVS joint file."""

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

    @property
    def language(self) -> str:
        """Main interview language (ISO 639-1)."""
        return self.languages[0]


class Countries:
    """The country registry. ``Countries.load()`` gives the embedded one."""

    def __init__(self, table: pd.DataFrame, sets: Mapping[str, Mapping] | None = None) -> None:
        missing = [c for c in CSV_COLUMNS if c not in table.columns]
        if missing:
            raise InputError(f"country table lacks column(s) {missing}; expected {list(CSV_COLUMNS)}")
        self._countries: dict[str, Country] = {}
        for row in table.itertuples(index=False):
            c = Country(
                iso3=str(row.iso3),
                wvs_alpha=str(row.wvs_alpha),
                iso_numeric=int(row.iso_numeric),
                name=str(row.name),
                languages=tuple(s.strip() for s in str(row.languages).split(";") if s.strip()),
                zone=str(row.zone),
                western=_as_bool(row.western),
                continent=str(row.continent),
                study=str(row.study),
                sample=str(row.sample),
            )
            self._countries[c.iso3] = c
        self._sets: dict[str, Mapping] = dict(sets or {})
        self._lookup: dict[str, str] = {}
        for c in self._countries.values():
            for key in (c.iso3, c.wvs_alpha, str(c.iso_numeric), c.name):
                self._lookup[key.upper()] = c.iso3

    @classmethod
    def load(cls) -> "Countries":
        """The embedded registry (cached)."""
        return _load_embedded()

    def __len__(self) -> int:
        return len(self._countries)

    def __iter__(self) -> Iterator[Country]:
        return iter(self._countries.values())

    def __contains__(self, code: object) -> bool:
        return str(code).upper() in self._lookup

    def get(self, code: str | int) -> Country:
        """A country by ISO3, WVS alpha code, ISO numeric code or English name."""
        key = str(code).strip().upper()
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

    @property
    def set_names(self) -> list[str]:
        return list(self._sets)

    def set_rule(self, name: str) -> str:
        """The written rule of a named set."""
        return str(self._set_spec(name).get("rule", ""))

    def set(self, name: str) -> list[str]:
        """ISO3 codes of a named country set, in registry order."""
        spec = self._set_spec(name)
        if "members" in spec:
            return [self.get(c).iso3 for c in spec["members"]]
        keep = list(self)
        for field, allowed in (spec.get("where") or {}).items():
            allowed_set = {str(a) for a in (allowed if isinstance(allowed, list) else [allowed])}
            keep = [c for c in keep if str(getattr(c, field)) in allowed_set]
        exclude = {self.get(c).iso3 for c in spec.get("exclude", [])}
        include = [self.get(c).iso3 for c in spec.get("include", [])]
        members = [c.iso3 for c in keep if c.iso3 not in exclude]
        return list(dict.fromkeys(members + include))

    def _set_spec(self, name: str) -> Mapping:
        if name not in self._sets:
            raise InputError(f"unknown country set {name!r}; expected one of {self.set_names}")
        return self._sets[name]

    def to_frame(self, codes: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per country (all, or the given ones)."""
        chosen = [self.get(c) for c in codes] if codes is not None else list(self)
        frame = pd.DataFrame([c.__dict__ for c in chosen])
        frame["languages"] = frame["languages"].map(";".join)
        return frame


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "y"}


@lru_cache(maxsize=1)
def _load_embedded() -> Countries:
    root = resources.files("wvsalign")
    with root.joinpath("data/countries.csv").open("r", encoding="utf-8") as fh:
        table = pd.read_csv(fh, dtype=str, keep_default_na=False)
    sets = yaml.safe_load(root.joinpath("data/country_sets.yaml").read_text(encoding="utf-8"))["sets"]
    return Countries(table, sets)
