"""Lazy public names for packages: ``import wvsalign.stats`` imports nothing heavy until a
name is used (torch and transformers load only when a model is)."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, Callable, Iterable, Mapping


def lazy_exports(
    package: str, names: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    ``names`` maps a public name to the module defining it (".mod" is relative to
    ``package``); ``submodules`` are reachable as attributes (``wvsalign.stats``).
    ``dir(package)`` lists the public names and the package's own dunder names (``__version__``).
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
        # the public names and the dunder names the package defines (__version__, __doc__, ...)
        defined = vars(sys.modules[package])
        return public + sorted(n for n in defined if n.startswith("__") and n.endswith("__") and n not in public)

    return __getattr__, __dir__, public
