"""Match timeline: both teams' tactical states window by window, with goals and substitutions."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.analysis.timeline import (
    DEFAULT_NOISE,
    RunTimeline,
    load_events,
    match_markers,
    match_timeline,
    run_timeline,
)
from core.errors import TimelineError
from core.runs.store import get_run
from core.views.glossary import explain
from core.views.palettes import QUALITATIVE
from core.views.table import Filters, filter_expr, filter_options, score_state_name
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


def _transition_figure(
    matrix: np.ndarray, names: list[str], colorscale: str, title: str
) -> go.Figure:
    """Heatmap of a state transition matrix: row = from, column = to, probabilities 0-1."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale=colorscale,
            zmin=0,
            zmax=1,
            texttemplate="%{z:.2f}",
            hovertemplate="from %{y}<br>to %{x}<br>%{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=120 + 45 * len(names),
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


with friendly_errors("the Match timeline page"):
    ensure_states(run)
    meta = segment_table(run).meta
    filters = current_filters()
    # Matches on offer follow the competition and team filters (a team's own matches).
    scoped = meta.filter(
        filter_expr(
            Filters(competitions=filters.competitions, team_ids=filters.team_ids), meta.columns
        )
    )
    matches = filter_options(scoped, Filters()).matches
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
    timeline = match_timeline(tl.frame, int(match_id))
    in_match = [t for t in filters.team_ids if t in set(timeline["team_id"].to_list())]
    if in_match:
        timeline = timeline.filter(pl.col("team_id").is_in(in_match))
    if filters.periods:
        timeline = timeline.filter(pl.col("period").is_in(list(filters.periods)))
    if filters.score_states and "score_state" in timeline.columns:
        timeline = timeline.filter(score_state_name().is_in(list(filters.score_states)))
    st.caption(
        "Sidebar filters apply: the match list follows the competition and team filters, the "
        "rows the team filter, the windows the period and score-state filters"
        + (f" ({timeline.height:,} windows shown)." if filters.active else " (none set).")
    )
    if timeline.is_empty():
        st.info("No window of this match passes the sidebar's filters; widen them.")
        st.stop()
    markers: pl.DataFrame | None
    try:
        markers = match_markers(load_events(run, int(match_id)), int(match_id))
    # Events are optional context; the states still show. No events.parquet or missing
    # columns (TimelineError), an unreadable (OSError) or corrupt (PolarsError) file.
    except (TimelineError, OSError, pl.exceptions.PolarsError) as exc:
        markers = None
        st.caption(f"Goals and substitutions unavailable: {exc}")

label_of = dict(zip(tl.labels["state"].to_list(), tl.labels["label"].to_list(), strict=True))
colour = {s: QUALITATIVE[s % len(QUALITATIVE)] for s in range(tl.n_states)}
teams = (
    timeline.select("team_id", "team_name").unique(maintain_order=True).sort("team_id")
    if "team_name" in timeline.columns
    else timeline.select("team_id")
    .unique()
    .with_columns(pl.col("team_id").cast(pl.String).alias("team_name"))
)
team_name = dict(zip(teams["team_id"].to_list(), teams["team_name"].to_list(), strict=True))
if markers is not None:  # goals and substitutions of the teams shown
    markers = markers.filter(pl.col("team_id").is_in(list(team_name)))
rows: list[tuple[int, str, str]] = []  # (team, column, row name)
for t in teams["team_id"].to_list():
    rows.append((t, "state", f"{team_name[t]}"))
    if smooth:
        rows.append((t, "smoothed_state", f"{team_name[t]} · smoothed"))

fig = go.Figure()
shown_states: set[int] = set()
for team_id, column, row_name in rows:
    part = timeline.filter(pl.col("team_id") == team_id)
    for s in sorted(part[column].unique().to_list()):
        sel = part.filter(pl.col(column) == s)
        start = sel["start_minute"].to_numpy()
        width = sel["draw_end_minute"].to_numpy() - start
        fig.add_trace(
            go.Bar(
                x=width,
                base=start,
                y=[row_name] * sel.height,
                orientation="h",
                name=f"{s}: {label_of.get(s, s)}",
                legendgroup=str(s),
                legendrank=s,
                showlegend=s not in shown_states,
                marker_color=colour[s],
                customdata=np.stack(
                    [
                        sel["start_minute"].to_numpy(),
                        sel["end_minute"].to_numpy(),
                        sel["segment_id"].to_numpy(),
                    ],
                    axis=1,
                ),
                hovertemplate=f"{row_name}<br>%{{customdata[0]:.1f}}'-%{{customdata[1]:.1f}}'"
                f"<br>state {s}: {label_of.get(s, s)}<extra></extra>",
            )
        )
        shown_states.add(s)
if markers is not None and markers.height:
    for kind, symbol in (
        ("goal", "star"),
        ("own goal", "star-open"),
        ("substitution", "triangle-down"),
    ):
        sel = markers.filter(pl.col("kind") == kind)
        if sel.height == 0:
            continue
        y = [team_name.get(t, str(t)) for t in sel["team_id"].to_list()]
        fig.add_trace(
            go.Scatter(
                x=sel["minute"].to_list(),
                y=y,
                mode="markers",
                name=kind,
                marker={"symbol": symbol, "size": 14 if "goal" in kind else 10, "color": "black"},
                customdata=sel["player_name"].fill_null("").to_list(),
                hovertemplate=f"{kind} %{{x:.0f}}'<br>%{{customdata}}<extra></extra>",
            )
        )
fig.update_layout(
    barmode="overlay",
    height=170 + 70 * len(rows),
    xaxis_title="match minute",
    # Above the chart, clear of the axis title below it.
    legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
    margin={"l": 10, "r": 10, "t": 60, "b": 10},
    yaxis={"autorange": "reversed"},
)
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
            markers.with_columns(
                pl.col("team_id").replace_strict(team_name, default=None).alias("team")
            ).select("minute", "team", "kind", "player_name"),
            hide_index=True,
            key="timeline_markers",
            column_config={"minute": st.column_config.NumberColumn("minute", format="%.0f")},
        )

st.subheader("How states follow each other")
names = [f"S{s}" for s in range(tl.n_states)]
st.caption(" · ".join(f"**S{s}** {label_of.get(s, s)}" for s in range(tl.n_states)))
c1, c2 = st.columns(2)
observed = tl.observed_transitions.astype(float)
with np.errstate(invalid="ignore"):
    observed_p = observed / observed.sum(axis=1, keepdims=True)
c1.plotly_chart(
    _transition_figure(
        np.nan_to_num(observed_p), names, "Blues", "Observed: next window's state (all matches)"
    ),
    key="timeline_observed",
)
if tl.smoothing is not None:
    c2.plotly_chart(
        _transition_figure(
            tl.smoothing.transmat, names, "Greens", "HMM: learned transition matrix"
        ),
        key="timeline_hmm",
    )
    c2.caption(
        f"State switches between consecutive windows, all matches: "
        f"{tl.smoothing.switches_before:,} observed, {tl.smoothing.switches_after:,} smoothed."
    )
else:
    c2.caption("Turn on HMM smoothing to see the learned transition matrix.")
