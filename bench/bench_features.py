"""Benchmark: our StatsBomb reader against kloppy's ``statsbomb.load``, and whole-set extraction.

Run from the project root: ``python bench/bench_features.py [--data DIR] [--workers N]``.
Each reader runs in its own fresh process so peak memory (max RSS) is its own; kloppy needs
plain JSON paths, so the gzip event files are decompressed to a temporary folder first,
outside the timing, and both readers read those same plain files. Prints matches per
second, the ratio, peak memory, the same for the 360 demo match with its 360 file, and the
time to extract the whole folder into features (cold, then from the cache).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "statsbomb"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _worker(reader: str, pairs_file: str, repeat: int) -> dict[str, Any]:
    """Runs inside a fresh process: read every (events, lineup, 360) triple ``repeat`` times."""
    pairs = json.loads(Path(pairs_file).read_text())
    if reader == "ours":
        from core.data.statsbomb import read_events, read_three_sixty

        def load(ev: str, lu: str, sixty: str | None, mid: int) -> int:
            events = read_events(Path(ev), mid).events
            if sixty:
                read_three_sixty(Path(sixty), events)
            return events.height

    else:
        from kloppy import statsbomb

        def load(ev: str, lu: str, sixty: str | None, mid: int) -> int:
            kwargs = {"three_sixty_data": sixty} if sixty else {}
            return len(statsbomb.load(event_data=ev, lineup_data=lu, **kwargs).records)

    base = _rss_mib()
    times = []
    n_events = 0
    for _ in range(repeat):
        start = time.perf_counter()
        n_events = sum(load(p["events"], p["lineup"], p.get("sixty"), p["match_id"]) for p in pairs)
        times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times),
        "matches": len(pairs),
        "events": n_events,
        "rss_after_import_mib": base,
        "peak_rss_mib": _rss_mib(),
    }


def _run(reader: str, pairs: list[dict[str, Any]], repeat: int, tmp: Path) -> dict[str, Any]:
    pairs_file = tmp / f"{reader}-{len(pairs)}.json"
    pairs_file.write_text(json.dumps(pairs))
    from bench.fresh import fresh_json  # the parent only: the worker runs as a plain script

    return fresh_json(__file__, "--worker", reader, str(pairs_file), str(repeat))


def _line(name: str, r: dict[str, Any]) -> str:
    per = r["matches"] / r["seconds"]
    return (
        f"  {name:<7} {r['seconds']:7.2f} s  {per:7.2f} matches/s  "
        f"peak RSS {r['peak_rss_mib']:7.0f} MiB (+{r['peak_rss_mib'] - r['rss_after_import_mib']:.0f} "
        f"MiB over imports)  events {r['events']}"
    )


def _compare(title: str, pairs: list[dict[str, Any]], repeat: int, tmp: Path) -> dict[str, Any]:
    ours = _run("ours", pairs, repeat, tmp)
    kloppy = _run("kloppy", pairs, repeat, tmp)
    ratio = kloppy["seconds"] / ours["seconds"]
    print(f"{title} ({len(pairs)} matches, median of {repeat})")
    print(_line("ours", ours))
    print(_line("kloppy", kloppy))
    print(f"  speed-up: {ratio:.1f}x kloppy per match")
    return {"ours": ours, "kloppy": kloppy, "ratio": ratio}


def _parse_only(pairs: list[dict[str, Any]]) -> dict[str, float]:
    """JSON bytes to columns, two ways: polars' reader with our schema, orjson + from_dicts."""
    import orjson
    import polars as pl

    from core.data.statsbomb_spec import SB_EVENT_JSON_SCHEMA

    blobs = [Path(p["events"]).read_bytes() for p in pairs]
    start = time.perf_counter()
    for blob in blobs:
        pl.read_json(blob, schema=SB_EVENT_JSON_SCHEMA)
    polars_s = time.perf_counter() - start
    start = time.perf_counter()
    for blob in blobs:
        pl.from_dicts(orjson.loads(blob), schema=SB_EVENT_JSON_SCHEMA, strict=False)
    orjson_s = time.perf_counter() - start
    print(
        f"Parse only (JSON bytes to columns, {len(blobs)} matches): polars read_json "
        f"{1000 * polars_s / len(blobs):.1f} ms/match, orjson + from_dicts "
        f"{1000 * orjson_s / len(blobs):.1f} ms/match"
    )
    return {"polars_read_json_s": polars_s, "orjson_from_dicts_s": orjson_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="open-data folder")
    parser.add_argument("--workers", type=int, default=2, help="extraction worker processes")
    parser.add_argument("--repeat", type=int, default=1, help="repeats of the shared-set read")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        reader, pairs_file, repeat = args.worker
        print(json.dumps(_worker(reader, pairs_file, int(repeat))))
        return 0

    from core.data.sources import demo_match_files, open_data_match_files
    from core.features.extract import extract_features

    print(f"CPU cores visible: {os.cpu_count()} (shared with other work: numbers are noisy)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp_name:
        tmp = Path(tmp_name)
        plain = tmp / "plain"
        plain.mkdir()
        pairs = []
        for m in open_data_match_files(args.data).matches:
            target = plain / f"{m.match_id}.json"
            data = m.events.read_bytes()
            target.write_bytes(gzip.decompress(data) if m.events.suffix == ".gz" else data)
            pairs.append({"match_id": m.match_id, "events": str(target), "lineup": str(m.lineup)})
        results["shared"] = _compare("Shared set, events + lineup", pairs, args.repeat, tmp)

        results["parse_only"] = _parse_only(pairs)

        demo = next(m for m in demo_match_files() if m.three_sixty is not None)
        sixty = [
            {
                "match_id": demo.match_id,
                "events": str(demo.events),
                "lineup": str(demo.lineup),
                "sixty": str(demo.three_sixty),
            }
        ]
        results["demo_360"] = _compare("Demo match 3788741 with its 360 file", sixty, 5, tmp)

        out = tmp / "dataset"
        start = time.perf_counter()
        summary = extract_features(args.data, out, workers=args.workers)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        extract_features(args.data, out, workers=args.workers)
        warm = time.perf_counter() - start
        shutil.rmtree(out, ignore_errors=True)
    print(
        f"Whole-set extraction ({summary.matches} matches, {summary.segments} segments, "
        f"{summary.n_features} features, {args.workers} workers): {cold:.1f} s cold, "
        f"{warm:.2f} s from the cache"
    )
    results["extraction"] = {"cold_s": cold, "cached_s": warm, "matches": summary.matches}
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "features.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
