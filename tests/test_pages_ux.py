"""Pages that lead somewhere (issue 24): the map's hover names team, match, minute and
score, colour by team has a legend, an opened segment is ringed on the map, the States
page opens on its states table, the Sweep states its estimate before it starts, display
names and pattern names replace code names, p-values never read "0.0e+0".

AppTest over the real demo run; the browser walks are in test_browser_open_moment.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from core.features.names import display_name
from core.views.inspector import selection_contrast
from core.views.latent_map import (
    ColorSpec,
    color_spec,
    dim_meanings,
    hover_text,
    latent_map_figure,
    with_meaning,
)
from core.views.map_panels import arrived, profile_rows, readable_contrast, scroll_script
from core.views.palettes import MAX_LEGEND_CATEGORIES, WIDE_QUALITATIVE
from core.views.states import readable_profile
from core.views.sweep import CONFIRM_ABOVE_S, RUN_OVERHEAD_S, sweep_estimate
from core.views.table import SegmentTable, load_segment_table
from tests.helpers import chart, healthy, open_app, texts

if TYPE_CHECKING:
    from core.runs.store import Run


@pytest.fixture(scope="module")
def table(demo_run: Run) -> SegmentTable:
    return load_segment_table(demo_run)


class TestMapHover:
    def test_hover_names_team_minute_match_and_score(self, table: SegmentTable) -> None:
        text = hover_text(table.meta)
        assert len(text) == table.n
        row = table.meta.row(0, named=True)
        minute = int(np.floor(row["match_minute"]))
        state = row["score_state"]
        score = (
            "level" if state == 0 else f"{'leading' if state > 0 else 'trailing'} by {abs(state)}"
        )
        assert text[0] == f"{row['team_name']} · {minute}'<br>{row['match_label']} · {score}"
        fig = latent_map_figure(table, color_spec(table, "latent", latent=0))
        assert "%{text}" in fig.data[0].hovertemplate
        assert "segment %{customdata}" not in fig.data[0].hovertemplate
        # Each point carries its own row's hover.
        rows = np.asarray(fig.data[0].customdata)
        assert list(fig.data[0].text[:3]) == [text[r] for r in rows[:3]]

    def test_team_colouring_has_a_legend_of_distinct_colours(self, table: SegmentTable) -> None:
        """32 teams (a World Cup) each get a legend entry and a colour of their own."""
        n_teams = 32
        assert n_teams <= MAX_LEGEND_CATEGORIES
        spec = ColorSpec(
            values=np.arange(table.n) % n_teams,
            title="Team",
            categories=[f"team {i}" for i in range(n_teams)],
        )
        fig = latent_map_figure(table, spec)
        assert [t.name for t in fig.data] == spec.categories
        assert all(t.showlegend is not False for t in fig.data)
        colours = [t.marker.color for t in fig.data]
        assert len(set(colours)) == n_teams and set(colours) <= set(WIDE_QUALITATIVE)
        assert fig.layout.legend.title.text == "Team"
        real = latent_map_figure(table, color_spec(table, "team"))
        assert {t.name for t in real.data} == set(table.meta["team_name"].unique().to_list())

    def test_an_opened_segment_is_ringed_and_scrolled_to(self, table: SegmentTable) -> None:
        fig = latent_map_figure(table, color_spec(table, "team"), highlight=7)
        ring = next(t for t in fig.data if t.name == "inspected segment")
        assert list(ring.customdata) == [7]
        assert float(ring.x[0]) == pytest.approx(float(table.xy[7, 0]))
        assert arrived(7, map_state_present=False)
        assert not arrived(7, map_state_present=True)  # a click on the map itself
        assert not arrived(None, map_state_present=False)
        script = scroll_script(7)
        assert "inspector_pitch" in script and "scrollIntoView" in script
        assert script != scroll_script(8)  # each opening is a new element


class TestReadableNames:
    def test_profile_and_contrast_read_in_display_names(
        self, table: SegmentTable, demo_run: Run
    ) -> None:
        rows = profile_rows(table, 0, None)
        assert set(rows["feature"]) <= {display_name(f) for f in table.feature_names}
        assert [display_name(c) for c in rows["code"]] == rows["feature"].to_list()
        mask = np.zeros(table.n, dtype=bool)
        mask[: table.n // 2] = True
        raw = selection_contrast(table, mask).with_columns(pl.col("name").alias("key"))
        meanings = dim_meanings(demo_run)
        out = readable_contrast(raw, meanings)
        assert not any(n.startswith(("t1_", "t2_", "t3_")) for n in out["name"])
        assert "0.0e+0" not in out["p"].to_list()
        tiny = raw.with_columns(pl.lit(0.0).alias("p_value"))
        assert set(readable_contrast(tiny, meanings)["p"]) == {"< 0.001"}
        z0 = out.filter(pl.col("key") == "z0")["name"].item()
        assert z0 == (f"z0: {meanings['z0']}" if "z0" in meanings else "z0")

    def test_dims_are_named_by_their_pattern(self, demo_run: Run) -> None:
        meanings = dim_meanings(demo_run)
        distinct = demo_run.dim_quality().distinct
        assert set(meanings) == set(distinct)
        dim = distinct[0]
        label = with_meaning(dim, dim, meanings)
        assert label.startswith(f"{dim}: ") or meanings[dim].startswith("unconfirmed")
        assert with_meaning("z99", "z99", meanings) == "z99"

    def test_state_profile_names_features(self, demo_run: Run) -> None:
        from core.runs.states_store import load_states

        found = load_states(demo_run)
        if found is None:
            pytest.skip("the demo run's states are not computed in this session")
        prof = readable_profile(found.profiles.filter(pl.col("state") == 0).head(5))
        assert prof.columns[0] == "name" and prof.columns[-1] == "feature"
        assert prof["name"].to_list() == [display_name(f) for f in prof["feature"]]


class TestPages:
    def test_latent_map_opened_from_elsewhere_rings_the_segment(self, demo_run: Run) -> None:
        at = open_app(demo_run, "latent-map", inspect_row=5)
        healthy(at, no_errors=True)
        fig = chart(at, "latent_map")
        rings = [t for t in fig["data"] if t.get("name") == "inspected segment"]
        assert len(rings) == 1
        assert "Close inspector" in [b.label for b in at.button]
        assert "%{text}" in fig["data"][0]["hovertemplate"]

    def test_states_page_opens_on_the_states_table(self, demo_run: Run) -> None:
        at = open_app(demo_run, "states")
        healthy(at, no_errors=True)
        assert [t.label for t in at.tabs][:2] == ["States and profiles", "BIC curves"]
        assert "Tick a state's row to open its most typical segment" in texts(at)
        prof = next(d.value for d in at.dataframe if "state_mean" in d.value.columns)
        assert all(not str(n).startswith(("t1_", "t2_", "t3_")) for n in prof["name"])

    def test_interpretation_shows_patterns_and_p_as_text(self, demo_run: Run) -> None:
        at = open_app(demo_run, "interpretation")
        healthy(at, no_errors=True)
        table = next(d.value for d in at.dataframe if "abs_r" in d.value.columns)
        meanings = dim_meanings(demo_run)
        assert table["pattern"].tolist() == [meanings.get(d, "") for d in table["latent_dim"]]
        assert all(isinstance(p, str) and "e+" not in p for p in table["p_value"])

    def test_sweep_states_its_estimate_before_it_starts(
        self, demo_run: Run, demo_dataset: Path
    ) -> None:
        at = open_app(demo_run, "sweep")
        healthy(at)
        features = demo_dataset / "features.parquet"
        betas = at.multiselect(key="sweep_betas").value
        dims = at.multiselect(key="sweep_dims").value
        estimate = sweep_estimate(features, betas, dims)
        assert estimate.n_cells == len(betas) * len(dims)
        # The cells to train and the pace move when another test's run finishes meanwhile;
        # the grid's size and the estimate's form do not.
        shown = [m.value for m in at.markdown if m.value.startswith("**Estimate:**")]
        assert len(shown) == 1, texts(at)
        assert re.search(
            rf" of {estimate.n_cells} cells to train x about .+ = about \*\*", shown[0]
        )
        start = at.button(key="sweep_start")
        assert start.disabled == estimate.needs_confirmation
        if estimate.needs_confirmation:
            at.checkbox(key="sweep_confirm").check().run()
            assert not at.button(key="sweep_start").disabled


def test_sweep_estimate_is_cells_times_one_run(demo_dataset: Path) -> None:
    features = demo_dataset / "features.parquet"
    n = pl.scan_parquet(features).filter(pl.col("segment_type") == "window").select(pl.len())
    n_segments = int(n.collect().item())
    est = sweep_estimate(features, [0.5, 1.0], [2, 3], pace=1e-3)
    assert est.n_cells == 4 and est.n_segments == n_segments
    assert est.run_s == pytest.approx(RUN_OVERHEAD_S + 1e-3 * n_segments * est.n_epochs)
    assert est.total_s == pytest.approx(est.n_to_train * est.run_s)
    slow = sweep_estimate(features, [0.5, 1.0], [2, 3], pace=1.0)
    assert slow.needs_confirmation and slow.total_s > CONFIRM_ABOVE_S
    assert f"{slow.n_to_train} of 4 cells to train" in slow.text
