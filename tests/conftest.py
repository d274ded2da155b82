"""Shared fixtures: isolated data/run roots, the demo dataset and run (and the other runs
several test files read: its seed-11 twin, a collapsed run, damaged run folders, its
export), and the browser harness. Plain helpers (page list, AppTest readers, the CLI
runner) are in ``tests/helpers.py``.

Both roots point at one temporary folder per test session (set before any test module
imports ``core``), so tests never touch the project's own ``data/`` and ``runs/``; numba's
compiled code is kept across sessions in ``.pytest_cache/numba``.
Every process the session starts carries ``TACTICAL_TEST_SESSION`` in its environment;
at the end of the session any such process still alive (a Streamlit server, a detached
training job) is killed, so no test leaves a process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import PROJECT_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from core.runs.store import Run

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="tactical-tests-"))
_SESSION_TAG = uuid.uuid4().hex
os.environ["TACTICAL_DATA_ROOT"] = str(_SESSION_ROOT / "data")
os.environ["TACTICAL_RUNS_ROOT"] = str(_SESSION_ROOT / "runs")
os.environ["TACTICAL_TEST_SESSION"] = _SESSION_TAG
# Small, deterministic CPU work in tests; the machine has two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# numba's compiled UMAP code, kept across test sessions (the runs root is new each session,
# and compiling it again costs ~30 s of every session). The cached code is the code numba
# would compile; a NUMBA_CACHE_DIR set by the caller wins.
os.environ.setdefault("NUMBA_CACHE_DIR", str(PROJECT_ROOT / ".pytest_cache" / "numba"))


# The small configuration every page and browser test reads: fast to train, still real.
DEMO_RUN_VAE: dict[str, Any] = {
    "latent_dim": 4,
    "hidden_dims": (64, 32),
    "beta": 1.0,
    "learning_rate": 1e-3,
    "batch_size": 64,
    "n_epochs": 40,
    "dropout": 0.1,
    "random_state": 7,
    "ensemble": 3,  # the product's default: patterns are confirmed by other seeds
}


def _session_processes() -> list[int]:
    """Pids of live processes started by this test session (found by their environment)."""
    marker = f"TACTICAL_TEST_SESSION={_SESSION_TAG}".encode()
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _kill_session_processes() -> None:
    pids = _session_processes()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = [p for p in _session_processes() if p in pids]
            if not pids:
                return
            time.sleep(0.1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _kill_session_processes()
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def session_root() -> Path:
    """The session's temporary folder holding ``data/`` and ``runs/``."""
    return _SESSION_ROOT


@pytest.fixture(scope="session")
def demo_dataset() -> Path:
    """Dataset folder with the three demo matches' features, matches and events, built once."""
    from core.features.extract import extract_features
    from core.infra.paths import datasets_root

    out = datasets_root() / "demo"
    if not (out / "features.parquet").exists():
        extract_features("demo", out)
    return out


def _trained_run(features: Path, vae: Any, prep: Any = None) -> Run:
    """The finished run of ``vae`` on ``features`` (trained in-process unless it exists)."""
    from core.model.config import PreprocessConfig
    from core.pipeline.execute import execute_run
    from core.runs.store import create_run

    run, _ = create_run(features, vae, prep or PreprocessConfig())
    if run.status().state != "done":
        execute_run(run.run_id)
    assert run.status().state == "done", run.status()
    return run


@pytest.fixture(scope="session")
def demo_run(demo_dataset: Path) -> Run:
    """A small real run on the demo features with every analysis done (trained in-process)."""
    from core.model.config import VAEConfig

    return _trained_run(demo_dataset / "features.parquet", VAEConfig(**DEMO_RUN_VAE))


@dataclass(frozen=True)
class DemoExport:
    """``demo_run`` exported in the notebook's layout: the folder and what was written."""

    folder: Path
    written: list[Path]


@pytest.fixture(scope="session")
def demo_export(demo_run: Run, tmp_path_factory: pytest.TempPathFactory) -> DemoExport:
    """``demo_run`` exported once (figures take seconds); tests only read it."""
    from core.services.export import export_run

    out = tmp_path_factory.mktemp("export") / "out"
    return DemoExport(out, list(export_run(demo_run.run_id, out)))


@pytest.fixture(scope="session")
def seed_run(demo_run: Run) -> Run:
    """``demo_run``'s configuration trained again under seed 11 (what the Stability page's
    "Train seed runs" button makes), finished."""
    from core.services.stability import seed_config

    cfg = demo_run.config()
    return _trained_run(cfg.features_path, seed_config(demo_run, 11), cfg.preprocess)


# Small and quick; with the notebook's beta 4 and dropout 0.2 it keeps one axis at most.
COLLAPSED_VAE: dict[str, Any] = {
    "latent_dim": 4,
    "hidden_dims": (64, 32),
    "n_epochs": 15,
    "batch_size": 64,
    "random_state": 7,
}


@pytest.fixture(scope="session")
def collapsed_run(demo_dataset: Path) -> Run:
    """A finished notebook-preset run on the demo features with fewer than 2 distinct dims."""
    from core.model.presets import preset

    vae = preset("notebook", **COLLAPSED_VAE)
    assert (vae.beta, vae.dropout) == (4.0, 0.2)
    run = _trained_run(demo_dataset / "features.parquet", vae)
    quality = run.dim_quality()
    assert quality.n_distinct <= 1 and not quality.healthy, quality.verdict
    return run


def _clone_run(source: Run, run_id: str, edit: Callable[[dict[str, Any]], None]) -> Run:
    """A copy of ``source`` under a new id, with its config.json edited by ``edit``."""
    from core.infra.paths import runs_root
    from core.runs.store import Run

    target = runs_root() / run_id
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source.path, target, ignore=shutil.ignore_patterns("*.lock", "states"))
    cfg = json.loads((target / "config.json").read_text())
    cfg["run_id"] = run_id
    edit(cfg)
    (target / "config.json").write_text(json.dumps(cfg))
    return Run(run_id, target)


@pytest.fixture
def bad_runs(demo_run: Run) -> Iterator[dict[str, Run]]:
    """Three damaged run folders beside the demo run: a config with beta null (what
    ``--beta inf`` used to write), a status.json that is not JSON, and a metrics.jsonl with a
    corrupt line in the middle. Removed afterwards."""

    def null_beta(cfg: dict[str, Any]) -> None:
        cfg["vae"]["beta"] = None

    runs = {
        "config": _clone_run(demo_run, "bad0c0f10000", null_beta),
        "status": _clone_run(demo_run, "bad05a7a0000", lambda cfg: None),
        "metrics": _clone_run(demo_run, "bad3e7c50000", lambda cfg: None),
    }
    (runs["status"].path / "status.json").write_text('{"state": "done", "progress": ')
    lines = (runs["metrics"].path / "metrics.jsonl").read_text().splitlines()
    lines[len(lines) // 2] = '{"epoch": 7, "total": nan, "rec'
    (runs["metrics"].path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    yield runs
    for run in runs.values():
        shutil.rmtree(run.path, ignore_errors=True)


# --- Browser harness ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class AppServer:
    """A real ``streamlit run app.py`` on a free port, over the session's roots."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _wait_healthy(server: AppServer, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"streamlit exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"streamlit not healthy after {timeout:.0f}s:\n{server.log_tail()}")


@contextlib.contextmanager
def serve_app(log_name: str, env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """A real Streamlit server on ``app.py`` (its log in ``test-artifacts/<log_name>``),
    healthy on entry, its process group stopped on exit."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log_path = ARTIFACTS / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.port", str(port),
                "--server.address", "127.0.0.1",
                "--server.headless", "true",
                "--browser.gatherUsageStats", "false",
            ],
            cwd=PROJECT_ROOT,
            env=env if env is not None else os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = AppServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def app_server(demo_run: Run) -> Iterator[AppServer]:
    """The dashboard served for real, with the demo dataset and ``demo_run`` in its roots."""
    with serve_app("streamlit-server.log") as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium package.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Page-coordinate bounds of cell (col, row) of a Streamlit dataframe, from the grid's own
# geometry: glide-data-grid's ``getBounds`` on the editor handle Streamlit keeps in a React
# ref next to the grid's canvas. Column 0 is the row-selection box when rows can be
# selected; row -1 is the header.
GRID_CELL_BOUNDS_JS = """(grid, [col, row]) => {
  const canvas = grid.querySelector('canvas[data-testid="data-grid-canvas"]');
  if (!canvas) return null;
  const key = Object.keys(canvas).find(k => k.startsWith('__reactFiber$'));
  for (let f = key ? canvas[key] : null; f; f = f.return) {
    const handle = f.ref && typeof f.ref === 'object' ? f.ref.current : null;
    if (handle && typeof handle.getBounds === 'function') {
      const b = handle.getBounds(col, row);
      return b ? {x: b.x, y: b.y, width: b.width, height: b.height} : null;
    }
  }
  return null;
}"""


@dataclass
class AppPage:
    """A browser tab on the app that knows when a Streamlit script run has finished."""

    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)

    def goto(self, path: str = "", timeout: float = 90.0) -> None:
        """Open ``path`` (url path plus optional query string) and wait for the script."""
        self.page.goto(f"{self.base_url}/{path.lstrip('/')}")
        self.wait_until_idle(timeout=timeout)

    def wait_until_idle(self, timeout: float = 90.0, settle: float = 0.5) -> None:
        """Wait until the script has run and stayed not-running for ``settle`` seconds.

        Streamlit marks the app root with ``data-test-script-state``; a page may rerun
        right after its first run (query params, fragments), hence the settle time.
        """
        app = self.page.locator('[data-testid="stApp"]')
        app.wait_for(state="attached", timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            state = app.get_attribute("data-test-script-state")
            connected = app.get_attribute("data-test-connection-state")
            if state == "notRunning" and connected == "CONNECTED":
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= settle:
                    return
            else:
                idle_since = None
            self.page.wait_for_timeout(100)
        raise AssertionError(f"script still running after {timeout:.0f}s (state={state})")

    def nav_sections(self) -> dict[str, list[str]]:
        """The top navigation's sections and the page titles in each (opens every menu)."""
        found: dict[str, list[str]] = {}
        sections = self.page.locator('[data-testid="stTopNavSection"]')
        for i in range(sections.count()):
            section = sections.nth(i)
            section.click()
            popover = self.page.locator('[data-testid="stTopNavPopover"]')
            popover.wait_for(state="visible")
            links = popover.locator('[data-testid="stTopNavDropdownLink"]').all_inner_texts()
            # A link's text starts with its material icon's name ("home\n\nOverview").
            found[section.inner_text().strip()] = [t.strip().split("\n")[-1] for t in links]
            self.page.keyboard.press("Escape")
            popover.wait_for(state="hidden")
        return found

    def open_from_nav(self, title: str) -> None:
        """Open a page by its title through the top navigation's menus, as a user would."""
        for section, titles in self.nav_sections().items():
            if title in titles:
                self.page.locator('[data-testid="stTopNavSection"]').get_by_text(
                    section, exact=True
                ).click()
                self.page.locator('[data-testid="stTopNavDropdownLink"]').get_by_text(
                    title, exact=True
                ).click()
                self.wait_until_idle()
                return
        raise AssertionError(f"no page titled {title!r} in the navigation")

    def exceptions(self) -> list[str]:
        """Texts of the Streamlit exception blocks on the page."""
        return [
            t.strip() for t in self.page.locator('[data-testid="stException"]').all_inner_texts()
        ]

    def assert_healthy(self) -> None:
        """No Streamlit exception block and no browser console error so far."""
        errors = self.exceptions()
        assert not errors, f"Streamlit exception on page: {errors}"
        assert not self.console_errors, f"browser console errors: {self.console_errors}"


# "Failed to load resource" console lines carry no URL; the request listeners below judge
# each failed request by its URL instead.
_IGNORED_CONSOLE = ("Failed to load resource",)
# The frontend probes these under a deep link's path before falling back to the root.
_STREAMLIT_PROBES = re.compile(r"/_stcore/(health|host-config)$")


@pytest.fixture
def app_page(
    app_server: AppServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[AppPage]:
    """A fresh tab on the served app; fails on exceptions or console errors, screenshots on failure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    app_page = AppPage(page=page, base_url=app_server.url)

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not any(s in msg.text for s in _IGNORED_CONSOLE):
            app_page.console_errors.append(msg.text)

    def on_response(response: Any) -> None:
        if response.status >= 400 and not _STREAMLIT_PROBES.search(response.url):
            app_page.console_errors.append(f"HTTP {response.status} for {response.url}")

    def on_request(request: Any) -> None:
        # The product works offline: nothing may be fetched from outside the server.
        if not request.url.startswith((app_server.url, "data:", "blob:", "about:")):
            app_page.console_errors.append(f"request outside the app: {request.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("request", on_request)

    def on_failed(request: Any) -> None:
        # Requests aborted by a navigation or a rerun are not failures.
        if "ERR_ABORTED" not in (request.failure or ""):
            app_page.console_errors.append(f"failed: {request.url} ({request.failure})")

    page.on("requestfailed", on_failed)
    page.on("pageerror", lambda exc: app_page.console_errors.append(f"pageerror: {exc}"))
    try:
        yield app_page
        app_page.assert_healthy()
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
        raise
    finally:
        context.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Screenshot the page when a browser test's body fails (the fixture covers teardown)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        app_page = item.funcargs.get("app_page") if hasattr(item, "funcargs") else None
        if isinstance(app_page, AppPage):
            ARTIFACTS.mkdir(exist_ok=True)
            with contextlib.suppress(Exception):
                app_page.page.screenshot(
                    path=str(ARTIFACTS / f"{item.name}-failure.png"), full_page=True
                )
