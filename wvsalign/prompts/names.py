"""Country names as they read inside an English sentence ("a person from the United States").

The registry (``countries.csv``) holds plain English names ("United States"). Some names
need the definite article in running text; :func:`english_country_name` adds it by a small
table of name patterns:

=====================================  ====================================================
pattern (on the registry name)          examples
=====================================  ====================================================
starts with ``United``                  the United States, the United Kingdom, the United Arab Emirates
contains ``Republic`` or ``Federation`` the Czech Republic, the Russian Federation, the Republic of Korea
ends with ``Islands``                   the Faroe Islands
one of ``THE_NAMES``                    the Netherlands, the Philippines, the Gambia, the Bahamas, the Maldives
=====================================  ====================================================

Names that already start with "the" are left alone. A translation file can override any
name by ISO3 code (``countries:`` in ``wvsalign/data/translations/<lang>.yaml``).
"""
from __future__ import annotations

import re

#: plain names that take "the" in English running text
THE_NAMES = frozenset({"Netherlands", "Philippines", "Gambia", "Bahamas", "Maldives", "Comoros"})

_ARTICLE_PATTERN = re.compile(r"^United\s|\bRepublic\b|\bFederation\b|\bIslands$")


def english_country_name(name: str) -> str:
    """``name`` with "the" in front where English needs it in a sentence."""
    name = name.strip()
    if name.lower().startswith("the "):
        return name
    if name in THE_NAMES or _ARTICLE_PATTERN.search(name):
        return f"the {name}"
    return name
