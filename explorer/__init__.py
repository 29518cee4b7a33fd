"""Clip Explorer: generate, compare, rate and review short video clips, with every run logged to DuckDB.

>>> import explorer
>>> lab = explorer.open("/tmp/doctest.duckdb")
>>> run = lab.generate("sunset birds flying", seed=1, frames=8, progress=False)
>>> run.status
'succeeded'
"""

from explorer.lab import Lab, Run, open
from explorer.request import Request, RequestError

__version__ = "0.1.0"
__all__ = ["Lab", "Request", "RequestError", "Run", "open", "__version__"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """jupyter_server finds the extension here (enabled by the config file the package installs)."""
    return [{"module": "explorer.server"}]
