"""The dashboard's pages in Streamlit's AppTest over the real demo run.

Each test starts the app from ``app.py`` (sidebar, navigation, URL state included), moves
to a page and checks what it shows against the run's own files, with expectations worked
out here from those files. That every page renders at all is the page sweep's
(``test_pages_sweep.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.features.names import display_name
from core.features.registry import registry_frame
from core.jobs.api import delete_run
from core.model.config import PreprocessConfig, VAEConfig
from core.runs.store import Run, create_run, get_run, list_runs
from tests.conftest import DEMO_RUN_VAE
from tests.helpers import APP, chart, decode, healthy, new_app, page, texts

TURKEY_ITALY = 3788741


def _page(url: str) -> str:
    """The file of the page app.py serves at ``url``."""
    return page(url).file


@pytest.fixture
def app(demo_run: Run) -> AppTest:
    """The app over the demo run, not run yet: a test opens its page
    (``app.switch_page(...).run()``), or app.py's default page (``app.run()``)."""
    return new_app(demo_run)


@pytest.fixture
def spare_run(demo_dataset: Path) -> Iterator[Run]:
    """A second, untrained (queued) run of the demo features; removed afterwards."""
    vae = VAEConfig(**{**DEMO_RUN_VAE, "random_state": 99})
    run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
    yield run
    if run.path.exists():
        delete_run(run.run_id, force=True)


class TestNavigation:
    # Every page renders over the demo run with the sidebar: tests/test_pages_sweep.py.
    def test_filters_narrow_and_are_mirrored_in_the_url(self, app: AppTest) -> None:
        app.run()
        app.multiselect(key="filter_competitions").select("La Liga").run()
        healthy(app)
        assert app.query_params["competition"] == "La Liga"
        matches = app.multiselect(key="filter_matches")
        assert TURKEY_ITALY not in matches.options and len(matches.options) == 2
        app.multiselect(key="filter_periods").select(2).run()
        assert app.query_params["period"] == "2"
        app.switch_page(_page("latent-map")).run()
        healthy(app)
        # The filters survived the page switch.
        assert app.multiselect(key="filter_periods").value == [2]

    def test_url_reproduces_the_view(self, demo_run: Run) -> None:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["run"] = demo_run.run_id
        at.query_params["match"] = str(TURKEY_ITALY)
        at.query_params["team"] = "999999"  # no such team: dropped, not an error
        at.run()
        healthy(at)
        assert at.session_state["filter_matches"] == [TURKEY_ITALY]
        assert at.session_state["filter_teams"] == []
        at.switch_page(_page("latent-map")).run()
        n_match = demo_run.latents().filter(pl.col("match_id") == TURKEY_ITALY).height
        assert f"Showing {n_match:,} of {demo_run.latents().height:,} segments" in texts(at)

    def test_score_state_filter_narrows_the_map_and_survives_the_url(self, demo_run: Run) -> None:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["run"] = demo_run.run_id
        at.query_params["score"] = ["leading", "nonsense"]  # unknown values are dropped
        at.run()
        healthy(at)
        assert at.multiselect(key="filter_score").value == ["leading"]
        at.switch_page(_page("latent-map")).run()
        healthy(at)
        latents = demo_run.latents()
        n = latents.filter(pl.col("score_state") > 0).height
        assert 0 < n < latents.height
        assert f"Showing {n:,} of {latents.height:,} segments" in texts(at)
        assert at.query_params["score"] == "leading"


class TestOverview:
    def test_dataset_and_run_headline(
        self, app: AppTest, demo_run: Run, demo_dataset: Path
    ) -> None:
        app.run()
        healthy(app)
        metrics = {m.label: m.value for m in app.metric}
        features = pl.read_parquet(demo_dataset / "features.parquet")
        assert metrics["Matches"] == "3"
        assert metrics["Segments"] == f"{features.height:,}"
        quality = demo_run.dim_quality()
        k = demo_run.config().vae.latent_dim
        assert metrics["Reproduced patterns"] == f"{len(quality.reproduced)} / {quality.n_distinct}"
        assert metrics["Unconfirmed · redundant · inactive"] == (
            f"{len(quality.unconfirmed)} · {len(quality.redundant)} · {len(quality.inactive)}"
        )
        last = demo_run.metrics().row(-1, named=True)
        assert metrics["Final total loss"] == f"{last['total']:.4g}"
        page = texts(app)
        assert demo_run.run_id in page
        assert quality.verdict in page
        # The PCA baseline beside the VAE, from diagnostics.json.
        base = demo_run.diagnostics()["baseline"]
        assert metrics[f"Variance explained by {k} components"] == (
            f"{base['cumulative_variance'][-1]:.0%}"
        )
        assert metrics["PCA reconstruction error"] == f"{base['pca_recon_mse']:.4g}"
        assert metrics["VAE reconstruction error"] == f"{base['vae_recon_mse']:.4g}"
        dims = next(d.value for d in app.dataframe if "r2_all_components" in d.columns)
        assert dims["dimension"].tolist() == quality.distinct
        align = {a["latent"]: a for a in base["alignment"]}
        for _, row in dims.iterrows():
            assert row["best component"] == align[row["dimension"]]["component"]
            assert row["abs_r"] == pytest.approx(align[row["dimension"]]["abs_r"])


def _bh_significant(p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Cells significant at false discovery rate ``alpha`` (Benjamini-Hochberg step-up:
    every p up to the largest p_(i) <= alpha * i / m)."""
    finite = np.isfinite(p)
    ranked = np.sort(p[finite])
    passing = np.flatnonzero(ranked <= alpha * np.arange(1, ranked.size + 1) / ranked.size)
    cut = ranked[passing[-1]] if passing.size else -np.inf
    return finite & (np.nan_to_num(p, nan=np.inf) <= cut)


class TestCorrelations:
    def test_heatmap_values_ordering_and_masking(self, app: AppTest, demo_run: Run) -> None:
        app.switch_page(_page("correlations")).run()
        healthy(app)
        corr = demo_run.correlations()
        # Rows: the distinct dimensions, most informative first.
        distinct = demo_run.dim_quality().distinct
        rows = [corr.latent_names.index(n) for n in distinct]
        # Columns by tier ("t2_ppda" is tier 2), then by name.
        keys = [(int(name.split("_")[0][1:]), name) for name in corr.feature_names]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        trace = chart(app, "corr_heatmap")["data"][0]
        # Display names on the axis ("possession share"); code names stay in the hover.
        assert trace["x"] == [display_name(corr.feature_names[i]) for i in order]
        assert list(trace["y"]) == distinct
        np.testing.assert_allclose(decode(trace["z"]), corr.pearson_r[rows][:, order], rtol=1e-9)
        assert (trace["zmin"], trace["zmax"]) == (-1, 1)

        app.toggle(key="corr_mask").set_value(True).run()
        healthy(app)
        z = decode(chart(app, "corr_heatmap")["data"][0]["z"])
        significant = _bh_significant(corr.pearson_p[rows][:, order])
        assert np.isfinite(z).sum() == significant.sum() < z.size

        app.radio(key="corr_method").set_value("spearman").run()
        app.toggle(key="corr_mask").set_value(False).run()
        z = decode(chart(app, "corr_heatmap")["data"][0]["z"])
        np.testing.assert_allclose(z, corr.spearman_r[rows][:, order], rtol=1e-9)

        app.radio(key="corr_order").set_value("cluster").run()
        healthy(app)
        x = chart(app, "corr_heatmap")["data"][0]["x"]
        shown = [display_name(f) for f in corr.feature_names]
        assert sorted(x) == sorted(shown) and x != [shown[i] for i in order]


class TestInterpretation:
    def test_table_with_definitions_pivot_and_downloads(self, app: AppTest, demo_run: Run) -> None:
        app.switch_page(_page("interpretation")).run()
        healthy(app)
        distinct = demo_run.dim_quality().distinct
        # The distinct dimensions, most informative first, each with its top 5.
        expected = pl.concat(
            [demo_run.interpretation().filter(pl.col("latent_dim") == n) for n in distinct]
        )
        frames = [d.value for d in app.dataframe]
        table = next(f for f in frames if "abs_r" in f.columns)
        assert len(table) == expected.height == 5 * len(distinct)
        assert table["feature"].tolist() == expected["feature"].to_list()
        assert all(s.startswith("distinct, found in ") for s in table["dim_status"])
        defs = dict(zip(registry_frame()["name"], registry_frame()["definition"], strict=True))
        assert table["definition"].tolist() == [defs[f] for f in expected["feature"]]
        pivot = next(f for f in frames if "#1" in f.columns)
        assert pivot["dim"].tolist() == distinct
        downloads = app.get("download_button")
        assert len(downloads) == 3
        bars = chart(app, "interp_bars")["data"]
        assert len(bars) == len(distinct)


class TestLatentMap:
    def test_colourings_follow_filters(self, app: AppTest, demo_run: Run) -> None:
        app.switch_page(_page("latent-map")).run()
        healthy(app)
        fig = chart(app, "latent_map")
        n = demo_run.latents().height
        assert sum(len(decode(t["customdata"])) for t in fig["data"]) == n
        app.selectbox(key="map_color").select("team").run()
        names = {t["name"] for t in chart(app, "latent_map")["data"]}
        assert names == set(demo_run.latents()["team_name"].unique().to_list())
        app.multiselect(key="filter_matches").set_value([TURKEY_ITALY]).run()
        healthy(app)
        fig = chart(app, "latent_map")
        assert {t["name"] for t in fig["data"]} == {"Turkey", "Italy"}
        rows = np.concatenate([decode(t["customdata"]) for t in fig["data"]])
        latents = demo_run.latents()
        assert set(latents[rows.astype(int).tolist()]["match_id"].to_list()) == {TURKEY_ITALY}
        for mode in ("latent", "minute", "score_state", "match", "dominant"):
            app.selectbox(key="map_color").select(mode).run()
            healthy(app)

    def test_inspector_and_nearest_segments(self, app: AppTest, demo_run: Run) -> None:
        app.switch_page(_page("latent-map")).run()
        latents = demo_run.latents()
        row = 7
        app.session_state["inspect_row"] = row
        app.run()
        healthy(app)
        seg = latents.row(row, named=True)
        minute = seg["match_minute"]
        end = minute + (seg["end_time"] - seg["start_time"]) / 60
        page = texts(app)
        assert f"{seg['team_name']} · {int(minute)}'–{int(end)}'" in page
        assert seg["opponent_name"] in page
        pitch = chart(app, "inspector_pitch")
        assert pitch["data"], "the segment's events are not drawn"
        # The second nearest segment in latent space (Euclidean, the segment itself left out).
        z = latents.select(demo_run.latent_columns()).to_numpy().astype(np.float64)
        distance = np.linalg.norm(z - z[row], axis=1)
        distance[row] = np.inf
        nearest = np.argsort(distance, kind="stable")
        app.button(key="nearest_2").click().run()
        healthy(app)
        assert app.session_state["inspect_row"] == int(nearest[1])
        app.button(key="close_inspector").click().run()
        assert "inspect_row" not in app.session_state

    def test_selection_compared_with_the_rest(self, app: AppTest, demo_run: Run) -> None:
        app.switch_page(_page("latent-map")).run()
        app.session_state["map_selection"] = list(range(40))
        app.run()
        healthy(app)
        assert "Selection: 40 segments" in texts(app)
        contrast = next(d.value for d in app.dataframe if "effect" in d.columns)
        assert len(contrast) > 0 and contrast["effect"].abs().is_monotonic_decreasing
        assert len(app.get("download_button")) == 1


class TestTrain:
    def _fill(self, at: AppTest, demo_dataset: Path, **vae: Any) -> None:
        at.selectbox(key="train_dataset").set_value(demo_dataset)
        at.slider(key="train_beta").set_value(float(vae["beta"]))
        at.slider(key="train_latent").set_value(vae["latent_dim"])
        at.number_input(key="train_epochs").set_value(vae["n_epochs"])
        at.select_slider(key="train_lr").set_value(vae["learning_rate"])
        at.select_slider(key="train_batch").set_value(vae["batch_size"])
        at.slider(key="train_dropout").set_value(vae["dropout"])
        at.text_input(key="train_hidden").input(",".join(map(str, vae["hidden_dims"])))
        at.number_input(key="train_seed").set_value(vae["random_state"])
        at.number_input(key="train_seeds").set_value(vae.get("ensemble", 1))
        at.selectbox(key="train_rotation").set_value(vae.get("rotation", "none"))
        at.checkbox(key="train_batch_auto").set_value(False)  # exactly the batch given

    def test_presets_fill_the_form(self, app: AppTest) -> None:
        from core.model.presets import NOTEBOOK, RECOMMENDED

        app.switch_page(_page("train")).run()
        healthy(app)
        assert app.radio(key="train_preset").value == "recommended"
        form = (
            app.slider(key="train_beta").value,
            app.slider(key="train_dropout").value,
            app.slider(key="train_latent").value,
            app.selectbox(key="train_rotation").value,
        )
        assert form == (0.5, 0.0, RECOMMENDED.latent_dim, "anchored_varimax")
        app.radio(key="train_preset").set_value("notebook").run()
        healthy(app)
        assert app.slider(key="train_beta").value == NOTEBOOK.beta == 4.0
        assert app.slider(key="train_dropout").value == NOTEBOOK.dropout == 0.2
        assert app.slider(key="train_latent").value == NOTEBOOK.latent_dim == 8
        assert app.selectbox(key="train_rotation").value == "none"

    def test_the_form_tells_what_the_dataset_holds_before_a_run(
        self, app: AppTest, demo_dataset: Path
    ) -> None:
        """Before anything starts, the page says what the chosen dataset holds and what the
        form's settings make of it (issue 15: the Train page showed nothing before a run)."""
        from core.model.presets import RECOMMENDED

        app.switch_page(_page("train")).run()
        app.selectbox(key="train_dataset").set_value(demo_dataset).run()
        healthy(app)
        features = pl.read_parquet(demo_dataset / "features.parquet")
        rows = features.filter(pl.col("segment_type") == "window").height
        # The preset's batch, cut to give about 1,000 steps over its epochs (never below 16).
        per_epoch = round(1000 / RECOMMENDED.n_epochs)
        batch = max(16, min(RECOMMENDED.batch_size, rows // per_epoch))
        text = texts(app)
        assert f"{rows:,} window segments" in text, text
        assert f"from {features['match_id'].n_unique():,} matches" in text, text
        assert f"batch {batch:,} (fitted to the data)" in text, text
        assert f"{-(-rows // batch):,} steps per epoch" in text, text

    def test_a_trained_config_opens_its_run(
        self, app: AppTest, demo_run: Run, demo_dataset: Path
    ) -> None:
        app.switch_page(_page("train")).run()
        healthy(app)
        assert "Per-sample sums" in texts(app)  # the loss reduction is stated next to beta
        self._fill(app, demo_dataset, **DEMO_RUN_VAE)
        app.button[0].click().run()  # the form's submit button
        healthy(app)
        assert (
            f"This configuration was trained before: run {demo_run.run_id}, shown below."
            in texts(app)
        )
        assert app.session_state["active_run"] == demo_run.run_id
        losses = chart(app, "loss_curves")["data"]
        assert len(decode(losses[0]["y"])) == demo_run.metrics().height

    def test_bad_hidden_sizes_say_what_is_wrong(self, app: AppTest, demo_dataset: Path) -> None:
        app.switch_page(_page("train")).run()
        self._fill(app, demo_dataset, **{**DEMO_RUN_VAE, "hidden_dims": ("64", "x")})
        app.button[0].click().run()
        healthy(app)
        assert any("whole numbers separated by commas" in e.value for e in app.error)


class TestRuns:
    def test_table_compare_and_delete(self, app: AppTest, demo_run: Run, spare_run: Run) -> None:
        app.switch_page(_page("runs")).run()
        healthy(app)
        table = next(d.value for d in app.dataframe if "final_total" in d.columns)
        row = table[table["run"] == demo_run.run_id].iloc[0]
        assert row["final_total"] == pytest.approx(demo_run.metrics()["total"][-1])
        assert row["state"] == "done"
        assert row["distinct dims"] == demo_run.dim_quality().n_distinct
        assert spare_run.run_id in table["run"].tolist()

        app.selectbox(key="cmp_a").set_value(demo_run.run_id)
        app.selectbox(key="cmp_b").set_value(spare_run.run_id).run()
        healthy(app)
        assert "No interpretation table yet" in texts(app)

        app.selectbox(key="delete_choice").set_value(spare_run.run_id).run()
        app.button(key="delete_start").click().run()
        assert "cannot be undone" in texts(app)
        app.button(key="delete_confirm").click().run()
        healthy(app)
        assert not spare_run.path.exists()
        assert demo_run.path.exists()
        assert spare_run.run_id not in [r.run_id for r in list_runs()]


class TestData:
    def test_registry_with_coverage(self, app: AppTest, demo_dataset: Path) -> None:
        app.switch_page(_page("data")).run()
        healthy(app)
        reg = next(d.value for d in app.dataframe if "definition" in d.columns)
        assert len(reg) == registry_frame().height
        features = pl.read_parquet(demo_dataset / "features.parquet")
        first = reg.iloc[0]
        assert first["coverage"] == pytest.approx(features[first["name"]].is_not_null().mean())

    def test_upload_refuses_non_parquet_and_missing_columns(
        self, app: AppTest, tmp_path: Path, demo_dataset: Path
    ) -> None:
        app.switch_page(_page("data")).run()
        app.radio(key="data_source").set_value("upload").run()
        app.file_uploader(key="data_upload").upload("features.parquet", b"match_id,team_id\n1,2\n")
        app.text_input(key="data_upload_name").input("bad-upload")
        app.run()
        app.button(key="data_add").click().run()
        healthy(app)
        assert any("not a readable parquet" in e.value for e in app.error)

        no_meta = tmp_path / "no_meta.parquet"
        pl.DataFrame({"t1_passes_per_min": [1.0, 2.0]}).write_parquet(no_meta)
        app.file_uploader(key="data_upload").set_value(
            ("features.parquet", no_meta.read_bytes(), "application/octet-stream")
        )
        app.run()
        app.button(key="data_add").click().run()
        healthy(app)
        assert any("lacks the metadata column" in e.value for e in app.error)
        assert not (demo_dataset.parent / "bad-upload").exists()  # not even an empty folder


class TestBadRuns:
    def test_failed_run_says_what_happened(self, demo_dataset: Path) -> None:
        vae = VAEConfig(**{**DEMO_RUN_VAE, "random_state": 123})
        run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
        try:
            run.update_status(state="failed", error="loss became NaN at epoch 3")
            at = AppTest.from_file(APP, default_timeout=120)
            at.session_state["active_run"] = run.run_id
            at.run()
            at.switch_page(_page("latent-map")).run()
            healthy(at)
            assert any("loss became NaN at epoch 3" in e.value for e in at.error)
        finally:
            delete_run(run.run_id, force=True)

    def test_run_deleted_while_shown(self, demo_dataset: Path) -> None:
        vae = VAEConfig(**{**DEMO_RUN_VAE, "random_state": 321})
        run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["active_run"] = run.run_id
        at.run()
        at.switch_page(_page("interpretation")).run()
        healthy(at)
        delete_run(run.run_id, force=True)
        at.run()
        healthy(at)
        assert any(f"Run {run.run_id} was not found" in w.value for w in at.warning)
        with pytest.raises(LookupError):
            get_run(run.run_id)


class TestFirstStart:
    def test_overview_starts_building_the_demo_by_itself(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from core.jobs.api import cancel_job, list_jobs

        monkeypatch.setenv("TACTICAL_DATA_ROOT", str(tmp_path / "data"))
        monkeypatch.setenv("TACTICAL_RUNS_ROOT", str(tmp_path / "runs"))
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        try:
            healthy(at)
            jobs = list_jobs("extract")
            assert [(j.params["source"], j.params["name"]) for j in jobs] == [("demo", "demo")]
            assert at.session_state["overview_bootstrap"] is True
            page = texts(at)
            assert "Extracting features" in page or "Waiting for the extraction job" in page
            at.run()  # a rerun follows the same job instead of starting another
            healthy(at)
            assert len(list_jobs("extract")) == 1
        finally:
            for job in list_jobs():
                if job.is_active:
                    cancel_job(job.job_id)
