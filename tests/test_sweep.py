"""Sweeps: a beta x latent_dim grid of ordinary runs, their table, the recommendation, the page.

The slow tests train a real tiny grid (beta {0.5, 4} x latent {2, 3}, a small network, a
few hundred steps) on the demo features through the job system, once per module, and
read everything back from the runs' own files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.errors import ConfigError, TrainingError
from core.jobs.api import get_job, list_jobs, wait_job
from core.jobs.sweep import (
    DEFAULT_BETAS,
    DEFAULT_LATENT_DIMS,
    Sweep,
    SweepNotFoundError,
    check_grid,
    get_sweep,
    list_sweeps,
    plan_sweep,
    start_sweep,
    sweep_path,
    sweeps_dir,
)
from core.jobs.sweep_results import RECON_TOLERANCE, TABLE_SCHEMA, recommend, sweep_table
from core.model.config import PreprocessConfig, VAEConfig, device_slots
from core.model.presets import RECOMMENDED, preset
from core.runs.config import run_id_for
from core.runs.store import get_run
from tests.conftest import AppPage
from tests.helpers import APP, healthy

TINY_BETAS = (0.5, 4.0)
TINY_DIMS = (2, 3)


def _tiny_base() -> VAEConfig:
    """The recommended preset, made small enough to train a cell in seconds on a CPU."""
    return preset("recommended", hidden_dims=(32,), n_epochs=30, batch_size=32, random_state=5)


def _features(demo_dataset: Path) -> Path:
    return demo_dataset / "features.parquet"


# --- the grid and the definition (no training) ------------------------------------------------


def test_check_grid_sorts_deduplicates_and_refuses_bad_grids() -> None:
    assert check_grid([4, 0.5, 4.0, 1], [8, 4, 8]) == ((0.5, 1.0, 4.0), (4, 8))
    bad: list[tuple[list[float], list[int]]] = [
        ([], [4]),
        ([1.0], []),
        ([-1.0], [4]),
        ([math.nan], [4]),
        ([1.0], [0]),
    ]
    for betas, dims in bad:
        with pytest.raises(ConfigError):
            check_grid(betas, dims)
    with pytest.raises(ConfigError, match="at most"):
        check_grid([float(b) for b in range(9)], range(1, 9))
    with pytest.raises(ConfigError):
        check_grid(["high"], [4])  # type: ignore[list-item]


def test_plan_is_deterministic_content_addressed_and_writes_nothing(demo_dataset: Path) -> None:
    features = _features(demo_dataset)
    before = set(sweeps_dir().iterdir())
    a = plan_sweep(features, [4, 0.5], [3, 2], base=_tiny_base())
    b = plan_sweep(features, TINY_BETAS, TINY_DIMS, base=_tiny_base())
    assert set(sweeps_dir().iterdir()) == before  # planning writes nothing
    assert a.sweep_id == b.sweep_id and a.run_ids == b.run_ids  # the order of the grid is free
    assert (a.betas, a.latent_dims, a.n_cells) == (TINY_BETAS, TINY_DIMS, 4)
    for cell in a.cells:  # each cell is the run the store would name for its config
        cfg = dataclasses.replace(_tiny_base(), beta=cell.beta, latent_dim=cell.latent_dim)
        assert a.cell_config(cell.beta, cell.latent_dim) == cfg
        assert cell.run_id == run_id_for(features, cfg, PreprocessConfig())
    assert len(set(a.run_ids)) == 4
    # Another grid, base or preprocessing is another sweep.
    assert plan_sweep(features, [0.5], TINY_DIMS, base=_tiny_base()).sweep_id != a.sweep_id
    other_base = dataclasses.replace(_tiny_base(), n_epochs=31)
    assert plan_sweep(features, TINY_BETAS, TINY_DIMS, base=other_base).sweep_id != a.sweep_id
    other_prep = PreprocessConfig(max_tier=1)
    assert (
        plan_sweep(features, TINY_BETAS, TINY_DIMS, prep=other_prep, base=_tiny_base()).sweep_id
        != a.sweep_id
    )
    # The definition survives a JSON round trip.
    assert Sweep.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_default_grid_uses_the_recommended_preset_and_contains_the_demo_run(
    demo_dataset: Path,
) -> None:
    from core.demo import demo_configs

    features = _features(demo_dataset)
    plan = plan_sweep(features)
    assert (plan.betas, plan.latent_dims) == (DEFAULT_BETAS, DEFAULT_LATENT_DIMS)
    assert plan.n_cells == len(DEFAULT_BETAS) * len(DEFAULT_LATENT_DIMS) == 20
    base = plan.base
    assert (base.dropout, base.rotation) == (RECOMMENDED.dropout, RECOMMENDED.rotation)
    # The batch is shrunk on small data as the demo and the CLI do, so the demo run (the
    # recommended preset, beta 0.5, 10 latents) is a cell of the default sweep, reused.
    vae, prep = demo_configs(features)
    demo_id = run_id_for(features, vae, prep)
    cell = next(c for c in plan.cells if (c.beta, c.latent_dim) == (vae.beta, vae.latent_dim))
    assert cell.run_id == demo_id


def test_unknown_or_malformed_sweep_ids_are_refused() -> None:
    for bad in ("../../etc", "ABCDEF123456", "123", ""):
        with pytest.raises(SweepNotFoundError, match="not a sweep id"):
            get_sweep(bad)
    with pytest.raises(SweepNotFoundError, match="No sweep"):
        get_sweep("0123456789ab")
    junk = sweep_path("ffffffffffff")
    junk.write_text("{not json")
    try:
        with pytest.raises(SweepNotFoundError, match="unreadable"):
            get_sweep("ffffffffffff")
        assert "ffffffffffff" not in [s.sweep_id for s in list_sweeps()]  # skipped, no crash
    finally:
        junk.unlink()


def test_untrainable_input_is_refused_before_anything_is_written(demo_dataset: Path) -> None:
    features = _features(demo_dataset)
    jobs = len(list_jobs("train"))
    plan = plan_sweep(features, [1.0], [2, 500], base=_tiny_base())
    with pytest.raises(TrainingError, match="latent_dim=500"):
        start_sweep(features, [1.0], [2, 500], base=_tiny_base())
    assert not plan.path.exists()
    assert len(list_jobs("train")) == jobs
    with pytest.raises(FileNotFoundError):
        start_sweep(demo_dataset / "nope.parquet", [1.0], [2])


# --- the recommendation rule on hand-made tables ----------------------------------------------


def _table(
    *rows: tuple[float, int, str, float | None, float | None, int | None],
    patterns: tuple[int | None, ...] = (),
) -> pl.DataFrame:
    """Rows ``(beta, latent_dim, state, recon, kl, n_distinct)``, in the sweep table's shape;
    ``patterns``: each row's patterns found again (single-seed cells when left out)."""
    found = list(patterns) + [None] * (len(rows) - len(patterns))
    return pl.DataFrame(
        [
            {
                "beta": b,
                "latent_dim": k,
                "run_id": f"{i:012x}",
                "state": st,
                "progress": 1.0 if st == "done" else 0.3,
                "recon": r,
                "kl": kl,
                "n_distinct": n,
                "n_patterns": found[i],
                "verdict": None,
                "error": None,
            }
            for i, (b, k, st, r, kl, n) in enumerate(rows)
        ],
        schema=TABLE_SCHEMA,
        orient="row",
    )


def test_recommend_maximises_distinct_dimensions_first() -> None:
    t = _table(
        (0.25, 12, "done", 10.0, 30.0, 4),  # best reconstruction, fewer distinct dims
        (1.0, 8, "done", 20.0, 12.0, 6),
        (2.0, 8, "done", 25.0, 8.0, 5),
    )
    rec = recommend(t)
    assert rec is not None
    assert (rec.beta, rec.latent_dim, rec.n_distinct, rec.recon) == (1.0, 8, 6, 20.0)
    assert rec.run_id == t["run_id"][1]
    assert "6 distinct dimensions" in rec.reason and "more than any other" in rec.reason


def test_recommend_counts_patterns_found_again_for_ensemble_cells() -> None:
    """Issue 21: a cell trained as a seed ensemble is judged by the axes its other seeds find
    again, not by distinct axes that may be seed noise."""
    t = _table(
        (0.5, 10, "done", 20.0, 12.0, 9),  # 9 distinct axes, 4 of them found again
        (1.0, 8, "done", 21.0, 10.0, 6),  # 6 distinct, 5 found again
        patterns=(4, 5),
    )
    rec = recommend(t)
    assert rec is not None and (rec.beta, rec.latent_dim) == (1.0, 8)
    assert (rec.n_patterns, rec.n_distinct) == (5, 6)
    assert "5 patterns found again across its seeds" in rec.reason
    # The same cells trained with one seed each: the most distinct dimensions win.
    single = recommend(_table((0.5, 10, "done", 20.0, 12.0, 9), (1.0, 8, "done", 21.0, 10.0, 6)))
    assert single is not None and single.latent_dim == 10 and single.n_patterns is None
    assert "9 distinct dimensions" in single.reason


def test_recommend_treats_close_reconstructions_as_equal_and_prefers_the_smaller_size() -> None:
    close = 20.0 * (1 + RECON_TOLERANCE / 2)
    t = _table(
        (0.5, 12, "done", 20.0, 15.0, 6),
        (0.5, 8, "done", close, 14.0, 6),  # within 2%: the smaller size wins
        (1.0, 4, "done", 40.0, 9.0, 3),
    )
    rec = recommend(t)
    assert rec is not None and (rec.beta, rec.latent_dim) == (0.5, 8)
    assert "within 2%" in rec.reason and "smallest latent size" in rec.reason
    far = 20.0 * (1 + RECON_TOLERANCE * 2)
    t2 = _table((0.5, 12, "done", 20.0, 15.0, 6), (0.5, 8, "done", far, 14.0, 6))
    rec2 = recommend(t2)
    assert rec2 is not None and rec2.latent_dim == 12  # beyond 2%: lower reconstruction wins
    assert "lowest of them" in rec2.reason
    # Same size, both within the band: the lower reconstruction, then the lower KL.
    t3 = _table((0.5, 8, "done", 20.1, 15.0, 6), (1.0, 8, "done", 20.0, 14.0, 6))
    rec3 = recommend(t3)
    assert rec3 is not None and rec3.beta == 1.0
    t4 = _table((0.5, 8, "done", 20.0, 15.0, 6), (1.0, 8, "done", 20.0, 14.0, 6))
    rec4 = recommend(t4)
    assert rec4 is not None and rec4.beta == 1.0 and rec4.kl == 14.0


def test_recommend_ignores_unfinished_and_single_axis_cells() -> None:
    t = _table(
        (0.25, 12, "running", None, None, None),
        (0.5, 8, "failed", None, None, None),
        (4.0, 4, "done", 5.0, 1.0, 1),  # one axis: never recommended, however it reconstructs
        (1.0, 8, "done", 30.0, 10.0, 3),
        (2.0, 8, "done", None, 10.0, 5),  # no reconstruction error recorded
    )
    rec = recommend(t)
    assert rec is not None and (rec.beta, rec.latent_dim) == (1.0, 8)
    assert "were not considered (fewer than 2 distinct" in rec.reason


def test_recommend_is_none_when_no_cell_qualifies() -> None:
    assert recommend(_table()) is None
    assert recommend(_table((0.5, 4, "queued", None, None, None))) is None
    assert recommend(_table((4.0, 4, "done", 5.0, 1.0, 1), (8.0, 4, "done", 6.0, 0.5, 0))) is None


# --- a real tiny sweep, trained by background jobs --------------------------------------------


@dataclass
class TinySweep:
    sweep: Sweep
    again_while_running: Sweep
    jobs_started: int  # training jobs the two starts created
    table: pl.DataFrame
    most_alive: int  # the most workers of its cells seen alive at once
    slots: int  # the bound: the machine's device slots


def _job_processes(job_ids: set[str]) -> int:
    """Live worker processes of these jobs (their command lines name them)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        jobs = "job-worker" in str(argv) and any(
            a.decode(errors="replace") in job_ids for a in argv
        )
        count += jobs and state != "Z"
    return count


def _rule(table: pl.DataFrame) -> dict[str, Any] | None:
    """The recommendation rule, written out plainly over the rows (an independent check)."""
    rows = [
        r
        for r in table.iter_rows(named=True)
        if r["state"] == "done"
        and (r["n_distinct"] or 0) >= 2
        and r["recon"] is not None
        and math.isfinite(r["recon"])
    ]
    if not rows:
        return None
    count = {
        r["run_id"]: r["n_distinct"] if r["n_patterns"] is None else r["n_patterns"] for r in rows
    }
    most = max(count.values())
    rows = [r for r in rows if count[r["run_id"]] == most]
    best = min(r["recon"] for r in rows)
    rows = [r for r in rows if r["recon"] <= best * (1 + RECON_TOLERANCE) + 1e-12]
    return min(rows, key=lambda r: (r["latent_dim"], r["recon"], r["kl"], r["beta"]))


@pytest.fixture(scope="module")
def tiny_sweep(demo_dataset: Path) -> Iterator[TinySweep]:
    features = _features(demo_dataset)
    before = {j.job_id for j in list_jobs("train")}
    sweep = start_sweep(features, TINY_BETAS, TINY_DIMS, base=_tiny_base())
    again = start_sweep(features, TINY_BETAS, TINY_DIMS, base=_tiny_base())
    new = [j for j in list_jobs("train") if j.job_id not in before]
    ids = {j.job_id for j in new}
    # The cells wait as records, not processes: at most `slots` workers alive, sampled
    # until every cell is done.
    most, deadline = 0, time.monotonic() + 500 * max(len(new), 1)
    while time.monotonic() < deadline:
        most = max(most, _job_processes(ids))
        if all(get_job(j).is_final for j in ids):
            break
        time.sleep(0.1)
    for job in new:
        done = wait_job(job.job_id, timeout=10)
        assert done.state == "done", (done.error, done.log_tail)
    yield TinySweep(sweep, again, len(new), sweep_table(sweep), most, device_slots())


@pytest.mark.slow
def test_a_sweep_never_runs_more_cells_than_its_slots(tiny_sweep: TinySweep) -> None:
    """Issue 22: 4 cells on a machine of `slots` device slots (1 without a GPU) never have
    more than `slots` workers alive at once, and all of them train."""
    assert tiny_sweep.jobs_started == 4
    assert 0 < tiny_sweep.most_alive <= tiny_sweep.slots


@pytest.mark.slow
def test_cells_become_runs_of_the_recommended_preset(
    tiny_sweep: TinySweep, demo_dataset: Path
) -> None:
    sweep = tiny_sweep.sweep
    # Stored under the runs root, atomically written, found again.
    assert sweep.path == sweeps_dir() / f"{sweep.sweep_id}.json"
    assert get_sweep(sweep.sweep_id) == sweep
    assert sweep.sweep_id in [s.sweep_id for s in list_sweeps()]
    stored = json.loads(sweep.path.read_text())
    assert stored["betas"] == list(TINY_BETAS) and stored["latent_dims"] == list(TINY_DIMS)
    assert Path(stored["features_path"]) == _features(demo_dataset).resolve()
    assert [c["run_id"] for c in stored["cells"]] == sweep.run_ids
    # One training job per cell: the second start, made while they trained, attached to them.
    assert tiny_sweep.jobs_started == 4
    assert tiny_sweep.again_while_running.run_ids == sweep.run_ids
    for cell in sweep.cells:
        run = get_run(cell.run_id)
        cfg = run.config()
        assert run.status().state == "done"
        assert (cfg.vae.beta, cfg.vae.latent_dim) == (cell.beta, cell.latent_dim)
        assert cfg.vae == dataclasses.replace(
            _tiny_base(), beta=cell.beta, latent_dim=cell.latent_dim
        )
        assert cfg.vae.rotation == "anchored_varimax" and cfg.vae.dropout == 0.0
        assert cfg.preprocess == PreprocessConfig()
        assert cfg.features_sha256 == sweep.features_sha256


@pytest.mark.slow
def test_a_second_start_reuses_the_finished_cells(tiny_sweep: TinySweep) -> None:
    sweep = tiny_sweep.sweep
    jobs = len(list_jobs("train"))
    finished = {rid: get_run(rid).status().finished_at for rid in sweep.run_ids}
    again = start_sweep(sweep.features_path, [4.0, 0.5], [3, 2], base=_tiny_base())
    assert again.sweep_id == sweep.sweep_id and again.run_ids == sweep.run_ids
    assert len(list_jobs("train")) == jobs  # nothing trained again
    assert {rid: get_run(rid).status().finished_at for rid in sweep.run_ids} == finished
    assert get_sweep(sweep.sweep_id).created_at == sweep.created_at  # first asked, kept


@pytest.mark.slow
def test_sweep_table_reads_the_runs_diagnostics(tiny_sweep: TinySweep) -> None:
    table = tiny_sweep.table
    assert table.schema == pl.Schema(TABLE_SCHEMA)
    assert table.height == 4
    assert table.select("beta", "latent_dim").rows() == [(0.5, 2), (0.5, 3), (4.0, 2), (4.0, 3)]
    for row in table.iter_rows(named=True):
        run = get_run(row["run_id"])
        diag = run.diagnostics()
        assert row["state"] == "done" and row["progress"] == 1.0 and row["error"] is None
        assert row["recon"] == pytest.approx(diag["recon_at_means"])
        assert row["kl"] == pytest.approx(diag["kl_total"])
        assert row["n_distinct"] == diag["n_distinct"] == run.dim_quality().n_distinct
        assert row["n_patterns"] == diag["ensemble"]["n_reproduced"]
        assert row["n_patterns"] == len(run.dim_quality().reproduced)
        assert row["verdict"] == diag["verdict"]
        cfg = run.config().vae
        assert (row["beta"], row["latent_dim"]) == (cfg.beta, cfg.latent_dim)
    # Larger beta buys a smaller KL (rate) for the same latent size.
    kl = {(r["beta"], r["latent_dim"]): r["kl"] for r in table.iter_rows(named=True)}
    assert kl[(4.0, 2)] < kl[(0.5, 2)] and kl[(4.0, 3)] < kl[(0.5, 3)]


@pytest.mark.slow
def test_recommend_on_the_real_sweep_follows_the_rule(tiny_sweep: TinySweep) -> None:
    table = tiny_sweep.table
    expected = _rule(table)
    rec = recommend(table)
    assert expected is not None, table  # the tiny grid keeps 2 distinct dims at latent 2
    assert rec is not None
    assert (rec.beta, rec.latent_dim, rec.run_id) == (
        expected["beta"],
        expected["latent_dim"],
        expected["run_id"],
    )
    assert rec.n_distinct == expected["n_distinct"] >= 2
    assert rec.n_patterns == expected["n_patterns"] is not None  # cells are 3-seed ensembles
    assert rec.run_id in rec.reason


@pytest.mark.slow
def test_page_shows_the_chart_and_opens_a_cell(tiny_sweep: TinySweep) -> None:
    sweep, table = tiny_sweep.sweep, tiny_sweep.table
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["sweep_id"] = sweep.sweep_id
    at.run()
    at.switch_page("pages/sweep.py").run()
    healthy(at)
    assert at.title[0].value == "Sweep"
    charts = [el for el in at.get("plotly_chart") if el.proto.id.endswith("sweep_chart")]
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    cells = [t for t in spec["data"] if str(t.get("name", "")).startswith("beta")]
    assert sorted(t["name"] for t in cells) == ["beta 0.5", "beta 4"]
    plotted = sorted(
        (cd[0], x, y)
        for t in cells
        for cd, x, y in zip(t["customdata"], t["x"], t["y"], strict=True)
    )
    assert plotted == sorted(
        (r["run_id"], pytest.approx(r["kl"]), pytest.approx(r["recon"]))
        for r in table.iter_rows(named=True)
    )
    # The star is on the cell the rule picks (worked out here, by _rule), its reason beside.
    expected = _rule(table)
    rec = recommend(table)
    assert expected is not None and rec is not None
    star = [t for t in spec["data"] if t.get("name") == "recommended"]
    assert star and star[0]["customdata"][0][0] == expected["run_id"]
    assert any(rec.reason in s.value for s in at.success)

    # Open another cell than the recommended one: it becomes the active run, on Overview.
    other = next(r for r in table["run_id"].to_list() if r != rec.run_id)
    at.selectbox(key="sweep_pick").set_value(other)
    at.button(key="sweep_open_cell").click().run()
    healthy(at)
    assert at.session_state["active_run"] == other
    assert at.title[0].value == "Tactical states"  # the Overview page
    assert at.selectbox(key="active_run").value == other


@pytest.mark.slow
@pytest.mark.browser
def test_clicking_a_point_opens_its_run(tiny_sweep: TinySweep, app_page: AppPage) -> None:
    app_page.goto("sweep")
    page = app_page.page
    page.locator(".st-key-sweep_chart .js-plotly-plot").wait_for()
    page.locator(".st-key-sweep_chart").scroll_into_view_if_needed()  # clicks need it on screen
    point = None
    for _ in range(50):  # the figure renders a moment after the script finished
        point = page.evaluate(_POINT_JS)
        if point:
            break
        page.wait_for_timeout(200)
    assert point and point["inside"], point
    assert point["run"] in tiny_sweep.sweep.run_ids
    page.mouse.click(point["x"], point["y"])
    app_page.wait_until_idle()
    for _ in range(100):  # the switch to Overview is a second script run
        if page.locator("h1").first.inner_text().strip() == "Tactical states":
            break
        page.wait_for_timeout(200)
    app_page.wait_until_idle()
    assert page.locator("h1").first.inner_text().strip() == "Tactical states"
    assert f"run={point['run']}" in page.url  # the active run, mirrored in the URL
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert f"Run {point['run']}" in main, main[:800]


# Page coordinates of the cell point farthest from every other point of the sweep chart
# (plotly's own axis transforms), and that point's run id (its customdata).
_POINT_JS = """() => {
  const gd = document.querySelector('.st-key-sweep_chart .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData || !gd._fullData.length) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  if (!xa || typeof xa.l2p !== 'function') return null;
  const pts = [];
  for (const tr of gd._fullData) {
    if (!tr.x || !tr.customdata) continue;
    for (let j = 0; j < tr.x.length; j++) {
      pts.push({px: xa._offset + xa.l2p(tr.x[j]), py: ya._offset + ya.l2p(tr.y[j]),
                run: String(tr.customdata[j][0]), star: tr.name === 'recommended'});
    }
  }
  let best = null, bestGap = -1;
  for (const p of pts) {
    if (p.star) continue;
    let gap = Infinity;
    for (const q of pts) {
      if (q !== p && q.run !== p.run) gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py));
    }
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  if (!best) return null;
  const box = gd.getBoundingClientRect();
  return {x: box.left + best.px, y: box.top + best.py, run: best.run, gap: bestGap,
          inside: best.px >= xa._offset && best.px <= xa._offset + xa._length
            && best.py >= ya._offset && best.py <= ya._offset + ya._length};
}"""
