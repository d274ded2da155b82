"""Data: build a dataset from StatsBomb's open data, a folder, the demo, or an upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from core.data.opendata import (
    CREDIT,
    OPEN_DATA_SOURCE,
    Season,
    base_url,
    local_catalogue,
    open_data_catalogue,
)
from core.data.providers import LAYOUTS, PROVIDERS, detect_provider
from core.errors import (
    DatasetImportError,
    JobError,
    JobNotFoundError,
    SourceError,
    StatsBombFormatError,
    UnsafePathError,
)
from core.features.availability import provider_availability
from core.features.datasets import (
    MAX_UPLOAD_MB,
    Dataset,
    check_dataset_name,
    import_features_stream,
)
from core.features.summary import feature_coverage
from core.infra.paths import data_root, resolve_under
from core.jobs.api import get_job, list_jobs, submit_extraction
from core.jobs.records import JobInfo
from pages._ui.errors import show_error
from pages._ui.readers import file_version, registry
from pages._ui.routing import ensure_routed
from pages._ui.scope import ignores_filters
from pages._ui.widgets import dataset_folders, job_table

POLL_S = 1.5
TRAIN_PAGE = "pages/train.py"
JOB_KEY = "data_job"  # the extraction this session started: followed until it ends
NAME_KEY = "data_name"
NAME_FOR_KEY = "data_name_for"  # the pick the proposed name was made for
CATALOGUE_ERROR_KEY = "data_catalogue_error"  # (url, message): not retried on every rerun

SOURCES = {
    "opendata": "StatsBomb open data (catalogue)",
    "folder": "Open-data folder under the data root",
    "provider": "Other provider (Wyscout, Opta, ...)",
    "upload": "Upload a features.parquet",
    "demo": "Demo (3 matches)",
}

ensure_routed()
st.title("Data")
st.caption(
    "A dataset is one folder of features (one row per team segment), match names and the "
    "compact events used for pitch drawings. Pick a competition season from StatsBomb's "
    "open data or from a folder, or upload a features table."
)
ignores_filters(
    "they choose which segments of a finished run are shown; datasets hold whole matches.",
    only_when_active=True,
)


# --- names ---------------------------------------------------------------------------------


def _taken_names() -> set[str]:
    """Dataset names in use: existing datasets and extractions still running."""
    names = {p.name for p in dataset_folders()}
    names |= {str(j.params.get("name")) for j in list_jobs("extract") if j.is_active}
    return names


def _free_name(stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``, ... the first not taken."""
    taken = _taken_names()
    stem = stem[:60]
    return next(n for n in (stem, *(f"{stem}-{i}" for i in range(2, 1000))) if n not in taken)


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be used, in words; None when it can."""
    try:
        check_dataset_name(name)
    except DatasetImportError as exc:
        return str(exc)
    if name in _taken_names():
        return (
            f"A dataset named **{name}** already exists (or is being extracted); runs trained "
            f"on it refer to its features, so it is not replaced. Choose another name, "
            f"e.g. **{_free_name(name)}**."
        )
    return None


# --- the pick and the extract button ---------------------------------------------------------


def _season_table(seasons: list[Season], key: str) -> Season | None:
    """Seasons as a table to pick one row from; the picked season."""
    table = pl.DataFrame(
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
    event = st.dataframe(
        table,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=key,
        column_config={
            "with 360": st.column_config.NumberColumn(
                "with 360", help="matches with 360 freeze frames (tier-3 features)"
            ),
            "downloaded": st.column_config.NumberColumn(
                "downloaded", help="matches whose files are already here (no download needed)"
            ),
        },
    )
    rows = event.selection.rows if event is not None else []
    if not rows:
        st.caption("Click a row to choose a competition season.")
        return None
    return seasons[rows[0]]


def _extract_controls(pick_key: str, proposal: str, *, max_matches: bool) -> dict[str, Any] | None:
    """Name, optional match limit, segment settings, and the button; the choices on click."""
    if st.session_state.get(NAME_FOR_KEY) != pick_key:
        st.session_state[NAME_KEY] = _free_name(proposal)
        st.session_state[NAME_FOR_KEY] = pick_key
    c1, c2 = st.columns([2, 1])
    name = c1.text_input("Dataset name", key=NAME_KEY).strip()
    limit = 0
    if max_matches:
        limit = int(
            c2.number_input(
                "At most this many matches (0 = all)", 0, 5000, 0, key="data_max", step=1
            )
        )
    with st.expander("Segment settings"):
        s1, s2 = st.columns(2)
        window = s1.number_input("Window length (s)", 60, 1800, 300, 30, key="data_window")
        stride = s2.number_input("Stride (s)", 30, 1800, 150, 30, key="data_stride")
    problem = _name_problem(name)
    if problem:
        st.warning(problem)
    if not st.button(
        "Extract features", type="primary", key="data_extract", disabled=bool(problem)
    ):
        return None
    return {
        "name": name,
        "window_s": float(window),
        "stride_s": float(stride),
        "max_matches": limit or None,
    }


def _submit(source: str, choice: dict[str, Any], **filters: Any) -> None:
    try:
        job = submit_extraction(
            source,
            choice["name"],
            window_s=choice["window_s"],
            stride_s=choice["stride_s"],
            max_matches=choice["max_matches"],
            **filters,
        )
    except JobError as exc:
        show_error("The extraction could not be started.", exc)
        return
    st.session_state[JOB_KEY] = job.job_id
    st.session_state.pop(NAME_FOR_KEY, None)  # a new pick gets a fresh name
    st.rerun()


def _counts(season: Season, *, remote: bool) -> str:
    sixty = (
        f"{season.matches_360} with 360 freeze frames"
        if season.matches_360
        else "no 360 freeze frames (tier-3 features stay empty)"
    )
    have = f", {season.downloaded} already downloaded" if remote and season.downloaded else ""
    return f"**{season.label}**: {season.matches} matches, {sixty}{have}."


# --- sources ---------------------------------------------------------------------------------


@st.cache_data(ttl=600, show_spinner="Reading the StatsBomb open-data catalogue…")
def _catalogue(url: str) -> list[Season]:
    return open_data_catalogue(url)


def open_data_source() -> None:
    st.caption(CREDIT)
    try:
        url = base_url()
    except SourceError as exc:
        show_error("The open-data URL is not usable.", exc)
        return
    failed = st.session_state.get(CATALOGUE_ERROR_KEY)
    if failed and failed[0] == url:
        st.warning(
            "The StatsBomb open-data catalogue is not reachable from this server, so it "
            "cannot be listed. The other sources (a folder under the data root, an upload, "
            f"the demo) still work.\n\n{failed[1]}"
        )
        if st.button("Try again", key="data_catalogue_retry"):
            st.session_state.pop(CATALOGUE_ERROR_KEY, None)
            st.rerun()
        return
    try:
        seasons = _catalogue(url)
    except SourceError as exc:
        st.session_state[CATALOGUE_ERROR_KEY] = (url, str(exc))
        st.rerun()
        return
    st.caption(
        f"{len(seasons)} competition seasons at `{url}`; downloads are kept under the data root."
    )
    season = _season_table(seasons, "data_catalogue")
    if season is None:
        return
    st.markdown(_counts(season, remote=True))
    choice = _extract_controls(
        f"open:{season.competition_id}/{season.season_id}", season.dataset_name, max_matches=True
    )
    if choice:
        _catalogue.clear()  # the downloaded counts change
        _submit(
            OPEN_DATA_SOURCE,
            choice,
            competitions=[season.competition_id],
            seasons=[season.season_id],
            open_data_url=url,
        )


def _open_data_folders(root: Path) -> list[str]:
    """Folders under the data root that look like StatsBomb open-data copies."""
    found = {
        str(p.parent.relative_to(root))
        for pattern in ("competitions.json", "*/competitions.json", "*/*/competitions.json")
        for p in root.glob(pattern)
    }
    return sorted(f for f in found if not f.startswith("datasets") and _inside(root, f))


def _inside(root: Path, folder: str) -> bool:
    """A folder linked from outside the data root is listed nowhere."""
    try:
        resolve_under(root, folder)
    except UnsafePathError:
        return False
    return True


def folder_source() -> None:
    root = data_root()
    known = _open_data_folders(root)
    if not known:
        st.info(
            "No open-data folder under the data folder yet. Copy one there "
            "(a folder holding competitions.json, matches/, events/, lineups/), or use the "
            "open-data catalogue."
        )
        return
    folder = st.selectbox("Folder under the data root", known, key="data_folder")
    try:
        path = resolve_under(root, folder)
        seasons = local_catalogue(path)
    except UnsafePathError as exc:
        show_error("That folder is outside the data root. Copy or link it under it.", exc)
        return
    except (SourceError, StatsBombFormatError) as exc:
        show_error(
            f"No matches found in {folder}. It needs events/<match_id>.json files beside "
            "competitions.json and matches/ (StatsBomb open-data layout).",
            exc,
        )
        return
    season = _season_table(seasons, "data_folder_table")
    if season is None:
        return
    st.markdown(_counts(season, remote=False))
    proposal = season.dataset_name if season.competition_id else Path(folder).name
    choice = _extract_controls(f"folder:{folder}:{season.label}", proposal, max_matches=True)
    if choice:
        if season.competition_id:
            filters: dict[str, Any] = {
                "competitions": [season.competition_id],
                "seasons": [season.season_id],
            }
        else:  # matches no matches file lists
            filters = {"match_ids": list(season.match_ids)}
        _submit(str(path), choice, **filters)


def _provider_folders(root: Path) -> list[tuple[str, str | None]]:
    """Folders under the data root (two levels deep) holding one folder per match of a
    provider kloppy reads, with the provider detected (None: not recognised)."""
    found: list[tuple[str, str | None]] = []
    for path in sorted([*root.glob("*/"), *root.glob("*/*/")]):
        rel = str(path.relative_to(root))
        if rel.startswith(("datasets", "open-data")) or not _inside(root, rel):
            continue
        if not any(p.is_dir() for p in path.iterdir()):
            continue  # match files sit in one folder per match
        if (path / "competitions.json").is_file():
            continue  # StatsBomb open data: the other source
        found.append((rel, detect_provider(path)))
    return found


def provider_source() -> None:
    st.caption(
        "One folder per match under a folder of the data root, holding that match's files "
        "under these names (the README has the table): "
        + "; ".join(
            f"**{name}**: " + ", ".join(" or ".join(r.files) for r in roles)
            for name, roles in LAYOUTS.items()
            if name != "statsbomb"
        )
        + "."
    )
    root = data_root()
    folders = _provider_folders(root)
    if not folders:
        st.info(
            "No folder of match folders under the data folder yet. Copy one there, with a "
            "folder per match as above."
        )
        return
    detected = dict(folders)
    folder = st.selectbox(
        "Folder under the data root",
        [f for f, _ in folders],
        key="data_provider_folder",
        format_func=lambda f: f"{f} ({detected[f] or 'provider not recognised'})",
    )
    guess = detected.get(folder)
    options = [p for p in PROVIDERS if p != "statsbomb"]
    provider = st.selectbox(
        "Provider",
        options,
        index=options.index(guess) if guess in options else 0,
        key=f"data_provider_{folder}",
        help="Detected from the files' names and first bytes; change it if it is wrong.",
    )
    if guess is None:
        st.warning("The provider could not be detected from the files; choose it above.")
    avail = provider_availability(provider)
    st.markdown(
        f"**{provider}** supplies {len(avail.available)} of "
        f"{len(avail.available) + len(avail.unavailable)} features; the others stay empty "
        "(null, never 0) and training leaves them out."
    )
    with st.expander("Features this provider cannot supply"):
        st.dataframe(avail.frame().filter(~pl.col("available")), hide_index=True)
    choice = _extract_controls(f"provider:{folder}:{provider}", Path(folder).name, max_matches=True)
    if choice:
        _submit(str(resolve_under(root, folder)), choice, provider=provider)


def demo_source() -> None:
    st.caption("Three real StatsBomb matches that ship with kloppy (one with 360 frames).")
    choice = _extract_controls("demo", "demo", max_matches=False)
    if choice:
        _submit("demo", choice)


def upload_source() -> None:
    st.caption(
        f"A parquet file with the metadata columns (match_id, team_id, segment_type, "
        f"start_time, end_time, period, match_minute) and t<tier>_<name> feature columns; "
        f"at most {MAX_UPLOAD_MB} MB."
    )
    upload = st.file_uploader("features.parquet", type=["parquet"], key="data_upload")
    up_name = st.text_input("Dataset name", "uploaded", key="data_upload_name")
    if upload is not None and st.button("Add dataset", key="data_add", type="primary"):
        try:
            # Read in chunks into a temporary file under the data root, size checked while
            # reading; the server refuses anything over the same limit before this runs.
            upload.seek(0)
            added = import_features_stream(upload, up_name)
        except DatasetImportError as exc:
            st.error(f"{upload.name} was not added. {exc}")
        except (UnsafePathError, OSError) as exc:
            show_error("The upload could not be stored.", exc)
        else:
            st.success(
                f"Added dataset {added.name}: {added.segments:,} segments, {added.features} "
                "features. Train on it on the **Train** page."
            )


source_kind = st.radio(
    "Source", list(SOURCES), format_func=SOURCES.get, key="data_source", horizontal=True
)
{
    "opendata": open_data_source,
    "folder": folder_source,
    "provider": provider_source,
    "demo": demo_source,
    "upload": upload_source,
}[source_kind]()


# --- the extraction this session started ------------------------------------------------------


def _open_train(out_dir: str) -> None:
    st.session_state["train_dataset"] = Path(out_dir)  # the Train page's dataset picker
    st.switch_page(TRAIN_PAGE)


def _finished(job: JobInfo) -> None:
    result = job.result or {}
    name = Path(str(result.get("out_dir", ""))).name or job.params.get("name", "")
    st.success(
        f"Dataset **{name}** is ready: {result.get('matches', 0)} matches, "
        f"{result.get('segments', 0):,} segments ({result.get('window_segments', 0):,} windows, "
        f"{result.get('possession_segments', 0):,} possessions), {result.get('n_features', 0)} "
        f"features; 360 freeze frames for {float(result.get('coverage_360', 0.0)):.0%} of "
        "the matches."
    )
    skipped = result.get("skipped") or []
    if skipped:
        st.warning(f"{len(skipped)} file(s) skipped:")
        st.dataframe(
            pl.DataFrame(
                {"file": [str(s[0]) for s in skipped], "reason": [str(s[1]) for s in skipped]}
            ),
            hide_index=True,
            key="data_skipped",
        )
    else:
        st.caption("No file was skipped.")
    if st.button(f"Train on {name}", type="primary", key="data_train"):
        _open_train(str(result["out_dir"]))


@st.fragment(run_every=POLL_S)
def _follow(job_id: str) -> None:
    try:
        job = get_job(job_id)
    except JobNotFoundError:
        return
    if not job.is_active:
        st.rerun()  # the whole page: the result and the button
    st.progress(min(max(job.progress, 0.0), 1.0), text=job.message or job.state)


def this_extraction() -> None:
    job_id = st.session_state.get(JOB_KEY)
    if not job_id:
        return
    try:
        job = get_job(job_id)
    except JobNotFoundError:
        st.session_state.pop(JOB_KEY, None)
        return
    st.subheader(f"Extraction: {job.params.get('name', job_id)}")
    if job.is_active:
        _follow(job_id)
    elif job.state == "done":
        _finished(job)
    elif job.state == "failed":
        st.error(f"The extraction failed: {job.error or 'no error recorded'}")
    else:
        st.info(f"The extraction was {job.state}.")


this_extraction()


@st.cache_data(max_entries=4, show_spinner=False)
def _coverage(path: str, version: str) -> pl.DataFrame:
    """Non-null share of every feature in a dataset, read once per file version."""
    return feature_coverage(pl.read_parquet(path))


def _extractions_active() -> bool:
    return any(j.is_active for j in list_jobs("extract")[:12])


polling = _extractions_active()


@st.fragment(run_every=POLL_S if polling else None)
def extraction_jobs() -> None:
    st.subheader("Extraction jobs")
    active = job_table("extract", key_prefix="extract")
    if polling and not active:
        st.rerun()


extraction_jobs()

# --- feature registry ---------------------------------------------------------------------
st.subheader("Feature registry")
st.caption(
    "Every feature the engine computes, with how it is computed. Coverage is the share of "
    "the chosen dataset's segments with a value (tier 3 needs 360 frames)."
)
reg = registry()
folders = dataset_folders()
if reg is None:
    st.info("The feature registry is not available in this installation.")
else:
    shown = reg
    if folders:
        ds = st.selectbox(
            "Coverage in dataset", folders, format_func=lambda p: p.name, key="data_coverage_ds"
        )
        try:
            fpath = Dataset(ds).features_path
            cov = _coverage(str(fpath), file_version(fpath))
        except (OSError, pl.exceptions.ComputeError) as exc:
            show_error(f"Could not read {ds.name}/features.parquet; extract it again.", exc)
        else:
            shown = reg.join(cov, on="name", how="left")
    st.dataframe(
        shown,
        hide_index=True,
        key="registry_table",
        column_config={
            "coverage": st.column_config.ProgressColumn(
                "coverage", min_value=0.0, max_value=1.0, format="percent"
            ),
            "definition": st.column_config.TextColumn("definition", width="large"),
        },
    )
    if not folders:
        st.caption("No dataset yet: coverage appears once one is extracted.")
