"""The backend registry: backends are found by name through the ``explorer.backends`` entry points.

A third party adds one by declaring, in its own ``pyproject.toml``::

    [project.entry-points."explorer.backends"]
    mine = "my_package.backend:MyBackend"

``register()`` adds one in-process (handy in a notebook or a test).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable

from explorer.backends.base import Backend, BackendError, Cancelled, Parameter, RunControl, Step
from explorer.request import RequestError

__all__ = ["Backend", "BackendError", "Cancelled", "Parameter", "RunControl", "Step", "available", "get", "register"]

# Built-ins are listed here too, so a source checkout works before `pip install`.
_BUILTIN = {
    "sketch": "explorer.backends.sketch:SketchBackend",
    "diffusers": "explorer.backends.diffusers:DiffusersBackend",
}
_registered: dict[str, Callable[[], Backend]] = {}
_instances: dict[str, Backend] = {}


def register(name: str, factory: Callable[[], Backend]) -> None:
    """Make ``backend=name`` use ``factory()`` in this process."""
    _registered[name] = factory
    _instances.pop(name, None)


def _entry_points() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group="explorer.backends")}
    return {**_BUILTIN, **found}


def available() -> list[str]:
    """Names accepted as ``backend=``."""
    return sorted({*_entry_points(), *_registered})


def get(name: str) -> Backend:
    """The backend instance for ``name`` (one per process, so caches survive between runs)."""
    if name in _instances:
        return _instances[name]
    if name in _registered:
        backend = _registered[name]()
    else:
        target = _entry_points().get(name)
        if target is None:
            raise RequestError([f"backend: unknown backend {name!r} (available: {', '.join(available())})"])
        module_name, _, attr = target.partition(":")
        import importlib

        backend = getattr(importlib.import_module(module_name), attr)()
    _instances[name] = backend
    return backend
