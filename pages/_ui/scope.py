"""Which segments a page uses: the one line every page says about the sidebar's filters,
and the run's correlations recomputed on the filtered segments (cached)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import streamlit as st

from core.errors import InspectError
from core.runs.store import Run, get_run
from core.views.correlations import SubsetCorrelations, subset_correlations
from core.views.table import filter_mask
from pages._ui.readers import run_version, segment_table
from pages._ui.sidebar import current_filters


def ignores_filters(why: str, *, only_when_active: bool = False) -> None:
    """The one line of a page that does not follow the sidebar's filters, and why.

    ``only_when_active``: say it only while a filter is set (pages that manage data and
    runs, where the line would otherwise be noise).
    """
    if only_when_active and not current_filters().active:
        return
    st.caption(f"Sidebar filters do not apply here: {why}")


def filter_scope(run: Run, key: str, what: str) -> npt.NDArray[np.bool_] | None:
    """Say which segments ``what`` (e.g. "correlations") are computed over.

    Without sidebar filters: the run's own numbers, over all segments (returns None).
    With filters: a toggle, on by default, to recompute on the filtered segments; returns
    their mask when it is on, None when it is off.
    """
    filters = current_filters()
    table = segment_table(run)
    if not filters.active:
        st.caption(
            f"{what[:1].upper()}{what[1:]} over all {table.n:,} segments of the run, as "
            "trained. Set a sidebar filter (competition, match, team, period) to recompute "
            "them on those segments."
        )
        return None
    mask = filter_mask(table.meta, filters)
    n = int(mask.sum())
    on = st.toggle(
        f"Recompute on the {n:,} filtered segments",
        value=True,
        key=key,
        help="On: the correlations are recomputed over the segments the sidebar's filters "
        "keep (e.g. one team). Off: the run's own numbers over all its segments. The model "
        "itself is trained on all segments either way.",
    )
    if on:
        st.caption(f"Sidebar filters apply: {what} over {n:,} of {table.n:,} segments.")
        return mask
    st.caption(
        f"{what[:1].upper()}{what[1:]} over all {table.n:,} segments of the run; the "
        "sidebar's filters are switched off here."
    )
    return None


@st.cache_resource(max_entries=8, show_spinner="Recomputing correlations on the filtered segments…")
def _subset(run_id: str, version: str, rows: bytes) -> SubsetCorrelations:
    table = segment_table(get_run(run_id))
    mask = np.frombuffer(rows, dtype=bool)
    return subset_correlations(
        table.latents, table.features, table.feature_names, mask, table.feature_medians
    )


def filtered_correlations(run: Run, mask: npt.NDArray[np.bool_]) -> SubsetCorrelations:
    """The run's latents against its features over the rows of ``mask`` (cached)."""
    return _subset(run.run_id, run_version(run), np.ascontiguousarray(mask, dtype=bool).tobytes())


def scoped_correlations(run: Run, key: str, what: str) -> SubsetCorrelations | None:
    """:func:`filter_scope`, then the correlations over the filtered segments: None when the
    page shows the run's own numbers; a warning and a stopped page when the filtered
    segments are too few to correlate."""
    mask = filter_scope(run, key, what)
    if mask is None:
        return None
    try:
        return filtered_correlations(run, mask)
    except InspectError as exc:
        st.warning(str(exc))
        st.stop()
