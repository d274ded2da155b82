"""Latent map: every segment placed by its latent code; click one to see it on the pitch."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st
import streamlit.components.v1 as components

from core.errors import InspectError
from core.model.latents import latent_name
from core.views import map_panels as panels
from core.views.dims import default_color_mode, shown_color_spec, shown_contrast
from core.views.inspector import (
    contrast_example,
    players_line,
    segment_events,
    segment_players,
    segment_summary,
    selection_contrast,
    selection_frame,
)
from core.views.latent_map import dim_meanings, latent_map_figure, map_sample_note, with_meaning
from core.views.palettes import COLOR_MODES
from core.views.pitch import segment_pitch_figure
from core.views.table import filter_mask
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors
from pages._ui.readers import dataset_events, registry, segment_table
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run
from pages._ui.sidebar import current_filters
from pages._ui.state import INSPECT_KEY
from pages._ui.widgets import selected_row

MAP_KEY = "latent_map"
SELECTION_KEY = "map_selection"  # rows of a box/lasso selection
OPENED_KEY = "map_opened_row"  # a segment opened from another page: ringed on the map
N_NEAREST = 5

ensure_routed()
st.title("Latent map")
st.caption(panels.INTRO)

run = require_run()
with friendly_errors("the Latent map"):
    table = segment_table(run)

if not panels.has_projection(table):
    st.warning(
        "This run has no 2-D projection (umap.parquet), so there is nothing to place on the "
        "map. Retrain the run on the **Train** page to compute it."
    )
    st.stop()
if note := panels.projection_note(run, table.meta.height):
    st.caption(note)


def _on_select() -> None:
    """Chart selection changed: a single click inspects, a box or lasso compares."""
    pick = panels.map_pick(getattr(st.session_state.get(MAP_KEY), "selection", None) or {})
    if pick.action == "group":
        st.session_state[SELECTION_KEY] = pick.rows
    else:  # inspect one, or cleared (double click): drop the group
        st.session_state.pop(SELECTION_KEY, None)
    if pick.action == "inspect":
        st.session_state[INSPECT_KEY] = pick.rows[0]


view = dim_view(run, table.latent_names)
meanings = dim_meanings(run)
filters = current_filters()
mask = filter_mask(table.meta, filters)
c1, c2, c3 = st.columns([2, 2, 3])
modes = list(COLOR_MODES)
mode: str = c1.selectbox(
    "Colour by", modes, modes.index(default_color_mode(run)), COLOR_MODES.__getitem__, "map_color"
)
latent = view.indices[0]
if mode == "latent":
    latent = c2.selectbox(
        "Pattern",
        view.indices,
        format_func=lambda i: view.label(latent_name(i)),
        key="map_latent",
    )
shown = int(mask.sum())
c3.caption(
    f"Showing {shown:,} of {table.n:,} segments"
    + (" (sidebar filters active)." if filters.active else ".")
)
if note := map_sample_note(shown):
    st.caption(note)
if shown == 0:
    st.info("No segment matches the sidebar filters. Clear a filter to see segments again.")
    st.stop()

try:
    color = shown_color_spec(table, view, str(mode), latent=int(latent), run=run)
except InspectError as exc:
    st.warning(f"{exc} Pick another colouring.")
    st.stop()
if mode == "latent":  # the colour bar and hover name the pattern, not only "z3"
    color = replace(color, title=with_meaning(color.title, latent_name(int(latent)), meanings))
# The map does not depend on a segment clicked on it (plotly marks the clicked point itself):
# a click re-sends an identical figure, which the browser does not draw again. A segment
# opened from another page is ringed, and the page scrolls to its pitch (below).
inspect = st.session_state.get(INSPECT_KEY)
opened = panels.arrived(inspect, MAP_KEY in st.session_state)
if opened:
    st.session_state[OPENED_KEY] = inspect
ring = inspect if inspect is not None and st.session_state.get(OPENED_KEY) == inspect else None
fig = latent_map_figure(table, color, mask, highlight=None if ring is None else int(ring))
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
    summary = segment_summary(table, inspected)
    st.divider()
    head, close = st.columns([6, 1])
    head.subheader(f"{summary.team_name} · {summary.minute_range}")
    head.markdown(f"**{summary.match_label}**")
    if close.button("Close inspector", key="close_inspector"):
        st.session_state.pop(INSPECT_KEY, None)
        st.rerun(scope="fragment")
    head.markdown(panels.headline(summary))

    left, right = st.columns([3, 2])
    with left:
        events = dataset_events(run)
        if events is None:
            st.info(panels.NO_EVENTS)
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
        st.dataframe(
            panels.profile_rows(table, inspected, reg),
            hide_index=True,
            key="inspector_profile",
            column_config={
                "z": st.column_config.NumberColumn("z", format="%+.2f"),
                "value": st.column_config.NumberColumn("value", format="%.3g"),
                "mean": st.column_config.NumberColumn("mean", format="%.3g"),
            },
        )
        st.markdown(f"**{N_NEAREST} nearest segments in latent space**")
        for rank, near in enumerate(panels.nearest_list(table, inspected, N_NEAREST), start=1):
            st.button(
                near.label,
                key=f"nearest_{rank}",
                on_click=st.session_state.__setitem__,
                args=(INSPECT_KEY, near.row),
                width="stretch",
            )


def _selection(sel_rows: list[int]) -> None:
    """A box or lasso selection against the rest: contrast table and CSV."""
    st.divider()
    st.subheader(f"Selection: {len(sel_rows):,} segments")
    sel_mask = panels.selection_mask(table.n, sel_rows)
    try:
        raw = selection_contrast(table, sel_mask, reg).with_columns(pl.col("name").alias("key"))
        contrast = panels.readable_contrast(shown_contrast(raw, view).head(25), meanings)
    except InspectError as exc:
        st.info(str(exc))
    else:
        st.caption(panels.CONTRAST_NOTE)
        event = st.dataframe(
            contrast.select(panels.contrast_columns(contrast)),
            hide_index=True,
            key="selection_contrast",
            on_select="rerun",
            selection_mode="single-row",
            column_config={
                "effect": st.column_config.NumberColumn("effect", format="%+.2f"),
                "mean_selected": st.column_config.NumberColumn("mean (selected)", format="%.3g"),
                "mean_rest": st.column_config.NumberColumn("mean (rest)", format="%.3g"),
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
                    panels.open_example_label(row),
                    key="contrast_open",
                    icon=":material/sports_soccer:",
                    help=panels.EXAMPLE_HELP,
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
if opened and inspect is not None:  # opened from another page: bring its pitch into view
    components.html(panels.scroll_script(int(inspect)), height=0)
