"""Browser tests: a real ``jupyter lab`` on 127.0.0.1 driven by Debian's Chromium via Playwright.

Fixtures
  jupyter_server (session)  -> lab.JupyterServer: .url, .token, .root (Path), .base_url, .port, .log_path,
                               .lab_url(path), .api(path, token=True, method="GET", body=None)
  browser        (session)  -> playwright.sync_api.Browser (/usr/bin/chromium, headless)
  page           (function) -> playwright.sync_api.Page in a fresh context, default timeout 30 s;
                               a screenshot artifacts/screenshots/FAILED-<test>.png is taken if the test fails.
  notebook_dir   (function) -> Path: a fresh folder under jupyter_server.root for this test's notebooks.

If /usr/bin/chromium (or playwright) is missing the browser tests are skipped, unless the
environment variable CI is set, in which case they fail. Install with scripts/test-deps.sh.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab import (  # noqa: E402
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DEFAULT_TIMEOUT_MS,
    shot,
    start_jupyter_server,
    stop_jupyter_server,
)


def _missing(reason: str):
    """Skip locally; fail under CI so a broken CI image cannot silently skip the browser tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip; run scripts/test-deps.sh)",
                    pytrace=False)
    pytest.skip(f"{reason}; run scripts/test-deps.sh (set CI=1 to make this an error)")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        _missing("jupyterlab is not installed")
    server = start_jupyter_server(tmp_path_factory.mktemp("jupyter"))
    try:
        yield server
    finally:
        stop_jupyter_server(server)
        try:  # keep the log for CI artifacts
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(server.log_path, ARTIFACTS / "jupyter-server.log")
        except OSError:
            pass


# Module scope, not session: Playwright's sync event loop must be gone before pytest-jupyter's asyncio tests run.
@pytest.fixture(scope="module")
def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (Python) is not installed")
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is missing")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(_playwright):
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.console_messages_seen = console  # for tests that want to assert on them
    yield page
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", request.node.nodeid.split("::", 1)[-1])
        try:
            path = shot(page, f"FAILED-{name}", full_page=True)
            print(f"\nscreenshot of the failure: {path}")
        except Exception as e:  # the page may be gone
            print(f"\n(no failure screenshot: {e})")
        if console:
            print("browser console errors/warnings:\n  " + "\n  ".join(console[-30:]))
    context.close()


@pytest.fixture
def notebook_dir(jupyter_server, request):
    """A fresh folder under the server root, named after the test."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)[:60]
    d = jupyter_server.root / name
    d.mkdir(parents=True, exist_ok=True)
    return d
