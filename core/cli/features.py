"""The ``features`` command: match files to a feature dataset folder, with a progress bar."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli import opendata as opendata_cli
from core.cli.progress import ProgressBar
from core.errors import ConfigError
from core.features.executors import parse_executor
from core.features.extract import (
    ExtractionError,
    ExtractionSummary,
    check_out_dir,
    check_window_stride,
    default_workers,
    extract_features,
)
from core.features.segments import DEFAULT_STRIDE_S, DEFAULT_WINDOW_S


def register(subparsers: Any) -> None:
    """Add ``python -m core features`` to the top-level command's sub-parsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "features",
        help="extract segment features from StatsBomb match files",
        description=(
            "Cut matches into per-team segments and compute their features. Writes "
            "features.parquet, matches.parquet, events.parquet and summary.json into --out; "
            "a per-match cache there makes re-runs and added matches fast."
        ),
    )
    p.add_argument(
        "--source",
        default="demo",
        help="'demo' (the 3 matches in kloppy's wheel), a StatsBomb open-data folder, or "
        "'opendata' (StatsBomb's open data over HTTP, cached; needs --competition)",
    )
    p.add_argument(
        "--competition",
        action="append",
        metavar="ID_OR_NAME",
        help="keep this competition (repeatable)",
    )
    p.add_argument(
        "--season", action="append", metavar="ID_OR_NAME", help="keep this season (repeatable)"
    )
    p.add_argument(
        "--match-id", action="append", type=int, metavar="ID", help="keep this match (repeatable)"
    )
    p.add_argument("--max-matches", type=int, help="extract at most this many matches")
    p.add_argument(
        "--provider",
        metavar="NAME",
        help="who wrote the match folders under --source: statsbomb, wyscout, opta, "
        "statsperform, sportec or metrica (one folder per match, files named as in the "
        "README); detected when left out",
    )
    opendata_cli.add_base_url(p)
    p.add_argument(
        "--window",
        type=float,
        default=DEFAULT_WINDOW_S,
        metavar="S",
        help=f"window length in seconds (default {DEFAULT_WINDOW_S:.0f})",
    )
    p.add_argument(
        "--stride",
        type=float,
        default=DEFAULT_STRIDE_S,
        metavar="S",
        help=f"window stride in seconds (default {DEFAULT_STRIDE_S:.0f})",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write")
    p.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help=f"worker processes (default {default_workers()})",
    )
    p.add_argument(
        "--executor",
        default="local",
        metavar="WHERE",
        help="where the matches are processed: 'local' (this machine's cores, default) or "
        "'dask://HOST:PORT' (a running Dask scheduler whose workers see the same files)",
    )
    p.set_defaults(func=run_features)


def format_summary(summary: ExtractionSummary) -> str:
    """The closing summary printed after an extraction."""
    lines = [
        f"matches:   {summary.matches} ({summary.from_cache} from cache)",
        f"segments:  {summary.segments} ({summary.window_segments} windows, "
        f"{summary.possession_segments} possessions)",
        f"features:  {summary.n_features}",
        f"provider:  {summary.provider} ({len(summary.features_available)} features available)",
        f"360 cover: {summary.coverage_360:.0%} of matches",
        f"time:      {summary.seconds:.1f} s",
        f"output:    {summary.out_dir}",
    ]
    if summary.skipped:
        lines.append(f"skipped ({len(summary.skipped)}):")
        lines += [f"  {path}: {reason}" for path, reason in summary.skipped]
    if summary.features_unavailable:
        lines.append(f"null, not supplied ({len(summary.features_unavailable)}):")
        lines += [f"  {name}: {why}" for name, why in summary.features_unavailable.items()]
    if summary.warnings:
        lines.append(f"warnings ({len(summary.warnings)}):")
        lines += [f"  {path}: {what}" for path, what in summary.warnings]
    return "\n".join(lines)


def run_features(args: argparse.Namespace) -> int:
    """Run the extraction; 0 when at least one match was extracted, 1 otherwise."""
    try:  # before any download or worker: bad numbers and paths end here, with a message
        check_window_stride(args.window, args.stride)
        check_out_dir(args.out)
        executor = parse_executor(getattr(args, "executor", None))
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    if executor.kind != "local":
        print(f"processing the matches on {executor.describe()}")
    bar = ProgressBar("extracting", unit="match")
    progress = bar

    source, match_ids = args.source, args.match_id
    download_skips: list[tuple[str, str]] = []
    if args.source == "opendata":
        fetched = opendata_cli.fetch_source(args)
        if fetched is None:
            return 1
        source, match_ids, download_skips = fetched
    try:
        summary = extract_features(
            source,
            args.out,
            competitions=args.competition,
            seasons=args.season,
            match_ids=match_ids,
            max_matches=args.max_matches,
            window_s=args.window,
            stride_s=args.stride,
            workers=args.workers,
            progress=progress,
            provider=getattr(args, "provider", None),
            executor=executor,
        )
    except ExtractionError as exc:
        bar.close()
        print(f"error: {exc}")
        print(format_summary(exc.summary))
        return 1
    except ValueError as exc:
        bar.close()
        print(f"error: {exc}")
        return 2
    bar.close()
    opendata_cli.record_download_skips(summary, download_skips)
    print(format_summary(summary))
    return 0
