"""Team report: one team's states against its opponent and the average, in words, as a PDF."""

from __future__ import annotations

import re

import polars as pl
import streamlit as st

from core.data.opendata import CREDIT
from core.runs.store import get_run
from core.views.inspector import players_line, segment_players
from core.views.report import (
    TeamReport,
    build_team_report,
    moment_events,
    report_matches,
    report_opponents,
    report_teams,
    run_report_inputs,
)
from core.views.report_figures import SCREEN_DPI, report_pdf, report_pngs, report_pngs_zip
from core.views.text import md_escape
from pages._ui.errors import friendly_errors
from pages._ui.readers import dataset_events, run_version
from pages._ui.routing import ensure_routed
from pages._ui.runs import ensure_states, require_run
from pages._ui.sidebar import current_filters
from pages._ui.widgets import open_segment_button

ensure_routed()

ANY = -1  # the "all opponents" / "all matches" choice

st.title("Team report")
st.caption(
    "One team, ready for a meeting: how it spent its time in the tactical states against its "
    "opponent and the average team, its states match by match, its most typical and most "
    "unusual moments on the pitch, and three sentences in plain words. Download it as a PDF."
)
st.caption(
    "The report picks its own team, opponent and match below (the sidebar's team and match "
    "filters preselect them); the average team is always taken over the team's whole "
    "competition in this run."
)

run = require_run()


@st.cache_resource(max_entries=2, show_spinner="Reading the run's states…")
def _inputs(
    run_id: str, version: str, latents: str
) -> tuple[pl.DataFrame, dict[int, str], dict[int, str], list[str]]:
    return run_report_inputs(get_run(run_id))


@st.cache_resource(max_entries=8, show_spinner="Drawing the report…")
def _drawn(
    run_id: str, version: str, key: tuple[int, int | None, int | None], _report: TeamReport
) -> dict[str, bytes]:
    """The figures as shown: drawn at the width they are shown at, so never resized."""
    return report_pngs(_report, dataset_events(get_run(run_id)), dpi=SCREEN_DPI)


def _follow(key: str, preferred: list[int], options: list[int]) -> None:
    """Preselect the sidebar's choice when it changes; keep the user's own pick otherwise."""
    pref = preferred[0] if preferred else None
    if pref is not None and st.session_state.get(f"_{key}_sidebar") != pref:
        st.session_state[key] = pref
    st.session_state[f"_{key}_sidebar"] = pref
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]


with friendly_errors("the Team report page"):
    ensure_states(run)
    version = run_version(run, "states/summary.json")
    frame, labels, match_labels, dims = _inputs(run.run_id, version, run_version(run))
    teams = report_teams(frame)
    if not teams:
        st.info("This run has no teams to report on.")
        st.stop()
    filters = current_filters()
    _follow("report_team", [t for t in filters.team_ids if t in teams], list(teams))
    c1, c2, c3 = st.columns([2, 2, 3])
    team_id = c1.selectbox(
        "Team",
        list(teams),
        format_func=lambda t: teams.get(t, str(t)),
        key="report_team",
    )
    opponents = {ANY: "All opponents", **report_opponents(frame, int(team_id))}
    opponent = c2.selectbox(
        "Opponent (optional)",
        list(opponents),
        format_func=lambda t: opponents.get(t, str(t)),
        key="report_opponent",
    )
    opponent_id = None if opponent == ANY else int(opponent)
    matches = {ANY: "All matches", **report_matches(frame, int(team_id), opponent_id, match_labels)}
    _follow("report_match", [m for m in filters.match_ids if m in matches], list(matches))
    match = c3.selectbox(
        "Match (optional)",
        list(matches),
        format_func=lambda m: matches.get(m, str(m)),
        key="report_match",
    )
    match_id = None if match == ANY else int(match)
    report = build_team_report(
        frame,
        labels,
        int(team_id),
        opponent_id=opponent_id,
        match_id=match_id,
        match_labels=match_labels,
        dims=dims,
    )
    pngs = _drawn(run.run_id, version, (int(team_id), opponent_id, match_id), report)

# Team and match names come from data files: escaped, never read as Markdown.
st.subheader(md_escape(report.title))
st.caption(
    f"{md_escape(report.scope)} · {report.n_segments} windows · "
    f"opponent: {md_escape(report.opponent_name)}"
)
for sentence in report.sentences:
    st.markdown(f"- {md_escape(sentence)}")

slug = re.sub(r"[^a-z0-9]+", "-", report.team_name.lower()).strip("-") or "team"
# The PDF and the print-quality figures are drawn when their button is clicked (Streamlit
# calls ``data`` then, off the script), not each time the page opens.
events = dataset_events(run)
d1, d2, _ = st.columns([2, 2, 3])
d1.download_button(
    "Download the report (PDF)",
    data=lambda: report_pdf(report, events),
    file_name=f"team-report-{slug}.pdf",
    mime="application/pdf",
    key="report_pdf",
    on_click="ignore",
    icon=":material/picture_as_pdf:",
    type="primary",
)
d2.download_button(
    "Download the figures (PNG, zip)",
    data=lambda: report_pngs_zip(report, events),
    file_name=f"team-report-{slug}-figures.zip",
    mime="application/zip",
    key="report_pngs",
    on_click="ignore",
    icon=":material/image:",
)

# Shown at their drawn width (1000-1100 px, or the column's if narrower).
st.image(pngs["shares"], caption="State shares: the team, its opponent, the average team")
st.image(pngs["timeline"], caption="The team's states in each match, with its goals")
st.image(pngs["segments"], caption="Most typical and most unusual moments")


def _key_rows(frame: pl.DataFrame, what: str, key: str) -> None:
    for i, row in enumerate(frame.iter_rows(named=True)):
        a, b = st.columns([6, 1], vertical_alignment="center")
        players = (
            players_line(segment_players(moment_events(events, report.team_id, row), n=3))
            if events is not None
            else ""
        )
        a.markdown(
            f"**{what}** · {md_escape(row['match_label'])} · {row['minute']:.0f}' · "
            f"{md_escape(row.get('state_label') or row['state'])} · "
            f"distance {row['distance']:.2f}" + (f"  \n{md_escape(players)}" if players else "")
        )
        with b:
            open_segment_button(run, str(row["segment_id"]), key=f"{key}_{i}")


st.markdown("**Open a moment on the pitch** (segment inspector, with players and neighbours)")
_key_rows(report.typical, "Most typical", "report_typical")
_key_rows(report.unusual, "Most unusual", "report_unusual")
st.caption(
    "Typical and unusual: nearest to and farthest from the team's average position in the "
    f"model's distinct dimensions ({', '.join(report.dims)}), each scaled to the team's spread."
)
st.caption(CREDIT)
