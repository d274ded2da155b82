"""Benchmark: seconds per match for each provider path, on kloppy's fixture files.

Run from the project root: ``python -m bench.bench_providers [--repeat N]``. Each fixture
match is laid out in a match folder as the README's table says, then timed three ways
(median of ``--repeat`` runs, after one warm-up): kloppy's loader alone, the neutral event
table (loader + :func:`core.data.kloppy_source.kloppy_events`), and the whole match
(events, segments and features: :func:`core.features.match_tables.extract_match`).
StatsBomb's demo matches run both through the fast reader and through kloppy. Writes
``bench/results/providers.json``.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# provider -> match folders, each {file name in the folder: kloppy fixture file}
FIXTURES: dict[str, list[dict[str, str]]] = {
    "wyscout": [
        {"events.json": "wyscout_events_v2.json"},
        {"events.json": "wyscout_events_v3.json"},
    ],
    "opta": [{"f24.xml": "opta_f24.xml", "f7.xml": "opta_f7.xml"}],
    "statsperform": [
        {"ma1.json": "statsperform_event_ma1.json", "ma3.json": "statsperform_event_ma3.json"},
        {"ma1.xml": "statsperform_event_ma1.xml", "ma3.xml": "statsperform_event_ma3.xml"},
    ],
    "sportec": [{"events.xml": "sportec_events.xml", "meta.xml": "sportec_meta.xml"}],
    "metrica": [
        {"events.json": "metrica_events.json", "metadata.xml": "epts_metrica_metadata.xml"}
    ],
    "impect": [
        {
            "events.json": "impect_events.json",
            "lineups.json": "impect_lineups.json",
            "squads.json": "impect_squads.json",
            "players.json": "impect_players.json",
        }
    ],
}


def _median_s(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: imports and caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _lay_out(root: Path) -> dict[str, list[Path]]:
    files = Path(str(importlib.resources.files("kloppy"))) / "tests" / "files"
    folders: dict[str, list[Path]] = {}
    for provider, matches in FIXTURES.items():
        for i, match in enumerate(matches):
            folder = root / provider / str(1000 + i)
            folder.mkdir(parents=True)
            for name, fixture in match.items():
                shutil.copy(files / fixture, folder / name)
            folders.setdefault(provider, []).append(folder)
    return folders


def _kloppy_row(path: str, label: str, match: Any, repeat: int) -> dict[str, Any]:
    """Timings of one match folder read through kloppy."""
    from core.data.kloppy_source import kloppy_events
    from core.data.providers import load_match
    from core.features.match_tables import extract_match

    return {
        "path": path,
        "match": label,
        "events": kloppy_events(load_match(match), match.match_id).events.height,
        "load_s": _median_s(lambda: load_match(match), repeat),
        "events_s": _median_s(lambda: kloppy_events(load_match(match), match.match_id), repeat),
        "match_s": _median_s(lambda: extract_match(match), repeat),
    }


def _fast_row(files: Any, repeat: int) -> dict[str, Any]:
    """Timings of one StatsBomb match through the fast reader."""
    from core.data.statsbomb import read_events
    from core.features.match_tables import extract_match

    return {
        "path": "statsbomb (fast reader)",
        "match": str(files.match_id),
        "events": read_events(files.events, files.match_id).events.height,
        "load_s": None,
        "events_s": _median_s(lambda: read_events(files.events, files.match_id), repeat),
        "match_s": _median_s(lambda: extract_match(files), repeat),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per match")
    args = parser.parse_args()

    from core.data.providers import ProviderMatch, provider_match_files
    from core.data.sources import demo_match_files

    print(f"CPU cores visible: {os.cpu_count()} (shared with other work: numbers are noisy)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-providers-") as tmp:
        for provider, folders in _lay_out(Path(tmp)).items():
            for match in provider_match_files(folders[0].parent, provider).matches:
                assert isinstance(match, ProviderMatch)
                label = " + ".join(FIXTURES[provider][match.match_id - 1000].values())
                rows.append(_kloppy_row(f"{provider} (kloppy)", label, match, args.repeat))
    for files in demo_match_files():
        assert files.lineup is not None
        via = ProviderMatch(
            files.match_id,
            "statsbomb",
            files.events.parent,
            {"events": files.events, "lineup": files.lineup},
        )
        rows.append(_fast_row(files, args.repeat))
        rows.append(_kloppy_row("statsbomb (kloppy)", str(files.match_id), via, args.repeat))
    header = f"{'path':24s} {'match':54s} {'events':>6s} {'load':>6s} {'table':>6s} {'match':>6s}"
    print(header + "  (seconds per match)")
    for r in rows:
        load = "-" if r["load_s"] is None else f"{r['load_s']:.3f}"
        print(
            f"{r['path']:24s} {r['match'][:54]:54s} {r['events']:6d} {load:>6s} "
            f"{r['events_s']:6.3f} {r['match_s']:6.3f}"
        )
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "providers.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
