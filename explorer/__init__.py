"""Clip Explorer: generate, compare, rate and review short video clips, with every run logged to DuckDB.

>>> import explorer
>>> lab = explorer.open("/tmp/doctest.duckdb")
>>> run = lab.generate("sunset birds flying", seed=1, frames=8, progress=False)
>>> run.status
'succeeded'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.lab import Lab, Run, open
    from explorer.request import Request, RequestError

__version__ = "0.1.0"
__all__ = ["Lab", "Request", "RequestError", "Run", "open", "__version__"]

# The public names, imported on first use (PEP 562): `import explorer` stays cheap, so `explorer --help`, the
# server extension's discovery and a CLI command that opens no log do not pay for pandas, DuckDB and PyAV.
_LAZY = {"Lab": "explorer.lab", "Run": "explorer.lab", "open": "explorer.lab", "Request": "explorer.request",
         "RequestError": "explorer.request"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'explorer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """jupyter_server finds the extension here (enabled by the config file the package installs)."""
    return [{"module": "explorer.server"}]
