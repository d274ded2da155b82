"""The ``features`` command: match files to a feature dataset folder, with a progress bar."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.progress import ProgressBar
from core.features.extract import (
    ExtractionError,
    ExtractionSummary,
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
        help="'demo' (the 3 matches in kloppy's wheel) or a StatsBomb open-data folder",
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
    p.set_defaults(func=run_features)


def format_summary(summary: ExtractionSummary) -> str:
    """The closing summary printed after an extraction."""
    lines = [
        f"matches:   {summary.matches} ({summary.from_cache} from cache)",
        f"segments:  {summary.segments} ({summary.window_segments} windows, "
        f"{summary.possession_segments} possessions)",
        f"features:  {summary.n_features}",
        f"360 cover: {summary.coverage_360:.0%} of matches",
        f"time:      {summary.seconds:.1f} s",
        f"output:    {summary.out_dir}",
    ]
    if summary.skipped:
        lines.append(f"skipped ({len(summary.skipped)}):")
        lines += [f"  {path}: {reason}" for path, reason in summary.skipped]
    if summary.warnings:
        lines.append(f"warnings ({len(summary.warnings)}):")
        lines += [f"  {path}: {what}" for path, what in summary.warnings]
    return "\n".join(lines)


def run_features(args: argparse.Namespace) -> int:
    """Run the extraction; 0 when at least one match was extracted, 1 otherwise."""
    bar = ProgressBar("extracting", unit="match")
    progress = bar

    try:
        summary = extract_features(
            args.source,
            args.out,
            competitions=args.competition,
            seasons=args.season,
            match_ids=args.match_id,
            max_matches=args.max_matches,
            window_s=args.window,
            stride_s=args.stride,
            workers=args.workers,
            progress=progress,
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
    print(format_summary(summary))
    return 0
