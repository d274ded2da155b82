"""Where match files come from: the demo matches inside kloppy's wheel, or an open-data folder.

A source yields :class:`MatchFiles` (one match's events, lineup, 360 file and metadata
record) plus the files it had to pass over and why; it never parses events itself.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from core.data.statsbomb import read_competitions, read_matches_file
from core.errors import SourceError, StatsBombFormatError

logger = logging.getLogger(__name__)

# The demo files are kloppy's test fixtures; their content is pinned by kloppy's version.
KLOPPY_DEMO_VERSION: Final = "3.19.1"

# Demo match files inside kloppy's wheel, with what the files themselves do not say.
# The Barcelona-Alavés file carries no id in its name; 15946 is its StatsBomb open-data id.
DEMO_MATCHES: Final[tuple[dict[str, Any], ...]] = (
    {
        "match_id": 3788741,
        "events": "statsbomb_3788741_event.json",
        "lineup": "statsbomb_3788741_lineup.json",
        "three_sixty": "statsbomb_3788741_360.json",
        "competition": "Euro 2020",
        "season": "2020",
        "match_date": "2021-06-11",
    },
    {
        "match_id": 15986,
        "events": "statsbomb_15986_event.json",
        "lineup": "statsbomb_15986_lineup.json",
        "three_sixty": None,
        "competition": "La Liga",
        "season": None,
        "match_date": None,
    },
    {
        "match_id": 15946,
        "events": "statsbomb_event.json",
        "lineup": "statsbomb_lineup.json",
        "three_sixty": None,
        "competition": "La Liga",
        "season": None,
        "match_date": None,
    },
)


@dataclass(frozen=True)
class MatchFiles:
    """The files of one match and its metadata record (neutral keys, may be empty)."""

    match_id: int
    events: Path
    lineup: Path | None = None
    three_sixty: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def paths(self) -> list[Path]:
        """Every file this match reads, events first."""
        return [p for p in (self.events, self.lineup, self.three_sixty) if p is not None]


@dataclass
class Discovery:
    """What a source offers: the matches to extract, and files skipped with their reason."""

    matches: list[MatchFiles]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def demo_folder() -> Path:
    """The folder of kloppy's bundled StatsBomb test matches; a clear error if missing."""
    try:
        root = Path(str(importlib.resources.files("kloppy"))) / "tests" / "files"
    except ModuleNotFoundError as exc:
        raise SourceError(
            "The demo matches ship inside the kloppy package, which is not installed: "
            f"pip install kloppy=={KLOPPY_DEMO_VERSION}."
        ) from exc
    missing = [m["events"] for m in DEMO_MATCHES if not (root / m["events"]).is_file()]
    if missing:
        raise SourceError(
            f"kloppy's demo match files {missing} are missing from {root}; reinstall "
            f"kloppy=={KLOPPY_DEMO_VERSION} (its wheel carries them under tests/files)."
        )
    version = importlib.metadata.version("kloppy")
    if version != KLOPPY_DEMO_VERSION:
        logger.warning(
            "kloppy %s installed; the demo matches were checked against %s",
            version,
            KLOPPY_DEMO_VERSION,
        )
    return root


def demo_match_files() -> list[MatchFiles]:
    """The three real StatsBomb matches that kloppy's wheel ships (one with 360 frames)."""
    root = demo_folder()
    out = []
    for m in DEMO_MATCHES:
        record = {k: m[k] for k in ("competition", "season", "match_date") if m[k] is not None}
        out.append(
            MatchFiles(
                match_id=int(m["match_id"]),
                events=root / m["events"],
                lineup=root / m["lineup"],
                three_sixty=root / m["three_sixty"] if m["three_sixty"] else None,
                record=record,
            )
        )
    return out


def _data_dir(root: Path) -> Path:
    """Accept both the open-data repository root (with ``data/``) and ``data/`` itself."""
    if not (root / "events").is_dir() and (root / "data" / "events").is_dir():
        return root / "data"
    return root


def _match_id_of(path: Path) -> int | None:
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    return int(stem) if stem.isdigit() else None


def _by_id(folder: Path) -> dict[int, Path]:
    """``<id>.json`` / ``<id>.json.gz`` files of a folder by match id (plain json preferred)."""
    if not folder.is_dir():
        return {}
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name.endswith(".gz")):
        mid = _match_id_of(path)
        if mid is not None and mid not in found and path.is_file():
            found[mid] = path
    return found


def _matches_records(data: Path, warnings: list[tuple[str, str]]) -> dict[int, dict[str, Any]]:
    records: dict[int, dict[str, Any]] = {}
    names: dict[tuple[Any, Any], tuple[Any, Any]] = {}
    comps = data / "competitions.json"
    if comps.is_file():
        try:
            for c in read_competitions(comps):
                names[(c["competition_id"], c["season_id"])] = (c["competition"], c["season"])
        except (StatsBombFormatError, OSError) as exc:
            warnings.append((str(comps), str(exc)))
    matches_dir = data / "matches"
    if not matches_dir.is_dir():
        return records
    for path in sorted(matches_dir.glob("*/*.json*")):
        try:
            for rec in read_matches_file(path):
                comp, season = names.get((rec["competition_id"], rec["season_id"]), (None, None))
                rec["competition"] = rec["competition"] or comp
                rec["season"] = rec["season"] or season
                records[rec["match_id"]] = rec
        except (StatsBombFormatError, OSError) as exc:
            warnings.append(
                (str(path), f"{exc} Metadata for its matches comes from events and lineups.")
            )
    return records


def _matches_filter(value: Any, wanted: Iterable[str | int] | None, name_value: Any) -> bool:
    if not wanted:
        return True
    keys = {str(value).lower(), str(name_value).lower()}
    return any(str(w).lower() in keys for w in wanted)


def _open_data_dir(root: Path) -> Path:
    """The folder of ``root`` that holds ``events/``; a :class:`SourceError` saying what is off."""
    if not root.exists():
        raise SourceError(
            f"{root} does not exist. Point --source at a StatsBomb open-data folder "
            "(with events/, lineups/, matches/) or use --source demo."
        )
    if not root.is_dir():
        raise SourceError(f"{root} is a file; --source must be a folder in open-data layout.")
    data = _data_dir(root)
    if not (data / "events").is_dir():
        raise SourceError(
            f"{root} has no events/ folder; it is not in StatsBomb open-data layout "
            "(competitions.json, matches/<competition>/<season>.json, events/<id>.json, "
            "lineups/<id>.json, three-sixty/<id>.json)."
        )
    return data


def _in_filters(
    rec: dict[str, Any], comp_list: list[str] | None, season_list: list[str] | None
) -> bool:
    """Whether a match's record passes the competition and season filters.

    With either filter given, a match without a record cannot be placed and is dropped.
    """
    if not (comp_list or season_list):
        return True
    if not rec:
        return False
    in_competition = _matches_filter(rec.get("competition_id"), comp_list, rec.get("competition"))
    return in_competition and _matches_filter(rec.get("season_id"), season_list, rec.get("season"))


def open_data_match_files(
    root: Path,
    *,
    competitions: Iterable[str | int] | None = None,
    seasons: Iterable[str | int] | None = None,
    match_ids: Iterable[int] | None = None,
    max_matches: int | None = None,
) -> Discovery:
    """Matches of a StatsBomb open-data folder, filtered; a clear error if it holds none.

    ``competitions`` and ``seasons`` match ids or names (case-insensitive) through the
    ``matches/<competition>/<season>.json`` files; matches listed in no matches file are
    dropped when either filter is given.
    """
    root = Path(root).expanduser()
    data = _open_data_dir(root)
    events_dir = data / "events"
    discovery = Discovery(matches=[])
    for path in sorted(events_dir.iterdir()):
        if path.is_file() and _match_id_of(path) is None:
            discovery.skipped.append(
                (str(path), "file name is not <match_id>.json or <match_id>.json.gz")
            )
    events = _by_id(events_dir)
    if not events:
        raise SourceError(f"{events_dir} holds no <match_id>.json(.gz) events files.")
    lineups = _by_id(data / "lineups")
    sixty = _by_id(data / "three-sixty")
    records = _matches_records(data, discovery.warnings)

    comp_list = [str(c) for c in competitions] if competitions else None
    season_list = [str(s) for s in seasons] if seasons else None
    wanted_ids = {int(m) for m in match_ids} if match_ids else None
    for mid in sorted(events):
        if wanted_ids is not None and mid not in wanted_ids:
            continue
        rec = records.get(mid, {})
        if not _in_filters(rec, comp_list, season_list):
            continue
        discovery.matches.append(
            MatchFiles(
                match_id=mid,
                events=events[mid],
                lineup=lineups.get(mid),
                three_sixty=sixty.get(mid),
                record=rec,
            )
        )
    if wanted_ids is not None:
        for mid in sorted(wanted_ids - set(events)):
            discovery.skipped.append((str(events_dir / f"{mid}.json"), "no events file"))
    if max_matches is not None:
        discovery.matches = discovery.matches[: max(0, int(max_matches))]
    return discovery


def discover(
    source: str | Path,
    *,
    competitions: Iterable[str | int] | None = None,
    seasons: Iterable[str | int] | None = None,
    match_ids: Iterable[int] | None = None,
    max_matches: int | None = None,
) -> Discovery:
    """``"demo"`` or an open-data folder to the matches to extract, with the same filters."""
    if str(source) == "demo":
        wanted = {int(m) for m in match_ids} if match_ids else None
        files = [m for m in demo_match_files() if wanted is None or m.match_id in wanted]
        if competitions:
            files = [
                m for m in files if _matches_filter(None, competitions, m.record.get("competition"))
            ]
        if max_matches is not None:
            files = files[: max(0, int(max_matches))]
        return Discovery(matches=files)
    return open_data_match_files(
        Path(source),
        competitions=competitions,
        seasons=seasons,
        match_ids=match_ids,
        max_matches=max_matches,
    )
