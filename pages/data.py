"""Data: build a dataset from StatsBomb's open data, a folder, the demo, or an upload."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from core.data.opendata import CREDIT, OPEN_DATA_SOURCE, base_url, open_data_catalogue
from core.data.opendata_catalogue import Season
from core.errors import JobError, SourceError
from core.features.datasets import MAX_UPLOAD_MB, Dataset
from core.views import datasets as data
from core.views.jobs import find_job
from pages._ui.errors import show_error
from pages._ui.readers import feature_coverage_of, registry
from pages._ui.routing import ensure_routed
from pages._ui.scope import ignores_filters
from pages._ui.widgets import follow_job, jobs_section, pick_row

POLL_S = 1.5
JOB_KEY = "data_job"  # the extraction this session started: followed until it ends
NAME_KEY = "data_name"
NAME_FOR_KEY = "data_name_for"  # the pick the proposed name was made for
CATALOGUE_ERROR_KEY = "data_catalogue_error"  # (url, message): not retried on every rerun

ensure_routed()
st.title("Data")
st.caption(data.INTRO)
ignores_filters(data.FILTERS_IGNORED, only_when_active=True)


def _season_table(seasons: list[Season], key: str) -> Season | None:
    """Seasons as a table to pick one row from; the picked season."""
    hint = "Click a row to choose a competition season."
    config = {c: st.column_config.NumberColumn(c, help=h) for c, h in data.SEASON_COLUMNS.items()}
    row = pick_row(data.season_frame(seasons), key=key, hint=hint, column_config=config)
    return None if row is None else seasons[row]


def _extract(plan: data.ExtractionPlan) -> None:
    """Name, optional match limit, segment settings and the button; submits on click."""
    if st.session_state.get(NAME_FOR_KEY) != plan.pick:
        st.session_state[NAME_KEY] = data.free_dataset_name(plan.proposal)
        st.session_state[NAME_FOR_KEY] = plan.pick
    c1, c2 = st.columns([2, 1])
    name = c1.text_input("Dataset name", key=NAME_KEY).strip()
    limit = 0
    if plan.limits_matches:
        label = "At most this many matches (0 = all)"
        limit = int(c2.number_input(label, 0, 5000, 0, key="data_max", step=1))
    with st.expander("Segment and worker settings"):
        s1, s2 = st.columns(2)
        window = s1.number_input("Window length (s)", 60, 1800, 300, 30, key="data_window")
        stride = s2.number_input("Stride (s)", 30, 1800, 150, 30, key="data_stride")
        executor = st.text_input("Where to extract", "", help=data.EXECUTOR_HELP, key="data_ex")
    if problem := data.dataset_name_problem(name):
        st.warning(problem)
    if not st.button(
        "Extract features", type="primary", key="data_extract", disabled=bool(problem)
    ):
        return
    if plan.source == OPEN_DATA_SOURCE:
        _catalogue.clear()  # the downloaded counts change
    try:
        job = data.submit_plan(
            plan, name, window_s=float(window), stride_s=float(stride), max_matches=limit,
            executor=executor,
        )  # fmt: skip
    except JobError as exc:
        show_error("The extraction could not be started.", exc)
        return
    st.session_state[JOB_KEY] = job.job_id
    st.session_state.pop(NAME_FOR_KEY, None)  # a new pick gets a fresh name
    st.rerun()


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
        st.warning(f"{data.CATALOGUE_UNREACHABLE}\n\n{failed[1]}")
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
    st.caption(data.catalogue_caption(len(seasons), url))
    if (season := _season_table(seasons, "data_catalogue")) is not None:
        st.markdown(data.season_counts(season, remote=True))
        _extract(data.open_data_plan(season, url))


def folder_source() -> None:
    known = data.open_data_folders()
    if not known:
        st.info(data.NO_OPEN_DATA_FOLDER)
        return
    folder = st.selectbox("Folder under the data root", known, key="data_folder")
    seasons = data.folder_seasons(folder)
    if isinstance(seasons, data.Outcome):
        show_error(seasons.text, seasons.error)
        return
    if (season := _season_table(seasons, "data_folder_table")) is not None:
        st.markdown(data.season_counts(season, remote=False))
        _extract(data.folder_plan(season, folder))


def provider_source() -> None:
    st.caption(data.provider_layouts())
    if not (folders := data.provider_folders()):
        st.info(data.NO_PROVIDER_FOLDER)
        return
    detected = dict(folders)
    folder = st.selectbox(
        "Folder under the data root",
        [f for f, _ in folders],
        key="data_provider_folder",
        format_func=lambda f: f"{f} ({detected[f] or 'provider not recognised'})",
    )
    guess, options = detected.get(folder), data.provider_choices()
    provider = st.selectbox(
        "Provider",
        options,
        index=options.index(guess) if guess in options else 0,
        key=f"data_provider_{folder}",
        help="Detected from the files' names and first bytes; change it if it is wrong.",
    )
    if guess is None:
        st.warning("The provider could not be detected from the files; choose it above.")
    st.markdown((supply := data.provider_supply(provider)).sentence)
    for title, table in supply.tables():  # cannot supply; built differently from StatsBomb's
        with st.expander(title):
            st.dataframe(table, hide_index=True)
    _extract(data.provider_plan(folder, provider))


def demo_source() -> None:
    st.caption(data.DEMO_NOTE)
    _extract(data.DEMO_PLAN)


def upload_source() -> None:
    st.caption(data.upload_rule(MAX_UPLOAD_MB))
    upload = st.file_uploader("features.parquet", type=["parquet"], key="data_upload")
    up_name = st.text_input("Dataset name", "uploaded", key="data_upload_name")
    if upload is not None and st.button("Add dataset", key="data_add", type="primary"):
        # Read in chunks into a temporary file under the data root, size checked while
        # reading; the server refuses anything over the same limit before this runs.
        added = data.add_upload(upload, upload.name, up_name)
        if added.ok:
            st.success(added.text)
        else:
            show_error(added.text, added.error)


SOURCE_PAGES = {
    "opendata": open_data_source,
    "folder": folder_source,
    "provider": provider_source,
    "demo": demo_source,
    "upload": upload_source,
}
kinds = list(data.SOURCES)  # opens on what works offline (data.default_source)
first = kinds.index(data.default_source())
source_kind = st.radio("Source", kinds, first, data.SOURCES.get, "data_source", horizontal=True)
SOURCE_PAGES[source_kind]()


def this_extraction() -> None:
    """The extraction this session started: its progress, then what it produced."""
    job_id = st.session_state.get(JOB_KEY)
    if not job_id or (job := find_job(job_id)) is None:
        st.session_state.pop(JOB_KEY, None)  # none started, or its folder was removed
        return
    st.subheader(f"Extraction: {job.params.get('name', job_id)}")
    if job.is_active:
        follow_job(job_id, POLL_S)
    elif job.state == "done":
        report = data.extraction_report(job)
        st.success(report.summary)
        if report.skipped is not None:
            st.warning(f"{report.skipped.height} file(s) skipped:")
            st.dataframe(report.skipped, hide_index=True, key="data_skipped")
        else:
            st.caption("No file was skipped.")
        if st.button(f"Train on {report.name}", type="primary", key="data_train"):
            st.session_state["train_dataset"] = Path(report.out_dir)  # Train's dataset picker
            st.switch_page("pages/train.py")
    else:
        (st.error if job.state == "failed" else st.info)(data.extraction_end(job))


this_extraction()
jobs_section("extract", "Extraction jobs", key_prefix="extract", poll_s=POLL_S)


st.subheader("Feature registry")
st.caption(data.REGISTRY_NOTE)
reg = registry()
folders = data.dataset_folders()
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
            cov = feature_coverage_of(fpath)
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
