"""Team fingerprints: where each team sits in latent space and how it spends its time in states."""

from __future__ import annotations

import streamlit as st

from core.analysis.fingerprints import compare_teams
from core.views.glossary import explain
from core.views.report import typical_segment
from core.views.teams import (
    match_labels,
    means_figure,
    segment_choices,
    share_figure,
    similar_table,
    team_scope,
)
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
    all_dims = show_all()
    scope = team_scope(run, filters, show_all=all_dims)
    frame, view = scope.frame, scope.view
    if filters.active:
        st.caption(f"Sidebar filters apply: {frame.height:,} of {scope.total:,} segments.")
    else:
        st.caption(f"All {scope.total:,} segments (no sidebar filter set).")
    if frame.height == 0:
        st.info("No segments pass the sidebar's filters; widen them.")
        st.stop()
    matches = match_labels(segment_table(run).meta)

dims = dim_view(run)
if view.one_axis_message:
    st.info(f"{view.one_axis_message[:1].upper()}{view.one_axis_message[1:]}.")
st.caption(
    "Mean positions and distances use the run's distinct dimensions ("
    + ", ".join(view.dims or dims.shown)
    + ")"
    + (" and, as asked in the sidebar, the others." if all_dims and dims.hidden else ".")
)
labels = view.labels
label_of = dict(zip(labels["state"].to_list(), labels["label"].to_list(), strict=True))
team_name = scope.team_name
k = view.n_states
share_cols = [f"share_{s}" for s in range(k)]
mean_cols = [c for c in scope.overall.columns if c.endswith("_mean")]

tab_all, tab_compare, tab_similar = st.tabs(["All teams", "Compare two teams", "Similar segments"])

with tab_all:
    per_match = st.toggle(
        "Per match",
        value=False,
        key="teams_per_match",
        help=explain("Fingerprint", extra="On: one row per team and match."),
    )
    fp, names = scope.fingerprints(matches, per_match=per_match, show_all=all_dims)
    st.plotly_chart(share_figure(fp, names, label_of, k, "State shares"), key="teams_shares")
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
        where = f" in {matches.get(chosen['match_id'], '')}" if per_match else ""
        sid = typical_segment(
            frame, int(chosen["team_id"]), match_id=chosen.get("match_id"), dims=view.dims
        )
        open_segment_button(
            run,
            sid,
            key="teams_open_typical",
            label=f"Open {team_name.get(chosen['team_id'])}'s most typical segment{where}",
        )

teams = scope.teams
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
        cmp = compare_teams(scope.overall, int(team_a), int(team_b))
        pair, pair_names = scope.pair(int(team_a), int(team_b))
        st.plotly_chart(
            share_figure(pair, pair_names, label_of, k, "State shares side by side"),
            key="teams_compare_shares",
        )
        a_name, b_name = str(team_name.get(team_a, team_a)), str(team_name.get(team_b, team_b))
        st.plotly_chart(means_figure(cmp, (a_name, b_name), dims.label), key="teams_compare_means")
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
    others = [t for t in scope.pool_teams if t != source_team] or teams
    target_team = c2.selectbox(
        "Most similar segments of",
        others,
        format_func=lambda t: team_name.get(t, t),
        key="teams_sim_target",
    )
    seg_label = segment_choices(frame, int(source_team), matches)
    segment_id = c3.selectbox(
        "Segment",
        list(seg_label),
        format_func=lambda sid: seg_label.get(sid, sid),
        key="teams_sim_segment",
    )
    n = st.slider("How many", 3, 30, 10, key="teams_sim_n")
    if segment_id is not None:
        near = similar_table(view, str(segment_id), int(target_team), n, matches)
        picked_near = st.dataframe(
            near,
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
