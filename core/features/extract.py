"""Match files to a feature dataset folder: features.parquet, matches.parquet, events.parquet.

Each match is parsed once: its tables are cached under ``<out>/cache`` keyed by the
content of its files, its metadata record and the extraction parameters, so a re-run
reads the cache and adding matches parses only the new ones. Matches are processed in
parallel worker processes; a bad file skips its match (named, with the reason) and never
leaves a partial output, and only an extraction that produces nothing is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from core.data.providers import (
    PROVIDERS,
    ProviderDiscovery,
    detect_provider,
    provider_match_files,
)
from core.data.schema import MATCH_SCHEMA, METADATA_COLUMNS
from core.data.sources import Discovery, discover
from core.errors import (
    ConfigError,
    ProviderError,
    SourceError,
    StatsBombFormatError,
    TacticalError,
)
from core.features.datasets import Dataset
from core.features.executors import Executor, parse_executor, run_tasks
from core.features.match_tables import AnyMatch, MatchTables, extract_match
from core.features.registry import feature_names
from core.features.segments import DEFAULT_STRIDE_S, DEFAULT_WINDOW_S
from core.features.support import match_lacks_reason, missing_concepts
from core.infra.io import atomic_write_json, atomic_write_parquet

logger = logging.getLogger(__name__)

# Re-exported: callers and tests reach the per-match step and the metadata names here.
__all__ = [
    "METADATA_COLUMNS",
    "ExtractionError",
    "ExtractionSummary",
    "MatchTables",
    "extract_features",
    "extract_match",
]

# Bump when the event table, segments or features change: it invalidates every cache entry.
EXTRACTOR_VERSION: Final = "6"
# Starting worker processes costs about a second; below this many matches it does not pay.
MIN_PARALLEL_MATCHES: Final = 4

Progress = Callable[[int, int, str], None]
# Errors that skip one match (named, with the reason) instead of failing the extraction.
MATCH_ERRORS: Final = (StatsBombFormatError, ProviderError, OSError)


@dataclass
class ExtractionSummary:
    """What an extraction produced and what it had to pass over."""

    matches: int = 0
    segments: int = 0
    n_features: int = 0
    coverage_360: float = 0.0  # share of extracted matches with 360 frames
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (file, what was noticed)
    window_segments: int = 0
    possession_segments: int = 0
    from_cache: int = 0  # matches read from the cache instead of parsed
    seconds: float = 0.0
    out_dir: str = ""
    provider: str = "statsbomb"  # who wrote the match files (the reader used)
    features_available: list[str] = field(default_factory=list)
    features_unavailable: dict[str, str] = field(default_factory=dict)  # name -> why null

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become two-item lists)."""
        d = asdict(self)
        d["skipped"] = [list(s) for s in self.skipped]
        d["warnings"] = [list(w) for w in self.warnings]
        return d


class ExtractionError(TacticalError, RuntimeError):
    """Nothing could be extracted; ``summary`` says what was tried and why it failed."""

    def __init__(self, message: str, summary: ExtractionSummary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class _Outcome:
    """A worker's answer for one match (small: the tables go through the cache files)."""

    match_id: int
    file: str
    ok: bool
    reason: str = ""
    warnings: tuple[tuple[str, str], ...] = ()


# --- cache --------------------------------------------------------------------------------


def cache_key(files: AnyMatch, window_s: float, stride_s: float) -> str:
    """Fingerprint of the match's file contents, metadata record and extraction parameters."""
    h = hashlib.blake2b(digest_size=10)
    h.update(f"v{EXTRACTOR_VERSION}|{window_s}|{stride_s}|{files.match_id}".encode())
    h.update(json.dumps(files.record, sort_keys=True, default=str).encode())
    h.update(getattr(files, "provider", "statsbomb").encode())
    for path in files.paths():
        h.update(b"|" + path.name.encode() + b"|" + path.read_bytes())
    return h.hexdigest()


def _cache_paths(cache_dir: Path, match_id: int, key: str) -> tuple[Path, Path, Path]:
    stem = f"{match_id}-{key}"
    return (
        cache_dir / f"{stem}.features.parquet",
        cache_dir / f"{stem}.events.parquet",
        cache_dir / f"{stem}.match.json",  # written last: its presence marks a full entry
    )


def _extract_to_cache(
    files: AnyMatch, window_s: float, stride_s: float, cache_dir: Path, key: str
) -> _Outcome:
    """Worker entry point: extract one match into its cache entry; never raises."""
    try:
        tables = extract_match(files, window_s=window_s, stride_s=stride_s)
        feat_path, ev_path, match_path = _cache_paths(cache_dir, files.match_id, key)
        atomic_write_parquet(feat_path, tables.features)
        atomic_write_parquet(ev_path, tables.events)
        atomic_write_json(
            match_path,
            {
                "match": tables.match,
                "warnings": tables.warnings,
                "provider": tables.provider,
                "unavailable": tables.unavailable,
            },
        )
        return _Outcome(files.match_id, str(files.events), True, warnings=tuple(tables.warnings))
    except MATCH_ERRORS as exc:
        return _Outcome(files.match_id, str(files.events), False, str(exc))
    except Exception as exc:  # a bug or an unforeseen data shape: skip the match, say why
        logger.exception("extracting match %s failed", files.match_id)
        return _Outcome(
            files.match_id,
            str(files.events),
            False,
            f"could not be processed ({type(exc).__name__}: {exc}); please report this file.",
        )


def _pool_failed(task: tuple[Any, ...], exc: BaseException) -> _Outcome:
    """_extract_to_cache never raises, so this is the pool failing the match (its worker
    died, its arguments did not travel): the match is skipped, saying why."""
    files = task[0]
    return _Outcome(files.match_id, str(files.events), False, f"worker failed: {exc}")


def _run_pool(
    jobs: list[tuple[AnyMatch, str]],
    window_s: float,
    stride_s: float,
    cache_dir: Path,
    workers: int,
    on_done: Callable[[_Outcome], None],
    executor: Executor | None = None,
) -> None:
    run_tasks(
        _extract_to_cache,
        [(files, window_s, stride_s, cache_dir, key) for files, key in jobs],
        workers=workers,
        on_done=on_done,  # may raise to cancel (a job's progress callback does)
        on_failure=_pool_failed,
        executor=executor,
        min_parallel=MIN_PARALLEL_MATCHES,
    )


# Windows and strides in seconds: finite, from one second (shorter multiplies segments past
# any use, and memory with them: a 1e-9 s stride asked for 22 GB) to longer than any match.
MIN_WINDOW_S: Final = 1.0
MAX_WINDOW_S: Final = 4 * 3600.0


def check_window_stride(window_s: object, stride_s: object) -> tuple[float, float]:
    """``(window_s, stride_s)`` as floats, or a ``ConfigError`` naming the bad one."""
    for name, value in (("window", window_s), ("stride", stride_s)):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and MIN_WINDOW_S <= float(value) <= MAX_WINDOW_S):  # type: ignore[arg-type]
            raise ConfigError(
                f"--{name} must be a finite number of seconds from {MIN_WINDOW_S:g} to "
                f"{MAX_WINDOW_S:g}, got {value!r}."
            )
    return float(window_s), float(stride_s)  # type: ignore[arg-type]


def check_out_dir(out_dir: str | Path) -> Path:
    """The dataset folder to write, resolved; ``ConfigError`` when it is an existing file."""
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"--out {out_dir} is a file, not a folder: give the dataset folder to write "
            "(created when missing)."
        )
    return out


MAX_DEFAULT_WORKERS: Final = 16  # beyond this, reading files, not cores, limits


def default_workers() -> int:
    """Worker processes used when none are asked for: every core this process may use (at
    most :data:`MAX_DEFAULT_WORKERS`)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_DEFAULT_WORKERS, cores or 1))


# Public API: the CLI, background jobs, the demo and the tests pass these by keyword.
def extract_features(  # noqa: PLR0913 - keyword-only filters and options of the one entry point
    source: str | Path,
    out_dir: str | Path,
    *,
    competitions: Iterable[str | int] | None = None,
    seasons: Iterable[str | int] | None = None,
    match_ids: Iterable[int] | None = None,
    max_matches: int | None = None,
    window_s: float = DEFAULT_WINDOW_S,
    stride_s: float = DEFAULT_STRIDE_S,
    workers: int | None = None,
    progress: Progress | None = None,
    provider: str | None = None,
    executor: str | Executor | None = None,
) -> ExtractionSummary:
    """Extract ``source`` (``"demo"``, an open-data folder, or a provider's match folders).

    ``provider`` names who wrote the match folders of ``source`` (see
    :data:`core.data.providers.LAYOUTS`); without it, ``"demo"`` and StatsBomb open-data
    folders use the fast StatsBomb reader and any other folder's provider is detected.
    ``executor`` says where the matches are processed: ``"local"`` (default, ``workers``
    processes) or ``"dask://HOST:PORT"`` (:mod:`core.features.executors`).

    Writes ``features.parquet``, ``matches.parquet``, ``events.parquet`` and
    ``summary.json`` atomically; raises :class:`ExtractionError` (with the summary) when
    the source is missing or empty or no match could be extracted, leaving ``out_dir``'s
    previous outputs untouched.
    """
    started = time.perf_counter()
    window_s, stride_s = check_window_stride(window_s, stride_s)
    where = executor if isinstance(executor, Executor) else parse_executor(executor)
    out = check_out_dir(out_dir)
    summary = ExtractionSummary(out_dir=str(out))
    found = _discover(
        source,
        summary,
        provider=provider,
        competitions=competitions,
        seasons=seasons,
        match_ids=match_ids,
        max_matches=max_matches,
    )
    matches: list[AnyMatch] = list(found.matches)
    cache_dir = out / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tally = _Tally(summary, len(matches), progress)
    keys, to_extract = _plan(matches, window_s, stride_s, cache_dir, tally)
    _run_pool(
        to_extract,
        window_s,
        stride_s,
        cache_dir,
        workers or default_workers(),
        lambda outcome: tally.finished(outcome, keys),
        where,
    )
    feats, evs, rows = _read_cached(matches, keys, cache_dir, summary)

    summary.matches = len(rows)
    summary.seconds = round(time.perf_counter() - started, 3)
    if not rows:
        raise ExtractionError(
            f"no match of {source} could be extracted; see the skipped files: "
            + "; ".join(f"{Path(f).name}: {r}" for f, r in summary.skipped[:5]),
            summary,
        )
    dataset = Dataset(out)
    _write_dataset(dataset, feats, evs, rows, summary)
    summary.seconds = round(time.perf_counter() - started, 3)
    atomic_write_json(dataset.summary_path, summary.to_dict())
    logger.info(
        "extracted %d matches (%d cached), %d segments, %d skipped in %.1f s",
        summary.matches,
        summary.from_cache,
        summary.segments,
        len(summary.skipped),
        summary.seconds,
    )
    return summary


def _discover(
    source: str | Path,
    summary: ExtractionSummary,
    *,
    provider: str | None,
    competitions: Iterable[str | int] | None,
    seasons: Iterable[str | int] | None,
    match_ids: Iterable[int] | None,
    max_matches: int | None,
) -> Discovery | ProviderDiscovery:
    """The matches ``source`` offers under the filters; an :class:`ExtractionError` if none."""
    found: Discovery | ProviderDiscovery
    try:
        if provider is None and str(source) != "demo" and Path(source).is_dir():
            provider = _detected(Path(source))
        if provider is not None:
            found = provider_match_files(
                source, provider, match_ids=match_ids, max_matches=max_matches
            )
            summary.provider = found.provider
            if competitions or seasons:
                summary.warnings.append(
                    (str(source), "competition and season filters apply to open data only")
                )
        else:
            found = discover(
                source,
                competitions=competitions,
                seasons=seasons,
                match_ids=match_ids,
                max_matches=max_matches,
            )
    except (SourceError, ProviderError) as exc:
        message = str(exc)
        if provider is None and str(source) != "demo":
            message += (
                " If it holds one folder per match from another provider, pass --provider "
                f"(one of {', '.join(PROVIDERS)}) and name the files as the README's "
                "match-folder table says."
            )
        summary.skipped.append((str(source), message))
        raise ExtractionError(message, summary) from exc
    summary.skipped.extend(found.skipped)
    summary.warnings.extend(found.warnings)
    if not found.matches:
        raise ExtractionError(
            f"{source} offers no match for these filters (competitions={competitions}, "
            f"seasons={seasons}, match_ids={match_ids}); nothing extracted.",
            summary,
        )
    return found


def _detected(source: Path) -> str | None:
    """The provider of a folder that is not StatsBomb open data, when its files say it."""
    if (source / "events").is_dir() or (source / "data" / "events").is_dir():
        return None
    return detect_provider(source)


class _Tally:
    """Counts finished matches (cached, extracted or skipped) and reports progress."""

    def __init__(self, summary: ExtractionSummary, total: int, progress: Progress | None) -> None:
        self.summary = summary
        self.total = total
        self.progress = progress
        self.done = 0

    def tick(self, message: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, message)

    def finished(self, outcome: _Outcome, keys: dict[int, str]) -> None:
        """A worker's answer: a skipped match is dropped from ``keys``."""
        if not outcome.ok:
            self.summary.skipped.append((outcome.file, outcome.reason))
            keys.pop(outcome.match_id, None)
            logger.warning("skipped %s: %s", outcome.file, outcome.reason)
            self.tick(f"skipped {outcome.match_id}")
        else:
            self.tick(f"match {outcome.match_id}")


def _plan(
    matches: list[AnyMatch],
    window_s: float,
    stride_s: float,
    cache_dir: Path,
    tally: _Tally,
) -> tuple[dict[int, str], list[tuple[AnyMatch, str]]]:
    """Each readable match's cache key, and the matches whose cache entry is missing."""
    keys: dict[int, str] = {}
    to_extract: list[tuple[AnyMatch, str]] = []
    for files in matches:
        try:
            key = cache_key(files, window_s, stride_s)
        except OSError as exc:
            tally.summary.skipped.append((str(files.events), f"cannot be read: {exc}"))
            tally.tick(f"skipped {files.match_id}")
            continue
        keys[files.match_id] = key
        if _cache_paths(cache_dir, files.match_id, key)[2].exists():
            tally.summary.from_cache += 1
            tally.tick(f"match {files.match_id} (cached)")
        else:
            to_extract.append((files, key))
    return keys, to_extract


def _read_cached(
    matches: list[AnyMatch],
    keys: dict[int, str],
    cache_dir: Path,
    summary: ExtractionSummary,
) -> tuple[list[pl.DataFrame], list[pl.DataFrame], list[dict[str, Any]]]:
    """Features, events and match rows of every extracted match, in discovery order."""
    feats, evs, rows = [], [], []
    for files in matches:
        if files.match_id not in keys:
            continue
        feat_path, ev_path, match_path = _cache_paths(
            cache_dir, files.match_id, keys[files.match_id]
        )
        meta = json.loads(match_path.read_text())
        feats.append(pl.read_parquet(feat_path))
        evs.append(pl.read_parquet(ev_path))
        rows.append(meta["match"])
        summary.warnings.extend((w[0], w[1]) for w in meta["warnings"])
        for name in meta.get("unavailable", []):
            summary.features_unavailable.setdefault(name, _why_null(name, summary.provider))
        _drop_stale(cache_dir, files.match_id, keys[files.match_id])
    return feats, evs, rows


def _write_dataset(
    dataset: Dataset,
    feats: list[pl.DataFrame],
    evs: list[pl.DataFrame],
    rows: list[dict[str, Any]],
    summary: ExtractionSummary,
) -> None:
    """Concatenate the matches' tables into the dataset files; fill in the summary's counts."""
    features = pl.concat(feats, how="vertical_relaxed")
    matches = pl.DataFrame(rows, schema=MATCH_SCHEMA)
    events = pl.concat(evs, how="vertical_relaxed")
    summary.segments = features.height
    summary.window_segments = int((features.get_column("segment_type") == "window").sum())
    summary.possession_segments = summary.segments - summary.window_segments
    summary.n_features = len(feature_names())
    summary.features_available = [
        n for n in feature_names() if n not in summary.features_unavailable
    ]
    summary.coverage_360 = round(sum(bool(r["has_360"]) for r in rows) / len(rows), 4)
    atomic_write_parquet(dataset.features_path, features)
    atomic_write_parquet(dataset.matches_path, matches)
    atomic_write_parquet(dataset.events_path, events)


def _why_null(name: str, provider: str) -> str:
    """Why feature ``name`` is null in a dataset of ``provider``."""
    missing = missing_concepts(name, provider)
    if missing:
        return f"{provider} data has no {' or '.join(missing)}"
    return match_lacks_reason(name)


def _drop_stale(cache_dir: Path, match_id: int, key: str) -> None:
    """Remove cache entries of ``match_id`` made from older files or other parameters."""
    for path in cache_dir.glob(f"{match_id}-*"):
        if not path.name.startswith(f"{match_id}-{key}."):
            path.unlink(missing_ok=True)
