"""One context manager that puts a function on a site of every (or some) layers and always
takes it off again, also when the body raises."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from .sites import DEFAULT_SITE, resolve_site

#: fn(layer, tensor) -> None (read only) or a tensor that replaces the site's value
SiteFn = Callable[[int, Any], Any]


@contextmanager
def site_hooks(model: Any, site: str = DEFAULT_SITE, fn: SiteFn | None = None,
               layers: Iterable[int] | None = None) -> Iterator[list[Any]]:
    """Register ``fn`` on ``site`` of ``layers`` (all by default) for the ``with`` block.

    ``fn(layer, tensor)`` sees the site's tensor (batch, positions, neurons); a returned tensor
    replaces it in the forward pass. The hook handles are removed on exit, on error too.

    Yields
    ------
    list
        The hook handles (for inspection; removal is automatic).
    """
    points = resolve_site(model, site)
    wanted = None if layers is None else {int(x) for x in layers}
    handles: list[Any] = []
    try:
        for point in points:
            if fn is None or (wanted is not None and point.layer not in wanted):
                continue
            if point.io == "input":
                handles.append(point.module.register_forward_pre_hook(_pre_hook(point.layer, fn)))
            else:
                handles.append(point.module.register_forward_hook(_post_hook(point.layer, fn)))
        yield handles
    finally:
        for handle in handles:
            handle.remove()


def _pre_hook(layer: int, fn: SiteFn) -> Callable:
    def hook(_module, args):
        new = fn(layer, args[0])
        if new is None:
            return None
        return (new,) + tuple(args[1:])

    return hook


def _post_hook(layer: int, fn: SiteFn) -> Callable:
    def hook(_module, _args, output):
        return fn(layer, output)

    return hook
