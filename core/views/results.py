"""What the Results page says: for each pattern, whether teams that sit higher on it in a
match got a better result, in sentences a coach can read, with the interval that decides
it; a chart of every r with its interval; and whether the patterns name the team.

Patterns found again across the run's seeds come first; the others follow, marked
"unconfirmed". Numbers come from :func:`core.services.results.results_report`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from core.analysis.results import (
    EVIDENCE,
    LEVEL,
    MIN_VERDICT_MATCHES,
    NO_EVIDENCE,
    OUTCOMES,
    TOO_FEW,
    IdentityScore,
)
from core.runs.store import Run
from core.services.results import ResultsReport, results_report
from core.views.palettes import QUALITATIVE
from core.views.plain import run_patterns
from core.views.table import Filters, filter_frame

UNCONFIRMED = "unconfirmed"
VERDICT_COLORS = {
    EVIDENCE: QUALITATIVE[0],
    NO_EVIDENCE: "#8c8c8c",
    TOO_FEW: QUALITATIVE[2],
}
OUTCOME_SHORT = {"goal_diff": "goal diff.", "xg_diff": "xG diff. /90", "shot_diff": "shot diff."}


def _cap(text: str) -> str:
    """First letter up, unless the text starts with a unit written lower-case (``xG``)."""
    return text if text.startswith("xG") else f"{text[:1].upper()}{text[1:]}"


def _plural(n: int, word: str, suffix: str = "s") -> str:
    return f"{n:,} {word}{suffix if n != 1 else ''}"


@dataclass(frozen=True)
class PatternResult:
    """One pattern and its sentences, one per outcome."""

    dim: str  # "z0"
    name: str  # the pattern's plain name ("field tilt & possession share"), or the dim
    reading: str  # "field tilt and possession share rise as z0 rises"
    reproduced: bool
    sentences: list[str]

    @property
    def title(self) -> str:
        """``"field tilt & possession share (z0)"``, ``"... (z3) · unconfirmed"``."""
        return f"{self.name} ({self.dim})" + ("" if self.reproduced else f" · {UNCONFIRMED}")


@dataclass(frozen=True)
class ResultsView:
    """Everything the Results page draws for one run and filter."""

    report: ResultsReport
    patterns: list[PatternResult]  # reproduced first, then unconfirmed
    headline: str
    cautions: list[str]
    identity: list[str]  # one sentence per input (patterns, components, features)
    figure: go.Figure

    @property
    def sources(self) -> list[str]:
        """``"Goal difference: the final score (matches.parquet)."``, one per outcome."""
        return [f"{_cap(OUTCOMES[o])}: {s}." for o, s in self.report.sources.items()]


def results_view(run: Run, filters: Filters | None = None) -> ResultsView:
    """The Results page for ``run`` under the sidebar's ``filters``."""
    narrow = (
        (lambda f: filter_frame(f, filters)) if filters is not None and filters.active else None
    )
    report = results_report(run, filters=narrow)
    named = {p.dim: p for p in run_patterns(run.interpretation(), report.dims)}
    order = ordered_dims(report.dims, report.reproduced)
    patterns = [
        PatternResult(
            dim=d,
            name=named[d].name if d in named else d,
            reading=named[d].reading if d in named else "",
            reproduced=d in report.reproduced,
            sentences=pattern_sentences(report.associations, d),
        )
        for d in order
    ]
    labels = {p.dim: p.title for p in patterns}
    return ResultsView(
        report=report,
        patterns=patterns,
        headline=headline(report),
        cautions=cautions(report),
        identity=[identity_sentence(s) for s in report.identity],
        figure=results_figure(report.associations, order, labels),
    )


def ordered_dims(dims: Sequence[str], reproduced: Sequence[str]) -> list[str]:
    """Reproduced dims first, then the unconfirmed ones, each in reading order."""
    keep = set(reproduced)
    return [d for d in dims if d in keep] + [d for d in dims if d not in keep]


# --- sentences -----------------------------------------------------------------------------


def _signed(x: float) -> str:
    return f"{x:+.2f}".replace("+0.00", "0.00").replace("-0.00", "0.00")


def _num(row: Mapping[str, object], key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else math.nan


def interval_text(row: Mapping[str, object]) -> str:
    """``"r = +0.31, 95% CI +0.12 to +0.48 (64 matches)"``."""
    r, low, high = _num(row, "r"), _num(row, "low"), _num(row, "high")
    n = int(_num(row, "n_matches")) if math.isfinite(_num(row, "n_matches")) else 0
    matches = _plural(n, "match", "es")
    if not math.isfinite(low):
        return f"r = {_signed(r)} ({matches})"
    return f"r = {_signed(r)}, {LEVEL:.0%} CI {_signed(low)} to {_signed(high)} ({matches})"


def association_sentence(row: Mapping[str, object]) -> str:
    """One pattern against one outcome, in words (``row``: one row of the associations)."""
    outcome = str(row["outcome"])
    what = OUTCOMES.get(outcome, outcome)
    what_cap = _cap(what)
    verdict = row["verdict"]
    r = _num(row, "r")
    if not math.isfinite(r):
        why = "no value in the data" if not _num(row, "n_rows") else "no spread, or too few matches"
        return f"{what_cap}: not available ({why})."
    numbers = interval_text(row)
    if verdict == EVIDENCE:
        better = "better" if r > 0 else "worse"
        return f"Teams higher on this pattern in a match had a {better} {what}: {numbers}."
    if verdict == NO_EVIDENCE:
        return f"No evidence for {what}: the interval crosses 0; {numbers}."
    if verdict == TOO_FEW:
        return (
            f"{what_cap}: too few matches to judge (at least {MIN_VERDICT_MATCHES} are "
            f"needed): {numbers}."
        )
    return f"{what_cap}: not available ({numbers})."


def pattern_sentences(assoc: pl.DataFrame, dim: str) -> list[str]:
    """The sentences of one pattern, one per outcome in :data:`OUTCOMES` order."""
    rank = {o: i for i, o in enumerate(OUTCOMES)}
    rows = assoc.filter(pl.col("pattern") == dim).to_dicts()
    rows.sort(key=lambda r: rank.get(str(r["outcome"]), len(rank)))
    return [association_sentence(r) for r in rows]


def identity_sentence(score: IdentityScore) -> str:
    """``"From the 9 patterns: 10% of team-matches named right (13 of 128); chance 3%."``."""
    if score.n_evaluated == 0:
        return f"From {score.label}: no team plays another match here, nothing to name."
    return (
        f"From {score.label}: the team is named right in {score.accuracy:.0%} of held-out "
        f"matches ({score.n_correct} of {score.n_evaluated}); chance is {score.chance:.0%} "
        f"({score.n_teams} teams)."
    )


def identity_frame(scores: Sequence[IdentityScore]) -> pl.DataFrame:
    """One row per input: what was used, accuracy, chance, counts."""
    return pl.DataFrame(
        {
            "input": [s.label for s in scores],
            "accuracy": [s.accuracy for s in scores],
            "chance": [s.chance for s in scores],
            "named right": [s.n_correct for s in scores],
            "team-matches": [s.n_evaluated for s in scores],
        },
        schema={
            "input": pl.String,
            "accuracy": pl.Float64,
            "chance": pl.Float64,
            "named right": pl.Int64,
            "team-matches": pl.Int64,
        },
    )


def headline(report: ResultsReport) -> str:
    """How many patterns go with a result, over how many matches."""
    evid = report.associations.filter(pl.col("verdict") == EVIDENCE)
    n_with = evid["pattern"].n_unique()
    n = len(report.dims)
    verb = "goes" if n == 1 else "go"
    return (
        f"Over **{_plural(report.n_matches, 'match', 'es')}** "
        f"({_plural(report.n_teams, 'team')}, {_plural(report.n_segments, 'segment')}), "
        f"**{n_with} of {_plural(n, 'pattern')}** {verb} with a match result (goal, xG or "
        "shot difference) beyond chance."
    )


def cautions(report: ResultsReport) -> list[str]:
    """What to keep in mind reading the numbers."""
    out = list(report.notes)
    if report.n_matches < MIN_VERDICT_MATCHES:
        out.append(
            f"Only {_plural(report.n_matches, 'match', 'es')}: the intervals are too rough "
            f"to judge (at least {MIN_VERDICT_MATCHES} are needed). Train a run on a whole competition for verdicts."
        )
    if not report.reproduced:
        out.append(
            "No pattern of this run has been found again across seeds yet, so every pattern "
            "is marked unconfirmed."
        )
    out.append(
        "An association is not a cause: a team that leads may sit deeper because it leads. "
        "Both teams of a match are rows, and the interval resamples whole matches."
    )
    return out


# --- figure ---------------------------------------------------------------------------------


def results_figure(
    assoc: pl.DataFrame, order: Sequence[str], labels: Mapping[str, str]
) -> go.Figure:
    """r and its interval per pattern (rows) and outcome (panels); colour = verdict."""
    outcomes = [o for o in OUTCOMES if o in set(assoc["outcome"].to_list())]
    fig = make_subplots(
        rows=1,
        cols=max(len(outcomes), 1),
        shared_yaxes=True,
        subplot_titles=[OUTCOMES[o] for o in outcomes],
        horizontal_spacing=0.04,
    )
    names = [labels.get(d, d) for d in order]
    shown: set[str] = set()
    for col, outcome in enumerate(outcomes, start=1):
        part = assoc.filter((pl.col("outcome") == outcome) & pl.col("r").is_not_null())
        for verdict, color in VERDICT_COLORS.items():
            rows = part.filter(pl.col("verdict") == verdict)
            if rows.is_empty():
                continue
            # Plain lists, not numpy arrays: plotly would ship those as typed-array blobs.
            r = rows["r"].to_list()
            low = rows["low"].fill_null(float("nan")).to_list()
            high = rows["high"].fill_null(float("nan")).to_list()
            fig.add_trace(
                go.Scatter(
                    x=r,
                    y=[labels.get(d, d) for d in rows["pattern"].to_list()],
                    mode="markers",
                    marker={"color": color, "size": 9},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        # r can sit on its interval's end (within rounding): never below 0.
                        "array": [max(h - x, 0.0) for h, x in zip(high, r, strict=True)],
                        "arrayminus": [max(x - lo, 0.0) for x, lo in zip(r, low, strict=True)],
                        "color": color,
                        "thickness": 2,
                    },
                    name=verdict,
                    legendgroup=verdict,
                    showlegend=verdict not in shown,
                    customdata=list(zip(low, high, rows["n_matches"].to_list(), strict=True)),
                    hovertemplate="%{y}<br>r = %{x:+.2f}, "
                    + f"{LEVEL:.0%} CI "
                    + "%{customdata[0]:+.2f} to %{customdata[1]:+.2f}"
                    + "<br>%{customdata[2]} matches<extra>"
                    + OUTCOME_SHORT.get(outcome, outcome)
                    + "</extra>",
                ),
                row=1,
                col=col,
            )
            shown.add(verdict)
        fig.add_vline(x=0, line={"color": "#444", "width": 1, "dash": "dot"}, row=1, col=col)
        fig.update_xaxes(range=[-1.05, 1.05], title_text="r", row=1, col=col)
    fig.update_yaxes(categoryorder="array", categoryarray=names, autorange="reversed")
    fig.update_layout(
        height=140 + 34 * max(len(names), 1),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "x": 0, "y": -0.15, "yanchor": "top", "title": "verdict"},
    )
    return fig


def results_table(report: ResultsReport) -> pl.DataFrame:
    """The team-match table as shown and downloaded: names, codes, outcomes."""
    return report.table.sort("match_id", "team_id")
