"""The ``opendata`` command: what the StatsBomb open data offers, season by season."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli.progress import ProgressBar
from core.data.opendata import BASE_URL_ENV, CREDIT, base_url, fetch_open_data, open_data_catalogue
from core.data.opendata_catalogue import Season
from core.errors import SourceError
from core.features.datasets import Dataset
from core.features.extract import ExtractionSummary
from core.infra.io import atomic_write_json


def register(subparsers: Any) -> None:
    """Add ``python -m core opendata competitions`` to the top-level sub-parsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "opendata",
        help="list the StatsBomb open-data competitions and seasons",
        description=(
            "StatsBomb's free open data, fetched over HTTP (cached under the data root). "
            "Extract a season with: python -m core features --source opendata "
            "--competition ID --season ID --out DIR."
        ),
    )
    sub = p.add_subparsers(dest="opendata_command", required=True, metavar="{competitions}")
    comps = sub.add_parser(
        "competitions",
        help="each competition and season with its match count and 360 coverage",
    )
    add_base_url(comps)
    comps.set_defaults(func=run_competitions)


def add_base_url(parser: argparse.ArgumentParser) -> None:
    """The ``--base-url`` option (shared with ``features --source opendata``)."""
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"open-data root holding data/ (default ${BASE_URL_ENV}, else StatsBomb's GitHub)",
    )


def format_catalogue(seasons: list[Season]) -> str:
    """One line per season: ids, names, match count, 360 coverage."""
    header = f"{'comp':>5} {'season':>6}  {'competition':<34} {'season':<10} {'matches':>7}  360"
    lines = [header, "-" * len(header)]
    for s in sorted(seasons, key=lambda s: (s.competition, s.season)):
        sixty = (
            f"{s.matches_360} matches"
            if s.matches_360
            else ("listed in competitions.json" if s.has_360 else "-")
        )
        lines.append(
            f"{s.competition_id:>5} {s.season_id:>6}  {s.competition[:34]:<34} "
            f"{s.season[:10]:<10} {s.matches:>7}  {sixty}"
        )
    total = sum(s.matches for s in seasons)
    lines.append(f"{len(seasons)} seasons, {total} matches. {CREDIT}")
    return "\n".join(lines)


def run_competitions(args: argparse.Namespace) -> int:
    """Print the catalogue; 1 with the reason when the open data cannot be read."""
    bar = ProgressBar("reading the catalogue", unit="season")
    try:
        seasons = open_data_catalogue(base_url(args.base_url), progress=bar)
    except SourceError as exc:
        bar.close()
        print(f"error: {exc}")
        return 1
    bar.close()
    print(format_catalogue(seasons))
    return 0


def fetch_source(args: argparse.Namespace) -> tuple[str, list[int], list[tuple[str, str]]] | None:
    """``features --source opendata``: download the chosen matches into the cache.

    Returns the cache folder to extract, its match ids and the matches the server lacked;
    None (after printing why) when nothing could be downloaded.
    """
    bar = ProgressBar("downloading", unit="match")
    try:
        fetched = fetch_open_data(
            args.competition,
            args.season,
            url=base_url(args.base_url),
            match_ids=args.match_id,
            max_matches=args.max_matches,
            progress=bar,
        )
    except SourceError as exc:
        bar.close()
        print(f"error: {exc}")
        return None
    bar.close()
    print(
        f"open data: {len(fetched.match_ids)} matches in {fetched.folder} "
        f"({fetched.from_cache} already cached, {fetched.downloaded} requests, "
        f"{fetched.seconds:.1f} s). {CREDIT}"
    )
    return str(fetched.folder), fetched.match_ids, fetched.skipped


def record_download_skips(summary: ExtractionSummary, skipped: list[tuple[str, str]]) -> None:
    """Put the matches the server lacked among the summary's skipped files (and its file)."""
    if skipped:
        summary.skipped[:0] = skipped
        atomic_write_json(Dataset(Path(summary.out_dir)).summary_path, summary.to_dict())
