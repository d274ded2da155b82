"""The team report (issue 15): its numbers on the demo run, its PDF and PNGs, its page.

The report is computed on the real ``demo_run``; the PDF is read back byte by byte (page
objects and the text drawn on each page), and the browser test downloads it for real.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
import zlib
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from core.data.opendata import CREDIT
from core.errors import FingerprintError
from core.features.datasets import Dataset
from core.services.fingerprints import team_view
from core.views.report import report_matches, report_opponents, team_report, typical_segment
from core.views.report_figures import report_pdf, report_pngs_zip
from core.views.text import md_escape
from tests.helpers import healthy, open_app

if TYPE_CHECKING:
    from core.runs.store import Run
    from tests.conftest import AppPage

BARCELONA, GIRONA, ITALY, TURKEY = 217, 211, 914, 909
TURKEY_ITALY, BARCELONA_GIRONA = 3788741, 15986


def pdf_pages(pdf: bytes) -> int:
    """Number of page objects (``/Type /Page``, not ``/Pages``) in a PDF."""
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def pdf_text(pdf: bytes) -> str:
    """The text matplotlib drew, from every Flate content stream's ``[...] TJ`` arrays."""
    out: list[str] = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            stream = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        for arr in re.findall(rb"\[(.*?)\]\s*TJ", stream, re.S):
            parts = re.findall(rb"\(((?:\\.|[^\\)])*)\)", arr)
            out.append(b"".join(parts).decode("latin-1").replace("\\(", "(").replace("\\)", ")"))
    return "\n".join(out)


@pytest.fixture(scope="module")
def states_frame(demo_run: Run) -> pl.DataFrame:
    return team_view(demo_run).segments


def test_shares_against_opponent_and_average(demo_run: Run, states_frame: pl.DataFrame) -> None:
    report = team_report(demo_run, BARCELONA)
    own = states_frame.filter(pl.col("team_id") == BARCELONA)
    assert report.team_name == "Barcelona"
    assert report.n_segments == own.height
    assert report.n_matches == 2
    for col in ("team", "opponent", "competition"):
        assert report.shares[col].sum() == pytest.approx(1.0)
    expected = (own["state"] == 0).mean()
    got = report.shares.filter(pl.col("state") == 0)["team"][0]
    assert got == pytest.approx(expected)
    # Opponents: Barcelona's two opponents, in those two matches.
    faced = states_frame.filter(
        pl.col("match_id").is_in(own["match_id"].unique().to_list())
        & (pl.col("team_id") != BARCELONA)
    )
    opp = report.shares.filter(pl.col("state") == 0)["opponent"][0]
    assert opp == pytest.approx((faced["state"] == 0).mean())
    assert report.opponent_name == "its opponents"
    # The average team: every segment of La Liga (the Euro 2020 match left out).
    liga = states_frame.filter(pl.col("competition") == "La Liga")
    comp = report.shares.filter(pl.col("state") == 0)["competition"][0]
    assert comp == pytest.approx((liga["state"] == 0).mean())
    assert report.competition == "La Liga"


def test_opponent_and_match_narrow_the_report(demo_run: Run, states_frame: pl.DataFrame) -> None:
    frame = states_frame
    assert report_opponents(frame, BARCELONA) == {206: "Deportivo Alavés", GIRONA: "Girona"}
    assert list(report_matches(frame, BARCELONA, GIRONA, {})) == [BARCELONA_GIRONA]
    vs = team_report(demo_run, BARCELONA, opponent_id=GIRONA)
    assert vs.opponent_name == "Girona"
    assert vs.n_matches == 1
    assert set(vs.timeline["match_id"].to_list()) == {BARCELONA_GIRONA}
    assert (
        vs.n_segments
        == frame.filter(
            (pl.col("team_id") == BARCELONA) & (pl.col("match_id") == BARCELONA_GIRONA)
        ).height
    )
    one = team_report(demo_run, ITALY, match_id=TURKEY_ITALY)
    assert one.opponent_name == "Turkey"
    assert one.scope.startswith("Turkey 0-3 Italy")
    assert one.competition == "Euro 2020"
    with pytest.raises(FingerprintError, match="no segments"):
        team_report(demo_run, ITALY, match_id=BARCELONA_GIRONA)
    with pytest.raises(FingerprintError, match="no segments in this run"):
        team_report(demo_run, 123456)


def test_sentences_typical_and_unusual(demo_run: Run, states_frame: pl.DataFrame) -> None:
    report = team_report(demo_run, ITALY)
    assert len(report.sentences) == 3
    assert report.sentences[0].startswith("Italy spent ")
    top = report.shares.sort("team", descending=True).row(0, named=True)
    assert f"{100 * top['team']:.0f}%" in report.sentences[0]
    assert top["label"] in report.sentences[0]
    assert "Turkey" in report.sentences[2]
    assert report.typical.height == 2 and report.unusual.height == 2
    assert (
        report.typical["distance"].to_numpy().max() <= report.unusual["distance"].to_numpy().min()
    )
    own = set(states_frame.filter(pl.col("team_id") == ITALY)["segment_id"].to_list())
    assert set(report.typical["segment_id"].to_list()) <= own
    assert typical_segment(states_frame, ITALY, dims=report.dims) == report.typical["segment_id"][0]


def test_pdf_and_pngs(demo_run: Run) -> None:
    report = team_report(demo_run, ITALY, opponent_id=TURKEY)
    events = Dataset.of_features(demo_run.features_path).events()
    pdf = report_pdf(report, events)
    assert pdf.startswith(b"%PDF")
    assert pdf_pages(pdf) == 3
    text = pdf_text(pdf)
    assert "Team report: Italy" in text
    assert "Turkey" in text
    assert text.count("StatsBomb open data") == 3  # the credit on every page
    assert "goal conceded" in text  # goals marked on the timeline page
    assert re.search(rb"/Title \(Team report: Italy\)", pdf)  # the PDF's own title
    with zipfile.ZipFile(io.BytesIO(report_pngs_zip(report, events))) as zf:
        names = sorted(zf.namelist())
        assert names == ["README.txt", "segments.png", "shares.png", "timeline.png"]
        assert zf.read("shares.png").startswith(b"\x89PNG")
        assert CREDIT in zf.read("README.txt").decode()


def test_report_page_follows_the_sidebar_team(demo_run: Run) -> None:
    at = open_app(demo_run, "report")
    healthy(at)
    at.multiselect(key="filter_teams").set_value([ITALY]).run()
    healthy(at)
    assert at.selectbox(key="report_team").value == ITALY
    assert any(s.value == md_escape("Team report: Italy") for s in at.subheader)
    bullets = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert len(bullets) == 3 and bullets[0].startswith("- Italy spent")
    at.selectbox(key="report_match").set_value(TURKEY_ITALY).run()
    healthy(at)
    assert any(md_escape("Turkey 0-3 Italy") in c.value for c in at.caption)


@pytest.mark.browser
@pytest.mark.slow
def test_report_pdf_downloads_in_the_browser(app_page: AppPage, demo_run: Run) -> None:
    app_page.goto(f"report?run={demo_run.run_id}&team={ITALY}")
    page = app_page.page
    page.get_by_text("Team report: Italy").first.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=re.compile("Download the report")).click()
    download = info.value
    assert download.suggested_filename == "team-report-italy.pdf"
    pdf = (download.path()).read_bytes()
    assert pdf_pages(pdf) == 3
    assert "Team report: Italy" in pdf_text(pdf)


def test_state_example_is_the_surest_member(demo_run: Run) -> None:
    from core.services.states import get_states
    from core.views.report import state_example

    assignments = get_states(demo_run).assignments
    sid = state_example(assignments, 1)
    members = assignments.filter(pl.col("latent_state") == 1)
    assert sid == members.sort("latent_prob", descending=True)["segment_id"][0]
    italy = demo_run.latents().filter(pl.col("team_id") == ITALY)["segment_id"].to_list()
    own = state_example(assignments, 0, among=italy)
    assert own in italy
    with pytest.raises(FingerprintError, match="No segment in state"):
        state_example(assignments, 0, among=[])


def test_sentences_in_each_case() -> None:
    from core.views.report import report_sentences

    def shares(team: list[float], opp: list[float], comp: list[float]) -> pl.DataFrame:
        return pl.DataFrame(
            {"state": [0, 1], "label": ["press", "block"], "team": team, "opponent": opp,
             "competition": comp}
        )  # fmt: skip

    close = report_sentences("A", "B", shares([0.6, 0.4], [0.58, 0.42], [0.62, 0.38]), 20, "L")
    assert close[0] == "A spent 60% of its 20 windows in the state 'press', more than in any other."
    assert (
        close[1] == "Its mix of states is close to that of the average team in L (within 5 points)."
    )
    assert close[2] == "A and B spent their time in much the same states."
    apart = report_sentences("A", "B", shares([0.9, 0.1], [0.2, 0.8], [0.5, 0.5]), 20, "L")
    assert apart[1] == "That is 40 points more than the average team in L (50%)."
    assert apart[2] == "Compared with B, A was more often in 'press' (90% against 20%)."
    alone = report_sentences("A", "its opponents", shares([0.6, 0.4], [0.0, 0.0], [0.6, 0.4]), 5)
    assert alone[2] == "The run holds no segments of its opponents to compare A with."


@pytest.mark.parametrize("copies", [1, 30])
def test_the_timeline_grows_by_a_row_per_match_with_few_artists(demo_run: Run, copies: int) -> None:
    """A season's team (30 matches here, 40-80 in five leagues): every window in one
    collection, the goals in two scatters, a fixed margin above and below the rows, one-line
    labels; a few matches keep their taller rows and wrapped labels."""
    from matplotlib.collections import PathCollection, PolyCollection

    from core.views.report_figures import (
        TIMELINE_BOTTOM_IN,
        TIMELINE_TOP_IN,
        figure_png,
        timeline_figure,
    )

    report = team_report(demo_run, ITALY, opponent_id=TURKEY)
    events = Dataset.of_features(demo_run.features_path).events()
    one = report.timeline
    ids = one["match_id"].unique().to_list()
    assert len(ids) == 1
    timeline = pl.concat(
        [one.with_columns(pl.col("match_id") + 10_000_000 * i) for i in range(copies)]
    )
    assert events is not None
    copied = events.filter(pl.col("match_id") == ids[0])
    events = pl.concat(
        [copied.with_columns(pl.col("match_id") + 10_000_000 * i) for i in range(copies)]
    )
    season = dataclasses.replace(report, timeline=timeline)
    fig = timeline_figure(season, events)
    row_in = 0.6 if copies == 1 else 0.3
    assert fig.get_figheight() == pytest.approx(
        TIMELINE_TOP_IN + TIMELINE_BOTTOM_IN + row_in * copies
    )
    ax = fig.axes[0]
    bars = [c for c in ax.collections if isinstance(c, PolyCollection)]
    stars = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(bars) == 1 and len(bars[0].get_paths()) == timeline.height
    assert len(stars) == 1  # Italy's goals, filled (Turkey scored none), whatever the matches
    assert np.asarray(stars[0].get_offsets()).shape[0] == copies * 3  # Turkey 0-3 Italy
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == copies
    assert all(("\n" in t) == (copies == 1) for t in labels)
    assert figure_png(fig).startswith(b"\x89PNG")
