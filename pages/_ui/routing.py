"""Routing: every page runs through ``app.py`` (router, page config, sidebar)."""

from __future__ import annotations

import contextlib
import runpy
import threading
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

# --- routing -----------------------------------------------------------------------------

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
_ROUTING = threading.local()


@contextlib.contextmanager
def routing() -> Iterator[None]:
    """Mark the page run as routed through ``app.py`` (which wraps ``page.run()`` in this)."""
    _ROUTING.active = True
    try:
        yield
    finally:
        _ROUTING.active = False


def ensure_routed() -> None:
    """Run the page through ``app.py`` when Streamlit started it directly.

    Because the page files live in ``pages/``, Streamlit's legacy multipage mode can run a
    page file on its own (the first request after a server start, and every AppTest rerun),
    skipping ``app.py``: no page config, no sidebar, no filters. Each page calls this first;
    it runs ``app.py`` instead (which runs the page again, routed) and stops the bare run.
    """
    if getattr(_ROUTING, "active", False):
        return
    runpy.run_path(str(APP_PATH), run_name="__main__")
    st.stop()
