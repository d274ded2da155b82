"""What the tests share besides fixtures: the app's pages (read from ``app.py``), the
AppTest readers (one ``healthy``), the engine's command line and a poll with a deadline.

Fixtures live in ``conftest.py``; everything here is a plain function or constant,
imported by name (``from tests.helpers import PAGES, healthy``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

    from core.runs.store import Run

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP = str(PROJECT_ROOT / "app.py")
RUN_KEY = "active_run"  # the sidebar's run picker (session state and widget key)


# --- the pages app.py declares -----------------------------------------------------------


@dataclass(frozen=True)
class PageSpec:
    """One entry of app.py's page lists."""

    file: str  # "pages/latent-map.py"
    title: str  # its title in the top navigation
    url: str  # its url path ("latent-map")

    @property
    def heading(self) -> str:
        """The page's own title (h1): the navigation title unless it says more."""
        return _HEADINGS.get(self.url, self.title)

    @property
    def link(self) -> str:
        """The path a browser opens it at (the default page at the root)."""
        return "" if self.url == "overview" else self.url


# Pages whose title (h1) differs from their short navigation title.
_HEADINGS = {
    "overview": "Tactical states",
    "states": "Tactical states",
    "stability": "Stability across seeds",
}
# ("pages/<file>.py", "<title>", "<url path>", "<icon>") tuples of app.py's page lists.
_PAGE_ENTRY = re.compile(r'\(\s*"(pages/[^"]+\.py)",\s*"([^"]+)",\s*"([^"]+)"')


def app_pages() -> list[PageSpec]:
    """Every page app.py declares, in its order (read from its source, not re-typed)."""
    source = (PROJECT_ROOT / "app.py").read_text()
    return [PageSpec(*m.groups()) for m in _PAGE_ENTRY.finditer(source)]


PAGES = app_pages()


def page(url: str) -> PageSpec:
    """The page app.py serves at ``url``."""
    found = [p for p in PAGES if p.url == url]
    assert found, f"app.py declares no page at /{url}: {[p.url for p in PAGES]}"
    return found[0]


# --- AppTest -------------------------------------------------------------------------------


def new_app(run: Run | None = None, **state: Any) -> AppTest:
    """The app (router and sidebar included) over ``run`` (the default run when None),
    ``state`` preset in the session, not run yet."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    if run is not None:
        at.session_state[RUN_KEY] = run.run_id
    for key, value in state.items():
        at.session_state[key] = value
    return at


def open_app(run: Run | None = None, url: str | None = None, **state: Any) -> AppTest:
    """:func:`new_app` run once on page ``url`` (app.py's default page when None).
    Not checked: call :func:`healthy`."""
    at = new_app(run, **state)
    if url is not None:
        at.switch_page(page(url).file)
    return at.run()


def healthy(at: AppTest, where: str = "", *, no_errors: bool = False) -> None:
    """No exception and no "Unexpected error" (the router's last resort) on the page;
    with ``no_errors``, no error message at all."""
    assert not at.exception, (where, [e.value for e in at.exception])
    errors = [e.value for e in at.error]
    unexpected = errors if no_errors else [e for e in errors if "Unexpected error" in e]
    assert not unexpected, (where, unexpected)


_TEXT_KINDS = (
    "markdown", "caption", "subheader", "header", "title", "info", "warning", "error", "success",
)  # fmt: skip


def texts(at: AppTest) -> str:
    """Every markdown, caption, header, info/warning/error/success text on the page."""
    parts = [str(e.value) for kind in _TEXT_KINDS for e in getattr(at, kind)]
    parts += [str(e.proto.text) for e in at.get("progress")]
    return "\n".join(parts)


def frame_with(at: AppTest, *columns: str) -> Any:
    """The (pandas) value of the first dataframe on the page holding all ``columns``."""
    for element in at.dataframe:
        if all(c in element.value.columns for c in columns):
            return element.value
    raise AssertionError(f"no dataframe with columns {columns}")


def chart(at: AppTest, key: str) -> dict[str, Any]:
    """The figure JSON of the plotly chart with ``key``."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith(key):
            spec: dict[str, Any] = json.loads(el.proto.spec)
            return spec
    raise AssertionError(f"no plotly chart with key {key!r}")


def decode(value: Any) -> np.ndarray:
    """A plotly array from figure JSON: a list, or a base64 typed array ``{dtype, bdata, shape}``."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            arr = arr.reshape([int(s) for s in str(shape).split(",")])
        return arr
    return np.asarray(value, dtype=float)


# --- processes -----------------------------------------------------------------------------


def run_python(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python <args>`` in the project root with the session's environment, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env if env is not None else os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def cli(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The engine's command line, ``python -m core <args>``, as a user runs it."""
    return run_python("-m", "core", *args, timeout=timeout, env=env)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``cond`` every 0.1 s until it holds (the seconds it took); fail at ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
