"""Match timeline: both teams' tactical states window by window, with goals and substitutions."""

from __future__ import annotations

import streamlit as st

from core.analysis.timeline import DEFAULT_NOISE
from core.runs.store import get_run
from core.services.timeline import RunTimeline, run_timeline
from core.views.glossary import explain
from core.views.timeline import (
    markers_table,
    match_events,
    match_windows,
    state_labels,
    team_names,
    timeline_figure,
    timeline_matches,
    transition_figure,
    transition_probabilities,
)
from pages._ui.errors import friendly_errors
from pages._ui.readers import run_version, segment_table
from pages._ui.routing import ensure_routed
from pages._ui.runs import ensure_states, require_run
from pages._ui.sidebar import current_filters
from pages._ui.widgets import open_segment_button

ensure_routed()

st.title("Match timeline")
st.caption(
    "Each bar is one window of one team, coloured by its tactical state (the latent "
    "mixture from the States page). Goals and substitutions are marked. Smoothing treats "
    "the states as noisy readings of a hidden state that tends to persist (a hidden Markov "
    "model); its learned transition matrix is shown below."
)

run = require_run()


@st.cache_resource(max_entries=4, show_spinner="Smoothing state sequences…")
def _timeline(run_id: str, version: str, space: str, smooth: bool, noise: float) -> RunTimeline:
    return run_timeline(get_run(run_id), space=space, smooth=smooth, noise=noise)


with friendly_errors("the Match timeline page"):
    ensure_states(run)
    filters = current_filters()
    # Matches on offer follow the competition and team filters (a team's own matches).
    matches = timeline_matches(segment_table(run).meta, filters)
    if not matches:
        st.info("No match passes the sidebar's filters; widen them.")
        st.stop()
    preferred = [m for m in filters.match_ids if m in matches]
    c1, c2, c3, c4 = st.columns([3, 1.2, 1.3, 1.3])
    match_id = c1.selectbox(
        "Match",
        list(matches),
        index=list(matches).index(preferred[0]) if preferred else 0,
        format_func=lambda m: matches.get(m) or str(m),
        key="timeline_match",
    )
    space = c2.radio(
        "States from",
        ["latent", "features"],
        format_func={"latent": "latent codes", "features": "features"}.get,
        key="timeline_space",
    )
    smooth = c3.toggle("Smooth (HMM)", value=False, key="timeline_smooth", help=explain("HMM"))
    noise = c4.slider(
        "Noise",
        0.05,
        0.6,
        DEFAULT_NOISE,
        0.05,
        key="timeline_noise",
        disabled=not smooth,
        help=explain(
            "HMM",
            extra="Noise: the assumed chance that a window's state is misread; higher "
            "smooths more.",
        ),
    )
    version = run_version(run, "states/summary.json")
    tl = _timeline(run.run_id, version, space, smooth, float(noise) if smooth else DEFAULT_NOISE)
    timeline = match_windows(tl, int(match_id), filters)
    st.caption(
        "Sidebar filters apply: the match list follows the competition and team filters, the "
        "rows the team filter, the windows the period and score-state filters"
        + (f" ({timeline.height:,} windows shown)." if filters.active else " (none set).")
    )
    if timeline.is_empty():
        st.info("No window of this match passes the sidebar's filters; widen them.")
        st.stop()
    team_name = team_names(timeline)
    markers, missing = match_events(run, int(match_id), list(team_name))
    if missing is not None:
        st.caption(f"Goals and substitutions unavailable: {missing}")

label_of = state_labels(tl)
fig = timeline_figure(timeline, label_of, tl.n_states, markers, smoothed=smooth)
picked = st.plotly_chart(fig, key="timeline_chart", on_select="rerun", selection_mode="points")
points = [
    pt for pt in (picked.selection.points if picked is not None else []) if pt.get("customdata")
]
if points and len(points[0]["customdata"]) > 2:
    cd = points[0]["customdata"]
    open_segment_button(
        run,
        str(cd[2]),
        key="timeline_open",
        label=f"Open the window {float(cd[0]):.0f}'-{float(cd[1]):.0f}' on the pitch",
    )
else:
    st.caption("Click a bar to open that window on the pitch.")

if markers is not None and markers.height:
    with st.expander("Goals and substitutions"):
        st.dataframe(
            markers_table(markers, team_name),
            hide_index=True,
            key="timeline_markers",
            column_config={"minute": st.column_config.NumberColumn("minute", format="%.0f")},
        )

st.subheader("How states follow each other")
names = [f"S{s}" for s in range(tl.n_states)]
st.caption(" · ".join(f"**S{s}** {label_of.get(s, s)}" for s in range(tl.n_states)))
c1, c2 = st.columns(2)
c1.plotly_chart(
    transition_figure(
        transition_probabilities(tl.observed_transitions),
        names,
        "Blues",
        "Observed: next window's state (all matches)",
    ),
    key="timeline_observed",
)
if tl.smoothing is not None:
    c2.plotly_chart(
        transition_figure(tl.smoothing.transmat, names, "Greens", "HMM: learned transition matrix"),
        key="timeline_hmm",
    )
    c2.caption(
        f"State switches between consecutive windows, all matches: "
        f"{tl.smoothing.switches_before:,} observed, {tl.smoothing.switches_after:,} smoothed."
    )
else:
    c2.caption("Turn on HMM smoothing to see the learned transition matrix.")
