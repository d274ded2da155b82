"""A season of five leagues on one machine: 500 and 2,000 real matches, match files to a run.

Builds StatsBomb open-data folders of 500 and 2,000 matches by repeating the shared
StatsBomb matches (World Cup 2018 and NWSL 2018, 98 matches) under new match ids, the event
and lineup files hard-linked (no extra disk), then for each size, each stage in its own
process as a person runs it:

* extraction: ``python -m core features --source FOLDER --out DATASET`` (every core);
* the run: ``python -m core train --features DATASET/features.parquet`` (the recommended
  preset: 3 seeds trained together, 150 epochs), its stages timed from the run's
  ``status.json`` (training, the analyses up to the first layout, UMAP, states).

Each stage's peak memory is the largest sum of resident memory over its whole process tree
(the command and every worker it starts), sampled every 0.2 s. Prints every figure next to
its target and how each stage grows from 500 to 2,000 matches.

Targets (issue 22, 2-core CPU, 24 GiB): at 2,000 matches extraction <= 10 min with all
cores; training + projection + states ready <= 20 min; peak RSS <= 8 GiB; each stage
growing no worse than linearly from 500 to 2,000 (n log n for the layout).

A real five-league season differs from these copies: about 2,000 distinct matches with their
own teams and players, and possession segments as well as windows (the Premier League's
380 Wyscout matches gave 104,505 segments). The copies keep the real per-match work of
parsing and feature building; the segment count per match is that of the 5-minute windows.

    python -m bench.bench_season [--sizes 500,2000] [--epochs 150] [--keep DIR]

Needs the shared StatsBomb data (``../shared/data/statsbomb``); skipped without it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "statsbomb"
FIRST_ID = 900_000_000
TARGETS = {"extraction_s": 600.0, "run_s": 1200.0, "rss_gib": 8.0}
# Stages of the run's status.json, grouped as the issue reports them.
GROUPS = {
    "loading": "load",
    "preprocessing": "load",
    "training": "training",
    "encoding": "codes + first layout",
    "correlations": "analyses",
    "interpretation": "analyses",
    "umap": "projection (UMAP)",
    "diagnostics": "analyses",
    "states": "states",
}


def build_source(src: Path, out: Path, n: int) -> int:
    """An open-data folder of ``n`` matches under ``out``: the matches of ``src`` again and
    again under new ids, their event and lineup files hard-linked (copied across devices)."""
    originals: list[tuple[Path, dict[str, Any]]] = []
    for listing in sorted((src / "matches").glob("*/*.json")):
        for match in json.loads(listing.read_text()):
            originals.append((listing.relative_to(src), match))
    (out / "events").mkdir(parents=True)
    (out / "lineups").mkdir()
    shutil.copy(src / "competitions.json", out / "competitions.json")
    listings: dict[Path, list[dict[str, Any]]] = {}
    for k in range(n):
        listing, match = originals[k % len(originals)]
        new_id = FIRST_ID + k
        entry = copy.deepcopy(match)
        entry["match_id"] = new_id
        listings.setdefault(listing, []).append(entry)
        old = int(match["match_id"])
        for folder in ("events", "lineups"):
            for path in (src / folder).glob(f"{old}.json*"):
                target = out / folder / path.name.replace(str(old), str(new_id), 1)
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copy(path, target)
    for listing, entries in listings.items():
        (out / listing).parent.mkdir(parents=True, exist_ok=True)
        (out / listing).write_text(json.dumps(entries))
    return len(originals)


@dataclass
class Watch:
    """A command run to its end while its process tree's memory and a status file are sampled."""

    status_glob: str | None = None
    peak_bytes: int = 0
    stage_started: dict[str, float] = field(default_factory=dict)

    def run(self, cmd: list[str], env: dict[str, str], root: Path) -> float:
        import psutil  # comes with distributed (requirements.txt)

        t0 = time.perf_counter()
        log = (root / f"{cmd[3]}.log").open("w")  # the command's own messages, kept with it
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            top = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    tree = [top, *top.children(recursive=True)]
                    rss = 0
                    for p in tree:
                        with contextlib.suppress(psutil.Error):
                            rss += p.memory_info().rss
                    self.peak_bytes = max(self.peak_bytes, rss)
                except psutil.Error:
                    pass
                if self.status_glob:
                    for status in root.glob(self.status_glob):
                        try:
                            stage = json.loads(status.read_text()).get("stage")
                        except (OSError, ValueError):
                            continue
                        if stage and stage not in self.stage_started:
                            self.stage_started[stage] = time.perf_counter() - t0
                done.wait(0.2)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        rc = proc.wait()
        seconds = time.perf_counter() - t0
        log.close()
        done.set()
        thread.join()
        if rc != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... exited with {rc}; see {log.name}")
        self.stage_started.setdefault("done", seconds)
        return seconds

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per reported group, from the moments each stage began."""
        order = sorted(self.stage_started.items(), key=lambda kv: kv[1])
        out: dict[str, float] = {}
        for (stage, start), (_next, end) in itertools.pairwise(order):
            group = GROUPS.get(stage, stage)
            out[group] = out.get(group, 0.0) + end - start
        return out


PAGES = (
    "correlations", "interpretation", "latent-map", "results", "states",
    "timeline", "teams", "report", "traversal", "stability",
)  # fmt: skip
PAGE_PROBE = """
import json, sys, time
from streamlit.testing.v1 import AppTest
run_id, pages = sys.argv[1], sys.argv[2].split(",")
at = AppTest.from_file("app.py", default_timeout=600)
at.query_params["run"] = run_id
t0 = time.perf_counter()
at.run()  # the first page of a fresh server: the Overview, every cache cold
out = {"overview": time.perf_counter() - t0}
for page in pages:
    t0 = time.perf_counter()
    at.switch_page(f"pages/{page}.py").run()
    out[page] = time.perf_counter() - t0
    if at.exception:
        out[page + " error"] = str(at.exception[0].value)[:200]
print(json.dumps(out))
"""
TARGET_PAGE_S = 3.0


def page_seconds(run_id: str, env: dict[str, str]) -> dict[str, Any]:
    """Each run page opened once in a fresh server process (Streamlit's AppTest: the script's
    own time, the browser's drawing not included), in the navigation's order, the Overview
    first with every cache cold."""
    from bench.fresh import fresh_json

    return fresh_json("-c", PAGE_PROBE, run_id, ",".join(PAGES), env=env)


def measure(n: int, work: Path, epochs: int) -> dict[str, Any]:
    """Extraction and the whole run on ``n`` replicated matches; seconds and peak RSS."""
    import polars as pl

    size_root = work / f"m{n}"
    data, runs = size_root / "data", size_root / "runs"
    source = data / "source"
    build_source(SHARED, source, n)
    env = {**os.environ, "TACTICAL_DATA_ROOT": str(data), "TACTICAL_RUNS_ROOT": str(runs)}
    dataset = data / "datasets" / f"season-{n}"
    extract = Watch()
    ext_s = extract.run(
        [sys.executable, "-m", "core", "features", "--source", str(source), "--out", str(dataset)],
        env,
        size_root,
    )
    segments = pl.scan_parquet(dataset / "features.parquet").select(pl.len()).collect().item()
    train = Watch(status_glob="runs/*/status.json")
    cmd = [sys.executable, "-m", "core", "train", "--features", str(dataset / "features.parquet")]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    run_s = train.run(cmd, env, size_root)
    run_id = next(p.parent.name for p in runs.glob("*/status.json"))
    return {
        "matches": n,
        "segments": int(segments),
        "extraction_s": ext_s,
        "extraction_rss_gib": extract.peak_bytes / 2**30,
        "run_s": run_s,
        "run_rss_gib": train.peak_bytes / 2**30,
        "stages": train.stage_seconds(),
        "pages": page_seconds(run_id, env),
    }


def report(rows: list[dict[str, Any]], epochs: int) -> bool:
    """Print every figure next to its target; whether all targets at the largest size hold."""
    ok = True
    for row in rows:
        print(
            f"\n{row['matches']:,} matches, {row['segments']:,} segments "
            f"({'the preset' if not epochs else f'{epochs} epochs'}):"
        )
        print(
            f"  extraction (every core)    {row['extraction_s']:7.1f} s   peak RSS "
            f"{row['extraction_rss_gib']:.2f} GiB"
        )
        print(
            f"  run, training to ready     {row['run_s']:7.1f} s   peak RSS {row['run_rss_gib']:.2f} GiB"
        )
        for group, seconds in row["stages"].items():
            print(f"    {group:24s} {seconds:7.1f} s")
        pages = {k: v for k, v in row["pages"].items() if isinstance(v, float)}
        slow = max(pages, key=pages.__getitem__)
        print(
            f"  pages opened (server script, first visit): slowest {slow} {pages[slow]:.2f} s "
            f"(target <= {TARGET_PAGE_S:g} s); "
            + ", ".join(f"{k} {v:.2f}" for k, v in pages.items())
        )
        for key, value in row["pages"].items():
            if key.endswith(" error"):
                print(f"  {key}: {value}")
    big = rows[-1]
    print(f"\ntargets at {big['matches']:,} matches (2-core CPU):")
    checks = [
        ("extraction", big["extraction_s"], TARGETS["extraction_s"], "s"),
        ("training + projection + states", big["run_s"], TARGETS["run_s"], "s"),
        ("peak RSS, extraction", big["extraction_rss_gib"], TARGETS["rss_gib"], "GiB"),
        ("peak RSS, run", big["run_rss_gib"], TARGETS["rss_gib"], "GiB"),
        ("slowest page to open", max(v for v in big["pages"].values() if isinstance(v, float)),
         TARGET_PAGE_S, "s"),
    ]  # fmt: skip
    for name, value, target, unit in checks:
        met = value <= target
        ok &= met
        print(
            f"  {name:32s} {value:8.1f} {unit:3s} target <= {target:g} {unit}  {'met' if met else 'MISSED'}"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        scale = b["segments"] / a["segments"]
        print(
            f"growth {a['matches']:,} -> {b['matches']:,} matches ({scale:.1f}x segments; "
            "target: no worse than linear, n log n for the layout):"
        )
        pairs = [("extraction", a["extraction_s"], b["extraction_s"])]
        pairs += [(g, a["stages"].get(g, 0.0), b["stages"].get(g, 0.0)) for g in b["stages"]]
        pairs += [("peak RSS, run", a["run_rss_gib"], b["run_rss_gib"])]
        for name, before, after in pairs:
            if before > 0:
                print(f"  {name:32s} {after / before:5.2f}x")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000", help="match counts, smallest first")
    parser.add_argument("--epochs", type=int, default=0, help="epochs (0: the preset's 150)")
    parser.add_argument("--keep", default=None, help="build in this folder and keep it")
    args = parser.parse_args(argv)
    if not (SHARED / "matches").is_dir():
        print(f"skipped: no shared StatsBomb data at {SHARED}")
        return 0
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-season-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = []
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(n, work, args.epochs))
            print(json.dumps(rows[-1]), flush=True)
        report(rows, args.epochs)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
