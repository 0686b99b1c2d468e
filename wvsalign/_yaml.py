"""Safe YAML parsing (never constructs arbitrary Python objects), fast when libyaml is present."""
from __future__ import annotations

from typing import Any

import yaml

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """Parse YAML text with the safe loader (the C one when available: ~8x faster)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a SafeLoader subclass
