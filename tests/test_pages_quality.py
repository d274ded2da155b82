"""Pages tell the truth about latent dimensions: distinct ones by default, the others marked
behind one sidebar toggle, a banner for a run that found one axis at most, a PCA baseline
on Overview, and a default run that is never a failed one.

Runs are real: ``demo_run`` (conftest; two distinct dimensions, one redundant, one
inactive) and a small run with the notebook preset (beta 4, dropout 0.2), which keeps at
most one distinct dimension on the demo features.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from core.infra.io import atomic_write_json, read_json
from core.jobs.api import delete_run
from core.model.config import PreprocessConfig, VAEConfig
from core.model.latents import latent_names
from core.runs.files import DIAGNOSTICS_FILE
from core.runs.store import Run, create_run, get_run, list_runs
from core.views.dims import DimView, shown_rows
from core.views.runs import default_run
from tests.conftest import DEMO_RUN_VAE, AppPage
from tests.helpers import frame_with, healthy, open_app, texts

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

SHOW_ALL = "show_all_dims"


def _unfinished_run(demo_dataset: Path, seed: int, state: str | None = None) -> Run:
    """A real, untrained run of the demo features (queued), or recorded as ``state``."""
    vae = VAEConfig(**{**DEMO_RUN_VAE, "random_state": seed})
    run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
    if state == "failed":
        run.update_status(state="failed", error="loss became NaN at epoch 3")
    elif state is not None:
        run.update_status(state=state)
    return run


@pytest.fixture
def failed_run(demo_dataset: Path) -> Iterator[Run]:
    run = _unfinished_run(demo_dataset, 9001, "failed")
    yield run
    delete_run(run.run_id, force=True)


@pytest.fixture
def queued_runs(demo_dataset: Path) -> Iterator[list[Run]]:
    runs = [_unfinished_run(demo_dataset, seed) for seed in (9002, 9003)]
    yield runs
    for run in runs:
        delete_run(run.run_id, force=True)


def app_on(run: Run | None, page: str = "overview", *, show_all: bool = False) -> AppTest:
    """The app (router and sidebar) on ``page`` over ``run`` (the default run when None)."""
    at = open_app(run, page, **{SHOW_ALL: show_all})
    healthy(at, page)
    return at


# --- the default run ------------------------------------------------------------------------


class TestDefaultRun:
    def test_a_finished_healthy_run_wins_over_newer_failed_and_collapsed_ones(
        self, demo_run: Run, collapsed_run: Run, failed_run: Run, queued_runs: list[Run]
    ) -> None:
        assert demo_run.dim_quality().healthy
        ids = {demo_run.run_id, collapsed_run.run_id, failed_run.run_id}
        ids |= {r.run_id for r in queued_runs}
        newest_first = [r for r in list_runs() if r.run_id in ids]
        assert newest_first[-1].run_id == demo_run.run_id  # the oldest of them
        chosen = default_run(newest_first)
        assert chosen is not None and chosen.run_id == demo_run.run_id
        # Without a healthy run, a finished one still beats newer unfinished or failed runs.
        rest = [r for r in newest_first if r.run_id != demo_run.run_id]
        chosen = default_run(rest)
        assert chosen is not None and chosen.run_id == collapsed_run.run_id

    def test_without_a_finished_run_unfinished_beats_failed_and_newest_first(
        self, failed_run: Run, queued_runs: list[Run]
    ) -> None:
        newer, older = queued_runs[1], queued_runs[0]
        chosen = default_run([failed_run, newer, older])
        assert chosen is not None and chosen.run_id == newer.run_id
        chosen = default_run([failed_run, older, newer])
        assert chosen is not None and chosen.run_id == older.run_id
        # A failed run only when there is nothing else (its page then shows the error).
        only = default_run([failed_run])
        assert only is not None and only.run_id == failed_run.run_id
        assert default_run([]) is None

    def test_the_app_never_opens_a_failed_run(
        self, demo_run: Run, collapsed_run: Run, failed_run: Run
    ) -> None:
        assert list_runs()[0].run_id == failed_run.run_id  # the newest run of the store
        at = app_on(None)
        chosen = at.session_state["active_run"]
        assert chosen != failed_run.run_id
        # The newest finished run with two distinct dimensions or more (demo_run is one).
        expected = next(
            r for r in list_runs() if r.status().state == "done" and r.dim_quality().healthy
        )
        assert chosen == expected.run_id
        run = get_run(chosen)
        assert run.status().state == "done"
        assert at.selectbox(key="active_run").value == chosen


# --- warnings for a run that found one axis at most ---------------------------------------


class TestCollapsedRun:
    def test_interpretation_and_data_pages_warn(self, collapsed_run: Run) -> None:
        text = collapsed_run.dim_quality().warning()
        assert text is not None and "distinct of 4" in text
        at = app_on(collapsed_run, "interpretation")
        assert text in [w.value for w in at.warning]  # the page's banner
        assert any("Only" in w.value and "distinct of 4" in w.value for w in at.warning)
        at.switch_page("pages/data.py").run()  # a page without a run: the sidebar says it
        healthy(at)
        assert any("distinct of 4" in w.value for w in at.warning)

    def test_traversal_opens_on_the_most_informative_distinct_dimension(
        self, collapsed_run: Run
    ) -> None:
        quality = collapsed_run.dim_quality()
        first = quality.distinct[0]
        at = app_on(collapsed_run, "traversal")
        picker = at.selectbox(key="trav_dim")
        assert picker.value == latent_names(len(quality.names)).index(first)
        assert picker.options == [quality.label(first)]  # the others are hidden by default
        assert any(m.value.startswith(f"**{first} +2: ") for m in at.markdown)

    def test_overview_without_a_baseline(self, collapsed_run: Run) -> None:
        path = collapsed_run.artifact_path(DIAGNOSTICS_FILE)
        original = read_json(path)
        try:
            for missing in ({"baseline": None}, {}):
                diag = {k: v for k, v in original.items() if k != "baseline"} | missing
                atomic_write_json(path, diag)
                at = app_on(collapsed_run)
                assert "This run has no PCA baseline" in texts(at)
                assert "PCA reconstruction error" not in [m.label for m in at.metric]
                dims = frame_with(at, "dimension", "best component")
                assert dims["dimension"].tolist() == collapsed_run.dim_quality().distinct
                assert dims["best component"].isna().all()
        finally:
            atomic_write_json(path, original)


# --- distinct by default, all with the toggle ----------------------------------------------


class TestShowAll:
    def test_hidden_dimensions_are_named_then_listed_and_marked(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        hidden = [n for n in quality.names if n not in quality.distinct]
        assert quality.inactive and quality.redundant and hidden  # all three kinds present
        at = app_on(demo_run, "interpretation")
        table = frame_with(at, "latent_dim", "dim_status", "abs_r")
        assert table["latent_dim"].unique().tolist() == quality.distinct
        assert all(s.startswith("distinct, found in ") for s in table["dim_status"])
        note = next(c.value for c in at.caption if "Showing" in c.value)
        assert all(quality.label(n) in note for n in hidden), note

        at.toggle(key=SHOW_ALL).set_value(True).run()
        healthy(at)
        table = frame_with(at, "latent_dim", "dim_status", "abs_r")
        assert table["latent_dim"].unique().tolist() == quality.shown(True)
        status = dict(zip(table["latent_dim"], table["dim_status"], strict=True))
        for n in quality.inactive:
            assert status[n] == "inactive"
        for n, copied in quality.redundant.items():
            assert status[n] == f"redundant: copies {copied}"
        assert not any(c.value.startswith("Showing") for c in at.caption)

        # The toggle is the sidebar's: it holds on every page of the session.
        at.switch_page("pages/overview.py").run()
        healthy(at)
        assert at.toggle(key=SHOW_ALL).value is True
        dims = frame_with(at, "dimension", "status")
        assert dims["dimension"].tolist() == quality.shown(True)
        assert "inactive" in dims["status"].tolist()
        at.switch_page("pages/traversal.py").run()
        healthy(at)
        picker = at.selectbox(key="trav_dim")
        assert picker.options == [quality.label(n) for n in quality.shown(True)]
        assert picker.value == latent_names(len(quality.names)).index(quality.distinct[0])
        at.switch_page("pages/correlations.py").run()
        healthy(at)
        heatmap = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("corr_heatmap"))
        rows = json.loads(heatmap.proto.spec)["data"][0]["y"]
        assert rows == [quality.label(n) for n in quality.shown(True)]

    def test_latent_map_colours_by_distinct_dimensions(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        at = app_on(demo_run, "latent-map")
        at.selectbox(key="map_color").select("latent").run()
        healthy(at)
        assert at.selectbox(key="map_latent").options == quality.distinct
        at.toggle(key=SHOW_ALL).set_value(True).run()
        healthy(at)
        options = at.selectbox(key="map_latent").options
        assert options == [quality.label(n) for n in quality.shown(True)]
        assert any("(inactive)" in o for o in options)

    def test_runs_table_counts_distinct_dimensions(self, demo_run: Run, collapsed_run: Run) -> None:
        at = app_on(demo_run, "runs")
        table = frame_with(at, "run", "distinct dims")
        counts = dict(zip(table["run"], table["distinct dims"], strict=True))
        assert counts[demo_run.run_id] == demo_run.dim_quality().n_distinct == 2
        assert counts[collapsed_run.run_id] == collapsed_run.dim_quality().n_distinct <= 1


# --- in a real browser ----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow  # drives the served app for several seconds
def test_toggle_and_banner_in_the_browser(
    app_page: AppPage, demo_run: Run, collapsed_run: Run
) -> None:
    page = app_page.page
    app_page.goto("")
    app_page.goto(f"interpretation?run={demo_run.run_id}")
    main = page.locator('[data-testid="stMain"]')
    assert "distinct" in main.inner_text()
    assert "(inactive)" in main.inner_text()  # named in the note on what is hidden
    grid_text = page.locator('[data-testid="stDataFrame"]').first.inner_text()
    assert "inactive" not in grid_text
    page.locator(".st-key-show_all_dims label").click()
    app_page.wait_until_idle()
    assert page.locator(".st-key-show_all_dims input").is_checked()
    assert "Showing 2 distinct" not in main.inner_text()
    # Another page through the navigation keeps the session, and so the toggle.
    app_page.open_from_nav("Overview")
    assert page.locator(".st-key-show_all_dims input").is_checked()
    assert page.locator("h1").first.inner_text().strip() == "Tactical states"
    text = main.inner_text()
    assert "What this run found" in text
    assert "Showing 2 distinct" not in text  # nothing hidden: the toggle held
    app_page.assert_healthy()

    quality = collapsed_run.dim_quality()
    app_page.goto(f"correlations?run={collapsed_run.run_id}")
    alerts = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    assert quality.verdict.split(".")[0] in alerts
    assert "Only" in page.locator('[data-testid="stSidebar"]').inner_text()
    app_page.assert_healthy()


def test_shown_rows_keep_order_and_mark_status(demo_run: Run) -> None:
    """The helper every per-dimension table goes through (pages/_ui/dims.py)."""
    quality = demo_run.dim_quality()
    table = demo_run.interpretation()
    for show in (False, True):
        view = DimView(names=quality.names, quality=quality, all_shown=show)
        out = shown_rows(table, view)
        assert out["latent_dim"].unique(maintain_order=True).to_list() == quality.shown(show)
        assert out.height == 5 * len(quality.shown(show))
        first = out.filter(pl.col("latent_dim") == quality.distinct[0])
        expected = table.filter(pl.col("latent_dim") == quality.distinct[0])
        assert first["feature"].to_list() == expected["feature"].to_list()
    no_quality = DimView(names=quality.names, quality=None, all_shown=False)
    assert no_quality.shown == quality.names and no_quality.label("z2") == "z2"
