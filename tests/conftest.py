"""Shared test fixtures (kept small). Tests never download from a model hub."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: a few countries from different cultural zones (MAR has the non-ISO WVS code MOR)
SMALL_COUNTRIES = ("USA", "JPN", "DEU", "NGA", "MAR", "BRA")


@pytest.fixture(scope="session")
def synthetic_raw():
    """Synthetic respondents in the WVS-7 column layout: 6 countries x 300, seed 7, embedded bank."""
    from wvsalign.survey.synthetic import synthetic_respondents

    return synthetic_respondents(countries=list(SMALL_COUNTRIES), n_per_country=300, seed=7)
