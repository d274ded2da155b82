"""What the Data page finds and proposes: folders under the data root that can be
extracted, a free name for a new dataset, and what a finished extraction produced.

Every folder offered lies under its data root (``resolve_under``, symlinks resolved): a
folder linked in from outside is listed nowhere and refused by :func:`data_folder`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from core.data.opendata import OPEN_DATA_SOURCE
from core.data.opendata_catalogue import Season, local_catalogue
from core.data.providers import LAYOUTS, PROVIDERS, detect_provider
from core.errors import DatasetImportError, SourceError, StatsBombFormatError, UnsafePathError
from core.features.availability import provider_availability
from core.features.datasets import check_dataset_name, import_features_stream, list_datasets
from core.features.names import display_name
from core.features.support import not_comparable
from core.infra.paths import data_root, resolve_under
from core.jobs.api import list_jobs, submit_extraction
from core.jobs.records import JobInfo

NAME_STEM_CHARS = 60  # a proposed name keeps room for a "-2" suffix within the 64 allowed
# Folders of the data root that hold datasets or the open-data download cache, not sources.
NOT_SOURCES = ("datasets", "open-data")


@dataclass(frozen=True)
class Outcome:
    """What an action on the Data page came to: the words to show, and the error behind a
    failure (None when the words say it all)."""

    ok: bool
    text: str
    error: BaseException | None = None


# --- names -----------------------------------------------------------------------------------


def dataset_folders() -> list[Path]:
    """Dataset folders (holding ``features.parquet``) under the data root, newest first."""
    return [d.path for d in list_datasets()]


def taken_dataset_names() -> set[str]:
    """Dataset names in use: existing datasets and extractions still running."""
    names = {p.name for p in dataset_folders()}
    names |= {str(j.params.get("name")) for j in list_jobs("extract") if j.is_active}
    return names


def free_dataset_name(stem: str, taken: Collection[str] | None = None) -> str:
    """``stem``, or ``stem-2``, ``stem-3``, ... the first not ``taken`` (default: the names
    :func:`taken_dataset_names` finds)."""
    used = taken_dataset_names() if taken is None else set(taken)
    stem = stem[:NAME_STEM_CHARS]
    return next(n for n in (stem, *(f"{stem}-{i}" for i in range(2, 1000))) if n not in used)


def dataset_name_problem(name: str, taken: Collection[str] | None = None) -> str | None:
    """Why ``name`` cannot be used for a new dataset, in words; None when it can."""
    try:
        check_dataset_name(name)
    except DatasetImportError as exc:
        return str(exc)
    used = taken_dataset_names() if taken is None else set(taken)
    if name in used:
        return (
            f"A dataset named **{name}** already exists (or is being extracted); runs trained "
            f"on it refer to its features, so it is not replaced. Choose another name, "
            f"e.g. **{free_dataset_name(name, used)}**."
        )
    return None


# --- folders under the data root ---------------------------------------------------------------


def inside_root(root: Path, folder: str) -> bool:
    """Whether ``folder`` (relative to ``root``) resolves inside it, symlinks followed."""
    try:
        resolve_under(root, folder)
    except UnsafePathError:
        return False
    return True


def data_folder(folder: str, root: Path | None = None) -> Path:
    """``folder`` under the data root, resolved; ``UnsafePathError`` when it leads outside."""
    return resolve_under(data_root() if root is None else root, folder)


def folder_seasons(folder: str, root: Path | None = None) -> list[Season] | Outcome:
    """The seasons of the open-data folder ``folder`` under the data root, or why it has
    none to offer (outside the root, or not the StatsBomb open-data layout)."""
    try:
        return local_catalogue(data_folder(folder, root))
    except UnsafePathError as exc:
        return Outcome(
            False, "That folder is outside the data root. Copy or link it under it.", exc
        )
    except (SourceError, StatsBombFormatError) as exc:
        return Outcome(
            False,
            f"No matches found in {folder}. It needs events/<match_id>.json files beside "
            "competitions.json and matches/ (StatsBomb open-data layout).",
            exc,
        )


def open_data_folders(root: Path | None = None) -> list[str]:
    """Folders under the data root (up to two levels deep) that look like StatsBomb
    open-data copies (a ``competitions.json``), relative to the root."""
    base = data_root() if root is None else root
    found = {
        str(p.parent.relative_to(base))
        for pattern in ("competitions.json", "*/competitions.json", "*/*/competitions.json")
        for p in base.glob(pattern)
    }
    return sorted(f for f in found if not f.startswith("datasets") and inside_root(base, f))


def provider_folders(root: Path | None = None) -> list[tuple[str, str | None]]:
    """Folders under the data root (two levels deep) holding one folder per match of a
    provider kloppy reads, with the provider detected (None: not recognised)."""
    base = data_root() if root is None else root
    found: list[tuple[str, str | None]] = []
    for path in sorted([*base.glob("*/"), *base.glob("*/*/")]):
        rel = str(path.relative_to(base))
        if rel.startswith(NOT_SOURCES) or not inside_root(base, rel):
            continue
        if not any(p.is_dir() for p in path.iterdir()):
            continue  # match files sit in one folder per match
        if (path / "competitions.json").is_file():
            continue  # StatsBomb open data: the other source
        found.append((rel, detect_provider(path)))
    return found


def provider_choices() -> list[str]:
    """Providers a folder of match folders can be read as (StatsBomb has its own sources)."""
    return [p for p in PROVIDERS if p != "statsbomb"]


def provider_layouts() -> str:
    """The file names each provider's match folder holds, as one sentence."""
    return (
        "One folder per match under a folder of the data root, holding that match's files "
        "under these names (the README has the table): "
        + "; ".join(
            f"**{name}**: " + ", ".join(" or ".join(r.files) for r in roles)
            for name, roles in LAYOUTS.items()
            if name != "statsbomb"
        )
        + "."
    )


@dataclass(frozen=True)
class ProviderSupply:
    """What a provider's data can and cannot give the feature set."""

    sentence: str  # "**wyscout** supplies 30 of 45 features; ..."
    missing: pl.DataFrame  # the features it cannot supply, with why
    # feature, how it differs: supplied under another definition than StatsBomb's, so not
    # comparable across providers (empty for StatsBomb, the reference)
    differs: pl.DataFrame = field(default_factory=pl.DataFrame)

    def tables(self) -> list[tuple[str, pl.DataFrame]]:
        """The page's expanders: a title and its table, each only when it has rows."""
        out = [("Features this provider cannot supply", self.missing)]
        out.append(("Features built differently from StatsBomb's", self.differs))
        return [(title, table) for title, table in out if not table.is_empty()]


def provider_supply(provider: str) -> ProviderSupply:
    """How many features ``provider`` supplies, and the ones it cannot."""
    avail = provider_availability(provider)
    sentence = (
        f"**{provider}** supplies {len(avail.available)} of "
        f"{len(avail.available) + len(avail.unavailable)} features; the others stay empty "
        "(null, never 0) and training leaves them out."
    )
    differing = not_comparable(provider)
    if differing:
        sentence += (
            f" {len(differing)} of them are built differently from StatsBomb's: compare "
            "them only within this provider."
        )
    differs = pl.DataFrame(
        {
            "feature": [display_name(n) for n in differing],
            "not comparable across providers": list(differing.values()),
        },
        schema={"feature": pl.String, "not comparable across providers": pl.String},
    )
    return ProviderSupply(sentence, avail.frame().filter(~pl.col("available")), differs)


# --- seasons ---------------------------------------------------------------------------------


SEASON_COLUMNS = {  # the season table's count columns, and what each counts
    "with 360": "matches with 360 freeze frames (tier-3 features)",
    "downloaded": "matches whose files are already here (no download needed)",
}


def season_frame(seasons: Sequence[Season]) -> pl.DataFrame:
    """Seasons as the table a user picks one row from."""
    return pl.DataFrame(
        {
            "competition": [s.competition for s in seasons],
            "season": [s.season for s in seasons],
            "country": [s.country for s in seasons],
            "matches": [s.matches for s in seasons],
            "with 360": [s.matches_360 for s in seasons],
            "downloaded": [s.downloaded for s in seasons],
        },
        schema_overrides={"matches": pl.Int64, "with 360": pl.Int64, "downloaded": pl.Int64},
    )


def season_counts(season: Season, *, remote: bool) -> str:
    """``"**La Liga 2020/2021**: 35 matches, no 360 freeze frames (...)."``"""
    sixty = (
        f"{season.matches_360} with 360 freeze frames"
        if season.matches_360
        else "no 360 freeze frames (tier-3 features stay empty)"
    )
    have = f", {season.downloaded} already downloaded" if remote and season.downloaded else ""
    return f"**{season.label}**: {season.matches} matches, {sixty}{have}."


@dataclass(frozen=True)
class ExtractionPlan:
    """What an "Extract features" click submits for a pick (``submit_extraction``'s source
    and filters), and the dataset name proposed for it."""

    pick: str  # identifies the pick: a new pick gets a freshly proposed name
    proposal: str  # the dataset name proposed (made free with :func:`free_dataset_name`)
    source: str  # "demo", "opendata", or a folder under the data root
    filters: dict[str, Any] = field(default_factory=dict)
    limits_matches: bool = True  # whether "at most this many matches" applies


def open_data_plan(season: Season, url: str) -> ExtractionPlan:
    """Extract one season of StatsBomb's open data at ``url`` (downloaded first)."""
    return ExtractionPlan(
        pick=f"open:{season.competition_id}/{season.season_id}",
        proposal=season.dataset_name,
        source=OPEN_DATA_SOURCE,
        filters={
            "competitions": [season.competition_id],
            "seasons": [season.season_id],
            "open_data_url": url,
        },
    )


def folder_plan(season: Season, folder: str, root: Path | None = None) -> ExtractionPlan:
    """Extract one season of an open-data folder under the data root (a row no matches
    file lists is chosen by its match ids); ``UnsafePathError`` for a folder outside."""
    filters: dict[str, Any] = (
        {"competitions": [season.competition_id], "seasons": [season.season_id]}
        if season.competition_id
        else {"match_ids": list(season.match_ids)}
    )
    return ExtractionPlan(
        pick=f"folder:{folder}:{season.label}",
        proposal=season.dataset_name if season.competition_id else Path(folder).name,
        source=str(data_folder(folder, root)),
        filters=filters,
    )


def provider_plan(folder: str, provider: str, root: Path | None = None) -> ExtractionPlan:
    """Extract a folder of match folders under the data root as ``provider``'s data."""
    return ExtractionPlan(
        pick=f"provider:{folder}:{provider}",
        proposal=Path(folder).name,
        source=str(data_folder(folder, root)),
        filters={"provider": provider},
    )


DEMO_PLAN = ExtractionPlan(pick="demo", proposal="demo", source="demo", limits_matches=False)


def submit_plan(
    plan: ExtractionPlan,
    name: str,
    *,
    window_s: float,
    stride_s: float,
    max_matches: int,
    executor: str = "",
) -> JobInfo:
    """Queue the extraction of ``plan`` into dataset ``name`` (``max_matches`` 0: all;
    ``executor`` "" or ``local``: this machine's cores, else ``dask://HOST:PORT``)."""
    return submit_extraction(
        plan.source,
        name,
        window_s=window_s,
        stride_s=stride_s,
        max_matches=(max_matches or None) if plan.limits_matches else None,
        executor=executor.strip() or None,
        **plan.filters,
    )


# --- a finished extraction ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractionReport:
    """What a finished extraction job produced, as the Data page says it."""

    name: str  # the dataset's name
    out_dir: str  # its folder ("" when the job recorded none)
    summary: str  # "Dataset **x** is ready: 3 matches, ..."
    skipped: pl.DataFrame | None  # file, reason; None when nothing was skipped


def extraction_report(job: JobInfo) -> ExtractionReport:
    """The summary of a done extraction job, from its recorded result."""
    result = job.result or {}
    out_dir = str(result.get("out_dir", ""))
    name = Path(out_dir).name or str(job.params.get("name", ""))
    summary = (
        f"Dataset **{name}** is ready: {result.get('matches', 0)} matches, "
        f"{result.get('segments', 0):,} segments ({result.get('window_segments', 0):,} windows, "
        f"{result.get('possession_segments', 0):,} possessions), {result.get('n_features', 0)} "
        f"features; 360 freeze frames for {float(result.get('coverage_360', 0.0)):.0%} of "
        "the matches."
    )
    skipped = result.get("skipped") or []
    frame = (
        pl.DataFrame({"file": [str(s[0]) for s in skipped], "reason": [str(s[1]) for s in skipped]})
        if skipped
        else None
    )
    return ExtractionReport(name=name, out_dir=out_dir, summary=summary, skipped=frame)


def extraction_end(job: JobInfo) -> str:
    """What the Data page says of an extraction that ended without a dataset."""
    if job.state == "failed":
        return f"The extraction failed: {job.error or 'no error recorded'}"
    return f"The extraction was {job.state}."


# --- what the Data page says -----------------------------------------------------------------

SOURCES = {
    "opendata": "StatsBomb open data (catalogue)",
    "folder": "Open-data folder under the data root",
    "provider": "Other provider (Wyscout, Opta, ...)",
    "upload": "Upload a features.parquet",
    "demo": "Demo (3 matches)",
}


def default_source(root: Path | None = None) -> str:
    """The source the Data page opens on: what works offline. A local open-data folder
    when the data root holds one, else the demo matches; the online catalogue only when
    chosen (offline it can only fail)."""
    return "folder" if open_data_folders(root) else "demo"


INTRO = (
    "A dataset is one folder of features (one row per team segment), match names and the "
    "compact events used for pitch drawings. Pick a competition season from StatsBomb's "
    "open data or from a folder, or upload a features table."
)
CATALOGUE_UNREACHABLE = (
    "The StatsBomb open-data catalogue is not reachable from this server, so it cannot be "
    "listed. The other sources (a folder under the data root, an upload, the demo) still work."
)
NO_OPEN_DATA_FOLDER = (
    "No open-data folder under the data folder yet. Copy one there (a folder holding "
    "competitions.json, matches/, events/, lineups/), or use the open-data catalogue."
)
NO_PROVIDER_FOLDER = (
    "No folder of match folders under the data folder yet. Copy one there, with a folder "
    "per match as above."
)
FILTERS_IGNORED = (
    "they choose which segments of a finished run are shown; datasets hold whole matches."
)
EXECUTOR_HELP = (
    "Empty: every core of this machine (at most 16 worker processes). For more than one "
    "machine, start a Dask scheduler and workers that see the match files at the same path "
    "and give its address as dask://HOST:PORT (e.g. dask://10.0.0.5:8786); the features are "
    "the same either way."
)
DEMO_NOTE = "Three real StatsBomb matches that ship with kloppy (one with 360 frames)."
REGISTRY_NOTE = (
    "Every feature the engine computes, with how it is computed. Coverage is the share of "
    "the chosen dataset's segments with a value (tier 3 needs 360 frames)."
)


def add_upload(stream: BinaryIO, filename: str, name: str) -> Outcome:
    """Store an uploaded features table (``stream``, the file ``filename``) as dataset
    ``name``; a refused table says why, and nothing is left behind."""
    try:
        stream.seek(0)
        added = import_features_stream(stream, name)
    except DatasetImportError as exc:
        return Outcome(False, f"{filename} was not added. {exc}")
    except (UnsafePathError, OSError) as exc:
        return Outcome(False, "The upload could not be stored.", exc)
    return Outcome(
        True,
        f"Added dataset {added.name}: {added.segments:,} segments, {added.features} features. "
        "Train on it on the **Train** page.",
    )


def catalogue_caption(n_seasons: int, url: str) -> str:
    """Where the catalogue listed comes from, and where downloads go."""
    return f"{n_seasons} competition seasons at `{url}`; downloads are kept under the data root."


def upload_rule(max_mb: int) -> str:
    """What an uploaded features table must hold."""
    return (
        "A parquet file with the metadata columns (match_id, team_id, segment_type, "
        "start_time, end_time, period, match_minute) and t<tier>_<name> feature columns; "
        f"at most {max_mb} MB."
    )
