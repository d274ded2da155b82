"""Team fingerprints: where each team sits in latent space and how it spends its time in states."""

from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.analysis.fingerprints import compare_teams, team_view
from core.analysis.timeline import match_minute
from core.model.latents import latent_columns
from core.views.glossary import explain
from core.views.palettes import QUALITATIVE
from core.views.report import typical_segment
from core.views.table import Filters, filter_expr
from pages._ui.dims import dim_view, show_all
from pages._ui.errors import friendly_errors
from pages._ui.readers import segment_table
from pages._ui.routing import ensure_routed
from pages._ui.runs import ensure_states, require_run
from pages._ui.sidebar import current_filters
from pages._ui.widgets import open_segment_button, selected_row

ensure_routed()

st.title("Team fingerprints")
st.caption(
    "A team's fingerprint is its mean position in latent space and the share of its windows "
    "spent in each tactical state (latent mixture, see the States page), overall or per "
    "match. Compare two teams, and find the segments of one team most like a segment of "
    "another."
)

run = require_run()
st.page_link(
    "pages/report.py",
    label="One team for a meeting? Make its team report (PDF)",
    icon=":material/description:",
)
with friendly_errors("the Team fingerprints page"):
    ensure_states(run)
    # Every sidebar filter narrows the segments, the team filter included; "Similar
    # segments" looks for matches among every team of the other filters' scope.
    filters = current_filters()
    scope = Filters(
        competitions=filters.competitions,
        match_ids=filters.match_ids,
        periods=filters.periods,
        score_states=filters.score_states,
    )
    all_dims = show_all()
    view = team_view(
        run,
        narrow=(lambda f: f.filter(filter_expr(scope, f.columns))) if scope.active else None,
        show_all=all_dims,
    )
    pool = view.segments  # candidates for similar segments: every team in scope
    frame = (
        pool.filter(pl.col("team_id").is_in(list(filters.team_ids))) if filters.team_ids else pool
    )
    total = run.latents().height
    if filters.active:
        st.caption(f"Sidebar filters apply: {frame.height:,} of {total:,} segments.")
    else:
        st.caption(f"All {total:,} segments (no sidebar filter set).")
    if frame.height == 0:
        st.info("No segments pass the sidebar's filters; widen them.")
        st.stop()
    labels = view.labels
    k = view.n_states
    shown_view = replace(view, segments=frame)  # fingerprints of the filtered teams only
    overall = shown_view.fingerprints(show_all=all_dims)
    meta = segment_table(run).meta
    match_labels = dict(
        meta.select("match_id", "match_label").unique("match_id").iter_rows()
        if "match_label" in meta.columns
        else []
    )

dims = dim_view(run)
if view.one_axis_message:
    st.info(f"{view.one_axis_message[:1].upper()}{view.one_axis_message[1:]}.")
st.caption(
    "Mean positions and distances use the run's distinct dimensions ("
    + ", ".join(view.dims or dims.shown)
    + ")"
    + (" and, as asked in the sidebar, the others." if all_dims and dims.hidden else ".")
)
label_of = dict(zip(labels["state"].to_list(), labels["label"].to_list(), strict=True))
team_name = dict(zip(overall["team_id"].to_list(), overall["team_name"].to_list(), strict=True))
share_cols = [f"share_{s}" for s in range(k)]
mean_cols = [c for c in overall.columns if c.endswith("_mean")]


def share_chart(fp: pl.DataFrame, names: list[str], key: str, title: str) -> None:
    fig = go.Figure()
    for s in range(k):
        fig.add_trace(
            go.Bar(
                y=names,
                x=fp[f"share_{s}"].to_list(),
                orientation="h",
                name=f"{s}: {label_of.get(s, s)}",
                marker_color=QUALITATIVE[s % len(QUALITATIVE)],
                hovertemplate="%{y}<br>%{x:.0%}" + f" in state {s}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        title={"text": title, "y": 0.98, "yanchor": "top"},
        xaxis={"title": "share of windows", "tickformat": ".0%", "range": [0, 1]},
        height=190 + 32 * len(names),
        # Above the bars, clear of the axis title below them.
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        yaxis={"autorange": "reversed"},
    )
    st.plotly_chart(fig, key=key)


tab_all, tab_compare, tab_similar = st.tabs(["All teams", "Compare two teams", "Similar segments"])

with tab_all:
    per_match = st.toggle(
        "Per match",
        value=False,
        key="teams_per_match",
        help=explain("Fingerprint", extra="On: one row per team and match."),
    )
    if per_match:
        fp = shown_view.fingerprints(per_match=True, show_all=all_dims)
        names = [
            f"{team_name.get(t, t)} · {match_labels.get(m, m)}"
            for t, m in zip(fp["team_id"].to_list(), fp["match_id"].to_list(), strict=True)
        ]
    else:
        fp = overall
        names = [str(team_name.get(t, t)) for t in fp["team_id"].to_list()]
    share_chart(fp, names, "teams_shares", "State shares")
    picked = st.dataframe(
        fp.select(
            [c for c in ("team_name", "match_id", "n_segments") if c in fp.columns]
            + share_cols
            + mean_cols
            + ["team_id"]
        ),
        hide_index=True,
        width="stretch",
        key="teams_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            **{
                c: st.column_config.ProgressColumn(
                    f"{c.split('_')[1]}: {label_of.get(int(c.split('_')[1]), '')}",
                    format="%.2f",
                    min_value=0,
                    max_value=1,
                    help=explain("Tactical state", extra="Share of the windows in this state."),
                )
                for c in share_cols
            },
            **{
                c: st.column_config.NumberColumn(
                    f"{dims.label(c.removesuffix('_mean'))} mean",
                    format="%+.2f",
                    help=explain("Latent dimension", "Posterior"),
                )
                for c in mean_cols
            },
        },
    )

    row = selected_row(picked)
    if row is None:
        st.caption("Select a row to open that team's most typical segment on the pitch.")
    else:
        chosen = fp.row(row, named=True)
        where = f" in {match_labels.get(chosen['match_id'], '')}" if per_match else ""
        sid = typical_segment(
            frame, int(chosen["team_id"]), match_id=chosen.get("match_id"), dims=view.dims
        )
        open_segment_button(
            run,
            sid,
            key="teams_open_typical",
            label=f"Open {team_name.get(chosen['team_id'])}'s most typical segment{where}",
        )

teams = overall["team_id"].to_list()
pool_teams = pool.select("team_id", "team_name").unique("team_id").sort("team_name")
team_name.update(dict(pool_teams.iter_rows()))
with tab_compare:
    if len(teams) < 2:
        st.info(
            "The sidebar's filters leave a single team; pick two in its **Team** filter (or "
            "clear it) to compare fingerprints."
        )
    else:
        c1, c2 = st.columns(2)
        team_a = c1.selectbox(
            "Team A", teams, index=0, format_func=lambda t: team_name.get(t, t), key="teams_a"
        )
        team_b = c2.selectbox(
            "Team B", teams, index=1, format_func=lambda t: team_name.get(t, t), key="teams_b"
        )
        cmp = compare_teams(overall, int(team_a), int(team_b))
        pair = overall.filter(pl.col("team_id").is_in([team_a, team_b]))
        share_chart(
            pair,
            [str(team_name.get(t, t)) for t in pair["team_id"].to_list()],
            "teams_compare_shares",
            "State shares side by side",
        )
        means = cmp.filter(pl.col("quantity").str.ends_with("_mean"))
        fig = go.Figure()
        for col, team, colour in (
            ("team_a", team_a, QUALITATIVE[0]),
            ("team_b", team_b, QUALITATIVE[2]),
        ):
            fig.add_trace(
                go.Bar(
                    x=[dims.label(q.removesuffix("_mean")) for q in means["quantity"].to_list()],
                    y=means[col].to_list(),
                    name=str(team_name.get(team, team)),
                    marker_color=colour,
                )
            )
        fig.update_layout(
            barmode="group",
            title="Mean latent position",
            yaxis_title="mean code",
            height=360,
            margin={"l": 10, "r": 10, "t": 50, "b": 10},
        )
        st.plotly_chart(fig, key="teams_compare_means")
        st.dataframe(
            cmp.rename(
                {"team_a": str(team_name.get(team_a)), "team_b": str(team_name.get(team_b))}
            ),
            hide_index=True,
            width="stretch",
            key="teams_compare_table",
        )

with tab_similar:
    c1, c2, c3 = st.columns([2, 2, 3])
    source_team = c1.selectbox(
        "Segment of team", teams, format_func=lambda t: team_name.get(t, t), key="teams_sim_src"
    )
    others = [t for t in pool_teams["team_id"].to_list() if t != source_team] or teams
    target_team = c2.selectbox(
        "Most similar segments of",
        others,
        format_func=lambda t: team_name.get(t, t),
        key="teams_sim_target",
    )
    own = frame.filter(pl.col("team_id") == source_team).sort("match_id", "period", "start_time")
    own = own.with_columns(match_minute(pl.col("period"), pl.col("start_time")).alias("_minute"))
    seg_label = {
        sid: f"{match_labels.get(m, m)} · {minute:.0f}' · state {s}"
        for sid, m, minute, s in own.select(
            "segment_id", "match_id", "_minute", "state"
        ).iter_rows()
    }
    segment_id = c3.selectbox(
        "Segment",
        own["segment_id"].to_list(),
        format_func=lambda sid: seg_label.get(sid, sid),
        key="teams_sim_segment",
    )
    n = st.slider("How many", 3, 30, 10, key="teams_sim_n")
    if segment_id is not None:
        near = view.similar(str(segment_id), team_id=int(target_team), n=n)
        near = near.with_columns(
            pl.col("match_id").replace_strict(match_labels, default=None).alias("match"),
            match_minute(pl.col("period"), pl.col("start_time")).alias("minute"),
        )
        picked_near = st.dataframe(
            near.select(
                "distance",
                "match",
                "minute",
                "state",
                "state_label",
                "segment_id",
                *latent_columns(near.columns),
            ),
            hide_index=True,
            width="stretch",
            key="teams_similar_table",
            on_select="rerun",
            selection_mode="single-row",
            column_config={
                "distance": st.column_config.NumberColumn(
                    "distance",
                    format="%.3f",
                    help=explain(
                        "Posterior",
                        extra="Straight-line distance between the two segments' "
                        "posterior means on the distinct dimensions: smaller = more alike.",
                    ),
                ),
                "minute": st.column_config.NumberColumn("minute", format="%.0f"),
            },
        )
        near_row = selected_row(picked_near)
        if near_row is not None:
            open_segment_button(
                run,
                str(near["segment_id"][near_row]),
                key="teams_open_similar",
                label="Open the selected segment on the pitch",
            )
        else:
            st.caption("Select a row to open that segment on the pitch.")
        st.caption(
            "Candidates: every team in the sidebar's competition, match and period scope (the "
            "team filter picks whose segment is compared). "
            "Distance is Euclidean between posterior means on the distinct dimensions ("
            + ", ".join(view.dims or dims.shown)
            + ")."
        )
