"""Small display pieces: durations, polling, dataset folders, the jobs table, opening a segment."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.errors import (
    InspectError,
    JobError,
    JobNotFoundError,
)
from core.features.datasets import list_datasets
from core.jobs.api import cancel_job, list_jobs
from core.runs.store import Run
from pages._ui.errors import show_error
from pages._ui.readers import segment_table
from pages._ui.state import INSPECT_KEY

# --- small display helpers ----------------------------------------------------------------


def fmt_seconds(seconds: float | None) -> str:
    """``"1 min 05 s"`` / ``"42 s"`` / ``"–"`` for a time left."""
    if seconds is None:
        return "–"
    s = max(round(seconds), 0)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def poll(interval_s: float, still_running: Callable[[], bool]) -> None:
    """Rerun the whole script after ``interval_s`` while ``still_running()`` (page polling)."""
    if still_running():
        time.sleep(interval_s)
        st.rerun()


def dataset_folders() -> list[Path]:
    """Dataset folders (holding ``features.parquet``) under the data root, newest first."""
    return [d.path for d in list_datasets()]


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

    jobs = list_jobs(kind)
    if not jobs:
        st.caption("No jobs yet.")
        return False
    any_active = False
    for job in jobs[:12]:
        any_active |= job.is_active
        label = job.run_id or (job.params.get("name") if job.params else None) or job.job_id
        with st.container(border=True):
            c1, c2, c3, c4 = st.columns([3, 3, 2, 1])
            c1.markdown(f"**{label}** · `{job.state}`  \n{job.created_at.replace('T', ' ')[:19]}")
            if job.is_active:
                c2.progress(min(max(job.progress, 0.0), 1.0), text=job.message or job.state)
                c3.caption(f"time left: {fmt_seconds(job.eta_s)}")
                if c4.button("Cancel", key=f"{key_prefix}_cancel_{job.job_id}"):
                    try:
                        cancel_job(job.job_id, wait=False)
                    except (JobError, JobNotFoundError) as exc:
                        show_error("Could not cancel the job.", exc)
                    else:
                        st.toast(f"Cancelling job {job.job_id}…")
            else:
                c2.caption(job.message or job.state)
                finished = (job.finished_at or "").replace("T", " ")[:19]
                c3.caption(f"finished {finished}" if finished else "")
            if job.state == "failed":
                st.error(f"Failed: {job.error or 'no error recorded'}")
                if job.log_tail:
                    with st.expander("Log tail"):
                        st.code(job.log_tail, language=None)
    return any_active


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


def selected_row(event: object) -> int | None:
    """The first selected row of a ``st.dataframe(on_select=...)`` event, or None."""
    selection = getattr(event, "selection", None)
    rows = getattr(selection, "rows", None) or []
    return int(rows[0]) if rows else None
