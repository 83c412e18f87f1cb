"""Whether the browser tests can run here: the Python package playwright and Debian's chromium (or
$GOLDKEY_CHROMIUM). Without them they are skipped, unless GOLDKEY_BROWSER_TESTS=required (CI), which fails them."""

from __future__ import annotations

import os

import pytest

CHROMIUM = os.environ.get("GOLDKEY_CHROMIUM", "/usr/bin/chromium")


def missing() -> str | None:
    """Why the browser tests cannot run, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set GOLDKEY_CHROMIUM)"
    return None


def require(module: bool = True) -> None:
    """Skip (the module, or the test) without a browser, or fail when CI requires them."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("GOLDKEY_BROWSER_TESTS") == "required":
        pytest.fail(f"browser tests required (GOLDKEY_BROWSER_TESTS=required) but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}", allow_module_level=module)
