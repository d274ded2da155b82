"""Small display pieces: polling, requiring a dataset, the jobs table, opening a segment."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from core.errors import (
    InspectError,
    JobError,
    JobNotFoundError,
)
from core.jobs.api import cancel_job
from core.runs.store import Run
from core.views.datasets import dataset_folders
from core.views.jobs import clamp_progress, find_job, job_lines, jobs_active
from pages._ui.errors import show_error
from pages._ui.readers import segment_table
from pages._ui.state import INSPECT_KEY

# --- small display helpers ----------------------------------------------------------------


def poll(interval_s: float, still_running: Callable[[], bool]) -> None:
    """Rerun the whole script after ``interval_s`` while ``still_running()`` (page polling)."""
    if still_running():
        time.sleep(interval_s)
        st.rerun()


def require_dataset_folders() -> list[Path]:
    """The dataset folders, or stop the page with guidance when there is none yet."""
    folders = dataset_folders()
    if not folders:
        st.info(
            "No feature dataset yet. Extract one on the **Data** page, or open **Overview** to "
            "build the demo dataset."
        )
        st.stop()
    return folders


def job_table(kind: str, *, key_prefix: str) -> bool:
    """List the background jobs of ``kind`` with state, progress, time left, cancel and errors.

    Returns whether any of them is still queued or running (the caller keeps polling).
    """
    lines = job_lines(kind)
    if not lines:
        st.caption("No jobs yet.")
        return False
    for job in lines:
        with st.container(border=True):
            c1, c2, c3, c4 = st.columns([3, 3, 2, 1])
            c1.markdown(job.heading)
            if job.active:
                c2.progress(job.progress, text=job.message)
                c3.caption(job.time_left)
                if c4.button("Cancel", key=f"{key_prefix}_cancel_{job.job_id}"):
                    try:
                        cancel_job(job.job_id, wait=False)
                    except (JobError, JobNotFoundError) as exc:
                        show_error("Could not cancel the job.", exc)
                    else:
                        st.toast(f"Cancelling job {job.job_id}…")
            else:
                c2.caption(job.message)
                c3.caption(job.finished)
            if job.error is not None:
                st.error(job.error)
                if job.log_tail:
                    with st.expander("Log tail"):
                        st.code(job.log_tail, language=None)
    return any(job.active for job in lines)


def jobs_section(kind: str, title: str, *, key_prefix: str, poll_s: float) -> None:
    """:func:`job_table` under ``title``, refreshed every ``poll_s`` while a job runs."""
    polling = jobs_active(kind)

    @st.fragment(run_every=poll_s if polling else None)
    def section() -> None:
        st.subheader(title)
        active = job_table(kind, key_prefix=key_prefix)
        if polling and not active:
            st.rerun()  # everything finished: one full rerun turns polling off

    section()


def follow_job(job_id: str, poll_s: float) -> None:
    """A progress bar of job ``job_id``, refreshed every ``poll_s``; reruns the whole page
    when the job ends (so the page shows its result)."""

    @st.fragment(run_every=poll_s)
    def progress() -> None:
        if (job := find_job(job_id)) is None:
            return
        if not job.is_active:
            st.rerun()
        st.progress(clamp_progress(job.progress), text=job.message or job.state)

    progress()


# --- opening a segment on the pitch -------------------------------------------------------

LATENT_MAP_PAGE = "pages/latent-map.py"


def open_segment(run: Run, segment_id: str) -> None:
    """Show ``segment_id`` in the Latent map's segment inspector (pitch, profile, neighbours).

    Every page that lists segments (states, timeline, fingerprints, similar segments, the
    team report) leads here, so a row or a bar is never a dead end.
    """
    try:
        row = segment_table(run).row_of(segment_id)
    except InspectError as exc:
        show_error("This segment cannot be opened.", exc)
        return
    st.session_state[INSPECT_KEY] = row
    st.switch_page(LATENT_MAP_PAGE)


def open_segment_button(run: Run, segment_id: str, *, key: str, label: str = "Open") -> None:
    """A small button that opens ``segment_id`` in the segment inspector."""
    if st.button(
        label,
        key=key,
        icon=":material/sports_soccer:",
        help="Open this segment on the pitch, with its feature profile and nearest segments "
        "(Latent map's segment inspector).",
    ):
        open_segment(run, segment_id)


def pick_row(frame: pl.DataFrame, *, key: str, hint: str, column_config: Any = None) -> int | None:
    """``frame`` as a table to pick one row from; the picked row, or None (``hint`` shown)."""
    event = st.dataframe(
        frame,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=key,
        column_config=column_config,
    )
    row = selected_row(event)
    if row is None:
        st.caption(hint)
    return row


def selected_row(event: object) -> int | None:
    """The first selected row of a ``st.dataframe(on_select=...)`` event, or None."""
    selection = getattr(event, "selection", None)
    rows = getattr(selection, "rows", None) or []
    return int(rows[0]) if rows else None
