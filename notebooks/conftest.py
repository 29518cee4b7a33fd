"""When pytest runs the tours (nbval), their kernels write to a throwaway log, not to ./explorer.duckdb.

The tours open the log `explorer lab` hands them (EXPLORER_DB); a kernel inherits the environment it is
started with, and nbval starts one per notebook while setting up its first cell.
"""

import atexit
import os
import shutil
import tempfile

import pytest

collect_ignore = ["conftest.py"]
_FOLDER = tempfile.mkdtemp(prefix="explorer-tours-")
_LOG = os.path.join(_FOLDER, "tours.duckdb")
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if "EXPLORER_DB" not in os.environ:
        os.environ["EXPLORER_DB"] = _LOG
        item.stash[_SET] = True


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    if item.stash.get(_SET, False):
        del os.environ["EXPLORER_DB"]


_SET = pytest.StashKey[bool]()
