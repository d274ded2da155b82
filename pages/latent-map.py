"""Latent map: every segment placed by its latent code; click one to see it on the pitch."""

from __future__ import annotations

import numpy as np
import polars as pl
import streamlit as st

from core.analysis.latents import nearest_segments
from core.errors import InspectError
from core.model.latents import latent_name
from core.views.inspector import (
    contrast_example,
    players_line,
    rows_from_selection,
    segment_events,
    segment_players,
    segment_profile,
    segment_summary,
    selection_contrast,
    selection_frame,
)
from core.views.latent_map import latent_map_figure
from core.views.palettes import COLOR_MODES
from core.views.pitch import segment_pitch_figure
from core.views.table import filter_mask
from pages._ui.dims import dim_view, shown_color_spec, shown_contrast
from pages._ui.errors import friendly_errors
from pages._ui.readers import dataset_events, registry, segment_table
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run
from pages._ui.sidebar import current_filters
from pages._ui.state import INSPECT_KEY
from pages._ui.widgets import selected_row

MAP_KEY = "latent_map"
SELECTION_KEY = "map_selection"  # rows of a box/lasso selection
N_NEAREST = 5

ensure_routed()
st.title("Latent map")
st.caption(
    "Each point is one segment (a team's few minutes of a match), placed by a 2-D UMAP "
    "projection of its latent code: nearby points played alike. Click a point to inspect "
    "it; use the box or lasso tool (top right of the chart) to compare a group with the rest."
)

run = require_run()
with friendly_errors("the Latent map"):
    table = segment_table(run)

if not np.isfinite(table.xy).all(axis=1).any():
    st.warning(
        "This run has no 2-D projection (umap.parquet), so there is nothing to place on the "
        "map. Retrain the run on the **Train** page to compute it."
    )
    st.stop()


def _on_select() -> None:
    """Chart selection changed: a single click inspects, a box or lasso compares."""
    event = st.session_state.get(MAP_KEY)
    selection = getattr(event, "selection", None) or {}
    points = selection.get("points", []) or []
    rows = rows_from_selection(points)
    if selection.get("box") or selection.get("lasso"):
        st.session_state[SELECTION_KEY] = rows.tolist()
    elif rows.size:
        st.session_state[INSPECT_KEY] = int(rows[0])
        st.session_state.pop(SELECTION_KEY, None)
    else:  # cleared (double click): drop the group, keep the inspected segment
        st.session_state.pop(SELECTION_KEY, None)


view = dim_view(run, table.latent_names)
filters = current_filters()
mask = filter_mask(table.meta, filters)
c1, c2, c3 = st.columns([2, 2, 3])
mode = c1.selectbox(
    "Colour by", list(COLOR_MODES), format_func=lambda m: COLOR_MODES[m], key="map_color"
)
latent = view.indices[0]
if mode == "latent":
    latent = c2.selectbox(
        "Latent",
        view.indices,
        format_func=lambda i: view.label(latent_name(i)),
        key="map_latent",
    )
shown = int(mask.sum())
c3.caption(
    f"Showing {shown:,} of {table.n:,} segments"
    + (" (sidebar filters active)." if filters.active else ".")
)
if shown == 0:
    st.info("No segment matches the sidebar filters. Clear a filter to see segments again.")
    st.stop()

try:
    color = shown_color_spec(table, view, str(mode), latent=int(latent))
except InspectError as exc:
    st.warning(f"{exc} Pick another colouring.")
    st.stop()
# The map does not depend on the clicked segment (plotly marks the clicked point itself):
# a click re-sends an identical figure, which the browser does not draw again.
fig = latent_map_figure(table, color, mask)
reg = registry()


@st.fragment
def _map_and_panels() -> None:
    """The map, the inspector and the selection: a click or a "nearest" button reruns only
    this fragment, not the page's filters and colour pickers."""
    st.plotly_chart(
        fig,
        key=MAP_KEY,
        on_select=_on_select,
        selection_mode=("points", "box", "lasso"),
        config={"scrollZoom": True, "displaylogo": False},
    )
    if mode in ("dominant", "latent"):
        view.caption()
    inspected = st.session_state.get(INSPECT_KEY)
    if inspected is not None and not 0 <= int(inspected) < table.n:
        inspected = None
        st.session_state.pop(INSPECT_KEY, None)
    if inspected is not None:
        _inspector(int(inspected))
    sel_rows = st.session_state.get(SELECTION_KEY) or []
    if sel_rows:
        _selection(sel_rows)
    elif inspected is None:
        st.caption("Click a point to inspect a segment.")


def _inspector(inspected: int) -> None:
    """The clicked segment: facts, pitch, feature z-scores and its nearest segments."""
    idx, dist = nearest_segments(table.latents, inspected, k=N_NEAREST)
    neighbours, distances = idx.tolist(), dist.tolist()
    summary = segment_summary(table, inspected)
    st.divider()
    head, close = st.columns([6, 1])
    head.subheader(f"{summary.team_name} · {summary.minute_range}")
    head.markdown(f"**{summary.match_label}**")
    if close.button("Close inspector", key="close_inspector"):
        st.session_state.pop(INSPECT_KEY, None)
        st.rerun(scope="fragment")
    head.markdown(
        f"against **{summary.opponent_name}** · period **{summary.period}** · minutes "
        f"**{summary.minute_range}** · **{summary.score_text}** · {summary.segment_type} "
        f"segment `{summary.segment_id}`"
    )

    left, right = st.columns([3, 2])
    with left:
        events = dataset_events(run)
        if events is None:
            st.info(
                "No events.parquet beside this run's features, so the segment cannot be "
                "drawn. Re-extract the dataset on the **Data** page to add it."
            )
        else:
            seg_events = segment_events(events, summary)
            st.plotly_chart(
                segment_pitch_figure(seg_events, title=f"{summary.team_name} attacking →"),
                key="inspector_pitch",
            )
            st.caption(
                f"{seg_events.height} events of {summary.team_name} in this segment; passes, "
                "carries, shots and pressures are drawn. Hover a marker for who and when."
            )
            if players := players_line(segment_players(seg_events)):
                st.markdown(players)
    with right:
        st.markdown("**Features against all segments** (z-scores, largest first)")
        profile = segment_profile(table, inspected, reg)
        cols = [c for c in ("feature", "z", "value", "mean", "definition") if c in profile.columns]
        st.dataframe(
            profile.select(cols).head(20),
            hide_index=True,
            key="inspector_profile",
            column_config={
                "z": st.column_config.NumberColumn("z", format="%+.2f"),
                "value": st.column_config.NumberColumn("value", format="%.3g"),
                "mean": st.column_config.NumberColumn("mean", format="%.3g"),
            },
        )
        st.markdown(f"**{N_NEAREST} nearest segments in latent space**")
        for rank, (row, distance) in enumerate(zip(neighbours, distances, strict=True), start=1):
            other = segment_summary(table, row)
            st.button(
                f"{rank}. distance {distance:.2f} · {other.team_name} · {other.minute_range} "
                f"· P{other.period} · {other.match_label}",
                key=f"nearest_{rank}",
                on_click=st.session_state.__setitem__,
                args=(INSPECT_KEY, row),
                width="stretch",
            )


def _selection(sel_rows: list[int]) -> None:
    """A box or lasso selection against the rest: contrast table and CSV."""
    st.divider()
    st.subheader(f"Selection: {len(sel_rows):,} segments")
    sel_mask = np.zeros(table.n, dtype=bool)
    sel_mask[np.asarray(sel_rows, dtype=np.int64)] = True
    try:
        raw = selection_contrast(table, sel_mask, reg).with_columns(pl.col("name").alias("key"))
        contrast = shown_contrast(raw, view).head(25)
    except InspectError as exc:
        st.info(str(exc))
    else:
        st.caption(
            "How the selected segments differ from all the others: effect is the difference "
            "of means in pooled standard deviations (|effect| ≥ 0.5 is a clear difference); "
            "p from Welch's t-test. Tick a row to open a selected segment that shows it."
        )
        contrast_cols: list[str] = [
            c
            for c in (
                "kind",
                "name",
                "effect",
                "mean_selected",
                "mean_rest",
                "p_value",
                "definition",
            )
            if c in contrast.columns
        ]
        event = st.dataframe(
            contrast.select(contrast_cols),
            hide_index=True,
            key="selection_contrast",
            on_select="rerun",
            selection_mode="single-row",
            column_config={
                "effect": st.column_config.NumberColumn("effect", format="%+.2f"),
                "mean_selected": st.column_config.NumberColumn("mean (selected)", format="%.3g"),
                "mean_rest": st.column_config.NumberColumn("mean (rest)", format="%.3g"),
                "p_value": st.column_config.NumberColumn("p", format="%.1e"),
            },
        )
        picked = selected_row(event)
        if picked is not None and picked < contrast.height:
            row = contrast.row(picked, named=True)
            try:
                example = contrast_example(table, sel_mask, str(row["kind"]), str(row["key"]))
            except InspectError as exc:
                st.info(str(exc))
            else:
                if st.button(
                    f"Open a selected segment high in {row['name']} on the pitch"
                    if (row["effect"] or 0) >= 0
                    else f"Open a selected segment low in {row['name']} on the pitch",
                    key="contrast_open",
                    icon=":material/sports_soccer:",
                    help="Opens, in the inspector above, the selected segment at the 90th "
                    "percentile of this row's difference from the rest: a clear example, "
                    "not the single most extreme one.",
                ):
                    st.session_state[INSPECT_KEY] = example
                    st.rerun(scope="fragment")
    st.download_button(
        "Download selected segments (CSV)",
        data=selection_frame(table, sel_rows).drop(view.hidden).write_csv().encode(),
        file_name=f"selection_{run.run_id}.csv",
        mime="text/csv",
        key="dl_selection",
    )


_map_and_panels()
