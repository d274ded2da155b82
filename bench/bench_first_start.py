"""First start: `make run` on a fresh clone (after the pip install) until the demo results show.

Clones this repository (its committed state) into a temporary folder, reuses this
checkout's installed virtual environment (``make run VENV=...``: the pip install is done),
and times ``make run`` from the command to the Overview in headless Chromium showing the
demo run's findings ("What this run found"): extraction, training, UMAP and the server,
with no numba cache. Then a second ``make run`` in the same clone (everything cached).
Median of ``--repeats`` fresh clones.

Targets (issue 13, 2-core CPU, quiet): first ``make run`` <= 60 s, second <= 10 s.

    .venv/bin/python -m bench.bench_first_start [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TARGETS = {"first make run": 60.0, "second make run": 10.0}
FOUND = "What this run found"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_run(repo: Path, venv: Path) -> float:
    """Seconds from ``make run`` to the Overview showing the demo run's findings."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    log = (repo / "make-run.log").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}", f"VENV={venv}"],
        cwd=repo,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"make run exited early; see {repo / 'make-run.log'}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text(FOUND).first.wait_for(timeout=600_000)
            elapsed = time.perf_counter() - t0
            browser.close()
        return elapsed
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh clones (median)")
    args = parser.parse_args(argv)
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        print(f"skipped: no installed virtual environment at {venv} (run `make run` once)")
        return 0
    if not Path(CHROMIUM).exists():
        print(f"skipped: no Chromium at {CHROMIUM} (set $CHROMIUM)")
        return 0
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        print("skipped: needs git and this checkout's history to clone")
        return 0
    firsts, seconds = [], []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-first-start-") as tmp:
            repo = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
            # The clone must find the shared open data beside it, as a checkout does.
            shared = ROOT.parent / "shared"
            if shared.exists():
                (Path(tmp) / "shared").symlink_to(shared)
            # The pip install is done: mark the venv's install stamps newer than the clone's
            # requirements files, so make does not re-run pip (what "after pip" means).
            for stamp in venv.glob(".installed-requirements*"):
                stamp.touch()
            firsts.append(_make_run(repo, venv))
            seconds.append(_make_run(repo, venv))
            print(
                f"clone {i + 1}: first {firsts[-1]:.1f} s, second {seconds[-1]:.1f} s", flush=True
            )
    print(f"\n{'step':18s} {'median s':>9s} {'target':>7s} {'ratio':>6s}")
    failed = False
    for name, values in (("first make run", firsts), ("second make run", seconds)):
        value = statistics.median(values)
        ratio = value / TARGETS[name]
        failed |= ratio > 1
        print(f"{name:18s} {value:9.1f} {TARGETS[name]:7.0f} {ratio:6.2f}")
    print(
        f"target: first make run <= {TARGETS['first make run']:g} s, second <= "
        f"{TARGETS['second make run']:g} s (after the pip install)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
