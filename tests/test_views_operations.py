"""The view-models behind the operations pages (Data, Overview, Sweep, Train, Runs,
Glossary), tested without Streamlit on the real demo run and dataset, or on a fresh data
root of the test's own.

The pages only draw what these return; ``tests/test_pages_apptest.py`` checks the drawing.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import kloppy
import numpy as np
import polars as pl
import pytest

from core.analysis.quality import MIN_DISTINCT
from core.data.opendata_catalogue import Season
from core.errors import RunNotFoundError, UnsafePathError
from core.features.availability import provider_availability
from core.features.datasets import FEATURES_FILE, Dataset
from core.infra.paths import data_root
from core.jobs.api import delete_run
from core.jobs.manager import JobManager
from core.jobs.records import JobInfo, TrainRequest
from core.jobs.sweep import Sweep, SweepCell
from core.jobs.sweep_results import TABLE_SCHEMA, recommend, sweep_table
from core.model.config import PreprocessConfig, VAEConfig
from core.model.presets import PRESET_HELP, RECOMMENDED, batch_size_for, preset
from core.runs.files import STATUS_FILE
from core.runs.status import FINAL_STATES, RunStatus
from core.runs.store import Run, create_run
from core.views import bootstrap as boot
from core.views import datasets as data
from core.views import dims, jobs, overview, runs, sweep, training
from core.views.glossary import TERMS, TOPICS, search_glossary
from core.views.plain import run_patterns
from core.views.table import load_segment_table
from tests.conftest import DEMO_RUN_VAE

KLOPPY_FILES = Path(kloppy.__file__).parent / "tests" / "files"


@pytest.fixture
def fresh_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root (and runs root, so no job of the session is seen)."""
    monkeypatch.setenv("TACTICAL_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TACTICAL_RUNS_ROOT", str(tmp_path / "runs"))
    monkeypatch.delenv("TACTICAL_JOBS_ROOT", raising=False)
    return data_root()


def _season(**kw: object) -> Season:
    base: dict[str, object] = {
        "competition_id": 43,
        "season_id": 3,
        "competition": "FIFA World Cup",
        "season": "2018",
        "country": "International",
        "matches": 64,
        "matches_360": 0,
        "downloaded": 5,
    }
    return Season(**(base | kw))  # type: ignore[arg-type]


def _extract_job(name: str) -> JobInfo:
    """A queued extraction job named ``name`` in the current jobs root (no worker)."""
    return JobManager().submit_job("extract", {"source": "demo", "name": name}, spawn=False)


# --- data discovery and dataset names ---------------------------------------------------------


class TestDatasetNames:
    def test_free_name_skips_existing_datasets(self, demo_dataset: Path) -> None:
        existing = {p.name for p in demo_dataset.parent.iterdir() if (p / FEATURES_FILE).is_file()}
        assert "demo" in existing
        expected = next(
            n for n in ["demo", *(f"demo-{i}" for i in range(2, 99))] if n not in existing
        )
        assert data.free_dataset_name("demo") == expected != "demo"
        assert data.free_dataset_name("x", taken={"x", "x-2"}) == "x-3"
        assert data.free_dataset_name("a" * 70, taken=set()) == "a" * 60

    def test_a_running_extraction_holds_its_name(self, fresh_root: Path) -> None:
        assert data.taken_dataset_names() == set()
        _extract_job("busy")
        assert data.taken_dataset_names() == {"busy"}
        assert data.free_dataset_name("busy") == "busy-2"
        problem = data.dataset_name_problem("busy")
        assert problem is not None and "already exists (or is being extracted)" in problem
        assert "**busy-2**" in problem

    def test_name_problems(self, demo_dataset: Path) -> None:
        assert data.dataset_name_problem("fresh-name-xyz") is None
        bad = data.dataset_name_problem("../escape")
        assert bad is not None and "not allowed" in bad
        taken = data.dataset_name_problem("demo")
        assert taken is not None and "A dataset named **demo** already exists" in taken


class TestDataFolders:
    def test_open_data_folders_stay_under_the_root(self, fresh_root: Path, tmp_path: Path) -> None:
        for folder in ("a", "b/c", "datasets/x"):
            (fresh_root / folder).mkdir(parents=True)
            (fresh_root / folder / "competitions.json").write_text("[]")
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "competitions.json").write_text("[]")
        (fresh_root / "linked").symlink_to(outside, target_is_directory=True)
        assert data.open_data_folders() == ["a", "b/c"]
        assert data.inside_root(fresh_root, "a")
        assert not data.inside_root(fresh_root, "linked")

    def test_a_folder_outside_the_root_is_refused(self, fresh_root: Path, tmp_path: Path) -> None:
        (tmp_path / "elsewhere").mkdir()
        (fresh_root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        for folder in ("../elsewhere", "link", str(tmp_path / "elsewhere")):
            with pytest.raises(UnsafePathError):
                data.data_folder(folder)
            refused = data.folder_seasons(folder)
            assert isinstance(refused, data.Outcome) and not refused.ok
            assert refused.text.startswith("That folder is outside the data root")
            assert isinstance(refused.error, UnsafePathError)
        (fresh_root / "inside").mkdir()
        assert data.data_folder("inside") == (fresh_root / "inside").resolve()

    def test_folder_seasons_and_plan(self, fresh_root: Path) -> None:
        events = fresh_root / "copy" / "events"
        events.mkdir(parents=True)
        shutil.copy(KLOPPY_FILES / "statsbomb_15986_event.json", events / "15986.json")
        (fresh_root / "copy" / "competitions.json").write_text("[]")
        (fresh_root / "empty").mkdir()
        (fresh_root / "empty" / "competitions.json").write_text("[]")

        seasons = data.folder_seasons("copy")
        assert isinstance(seasons, list) and len(seasons) == 1
        assert seasons[0].match_ids == (15986,)
        plan = data.folder_plan(seasons[0], "copy")
        assert plan.source == str((fresh_root / "copy").resolve())
        assert plan.filters == {"match_ids": [15986]}  # no matches file lists it
        assert plan.proposal == "copy"
        unreadable = data.folder_seasons("empty")
        assert isinstance(unreadable, data.Outcome)
        assert unreadable.text.startswith("No matches found in empty.")

    def test_provider_folders_detect_and_skip(self, fresh_root: Path, tmp_path: Path) -> None:
        match = fresh_root / "club" / "2852835"
        match.mkdir(parents=True)
        shutil.copy(KLOPPY_FILES / "wyscout_events_v3.json", match / "events.json")
        (fresh_root / "open-data" / "x" / "1").mkdir(parents=True)  # the download cache
        (fresh_root / "sb" / "events").mkdir(parents=True)  # open data: the other source
        (fresh_root / "sb" / "competitions.json").write_text("[]")
        (fresh_root / "flat").mkdir()
        (fresh_root / "flat" / "events.json").write_text("{}")  # no folder per match
        (tmp_path / "far" / "1").mkdir(parents=True)
        (fresh_root / "link").symlink_to(tmp_path / "far", target_is_directory=True)
        assert data.provider_folders() == [("club", "wyscout")]
        plan = data.provider_plan("club", "wyscout")
        assert plan.filters == {"provider": "wyscout"}
        assert plan.source == str((fresh_root / "club").resolve())
        with pytest.raises(UnsafePathError):
            data.provider_plan("link", "wyscout")

    def test_provider_supply_matches_the_registry(self) -> None:
        avail = provider_availability("wyscout")
        supply = data.provider_supply("wyscout")
        total = len(avail.available) + len(avail.unavailable)
        assert f"**wyscout** supplies {len(avail.available)} of {total} features" in supply.sentence
        assert supply.missing.height == len(avail.unavailable)
        assert "statsbomb" not in data.provider_choices()
        assert "**wyscout**" in data.provider_layouts()
        assert "**statsbomb**" not in data.provider_layouts()


class TestSeasonsAndPlans:
    def test_season_table_and_counts(self) -> None:
        seasons = [_season(), _season(season_id=4, season="2022", matches_360=64, downloaded=0)]
        frame = data.season_frame(seasons)
        assert frame["matches"].to_list() == [64, 64]
        assert frame["with 360"].to_list() == [0, 64]
        assert set(data.SEASON_COLUMNS) <= set(frame.columns)
        remote = data.season_counts(seasons[0], remote=True)
        assert remote == (
            "**FIFA World Cup 2018**: 64 matches, no 360 freeze frames (tier-3 features stay "
            "empty), 5 already downloaded."
        )
        assert "already downloaded" not in data.season_counts(seasons[0], remote=False)
        assert "64 with 360 freeze frames" in data.season_counts(seasons[1], remote=True)

    def test_open_data_and_demo_plans(self) -> None:
        plan = data.open_data_plan(_season(), "http://mirror")
        assert plan.source == "opendata" and plan.proposal == "fifa-world-cup-2018"
        assert plan.filters == {
            "competitions": [43],
            "seasons": [3],
            "open_data_url": "http://mirror",
        }
        assert plan.pick == "open:43/3" and plan.limits_matches
        assert not data.DEMO_PLAN.limits_matches and data.DEMO_PLAN.source == "demo"

    def test_a_season_of_a_folder_is_chosen_by_competition(self, fresh_root: Path) -> None:
        (fresh_root / "od").mkdir()
        plan = data.folder_plan(_season(), "od")
        assert plan.filters == {"competitions": [43], "seasons": [3]}
        assert plan.proposal == "fifa-world-cup-2018"


class TestExtractionResults:
    def test_report_of_a_done_job(self, demo_dataset: Path) -> None:
        result = {
            "out_dir": str(demo_dataset),
            "matches": 3,
            "segments": 1234,
            "window_segments": 200,
            "possession_segments": 1034,
            "n_features": 41,
            "coverage_360": 1 / 3,
            "skipped": [["a.json", "not JSON"]],
        }
        job = JobInfo(job_id="j", kind="extract", state="done", params={"name": "x"}, result=result)
        report = data.extraction_report(job)
        assert report.name == "demo" and report.out_dir == str(demo_dataset)
        assert report.summary == (
            "Dataset **demo** is ready: 3 matches, 1,234 segments (200 windows, 1,034 "
            "possessions), 41 features; 360 freeze frames for 33% of the matches."
        )
        assert report.skipped is not None
        assert report.skipped.rows() == [("a.json", "not JSON")]
        bare = data.extraction_report(dataclasses.replace(job, result={}))
        assert bare.name == "x" and bare.skipped is None

    def test_how_an_extraction_ended(self) -> None:
        failed = JobInfo(job_id="j", kind="extract", state="failed", error="disk full")
        assert data.extraction_end(failed) == "The extraction failed: disk full"
        cancelled = dataclasses.replace(failed, state="cancelled")
        assert data.extraction_end(cancelled) == "The extraction was cancelled."

    def test_upload_refused_then_added(self, fresh_root: Path, demo_dataset: Path) -> None:
        import io

        refused = data.add_upload(io.BytesIO(b"match_id,team_id\n1,2\n"), "f.parquet", "bad")
        assert not refused.ok and refused.text.startswith("f.parquet was not added.")
        assert "not a readable parquet" in refused.text
        assert not (fresh_root / "datasets" / "bad").exists()
        features = pl.read_parquet(demo_dataset / FEATURES_FILE)
        buffer = io.BytesIO()
        features.write_parquet(buffer)
        buffer.seek(5)  # add_upload reads from the start whatever the stream's position
        added = data.add_upload(buffer, "features.parquet", "mine")
        assert added.ok, added.text
        assert added.text.startswith(f"Added dataset mine: {features.height:,} segments")
        assert Dataset.named("mine").features_path.is_file()


# --- jobs --------------------------------------------------------------------------------------


class TestJobs:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [(None, "–"), (42.4, "42 s"), (65, "1 min 05 s"), (3720, "1 h 02 min"), (-3, "0 s")],
    )
    def test_fmt_seconds(self, seconds: float | None, text: str) -> None:
        assert jobs.fmt_seconds(seconds) == text

    def test_job_line_of_a_failed_and_a_running_job(self) -> None:
        failed = JobInfo(
            job_id="j1",
            kind="train",
            state="failed",
            run_id="r1",
            error="boom",
            log_tail="last lines",
            created_at="2026-01-02T03:04:05.678",
            finished_at="2026-01-02T03:05:06.000",
        )
        line = jobs.job_line(failed)
        assert line.label == "r1" and not line.active
        assert line.heading == "**r1** · `failed`  \n2026-01-02 03:04:05"
        assert line.finished == "finished 2026-01-02 03:05:06"
        assert line.error == "Failed: boom" and line.log_tail == "last lines"
        running = JobInfo(
            job_id="j2",
            kind="extract",
            state="running",
            params={"name": "ds"},
            progress=1.7,
            eta_s=65,
            message="",
        )
        line = jobs.job_line(running)
        assert line.label == "ds" and line.active and line.progress == 1.0
        assert line.message == "running" and line.time_left == "time left: 1 min 05 s"
        assert line.error is None and line.finished == ""

    def test_waiting_jobs_say_their_place_in_the_queue(self) -> None:
        def waiting(job_id: str, created: str) -> JobInfo:
            return JobInfo(
                job_id=job_id, kind="train", state="queued", slots=2, created_at=created,
                message="queued: waiting for a worker slot (2 at a time)",
            )  # fmt: skip

        running = JobInfo(job_id="r", kind="train", state="running", slots=2, supervisor_pid=1)
        queue = [waiting("w3", "2026-01-01T10:03"), waiting("w1", "2026-01-01T10:01"), running]
        queue.append(waiting("w2", "2026-01-01T10:02"))
        places = jobs.queue_places(queue)
        assert places == {"w1": 0, "w2": 1, "w3": 2}  # oldest first, as the queue starts them
        lines = {j.job_id: jobs.job_line(j, places.get(j.job_id)) for j in queue}
        assert lines["w1"].message == "waiting for a worker slot (2 at a time): next to start"
        assert lines["w3"].message.endswith(": 2 jobs ahead of it")
        assert lines["r"].message == "running"

    def test_jobs_on_disk(self, fresh_root: Path) -> None:
        assert jobs.job_lines("extract") == [] and not jobs.jobs_active("extract")
        job = _extract_job("busy")
        assert [line.label for line in jobs.job_lines("extract")] == ["busy"]
        assert jobs.jobs_active("extract") and not jobs.jobs_active("train")
        found = jobs.find_job(job.job_id)
        assert found is not None and found.params["name"] == "busy"
        assert jobs.find_job("20990101T000000-abcdef") is None


# --- the demo bootstrap --------------------------------------------------------------------------

RUNNING_JOB = JobInfo(
    job_id="j", kind="extract", state="running", progress=0.4, message="match 2/3", eta_s=12
)


def _state(**kw: object) -> boot.BootState:
    base: dict[str, object] = {
        "following": True,
        "first_start": False,
        "job": RUNNING_JOB,
        "features_ready": False,
    }
    return boot.BootState(**(base | kw))  # type: ignore[arg-type]


class TestBootstrap:
    @pytest.mark.parametrize(
        ("following", "first_start", "job_state", "action"),
        [
            (False, True, None, "start_extraction"),  # first start: build the demo
            (False, True, "failed", "start_extraction"),  # a final job is started again
            (False, True, "cancelled", "start_extraction"),
            (False, False, None, "idle"),  # runs or datasets exist: nothing to do
            (False, False, "done", "idle"),
            (False, True, "running", "follow_extraction"),  # another session's build
            (False, False, "queued", "follow_extraction"),
        ],
    )
    def test_when_to_start_or_follow(
        self, following: bool, first_start: bool, job_state: str | None, action: str
    ) -> None:
        job = None if job_state is None else dataclasses.replace(RUNNING_JOB, state=job_state)
        step = boot.next_step(_state(following=following, first_start=first_start, job=job))
        assert step.action == action

    def test_extraction_steps(self) -> None:
        waiting = boot.next_step(_state(job=None))
        assert waiting.action == "wait_for_job" and not waiting.ends
        assert waiting.text == "Waiting for the extraction job to start…"
        follow = boot.next_step(_state())
        assert follow.action == "follow_extraction" and follow.progress == 0.4
        assert follow.text == "Extracting features: match 2/3 · time left 12 s"
        over = boot.next_step(_state(job=dataclasses.replace(RUNNING_JOB, progress=3.0)))
        assert over.progress == 1.0
        failed = boot.next_step(
            _state(job=dataclasses.replace(RUNNING_JOB, state="failed", error="no kloppy"))
        )
        assert failed.action == "extraction_failed" and failed.ends
        assert failed.text.startswith("Extracting the demo matches failed: no kloppy.")

    def test_training_steps(self) -> None:
        ready = _state(features_ready=True)
        assert boot.next_step(ready).action == "request_run"
        training = RunStatus(state="running", stage="training", progress=0.25, eta_s=61)
        step = boot.next_step(dataclasses.replace(ready, run_id="r1", run_status=training))
        assert step.action == "follow_training" and step.progress == 0.25 and not step.ends
        assert step.text == "Training run r1: training · time left 1 min 01 s"
        done = dataclasses.replace(ready, run_id="r1", run_status=RunStatus(state="done"))
        assert boot.next_step(done).action == "open_run" and boot.next_step(done).ends
        failed = dataclasses.replace(
            ready, run_id="r1", run_status=RunStatus(state="failed", error="NaN loss")
        )
        step = boot.next_step(failed)
        assert step.action == "training_failed" and step.ends
        assert step.text.startswith("Training the default run failed: NaN loss.")

    def test_observe_reads_jobs_and_features(self, fresh_root: Path, demo_dataset: Path) -> None:
        state = boot.observe(following=False, first_start=True)
        assert state.job is None and not state.features_ready
        assert boot.next_step(state).action == "start_extraction"
        _extract_job("demo")
        _extract_job("other")
        state = boot.observe(following=False, first_start=True)
        assert state.job is not None and state.job.params["name"] == "demo"
        assert boot.next_step(state).action == "follow_extraction"
        target = fresh_root / "datasets" / "demo"
        target.mkdir(parents=True)
        shutil.copy(demo_dataset / FEATURES_FILE, target / FEATURES_FILE)
        assert boot.observe(following=True, first_start=False).features_ready


# --- the Overview ----------------------------------------------------------------------------------


class TestOverview:
    def test_verdict_when_the_vae_wins_and_when_pca_wins(self, demo_run: Run) -> None:
        base = dims.pca_baseline(demo_run.diagnostics())
        quality = demo_run.dim_quality()
        assert base is not None
        pca, k = base.pca_recon_mse, base.n_components
        linear = sum(
            a["latent"] in quality.distinct and a["r2_all_components"] >= 0.9
            for a in base.alignment
        )
        vae_wins = overview.baseline_verdict(
            dataclasses.replace(base, vae_recon_mse=pca / 2), quality
        )
        assert vae_wins.startswith(
            f"With the same {k} dimensions the VAE reconstructs the inputs better than PCA "
            f"({pca / 2:.4g} vs {pca:.4g})"
        )
        pca_wins = overview.baseline_verdict(
            dataclasses.replace(base, vae_recon_mse=pca * 2), quality
        )
        assert pca_wins.startswith(
            f"With the same {k} dimensions PCA reconstructs the inputs better than the VAE "
            f"({pca:.4g} vs {pca * 2:.4g})"
        )
        for text in (vae_wins, pca_wins):
            assert f"{linear} of {quality.n_distinct} distinct dimensions" in text
            assert f"costs {base.total_variance:.4g}" in text
        unknown = overview.baseline_verdict(dataclasses.replace(base, vae_recon_mse=None), quality)
        assert unknown.startswith("The VAE's reconstruction error at the posterior means was not")

    def test_the_real_run_verdict_follows_its_numbers(self, demo_run: Run) -> None:
        raw = demo_run.diagnostics()["baseline"]
        base = dims.pca_baseline(demo_run.diagnostics())
        assert base is not None
        text = overview.baseline_verdict(base, demo_run.dim_quality())
        winner = (
            "the VAE reconstructs"
            if raw["vae_recon_mse"] <= raw["pca_recon_mse"]
            else "PCA reconstructs"
        )
        assert winner in text
        metrics = {m.label: m for m in overview.baseline_metrics(base)}
        assert metrics["PCA reconstruction error"].value == f"{raw['pca_recon_mse']:.4g}"
        vae = metrics["VAE reconstruction error"]
        assert vae.value == f"{raw['vae_recon_mse']:.4g}" and vae.delta_color == "inverse"
        assert vae.delta == f"{raw['vae_recon_mse'] - raw['pca_recon_mse']:+.3g} vs PCA"
        assert metrics[f"Variance explained by {base.n_components} components"].value == (
            f"{raw['cumulative_variance'][-1]:.0%}"
        )

    def test_dataset_numbers(self, demo_dataset: Path) -> None:
        summary, matches = overview.read_dataset(demo_dataset / FEATURES_FILE)
        features = pl.read_parquet(demo_dataset / FEATURES_FILE)
        shown = {m.label: m.value for m in overview.dataset_metrics(summary)}
        assert shown["Matches"] == "3" and shown["Segments"] == f"{features.height:,}"
        n_window = features.filter(pl.col("segment_type") == "window").height
        assert f"{n_window:,} window" in overview.dataset_caption(summary)
        assert matches is not None
        assert overview.match_rows(matches).columns == [
            c for c in overview.MATCH_COLUMNS if c in matches.columns
        ]

    def test_run_headline_numbers(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        metrics = demo_run.metrics()
        shown = overview.run_metrics(metrics, quality)
        labels = [m.label if m else None for m in shown]
        assert labels == [
            "Final total loss",
            "Reconstruction",
            "KL",
            "Reproduced patterns",
            "Unconfirmed · redundant · inactive",
        ]
        assert shown[0] is not None and shown[0].value == f"{metrics['total'][-1]:.4g}"
        assert shown[3] is not None and shown[4] is not None
        assert quality.n_seeds == DEMO_RUN_VAE["ensemble"]
        assert shown[3].value == f"{len(quality.reproduced)} / {quality.n_distinct}"
        assert shown[4].value == (
            f"{len(quality.unconfirmed)} · {len(quality.redundant)} · {len(quality.inactive)}"
        )
        assert overview.run_metrics(metrics.head(0), None) == [None] * 5
        line = overview.config_line(demo_run.config())
        assert line.startswith("beta 1 · 4 latents · hidden 64-32 · 40 epochs")

    def test_unfinished_runs_and_rotation(self) -> None:
        failed = overview.unfinished_notice(RunStatus(state="failed", error="NaN"))
        assert failed == "This run failed: NaN. Start it again on the **Train** page."
        running = overview.unfinished_notice(RunStatus(state="running", progress=0.5))
        assert running == "This run is running (50%); follow it on **Train**."
        assert overview.unfinished_notice(RunStatus(state="done")) is None
        caption = overview.rotation_caption({"rotation": {"method": "anchored_varimax"}})
        assert caption is not None and caption.startswith("Reading axes (anchored varimax)")
        assert overview.rotation_caption({}) is None

    def test_findings_name_every_distinct_dimension(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        found = overview.run_findings(demo_run, quality)
        patterns = run_patterns(
            demo_run.interpretation(), quality.distinct, ensemble=demo_run.ensemble()
        )
        assert len(found.patterns) == len(quality.distinct) == len(patterns)
        for i, (line, pattern) in enumerate(zip(found.patterns, patterns, strict=True), 1):
            if pattern.reproduced:  # named, in bold, with how many trainings found it
                assert line == f"{i}. **{pattern.name}** ({pattern.reading}; {pattern.support})."
            else:  # marked unconfirmed, not named
                assert line.startswith(f"{i}. *unconfirmed axis {pattern.dim}* (unconfirmed")
        # the headline counts reproduced patterns, never all distinct axes
        n_rep = len(quality.reproduced)
        assert f"**{len(patterns)} distinct pattern" not in found.headline
        if n_rep:
            assert "found again in 3 of 3 trainings" in found.headline
        else:
            assert "No pattern was found again" in found.headline


# --- dimensions ---------------------------------------------------------------------------------


class TestDims:
    def test_view_lists_distinct_then_all(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        hidden = [n for n in quality.names if n not in quality.distinct]
        view = dims.DimView(names=quality.names, quality=quality, all_shown=False)
        assert view.shown == quality.distinct and view.hidden == hidden
        assert view.indices == [quality.names.index(n) for n in quality.distinct]
        note = view.note()
        assert note is not None and f"Showing {len(quality.distinct)} distinct" in note
        assert note.startswith(f"{len(quality.reproduced)} pattern")  # reproduced ones lead
        everything = dataclasses.replace(view, all_shown=True)
        assert everything.shown == quality.shown(True)
        assert everything.note() == everything.patterns_line()  # nothing hidden
        for name, copied in quality.redundant.items():
            assert everything.status_text(name) == f"redundant: copies {copied}"

    def test_dimension_table_beside_the_baseline(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        view = dims.DimView(names=quality.names, quality=quality, all_shown=False)
        diag = demo_run.diagnostics()
        base = dims.pca_baseline(diag)
        table = dims.dimension_table(view, base)
        assert table["dimension"].to_list() == quality.distinct
        align = {a["latent"]: a for a in diag["baseline"]["alignment"]}
        for row in table.iter_rows(named=True):
            assert row["best component"] == align[row["dimension"]]["component"]
            assert row["r2_all_components"] == pytest.approx(
                align[row["dimension"]]["r2_all_components"]
            )
        bare = dims.dimension_table(view, None)
        assert bare["best component"].is_null().all()
        assert dims.pca_baseline({}) is None and dims.pca_baseline({"baseline": {"x": 1}}) is None

    def test_map_colours_over_the_listed_dimensions(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        table = load_segment_table(demo_run)
        view = dims.DimView(names=table.latent_names, quality=quality, all_shown=False)
        spec = dims.shown_color_spec(table, view, "dominant")
        assert spec.categories == [quality.label(n) for n in quality.distinct]
        values = set(np.asarray(spec.values).tolist())
        assert values <= set(range(len(quality.distinct)))
        latent = dims.shown_color_spec(table, view, "latent", latent=1)
        assert latent.title == quality.label(table.latent_names[1])

    def test_contrast_without_hidden_dimensions(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        view = dims.DimView(names=quality.names, quality=quality, all_shown=False)
        contrast = pl.DataFrame(
            {"kind": ["latent"] * len(quality.names) + ["feature"], "name": [*quality.names, "f"]}
        )
        out = dims.shown_contrast(contrast, view)
        assert out["name"].to_list() == [quality.label(n) for n in quality.distinct] + ["f"]


# --- the sweep ------------------------------------------------------------------------------------


@pytest.fixture
def odd_cells(demo_run: Run, demo_dataset: Path) -> Iterator[Sweep]:
    """A sweep whose cells are the done demo run, a broken run, a queued run and a
    missing one (their runs removed afterwards)."""
    features = demo_dataset / FEATURES_FILE
    broken, _ = create_run(
        features, VAEConfig(**{**DEMO_RUN_VAE, "random_state": 501}), PreprocessConfig()
    )
    queued, _ = create_run(
        features, VAEConfig(**{**DEMO_RUN_VAE, "random_state": 502}), PreprocessConfig()
    )
    (broken.path / STATUS_FILE).write_text("{ not json")
    cells = (
        SweepCell(1.0, 4, demo_run.run_id),
        SweepCell(1.0, 8, broken.run_id),
        SweepCell(2.0, 4, queued.run_id),
        SweepCell(2.0, 8, "0" * 12),
    )
    yield Sweep(
        sweep_id="a" * 12,
        features_path=features,
        features_sha256="",
        betas=(1.0, 2.0),
        latent_dims=(4, 8),
        base=VAEConfig(),
        prep=PreprocessConfig(),
        cells=cells,
    )
    for run in (broken, queued):
        delete_run(run.run_id, force=True)


class TestSweep:
    def test_broken_cells_are_final_never_training(self, odd_cells: Sweep, demo_run: Run) -> None:
        table = sweep_table(odd_cells)
        states = dict(zip(table["run_id"], table["state"], strict=True))
        broken_id, queued_id = odd_cells.cells[1].run_id, odd_cells.cells[2].run_id
        assert states[broken_id] == "broken" and states[queued_id] == "queued"
        assert "broken" in FINAL_STATES
        assert sweep.finished_cells(table) == [demo_run.run_id, broken_id]
        assert sweep.cells_active(table)
        assert not sweep.cells_active(table.filter(pl.col("run_id") != queued_id))
        assert sweep.cells_to_retry(table) == 1  # the missing cell; a broken run cannot retrain
        share, line = sweep.progress_line(table)
        assert share == 0.25
        assert line == (
            "1 of 4 cells done · 0 running · 1 queued · 1 failed or cancelled · 1 not started"
        )
        assert sweep.training_now(table) is None

    def test_chart_cells_and_labels(self, odd_cells: Sweep, demo_run: Run) -> None:
        table = sweep_table(odd_cells)
        plotted, note = sweep.plotted_cells(table)
        assert plotted["run_id"].to_list() == [demo_run.run_id] and note is None
        quality = demo_run.dim_quality()  # the demo run is a 3-seed ensemble
        n, found = quality.n_distinct, len(quality.reproduced)
        assert sweep.cell_labels(table) == {
            demo_run.run_id: f"beta 1 · 4 latents · {found} patterns found again · {n} distinct"
            f" · run {demo_run.run_id}"
        }
        fig = sweep.sweep_figure(plotted, recommend(table))
        traces = [t for t in fig.data if str(t.name).startswith("beta")]
        assert [t.name for t in traces] == ["beta 1"]
        assert traces[0].customdata[0][0] == demo_run.run_id
        symbol = "circle" if n >= MIN_DISTINCT else "circle-open"
        assert list(traces[0].marker.symbol) == [symbol]

    def test_state_counts_on_a_table(self) -> None:
        states = ["done", "failed", "cancelled", "broken", "running", "queued", "missing"]
        table = pl.DataFrame(
            {
                "beta": [1.0] * 7,
                "latent_dim": list(range(2, 9)),
                "run_id": [f"r{i}" for i in range(7)],
                "state": states,
                "progress": [0.0] * 7,
                "recon": [1.0, None, None, None, None, None, None],
                "kl": [2.0, None, None, None, None, None, None],
                "n_distinct": [3, None, None, None, None, None, None],
                "n_patterns": [2, None, None, None, None, None, None],
                "verdict": [None] * 7,
                "error": [None] * 7,
            },
            schema=TABLE_SCHEMA,
        )
        assert sweep.finished_cells(table) == ["r0", "r1", "r2", "r3"]
        assert sweep.cells_to_retry(table) == 3
        assert sweep.progress_line(table)[1] == (
            "1 of 7 cells done · 1 running · 1 queued · 3 failed or cancelled · 1 not started"
        )
        now = sweep.training_now(table)  # r4 has no run folder: time left unknown
        assert now == "Training now: beta 1, 6 latents (run r4), time left –."
        assert not sweep.cells_active(table.filter(pl.col("state").is_in(["done", "broken"])))

    def test_picked_run_and_options(self) -> None:
        assert sweep.picked_run([{"x": 1}, {"customdata": ["r9", 4, 2]}]) == "r9"
        assert sweep.picked_run([{"customdata": "r8"}]) == "r8"
        assert sweep.picked_run([]) is None
        assert sweep.grid_options((0.25, 3.0), (0.1, 0.25)) == [0.1, 0.25, 3.0]


# --- training -------------------------------------------------------------------------------------


def _form(**kw: object) -> training.TrainForm:
    values: dict[str, object] = {
        "preset": "recommended",
        "beta": 0.5,
        "latent_dim": 4,
        "n_epochs": 10,
        "learning_rate": 1e-3,
        "batch_size": 64,
        "dropout": 0.0,
        "random_state": 7,
        "rotation": "none",
        "hidden": "64,32",
        "ensemble": 3,
        "max_tier": 2,
        "segment_type": "window",
        "reproducible_map": True,
        "batch_auto": True,
    }
    return training.TrainForm(**(values | kw))  # type: ignore[arg-type]


class TestTraining:
    def test_preset_values_fill_the_form(self) -> None:
        values = training.preset_values("recommended")
        assert values["beta"] == RECOMMENDED.beta and values["latent_dim"] == RECOMMENDED.latent_dim
        assert values["rotation"] == RECOMMENDED.rotation
        assert values["hidden_dims"] == ",".join(map(str, RECOMMENDED.hidden_dims))
        assert set(values) == {*training.PRESET_FIELDS, "hidden_dims"}
        assert (
            training.preset_label("notebook")
            == f"notebook ({PRESET_HELP['notebook'].split(':')[0]})"
        )

    def test_preview_of_the_demo_dataset(self, demo_dataset: Path) -> None:
        features = pl.read_parquet(demo_dataset / FEATURES_FILE)
        rows = features.filter(pl.col("segment_type") == "window").height
        info = training.read_overview(demo_dataset / FEATURES_FILE)
        text = training.dataset_preview(
            "demo", info, "window", epochs=40, batch=512, batch_auto=True
        )
        fitted = min(batch_size_for(rows, preset("notebook", batch_size=512, n_epochs=40)), rows)
        steps = -(-rows // fitted)
        assert text.startswith(f"**demo**: {rows:,} window segments")
        assert f"batch {fitted:,} (fitted to the data), {steps:,} steps per epoch" in text
        assert f"{steps * 40:,} steps in 40 epochs" in text
        exact = training.dataset_preview(
            "demo", info, "window", epochs=1, batch=16, batch_auto=False
        )
        assert f"batch 16, {-(-rows // 16):,} steps per epoch" in exact
        few = {**info, "segments_by_type": {"window": 5}}
        assert "Too few segments to train (5; at least" in training.dataset_preview(
            "demo", few, "window", epochs=1, batch=16, batch_auto=True
        )

    def test_form_problems(self) -> None:
        hidden = training.form_problem(_form(hidden="64,x"))
        assert hidden is not None and "whole numbers separated by commas" in hidden
        epochs = training.form_problem(_form(n_epochs=training.PAGE_MAX_EPOCHS + 1))
        assert epochs is not None and "more than this page starts" in epochs
        assert training.form_problem(_form()) is None

    def test_plan_fits_or_lowers_the_batch(self, demo_dataset: Path) -> None:
        features = demo_dataset / FEATURES_FILE
        rows = pl.read_parquet(features).filter(pl.col("segment_type") == "window").height
        fitted = training.plan_training(_form(batch_size=512), features)
        asked = preset(
            "recommended",
            latent_dim=4,
            hidden_dims=(64, 32),
            batch_size=512,
            n_epochs=10,
            rotation="none",
            random_state=7,
        )
        assert fitted.vae.batch_size == batch_size_for(rows, asked) and fitted.note is None
        assert fitted.vae.beta == 0.5 and fitted.prep.max_tier == 2
        lowered = training.plan_training(_form(batch_size=4096, batch_auto=False), features)
        assert lowered.vae.batch_size == rows
        assert lowered.note == (
            f"Batch size lowered from 4096 to {rows}: the dataset has only {rows} window segments."
        )
        kept = training.plan_training(_form(batch_size=16, batch_auto=False), features)
        assert kept.vae.batch_size == 16 and kept.note is None

    def test_start_messages(self, demo_run: Run) -> None:
        job = JobInfo(job_id="j", kind="train")
        rid = demo_run.run_id
        assert training.start_message(TrainRequest(demo_run, None, True)) == (
            f"This configuration was trained before: run {rid}, shown below."
        )
        assert training.start_message(TrainRequest(demo_run, job, True)) == (
            f"This configuration is already training: following run {rid}."
        )
        started = training.start_message(TrainRequest(demo_run, job, False))
        assert started.startswith(f"Started training run {rid} in the background.")
        assert "keep showing the run you were exploring" in started

    def test_which_run_to_follow(self, demo_run: Run) -> None:
        assert training.run_to_follow(demo_run.run_id) == demo_run.run_id
        assert not training.run_training(demo_run.run_id)  # done
        assert not training.run_training(None) and not training.run_training("0" * 12)

    def test_nothing_to_follow_in_a_fresh_store(self, fresh_root: Path) -> None:
        assert training.run_to_follow("0" * 12) is None

    def test_followed_run_done_and_failed(self, demo_run: Run, demo_dataset: Path) -> None:
        shown = training.followed_run(demo_run.run_id)
        metrics = demo_run.metrics()
        assert shown.headline.startswith(f"Run **{demo_run.run_id}** · `done` · epoch ")
        assert shown.progress is None and shown.notice is None
        assert shown.metrics is not None and shown.metrics.height == metrics.height
        assert shown.last_epoch is not None
        assert shown.last_epoch.startswith(f"Epoch {metrics['epoch'][-1]}: total ")
        with pytest.raises(RunNotFoundError):
            training.followed_run("0" * 12)
        vae = VAEConfig(**{**DEMO_RUN_VAE, "random_state": 503})
        run, _ = create_run(demo_dataset / FEATURES_FILE, vae, PreprocessConfig())
        try:
            run.update_status(state="failed", error="loss became NaN at epoch 3")
            failed = training.followed_run(run.run_id)
            assert failed.notice is not None and failed.notice[0] == "error"
            assert failed.notice[1].startswith(
                f"Run {run.run_id} failed: loss became NaN at epoch 3."
            )
            assert failed.metrics is None and failed.last_epoch is None
        finally:
            delete_run(run.run_id, force=True)


# --- runs and glossary ----------------------------------------------------------------------------


class TestRunsAndGlossary:
    def test_run_row_and_label(self, demo_run: Run) -> None:
        quality = demo_run.dim_quality()
        row = runs.run_row(demo_run)
        assert row["state"] == "done" and row["distinct dims"] == quality.n_distinct
        assert row["final_total"] == pytest.approx(demo_run.metrics()["total"][-1])
        assert row["hidden"] == "64-32" and row["latent_dim"] == DEMO_RUN_VAE["latent_dim"]
        label = runs.run_label(demo_run)
        assert label.startswith(
            f"{demo_run.run_id} · β 1 · 4 latents ({quality.n_distinct} distinct)"
        )
        assert runs.run_label(demo_run, lambda run: None).startswith(
            f"{demo_run.run_id} · β 1 · 4 latents · "
        )
        assert runs.broken_row("x") == {"run": "x", "state": "broken"}
        assert runs.default_run([demo_run]) is demo_run and runs.default_run([]) is None

    def test_glossary_search(self) -> None:
        everything = search_glossary("  ")
        assert everything.height == len(TERMS)
        assert set(everything["topic"]) <= set(TOPICS)
        found = search_glossary("PPDA")
        assert found.height >= 1
        for row in found.iter_rows(named=True):
            assert "ppda" in f"{row['term']} {row['also']} {row['meaning']}".lower()
        assert search_glossary("zzzz-no-such-word").is_empty()


def test_data_page_opens_on_what_works_offline(tmp_path: Path) -> None:
    from core.views.datasets import SOURCES, default_source

    assert default_source(tmp_path) == "demo"  # nothing local: the demo matches
    local = tmp_path / "open-data" / "statsbomb"
    local.mkdir(parents=True)
    (local / "competitions.json").write_text("[]")
    assert default_source(tmp_path) == "folder"  # a local open-data copy
    assert next(iter(SOURCES)) == "opendata"  # the online catalogue stays one click away
