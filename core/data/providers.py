"""Event providers as sources: the match-folder layout, detecting a folder's provider, loading through kloppy.

A provider source is a folder with one sub-folder per match, each holding that match's
files under fixed role names (:data:`LAYOUTS`, documented in the README). Discovery never
parses events; :func:`load_match` reads one match through kloppy's loader for its
provider and says, naming the file, what is missing or what a file really is. StatsBomb
match folders go to the fast reader (:mod:`core.data.statsbomb`), not through kloppy.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kloppy import impect, metrica, opta, sportec, statsbomb, statsperform, wyscout
from kloppy.domain import EventDataset

from core.data.kloppy_events import stable_id
from core.data.kloppy_source import KloppyEvents, kloppy_events
from core.data.sources import MatchFiles
from core.errors import ProviderError, SourceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Role:
    """One file of a match folder: its role, the names it may have, whether it is needed."""

    name: str
    files: tuple[str, ...]
    required: bool = True
    what: str = ""  # what the file is, for error messages


# The match-folder layout of every provider (the README's table). The first file name of
# a role that exists is used; each name may also be gzipped (``events.json.gz``), which
# kloppy's loaders and the StatsBomb reader decompress as they read.
LAYOUTS: Final[dict[str, tuple[Role, ...]]] = {
    "statsbomb": (
        Role("events", ("events.json",), what="StatsBomb events JSON"),
        Role("lineup", ("lineup.json",), required=False, what="StatsBomb lineups JSON"),
        Role("three_sixty", ("360.json",), required=False, what="StatsBomb 360 frames JSON"),
    ),
    "wyscout": (Role("events", ("events.json",), what="Wyscout events JSON (v2 or v3)"),),
    "opta": (
        Role("f24", ("f24.xml",), what="Opta F24 events XML"),
        Role("f7", ("f7.xml",), what="Opta F7 lineups XML"),
    ),
    "statsperform": (
        Role("ma1", ("ma1.json", "ma1.xml"), what="Stats Perform MA1 match info"),
        Role("ma3", ("ma3.json", "ma3.xml"), what="Stats Perform MA3 events"),
    ),
    "sportec": (
        Role("events", ("events.xml",), what="Sportec (DFL) events XML"),
        Role("meta", ("meta.xml",), what="Sportec (DFL) match information XML"),
    ),
    "metrica": (
        Role("events", ("events.json",), what="Metrica events JSON"),
        Role("metadata", ("metadata.xml",), what="Metrica EPTS metadata XML"),
    ),
    "impect": (
        Role("events", ("events.json",), what="Impect events JSON"),
        Role("lineups", ("lineups.json",), what="Impect match lineups JSON"),
        Role("squads", ("squads.json",), required=False, what="Impect squads JSON (team names)"),
        Role("players", ("players.json",), required=False, what="Impect players JSON (names)"),
    ),
}
PROVIDERS: Final[tuple[str, ...]] = tuple(LAYOUTS)
# Optional per-match record: {"competition": ..., "season": ..., "match_date": ...}.
RECORD_FILE: Final = "match.json"
RECORD_KEYS: Final = ("competition", "season", "match_date")
# Bytes read from the start of a file (decompressed when gzipped) to tell which provider wrote it.
SNIFF_BYTES: Final = 4096
GZIP_SUFFIX: Final = ".gz"
_GZIP_MAGIC: Final = b"\x1f\x8b"
# Substrings near the start of a file that identify its provider and role ("" = any role).
_SIGNATURES: Final[tuple[tuple[tuple[bytes, ...], str, str], ...]] = (
    ((b'"possession_team"',), "statsbomb", "events"),
    ((b'"lineup"', b'"team_id"'), "statsbomb", "lineup"),
    ((b'"subEventName"',), "wyscout", "events"),
    ((b'"matchTimestamp"',), "wyscout", "events"),
    ((b'"subtypes"',), "metrica", "events"),
    ((b'"actionType"', b'"squadId"'), "impect", "events"),
    ((b'"squadHome"',), "impect", "lineups"),
    ((b'"countryId"', b'"access"'), "impect", "squads"),
    ((b'"commonname"', b'"firstname"'), "impect", "players"),
    ((b"<main", b"EPTS"), "metrica", "metadata"),
    ((b"<Games",), "opta", "f24"),
    ((b"<SoccerFeed",), "opta", "f7"),
    ((b"<matchEvents",), "statsperform", "ma3"),
    ((b"<match>",), "statsperform", "ma1"),
    ((b'"matchInfo"',), "statsperform", ""),
    ((b"<PutDataRequest", b"<MatchInformation"), "sportec", "meta"),
    ((b"<PutDataRequest", b"<Event "), "sportec", "events"),
)


@dataclass(frozen=True)
class ProviderMatch:
    """One match folder of a kloppy provider: its files by role and its metadata record.

    Shaped like :class:`~core.data.sources.MatchFiles` where extraction needs it
    (``match_id``, ``events``, ``record``, ``paths()``).
    """

    match_id: int
    provider: str
    folder: Path
    files: dict[str, Path]
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> Path:
        """The file extraction names when it reports on this match (the events file)."""
        return next(iter(self.files.values()))

    def paths(self) -> list[Path]:
        """Every file this match reads."""
        return list(self.files.values())


def check_provider(name: str) -> str:
    """``name`` lower-cased when it is a known provider; a clear error listing them if not."""
    key = (name or "").strip().lower()
    if key not in LAYOUTS:
        raise ProviderError(
            f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)} "
            "(or leave it out to detect it from the match folders)."
        )
    return key


def sniff_file(path: Path) -> tuple[str, str] | None:
    """``(provider, role)`` of a file from its first bytes; ``None`` when it says nothing."""
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if head[:2] == _GZIP_MAGIC:
            with gzip.open(path, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
    except (OSError, EOFError):  # unreadable, or a broken gzip stream
        return None
    for needles, provider, role in _SIGNATURES:
        if all(n in head for n in needles):
            return provider, role
    return None


def role_names(role: Role) -> tuple[str, ...]:
    """The file names a role may have, each plain then gzipped (``events.json``, ``events.json.gz``)."""
    return tuple(name for n in role.files for name in (n, n + GZIP_SUFFIX))


def _role_file(folder: Path, role: Role) -> Path | None:
    return next((folder / n for n in role_names(role) if (folder / n).is_file()), None)


def _folder_candidates(folder: Path) -> list[str]:
    """Providers whose required files are all in ``folder``, refined by the files' content.

    When no complete layout agrees with the content but the content names one provider
    (an Impect ``events.json`` without its ``lineups.json``), that provider: extraction
    then skips the folder naming the missing file.
    """
    complete = [
        p
        for p, roles in LAYOUTS.items()
        if all(_role_file(folder, r) is not None for r in roles if r.required)
    ]
    sniffed = {s[0] for f in folder.iterdir() if f.is_file() and (s := sniff_file(f))}
    agreeing = [p for p in complete if p in sniffed]
    named = [p for p in PROVIDERS if p in sniffed]
    return agreeing or (named if len(named) == 1 else complete)


def _match_folders(source: Path) -> list[Path]:
    """The match folders of a source: its sub-folders, or the source itself if it holds files."""
    subs = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    return subs or [source]


def detect_provider(folder: str | Path) -> str | None:
    """The provider of a source folder (or of one match folder); ``None`` when unclear.

    Looks at up to five match folders; the answer is the one provider whose files (names
    and content) fit them all. ``None`` when the folder is missing or empty, or the match
    folders fit no provider or several (ask the user then).
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        return None
    votes: set[str] = set()
    for match in _match_folders(root)[:5]:
        candidates = _folder_candidates(match)
        if len(candidates) != 1:
            return None
        votes.add(candidates[0])
    return votes.pop() if len(votes) == 1 else None


def _match_id(folder: Path) -> int:
    """The folder name when it is a number, else a stable number made from it."""
    return stable_id(folder.name) or 0


def _read_record(folder: Path, warnings: list[tuple[str, str]]) -> dict[str, Any]:
    path = folder / RECORD_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        warnings.append((str(path), f"not readable JSON ({exc}); metadata from the events"))
        return {}
    if not isinstance(data, dict):
        warnings.append((str(path), "not a JSON object; metadata from the events"))
        return {}
    return {k: str(data[k]) for k in RECORD_KEYS if data.get(k) is not None}


def _missing_roles(folder: Path, provider: str) -> str | None:
    """What the folder lacks for ``provider``, in words; ``None`` when complete."""
    missing = [r for r in LAYOUTS[provider] if r.required and _role_file(folder, r) is None]
    if not missing:
        return None
    return "; ".join(
        f"missing the {r.name} file ({' or '.join(r.files)}, optionally gzipped as .gz: {r.what})"
        for r in missing
    )


@dataclass
class ProviderDiscovery:
    """What a provider source offers: its provider, matches, and folders skipped with why."""

    provider: str
    matches: list[MatchFiles | ProviderMatch]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def provider_match_files(
    source: str | Path,
    provider: str | None,
    *,
    match_ids: Iterable[int] | None = None,
    max_matches: int | None = None,
) -> ProviderDiscovery:
    """The matches of a provider source folder; folders lacking a file are skipped, named.

    ``provider`` ``None`` detects it (a clear error when that fails). StatsBomb folders
    yield :class:`~core.data.sources.MatchFiles` for the fast reader; every other provider
    :class:`ProviderMatch`.
    """
    root = Path(source).expanduser()
    if not root.is_dir():
        raise SourceError(
            f"{root} is not a folder; --source with --provider must be a folder holding one "
            "folder per match (see the README's match-folder table)."
        )
    name = check_provider(provider) if provider else detect_provider(root)
    if name is None:
        raise ProviderError(
            f"cannot tell which provider wrote the match folders in {root}; pass --provider "
            f"(one of {', '.join(PROVIDERS)}) and check the file names against the README."
        )
    discovery = ProviderDiscovery(provider=name, matches=[])
    wanted = {int(m) for m in match_ids} if match_ids else None
    for folder in _match_folders(root):
        mid = _match_id(folder)
        if wanted is not None and mid not in wanted:
            continue
        missing = _missing_roles(folder, name)
        if missing:
            discovery.skipped.append((str(folder), f"{name} match folder {missing}"))
            continue
        files = {r.name: p for r in LAYOUTS[name] if (p := _role_file(folder, r)) is not None}
        record = _read_record(folder, discovery.warnings)
        if name == "statsbomb":
            discovery.matches.append(
                MatchFiles(
                    match_id=mid,
                    events=files["events"],
                    lineup=files.get("lineup"),
                    three_sixty=files.get("three_sixty"),
                    record=record,
                )
            )
        else:
            discovery.matches.append(ProviderMatch(mid, name, folder, files, record))
    if max_matches is not None:
        discovery.matches = discovery.matches[: max(0, int(max_matches))]
    return discovery


def _check_files(match: ProviderMatch) -> None:
    """Refuse a file that another provider (or another role) wrote, naming it."""
    roles = {r.name: r for r in LAYOUTS[match.provider]}
    for role, path in match.files.items():
        found = sniff_file(path)
        if found is None:
            continue
        provider, kind = found
        if provider != match.provider:
            raise ProviderError(
                f"{path} looks like a file from {provider}, not the {roles[role].what} that a "
                f"{match.provider} match folder needs; put the {match.provider} file there "
                f"or extract with --provider {provider}."
            )
        if kind and kind != role:
            raise ProviderError(
                f"{path} looks like the {match.provider} {kind} file, not its {role} file "
                f"({roles[role].what}); swap the files' names."
            )


# kloppy's loader of each provider, given the match folder's files by role.
_LOADERS: Final[dict[str, Callable[[dict[str, str]], EventDataset]]] = {
    "wyscout": lambda f: wyscout.load(event_data=f["events"]),
    "opta": lambda f: opta.load(f24_data=f["f24"], f7_data=f["f7"]),
    "statsperform": lambda f: statsperform.load_event(ma1_data=f["ma1"], ma3_data=f["ma3"]),
    "sportec": lambda f: sportec.load_event(event_data=f["events"], meta_data=f["meta"]),
    "metrica": lambda f: metrica.load_event(event_data=f["events"], meta_data=f["metadata"]),
    "impect": lambda f: impect.load(
        event_data=f["events"],
        lineup_data=f["lineups"],
        squads_data=f.get("squads"),
        players_data=f.get("players"),
    ),
    "statsbomb": lambda f: statsbomb.load(event_data=f["events"], lineup_data=f["lineup"]),
}


def _kloppy_load(match: ProviderMatch) -> EventDataset:
    loader = _LOADERS.get(match.provider)
    if loader is None:
        raise ProviderError(f"no kloppy loader for provider {match.provider!r}")
    return loader({k: str(v) for k, v in match.files.items()})


def load_match(match: ProviderMatch) -> EventDataset:
    """The kloppy event dataset of one match folder; errors name the file and the fix."""
    _check_files(match)
    try:
        return _kloppy_load(match)
    except ProviderError:
        raise
    except Exception as exc:  # kloppy raises many kinds for a broken or foreign file
        names = ", ".join(p.name for p in match.paths())
        raise ProviderError(
            f"{match.folder}: kloppy could not read {names} as {match.provider} data "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
            "check that each file is the one its name says (see the README's match-folder "
            "table) and is complete."
        ) from exc


def read_provider_match(match: ProviderMatch) -> KloppyEvents:
    """One match folder to the neutral event table, match row and lineups, with warnings."""
    dataset = load_match(match)
    try:
        parsed = kloppy_events(dataset, match.match_id, record=match.record)
    except ValueError as exc:
        raise ProviderError(f"{match.folder}: {exc}; not a usable {match.provider} match.") from exc
    if parsed.unknown_types:
        parsed.warnings.append(
            f"event types {parsed.unknown_types} have no neutral type; kept as 'unknown' and "
            "not counted"
        )
    return parsed
