"""Latent map at 100,000 segments in headless Chromium: drawn after navigation, click to inspector.

What a user waits for, measured in a real browser against a real Streamlit server:

* ``map drawn``: from a click on "Latent map" in the app's navigation (coming from the
  Correlations page) until the WebGL scatter holds every shown point and the browser has
  painted a frame after it (the server's caches warm, as for every visitor after the
  first), target <= 2 s;
* ``map drawn, fresh tab``: the same from ``page.goto(latent-map?run=...)`` in a new tab (a
  shared link). No target of its own: a fresh tab also loads Streamlit's frontend and
  plotly.js, which costs about 2 s before any chart, whatever its size (measured: 2.1 s for
  the 224-point demo map on the 2-core machine);
* ``click -> inspector``: from the mouse click on a point until the inspector's pitch for
  that segment is on screen and the script is idle, target <= 1 s;
* the first visit and its first click (cold server caches: the click reads the events
  file) are reported beside them, without a target.

Beyond ``SCATTER_MAX`` segments the map shades the density of all and draws ``MAP_SAMPLE``
of them as points; "drawn" then waits for those.

The run is the newest finished run (or the demo run built in a temporary folder, see
``bench_latent_map``), its segments replicated to ``--n`` as in ``bench_latent_map``. Needs
Chromium (``/usr/bin/chromium`` or ``$CHROMIUM``) and Python Playwright (requirements-dev).
Chromium renders WebGL in software here (no GPU), which is what these targets assume.

    .venv/bin/python -m bench.bench_map_browser [--n 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TARGETS = {"map drawn": 2.0, "click -> inspector": 1.0}

# True once the map's WebGL traces hold ``n`` points (the points it draws: every segment up
# to ``SCATTER_MAX``, then ``MAP_SAMPLE`` over the density shading) and the layout has axes.
_DRAWN_JS = """(n) => {
  const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData || !gd._fullLayout.xaxis) return false;
  let k = 0;
  for (const tr of gd._fullData) if (tr.visible === true && tr.type === 'scattergl' && tr.x) k += tr.x.length;
  return k >= n;
}"""
# Resolves after the browser has painted two frames (the drawn scatter is on screen).
_PAINTED_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# Page coordinates and table row of the map point nearest the plot's centre.
_CENTRE_POINT_JS = """() => {
  const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  const cx = xa._length / 2, cy = ya._length / 2;
  let best = null, bestD = Infinity;
  for (const tr of gd._fullData) {
    if (tr.visible !== true || !tr.x || !tr.customdata) continue;
    for (let j = 0; j < tr.x.length; j += 7) {
      const px = xa.l2p(tr.x[j]), py = ya.l2p(tr.y[j]);
      const d = Math.hypot(px - cx, py - cy);
      if (d < bestD) { bestD = d; best = {px, py, row: Number(tr.customdata[j])}; }
    }
  }
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + best.px, y: box.top + ya._offset + best.py, row: best.row};
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TACTICAL_DATA_ROOT": str(root / "data"),
        "TACTICAL_RUNS_ROOT": str(root / "runs"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the Streamlit server did not start within 120 s")


def _idle(page: Any, timeout_s: float = 300.0) -> None:
    """Until the script has finished and the app is connected (as the browser tests wait)."""
    page.wait_for_function(
        """() => {
          const app = document.querySelector('[data-testid="stApp"]');
          return app && app.getAttribute('data-test-script-state') === 'notRunning'
            && app.getAttribute('data-test-connection-state') === 'CONNECTED';
        }""",
        timeout=timeout_s * 1000,
        polling=50,
    )


def _open_map(browser: Any, url: str, n: int) -> tuple[float, Any]:
    """Seconds from navigation to the painted map in a fresh tab, and the tab."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(_DRAWN_JS, arg=n, timeout=600_000, polling=50)
    page.evaluate(_PAINTED_JS)
    return time.perf_counter() - t0, page


def _navigate_to_map(page: Any, base: str, run_id: str, n: int) -> float:
    """Seconds from a click on "Latent map" in the top navigation (from Correlations) to the
    painted map."""
    page.goto(f"{base}/correlations?run={run_id}")
    _idle(page)
    page.locator('[data-testid="stTopNavSection"]').get_by_text("Explore", exact=True).click()
    link = page.locator('[data-testid="stTopNavDropdownLink"]').get_by_text(
        "Latent map", exact=True
    )
    link.wait_for()
    t0 = time.perf_counter()
    link.click()
    page.wait_for_function(_DRAWN_JS, arg=n, timeout=600_000, polling=20)
    page.evaluate(_PAINTED_JS)
    return time.perf_counter() - t0


def _click(page: Any, n_pitches: int) -> tuple[float, int]:
    """Seconds from a click on a map point to its inspector's pitch drawn; the row clicked."""
    _idle(page)
    point = page.evaluate(_CENTRE_POINT_JS)
    pitch = page.locator(".st-key-inspector_pitch .js-plotly-plot")
    t0 = time.perf_counter()
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function(
        """(k) => document.querySelectorAll('.st-key-inspector_pitch .js-plotly-plot').length >= k
             && document.querySelector('[data-testid="stApp"]')
                  .getAttribute('data-test-script-state') === 'notRunning'""",
        arg=max(n_pitches, 1),
        timeout=120_000,
        polling=20,
    )
    page.evaluate(_PAINTED_JS)
    elapsed = time.perf_counter() - t0
    if pitch.count() != 1:
        raise RuntimeError("the click did not open the inspector's pitch")
    return elapsed, int(point["row"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="segments on the map")
    parser.add_argument("--run", default=None, help="run id (default: newest finished run)")
    parser.add_argument("--repeat", type=int, default=3, help="warm visits and clicks (median)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"skipped: no Chromium at {CHROMIUM} (set $CHROMIUM)")
        return 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("skipped: Python playwright is not installed (pip install -r requirements-dev.txt)")
        return 0

    from bench.bench_latent_map import big_frames, ensure_run, write_big_root
    from core.views.latent_map import MAP_SAMPLE, SCATTER_MAX

    run = ensure_run(args.run)
    big = big_frames(run, args.n, np.random.default_rng(0))
    root = write_big_root(run, big)
    print(f"run {run.run_id} replicated to {big.latents.height:,} segments", flush=True)
    port = _free_port()
    server = _serve(root, port)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/latent-map?run={run.run_id}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            drawn = big.latents.height if big.latents.height <= SCATTER_MAX else MAP_SAMPLE
            cold, page = _open_map(browser, url, drawn)
            cold_click, _row = _click(page, 1)  # the server loads the events here, once
            page.close()
            opens, tabs, clicks = [], [], []
            for _ in range(args.repeat):
                t_tab, page = _open_map(browser, url, drawn)
                tabs.append(t_tab)
                t_click, _row = _click(page, 1)
                clicks.append(t_click)
                opens.append(_navigate_to_map(page, base, run.run_id, drawn))
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)

    figures = {
        "map drawn": statistics.median(opens),
        "click -> inspector": statistics.median(clicks),
    }
    print(
        f"\nfirst visit, cold server caches, fresh tab: {cold:.2f} s, its first click "
        f"{cold_click:.2f} s (the server reads the events once; no target)"
    )
    print(
        f"map drawn, fresh tab (shared link): median {statistics.median(tabs):.2f} s ("
        + ", ".join(f"{v:.2f}" for v in tabs)
        + "; no target: includes loading Streamlit's frontend and plotly.js, ~2.1 s for any map)"
    )
    print(f"{'step':24s} {'median s':>9s} {'target':>7s} {'ratio':>6s}   runs")
    failed = False
    for name, value in figures.items():
        ratio = value / TARGETS[name]
        failed |= ratio > 1
        runs = ", ".join(f"{v:.2f}" for v in (opens if name == "map drawn" else clicks))
        print(f"{name:24s} {value:9.2f} {TARGETS[name]:7.2f} {ratio:6.2f}   {runs}")
    print(
        f"target: map drawn <= {TARGETS['map drawn']:g} s, click <= {TARGETS['click -> inspector']:g} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
