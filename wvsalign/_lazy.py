"""Lazy public names for packages: ``import wvsalign.stats`` imports nothing heavy until a
name is used (torch and transformers load only when a model is)."""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Callable, Iterable, Mapping


def lazy_exports(
    package: str, names: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    ``names`` maps a public name to the module defining it (".mod" is relative to
    ``package``); ``submodules`` are reachable as attributes (``wvsalign.stats``).
    """
    table = {name: importlib.util.resolve_name(module, package) for name, module in names.items()}
    subs = set(submodules)
    public = sorted(table) + sorted(subs)

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        if name in subs:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__, public
