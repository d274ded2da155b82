"""The catalogue of StatsBomb open data: one :class:`Season` row per competition season, with
its match counts and 360 coverage, read from the index files (``competitions.json``,
``matches/<c>/<s>.json``) of a download cache or of a local open-data folder.

Downloading the files is :mod:`core.data.opendata`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.sources import open_data_match_files


@dataclass(frozen=True)
class Season:
    """One competition season of a catalogue, with its match counts."""

    competition_id: int
    season_id: int
    competition: str
    season: str
    country: str = ""
    matches: int = 0
    matches_360: int = 0  # matches whose record says their 360 file is available
    has_360: bool = False  # competitions.json lists 360 data for this season
    downloaded: int = 0  # matches whose events are already in the cache (or folder)
    match_ids: tuple[int, ...] = ()  # local folders: the matches of this row

    @property
    def label(self) -> str:
        return f"{self.competition} {self.season}"

    @property
    def dataset_name(self) -> str:
        """A dataset name proposed for this season, e.g. ``fifa-world-cup-2018``."""
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")[:64] or "open-data"


@dataclass
class OpenDataFetch:
    """What a fetch left in the cache: the folder to extract and the matches in it."""

    folder: Path
    match_ids: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    downloaded: int = 0  # files fetched from the server this time
    from_cache: int = 0  # matches whose files were all in the cache already
    seconds: float = 0.0


def season_row(comp: Mapping[str, Any], matches: list[dict[str, Any]], data_dir: Path) -> Season:
    events = data_dir / "events"
    return Season(
        competition_id=int(comp["competition_id"]),
        season_id=int(comp["season_id"]),
        competition=str(comp.get("competition_name") or comp["competition_id"]),
        season=str(comp.get("season_name") or comp["season_id"]),
        country=str(comp.get("country_name") or ""),
        matches=len(matches),
        matches_360=sum(str(m.get("match_status_360", "")) == "available" for m in matches),
        has_360=bool(comp.get("match_available_360")),
        downloaded=sum(
            (events / f"{m.get('match_id')}.json.gz").is_file()
            or (events / f"{m.get('match_id')}.json").is_file()
            for m in matches
        ),
    )


def local_catalogue(folder: Path) -> list[Season]:
    """The seasons of a local open-data folder, counting the matches whose events it holds.

    A folder without matches files gives one row (competition and season ids 0) for all
    its events files.
    """
    found = open_data_match_files(folder)
    by_season: dict[tuple[int, int], list[dict[str, Any]]] = {}
    names: dict[tuple[int, int], dict[str, Any]] = {}
    for m in found.matches:
        rec = m.record
        key = (int(rec.get("competition_id") or 0), int(rec.get("season_id") or 0))
        by_season.setdefault(key, []).append({"match_id": m.match_id, "has_360": m.three_sixty})
        names.setdefault(
            key,
            {
                "competition_id": key[0],
                "season_id": key[1],
                "competition_name": rec.get("competition") or "all matches",
                "season_name": rec.get("season") or "no matches file",
            },
        )
    seasons = []
    for key, ms in sorted(by_season.items()):
        n_360 = sum(m["has_360"] is not None for m in ms)
        seasons.append(
            dataclasses.replace(
                season_row(names[key], [], folder),
                matches=len(ms),
                matches_360=n_360,
                has_360=n_360 > 0,
                downloaded=len(ms),
                match_ids=tuple(int(m["match_id"]) for m in ms),
            )
        )
    return seasons
