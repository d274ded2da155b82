"""The analyses built on the latents use the run's distinct dimensions only.

States, timelines, team fingerprints, stability across seeds and the notebook export, on
real runs trained on the demo matches (issue "latent truth", part 4). The demo run has a
redundant and an inactive dimension besides its distinct ones, so every analysis here has
something to leave out.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from core.analysis.mixtures import DEFAULT_K_RANGE, select_mixture
from core.analysis.stability import loss_problem
from core.errors import StabilityError, StatesError
from core.jobs.seeds import seed_runs
from core.model.config import PreprocessConfig, VAEConfig
from core.model.latents import latent_columns
from core.runs.states_store import load_states, states_dir
from core.services.export import figure_dims
from core.services.fingerprints import run_fingerprints, team_view
from core.services.stability import degenerate_reason, seed_config, stability_report
from core.services.states import get_states, states_cached
from core.services.timeline import run_timeline

if TYPE_CHECKING:
    from core.runs.store import Run
    from tests.conftest import DemoExport


def _trained(features: Path, **vae: object) -> Run:
    """A real run of ``vae`` on the demo features (trained once per session)."""
    from core.pipeline.execute import execute_run
    from core.runs.store import create_run

    run, _ = create_run(features, VAEConfig(**vae), PreprocessConfig())  # type: ignore[arg-type]
    if run.status().state != "done":
        execute_run(run.run_id)
    assert run.status().state == "done", run.status()
    return run


def _hidden(run: Run) -> list[str]:
    q = run.dim_quality()
    return [n for n in q.names if n not in q.distinct]


def test_demo_run_has_dims_to_leave_out(demo_run: Run) -> None:
    q = demo_run.dim_quality()
    # Without a redundant or inactive dim the tests below would prove nothing.
    assert q.distinct and _hidden(demo_run), q.verdict


# --- states ---------------------------------------------------------------------------------


def test_states_are_fitted_on_the_distinct_dims_only(demo_run: Run) -> None:
    q = demo_run.dim_quality()
    result = get_states(demo_run, k_range=(2, 5))
    assert result.dims_used == q.distinct
    summary = json.loads((states_dir(demo_run) / "summary.json").read_text())
    assert summary["dims_used"] == q.distinct
    assert summary["dim_status"] == q.status
    assert summary["latent"]["dims"] == len(q.distinct)
    assert summary["latent_dim"] == len(q.names)
    assert summary["one_axis"] is False and summary["one_axis_message"] is None
    assert result.mixtures["latent"]["means"].shape[1] == len(q.distinct)
    # The latent states are exactly a mixture on the distinct columns.
    Z = demo_run.latents().select(q.distinct).to_numpy()
    fit = select_mixture(Z, (2, 5), random_state=demo_run.config().seed)
    assert fit.labels.tolist() == result.assignments["latent_state"].to_list()


def test_a_cache_fitted_on_other_dims_is_recomputed(demo_run: Run) -> None:
    q = demo_run.dim_quality()
    get_states(demo_run, k_range=(2, 5))
    path = states_dir(demo_run) / "summary.json"
    assert states_cached(demo_run, k_range=(2, 5))

    # A cache as the states wrote it before: fitted on every z column.
    summary = json.loads(path.read_text())
    summary["dims_used"] = q.names
    path.write_text(json.dumps(summary))
    assert not states_cached(demo_run) and not states_cached(demo_run, k_range=(2, 5))
    calls: list[tuple[int, int, str]] = []
    again = get_states(demo_run, progress=lambda *a: calls.append(a))
    assert calls, "the stale cache was read instead of recomputed"
    assert again.dims_used == q.distinct
    assert json.loads(path.read_text())["dims_used"] == q.distinct

    # The first cache format recorded no dims at all.
    summary = json.loads(path.read_text())
    summary["format"] = 1
    del summary["dims_used"]
    path.write_text(json.dumps(summary))
    assert load_states(demo_run) is None and not states_cached(demo_run)
    assert get_states(demo_run, k_range=DEFAULT_K_RANGE).dims_used == q.distinct
    assert states_cached(demo_run)


# --- timeline and fingerprints ------------------------------------------------------------------


def test_timeline_and_fingerprints_use_the_distinct_dims(demo_run: Run) -> None:
    q = demo_run.dim_quality()
    tl = run_timeline(demo_run, smooth=True)
    assert tl.dims_used == q.distinct and tl.one_axis_message is None
    assert set(latent_columns(tl.frame.columns)) == set(q.distinct)

    view = team_view(demo_run)
    assert view.dims == q.distinct and view.dim_status == q.status
    assert set(latent_columns(view.segments.columns)) == set(q.distinct)
    means = [c for c in view.fingerprints().columns if c.endswith("_mean")]
    assert means == [f"{d}_mean" for d in q.distinct]
    fp, _labels = run_fingerprints(demo_run)
    assert [c for c in fp.columns if c.endswith("_mean")] == means

    # With every dim kept, fingerprints and distances still use the distinct ones by default.
    full = team_view(demo_run, show_all=True)
    assert set(latent_columns(full.segments.columns)) == set(q.names)
    assert [c for c in full.fingerprints().columns if c.endswith("_mean")] == means
    all_means = [c for c in full.fingerprints(show_all=True).columns if c.endswith("_mean")]
    assert all_means == [f"{d}_mean" for d in q.shown(show_all=True)]
    segs = full.segments
    sid = str(segs["segment_id"][0])
    near = full.similar(sid, n=5)
    Z = segs.select(q.distinct).to_numpy()
    dist = np.linalg.norm(Z[1:] - Z[0], axis=1)
    assert near["distance"].to_numpy() == pytest.approx(np.sort(dist)[:5])
    assert near["distance"].to_list() == view.similar(sid, n=5)["distance"].to_list()


@pytest.mark.slow
def test_states_of_a_one_axis_run_are_flagged(demo_dataset: Path) -> None:
    run = _trained(
        demo_dataset / "features.parquet",
        latent_dim=1, hidden_dims=(32, 16), beta=1.0, n_epochs=20, batch_size=64,
        dropout=0.0, random_state=3,
    )  # fmt: skip
    q = run.dim_quality()
    assert q.distinct == ["z0"], q.verdict
    result = get_states(run, k_range=(2, 4))
    assert result.dims_used == ["z0"]
    assert result.one_axis
    assert result.one_axis_message == "the states are slices of one axis (z0)"
    summary = json.loads((states_dir(run) / "summary.json").read_text())
    assert summary["one_axis"] is True
    assert summary["one_axis_message"] == "the states are slices of one axis (z0)"
    assert run_timeline(run).one_axis_message == result.one_axis_message
    assert team_view(run).one_axis_message == result.one_axis_message
    assert team_view(run, space="features").one_axis_message is None


@pytest.mark.slow
def test_a_run_without_distinct_dims(demo_dataset: Path, demo_run: Run, tmp_path: Path) -> None:
    from core.services.export import export_run

    # A KL weight this large collapses every dimension to the prior.
    run = _trained(
        demo_dataset / "features.parquet",
        latent_dim=2, hidden_dims=(16,), beta=50.0, n_epochs=15, batch_size=64,
        dropout=0.0, random_state=5,
    )  # fmt: skip
    q = run.dim_quality()
    assert q.n_distinct == 0 and not q.active, q.verdict
    with pytest.raises(StatesError, match="no distinct latent dimension"):
        get_states(run)
    assert not states_cached(run)
    reason = degenerate_reason(run)
    assert reason is not None and "no active latent dimension" in reason
    assert degenerate_reason(demo_run) is None
    with pytest.raises(StabilityError, match="no distinct latent dimension"):
        stability_report(run, seed_runs(run, (1,)))
    # The export still works: every dim shown, marked, with the run's verdict.
    export_run(run.run_id, tmp_path / "out")
    status = pl.read_csv(tmp_path / "out" / "latent_dim_status.csv")
    assert status["status"].to_list() == ["inactive", "inactive"]
    assert status["shown"].to_list() == [True, True]
    dims = figure_dims(q, q.names)
    assert dims.names == q.names and dims.labels == ["z0 (inactive)", "z1 (inactive)"]
    assert dims.footnote == q.verdict


def test_loss_problem() -> None:
    assert loss_problem(np.linspace(60.0, 40.0, 20)) is None
    assert "flat" in str(loss_problem(np.full(20, 52.3)))
    assert "non-finite" in str(loss_problem(np.array([50.0, np.nan, 40.0])))
    assert "no training epoch" in str(loss_problem(np.array([])))


# --- stability ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_stability_leaves_out_a_failed_seed_run(demo_run: Run) -> None:
    from core.pipeline.execute import execute_run
    from core.runs.files import LATENTS_FILE
    from core.runs.store import create_run

    cfg = demo_run.config()
    good, _ = create_run(cfg.features_path, seed_config(demo_run, 23), cfg.preprocess)
    if good.status().state != "done":
        execute_run(good.run_id)
    bad, _ = create_run(cfg.features_path, seed_config(demo_run, 29), cfg.preprocess)
    if bad.status().state != "failed":

        def fail_at_correlations(done: int, total: int, message: str) -> None:
            if message.startswith("correlating"):
                raise RuntimeError("disk full while correlating")

        with pytest.raises(RuntimeError, match="disk full"):
            execute_run(bad.run_id, progress=fail_at_correlations)
    assert bad.status().state == "failed"
    assert bad.has(LATENTS_FILE)  # it failed after writing its codes: they must not count

    q = demo_run.dim_quality()
    report = stability_report(demo_run, seed_runs(demo_run, (23, 29)))
    assert report.run_ids == [demo_run.run_id, good.run_id]
    assert bad.run_id not in report.matches["run_id"].to_list()
    assert report.excluded.to_dicts() == [
        {
            "seed": 29,
            "run_id": bad.run_id,
            "state": "failed",
            "reason": "failed: disk full while correlating",
        }
    ]
    assert f"seed 29 (run {bad.run_id}) left out: failed: disk full while correlating" in (
        report.notes
    )
    # Only distinct dims were matched; the note names the others with their status.
    assert report.dims == q.distinct == report.dimensions["dim"].to_list()
    assert report.dim_status == q.status
    assert set(report.matches["dim"].to_list()) == set(q.distinct)
    assert set(report.matches["matched_dim"].drop_nulls()) <= set(good.dim_quality().distinct)
    skipped = next(n for n in report.notes if "not compared" in n)
    assert all(q.label(n) in skipped for n in _hidden(demo_run))
    # The failed run changed nothing: the numbers are those against the good run alone.
    alone = stability_report(demo_run, seed_runs(demo_run, (23,)))
    assert report.dimensions.equals(alone.dimensions)
    assert alone.excluded.is_empty()
    # With only the failed run there is nothing to compare, and the error says why.
    with pytest.raises(StabilityError, match=r"(?i)seed 29 .*failed: disk full"):
        stability_report(demo_run, seed_runs(demo_run, (29,)))


# --- export -------------------------------------------------------------------------------------


def _png_width(path: Path) -> int:
    width: int = struct.unpack(">I", path.read_bytes()[16:20])[0]
    return width


@pytest.mark.slow  # exports the run a second time, every dimension shown (figures: seconds)
def test_export_carries_the_dim_status(
    demo_run: Run, demo_export: DemoExport, tmp_path: Path
) -> None:
    from core.services.export import export_run

    q = demo_run.dim_quality()
    out = demo_export.folder
    status = pl.read_csv(out / "latent_dim_status.csv")
    assert status["dim"].to_list() == q.names
    assert dict(zip(status["dim"], status["status"], strict=True)) == q.status
    copies = status.filter(pl.col("status") == "redundant")
    assert dict(zip(copies["dim"], copies["copies"], strict=True)) == q.redundant
    assert status["shown"].to_list() == [n in q.distinct for n in q.names]
    with np.load(out / "correlation_matrix.npz", allow_pickle=False) as npz:
        assert npz["latent_names"].tolist() == q.names
        assert npz["dim_status"].tolist() == [q.status[n] for n in q.names]
        assert npz["corr"].shape[0] == len(q.names)  # the arrays keep every dim
    interp = pl.read_parquet(out / "latent_interpretation.parquet")
    assert dict(interp.select("latent_dim", "dim_status").unique().iter_rows()) == q.status
    pivot = pl.read_csv(out / "latent_interpretation_pivot.csv")
    assert dict(pivot.select("dim", "dim_status").iter_rows()) == q.status

    # The figures show the distinct dims and name the others in a footnote.
    dims = figure_dims(q, q.names)
    assert dims.names == q.distinct
    assert dims.footnote is not None
    assert all(q.label(n) in dims.footnote for n in _hidden(demo_run))
    full = figure_dims(q, q.names, show_all=True)
    assert full.names == q.shown(show_all=True)
    assert full.labels == [q.label(n) for n in full.names]
    assert full.distinct == [q.status[n] == "distinct" for n in full.names]

    export_run(demo_run.run_id, tmp_path / "all", show_all=True)
    shown = pl.read_csv(tmp_path / "all" / "latent_dim_status.csv")["shown"]
    assert shown.to_list() == [True] * len(q.names)
    # One top-5 panel per shown dim (two rows of panels): fewer dims, a narrower figure.
    if len(q.distinct) <= 2 < len(q.names):
        png = "vae_top5_correlations.png"
        assert _png_width(out / png) < _png_width(tmp_path / "all" / png)
