"""Benchmark: the 64 World Cup 2018 matches downloaded from a local HTTP mirror, then extracted.

Run from the project root: ``python -m bench.bench_opendata [--data DIR] [--workers N]``.
The shared open-data folder is copied into the open-data repository's layout (``data/``,
plain ``.json`` events) and served by ``http.server`` on 127.0.0.1; the data root is a
temporary folder. Prints the download and extraction times of a cold run, of a second run
(every file cached: no request), and of a third into a fresh dataset folder (download
cache only), with the requests each run made. Writes ``bench/results/opendata.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "statsbomb"
WORLD_CUP = (43, 3)


def _copy(src: Path, root: Path) -> None:
    data = root / "data"
    data.mkdir(parents=True)
    shutil.copy(src / "competitions.json", data / "competitions.json")
    shutil.copytree(src / "matches", data / "matches")
    shutil.copytree(src / "lineups", data / "lineups")
    (data / "events").mkdir()
    for gz in (src / "events").glob("*.json.gz"):
        (data / "events" / gz.name.removesuffix(".gz")).write_bytes(
            gzip.decompress(gz.read_bytes())
        )


class _Quiet(SimpleHTTPRequestHandler):
    counts: ClassVar[Counter[str]] = Counter()  # requests per kind (events, lineups, ...)

    def do_GET(self) -> None:
        self.counts[self.path.split("/")[2] if self.path.count("/") > 2 else self.path] += 1
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _run(url: str, out: Path, workers: int) -> dict[str, Any]:
    from core.data.opendata import fetch_open_data
    from core.features.extract import extract_features

    _Quiet.counts.clear()
    started = time.perf_counter()
    fetched = fetch_open_data([WORLD_CUP[0]], [WORLD_CUP[1]], url=url)
    downloaded = time.perf_counter()
    summary = extract_features(fetched.folder, out, match_ids=fetched.match_ids, workers=workers)
    done = time.perf_counter()
    return {
        "matches": summary.matches,
        "segments": summary.segments,
        "download_s": round(downloaded - started, 2),
        "extract_s": round(done - downloaded, 2),
        "total_s": round(done - started, 2),
        "requests": dict(_Quiet.counts),
        "from_cache": fetched.from_cache,
    }


def _line(name: str, r: dict[str, Any]) -> str:
    reqs = sum(r["requests"].values())
    return (
        f"  {name:<28} download {r['download_s']:6.2f} s  extract {r['extract_s']:6.2f} s  "
        f"total {r['total_s']:6.2f} s  ({r['matches']} matches, {r['segments']} segments, "
        f"{reqs} requests: {r['requests'] or '-'})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="open-data folder")
    parser.add_argument("--workers", type=int, default=2, help="extraction worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-opendata-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["TACTICAL_DATA_ROOT"] = str(tmp / "root")
        _copy(args.data, tmp / "mirror")
        handler = partial(_Quiet, directory=str(tmp / "mirror"))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        print(f"CPU cores visible: {os.cpu_count()} (shared with other work: numbers are noisy)")
        print(f"FIFA World Cup 2018 from {url} (a local copy of {args.data})")
        results = {
            "cold": _run(url, tmp / "out", args.workers),
            "cached": _run(url, tmp / "out", args.workers),
            "download_cached_fresh_dataset": _run(url, tmp / "out2", args.workers),
        }
        server.shutdown()
        server.server_close()
    print(_line("cold", results["cold"]))
    print(_line("second run (all cached)", results["cached"]))
    print(_line("new dataset, files cached", results["download_cached_fresh_dataset"]))
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "opendata.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
