"""Metrica's clock: kloppy's Metrica fixture, window by window, against counts taken from
kloppy itself.

The reference below reads kloppy's own events, timestamps and period ids and calls no
product code. Two things about the fixture decide the clock:

- Its metadata (``epts_metrica_metadata.xml``) belongs to a two-second tracking clip: kloppy
  starts period 1 at 18 s and period 2 at 26 s, so the kick-off lies at -3.56 s and
  period 2's events at 2777.6 s and later. Each period is therefore timed from its first
  event, the kick-off, in the reference as in the product (which re-bases and warns).
- A window is ``[start, end)``, except that a window ending at its period's end holds that
  instant: period 1 ends with a goal kick and period 2 with a pass, exactly at the period's
  end. Before the fix in ``core.features.segments`` those two passes were in no window
  (72 of the 74 windows agreed with this reference; now all 74 do). With windows as long
  as their stride, a short last window was also dropped although no other window held its
  events (400 s windows: 35 of kloppy's 1473 passes were in no window).

The pass count itself needs no fix: the product's ``pass`` rows are kloppy's
``PassEvent``s one to one, and these are Metrica's PASS, BALL LOST and BALL OUT rows (the
last two are passes that did not arrive); a SET PIECE row is folded by kloppy into the
pass that follows it, and the synthetic ball-out marker kloppy adds after an out pass
shares that pass's id but is no pass.
"""

from __future__ import annotations

import importlib.resources
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Final

import polars as pl
import pytest
from kloppy import metrica
from kloppy.domain import EventDataset, PassEvent, SetPieceQualifier, SetPieceType

from core.data.providers import ProviderMatch
from core.features.match_tables import MatchTables, extract_match

FILES: Final = Path(str(importlib.resources.files("kloppy"))) / "tests" / "files"
EVENTS: Final = FILES / "metrica_events.json"
METADATA: Final = FILES / "epts_metrica_metadata.xml"
MATCH_ID: Final = 1
US: Final = timedelta(microseconds=1)

pytestmark = pytest.mark.skipif(
    not (EVENTS.is_file() and METADATA.is_file()),
    reason="kloppy's Metrica fixture is not installed with kloppy",
)

# (team name, period, start, end) in microseconds from the period's kick-off -> passes.
Windows = dict[tuple[str, int, int, int], int]


@pytest.fixture(scope="module")
def dataset() -> EventDataset:
    return metrica.load_event(event_data=str(EVENTS), meta_data=str(METADATA))


def _extract(window_s: float, stride_s: float) -> MatchTables:
    files = {"events": EVENTS, "metadata": METADATA}
    return extract_match(
        ProviderMatch(MATCH_ID, "metrica", FILES, files), window_s=window_s, stride_s=stride_s
    )


@pytest.fixture(scope="module")
def default_windows() -> MatchTables:
    return _extract(300.0, 150.0)


def kloppy_window_passes(dataset: EventDataset, window_s: float, stride_s: float) -> Windows:
    """Passes per team per window, from kloppy's events alone (exact, in microseconds).

    Each period runs from its first event (the kick-off) to its last; windows start every
    ``stride_s`` and last ``window_s``, cut at the period's end; a window shorter than half
    a window is left out when the previous window reaches the period's end. A pass belongs
    to a window when ``start <= t < end``, or ``t == end`` at the period's end.
    """
    window, stride = round(window_s * 1e6), round(stride_s * 1e6)
    kick_off: dict[int, timedelta] = {}
    for event in dataset.records:
        pid = event.period.id
        kick_off[pid] = min(kick_off.get(pid, event.timestamp), event.timestamp)
    times = [
        (event.period.id, (event.timestamp - kick_off[event.period.id]) // US)
        for event in dataset.records
    ]
    period_end = {pid: max(t for p, t in times if p == pid) for pid in kick_off}
    passes = [
        (str(event.team.name), pid, t)
        for event, (pid, t) in zip(dataset.records, times, strict=True)
        if isinstance(event, PassEvent) and event.team is not None
    ]
    out: Windows = {}
    for pid, last in period_end.items():
        k = 0
        while k == 0 or k * stride < last:
            start, end = k * stride, min(k * stride + window, last)
            if k == 0 or end - start >= window / 2 or (k - 1) * stride + window < last:
                for team in dataset.metadata.teams:
                    out[(str(team.name), pid, start, end)] = sum(
                        name == team.name
                        and p == pid
                        and start <= t
                        and (t < end or (t == end == last))
                        for name, p, t in passes
                    )
            k += 1
    return out


def product_window_passes(tables: MatchTables) -> Windows:
    """Passes per team per window as the product's features say (rate x minutes)."""
    windows = tables.features.filter(pl.col("segment_type") == "window")
    minutes = (pl.col("end_time") - pl.col("start_time")) / 60.0
    rows = windows.select(
        "team_name",
        "period",
        (pl.col("start_time") * 1e6).round(0).cast(pl.Int64).alias("start"),
        (pl.col("end_time") * 1e6).round(0).cast(pl.Int64).alias("end"),
        (pl.col("t1_passes_per_min") * minutes).fill_null(0.0).round(6).alias("passes"),
    )
    out: Windows = {}
    for name, period, start, end, passes in rows.iter_rows():
        assert float(passes).is_integer(), (name, period, start, passes)
        out[(name, period, start, end)] = int(passes)
    return out


class TestClock:
    def test_kloppys_period_starts_come_from_a_tracking_clip(self, dataset: EventDataset) -> None:
        starts = {p.id: p.start_timestamp.total_seconds() for p in dataset.metadata.periods}
        assert starts == {1: 18.0, 2: 26.0}
        first = {
            pid: min(e.timestamp.total_seconds() for e in dataset.records if e.period.id == pid)
            for pid in starts
        }
        assert first == pytest.approx({1: -3.56, 2: 2777.6})

    def test_each_period_starts_at_its_kick_off(
        self, dataset: EventDataset, default_windows: MatchTables
    ) -> None:
        events = default_windows.events
        assert events.group_by("period").agg(pl.col("time_s").min()).sort("period").rows() == [
            (1, 0.0),
            (2, 0.0),
        ]
        for pid in (1, 2):
            first = min(
                (e for e in dataset.records if e.period.id == pid), key=lambda e: e.timestamp
            )
            assert isinstance(first, PassEvent)
            assert first.get_qualifier_value(SetPieceQualifier) == SetPieceType.KICK_OFF
        # Times agree with kloppy's, re-based on the kick-off, to the microsecond.
        ours = sorted(events.filter(pl.col("type") == "pass").get_column("time_s").to_list())
        kick_off = {
            pid: min(e.timestamp for e in dataset.records if e.period.id == pid) for pid in (1, 2)
        }
        theirs = sorted(
            (e.timestamp - kick_off[e.period.id]) / timedelta(seconds=1)
            for e in dataset.records
            if isinstance(e, PassEvent)
        )
        assert ours == pytest.approx(theirs, abs=1e-6)


class TestPassCount:
    def test_passes_are_kloppys_pass_events_one_to_one(
        self, dataset: EventDataset, default_windows: MatchTables
    ) -> None:
        raw = json.loads(EVENTS.read_text())["data"]
        kinds = Counter(e["type"]["name"] for e in raw)
        kloppy_passes = sum(isinstance(e, PassEvent) for e in dataset.records)
        assert kloppy_passes == kinds["PASS"] + kinds["BALL LOST"] + kinds["BALL OUT"] == 1473
        assert kinds["SET PIECE"] == 90  # folded into the pass that follows, not counted
        ours = default_windows.events.filter(pl.col("type") == "pass")
        assert ours.height == kloppy_passes


class TestWindows:
    def test_every_window_counts_kloppys_passes(
        self, dataset: EventDataset, default_windows: MatchTables
    ) -> None:
        # A pass lies exactly on a boundary inside period 1 (1350 s from the kick-off): it
        # belongs to the windows starting there (1200, 1350), not to the one ending there.
        kick_off = min(e.timestamp for e in dataset.records if e.period.id == 1)
        assert any(
            isinstance(e, PassEvent)
            and e.period.id == 1
            and e.timestamp - kick_off == timedelta(seconds=1350)
            for e in dataset.records
        )
        theirs = kloppy_window_passes(dataset, 300.0, 150.0)
        ours = product_window_passes(default_windows)
        assert len(ours) == 74
        assert ours.keys() == theirs.keys()
        differing = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
        assert not differing

    def test_the_last_pass_of_a_period_is_in_the_window_that_ends_there(
        self, dataset: EventDataset, default_windows: MatchTables
    ) -> None:
        # Period 1 ends with Team B's goal kick at 2767.24 s, period 2 with Team B's pass at
        # 2938.52 s: each is in the period's last window (from 2550 s and 2700 s), which
        # counts Team B's passes from its start up to and including the period's end.
        ours = product_window_passes(default_windows)
        for pid, start, end in ((1, 2550.0, 2767.24), (2, 2700.0, 2938.52)):
            records = [e for e in dataset.records if e.period.id == pid]
            kick_off = min(e.timestamp for e in records)
            final = max(e.timestamp for e in records)
            assert (final - kick_off) / timedelta(seconds=1) == pytest.approx(end)
            assert any(
                isinstance(e, PassEvent) and e.team is not None and str(e.team.name) == "Team B"
                for e in records
                if e.timestamp == final
            )
            closed = sum(
                isinstance(e, PassEvent)
                and e.team is not None
                and str(e.team.name) == "Team B"
                and start <= (e.timestamp - kick_off) / timedelta(seconds=1) <= end + 1e-6
                for e in records
            )
            assert ours[("Team B", pid, round(start * 1e6), round(end * 1e6))] == closed

    def test_non_overlapping_windows_add_up_to_kloppys_totals(self, dataset: EventDataset) -> None:
        # 400 s windows every 400 s: period 2's last window (2800 s to its end at 2938.52 s)
        # is shorter than half a window and nothing else holds its events, so it is kept.
        ours = product_window_passes(_extract(400.0, 400.0))
        theirs = kloppy_window_passes(dataset, 400.0, 400.0)
        assert ours == theirs
        assert (str(dataset.metadata.teams[0].name), 2, 2_800_000_000, 2_938_520_000) in ours
        totals = Counter(
            (str(e.team.name), e.period.id)
            for e in dataset.records
            if isinstance(e, PassEvent) and e.team is not None
        )
        summed: Counter[tuple[str, int]] = Counter()
        for (name, period, _, _), n in ours.items():
            summed[(name, period)] += n
        assert summed == totals
