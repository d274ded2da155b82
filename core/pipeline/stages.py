"""The run stages people wait for: loading, training, the map projection and the states.

:mod:`core.pipeline.execute` runs them in order with the analyses of
:mod:`core.pipeline.analyses`; each reports progress with an honest time left into
``status.json``. UMAP has no progress hook, so its time left is an estimate from the last
UMAP measured on this machine (``runs_root()/_cache/stage_rates.json``), counted down while
it runs; states report every mixture fitted and extrapolate from the time so far.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from core.features.datasets import load_features
from core.infra.io import atomic_write_json, atomic_write_parquet
from core.infra.paths import runs_root
from core.pipeline.context import RunCancelled, RunContext
from core.pipeline.prepare import prepare
from core.runs.files import MODEL_FILE, MODEL_MATRIX_FILE, PREPROCESSING_FILE, UMAP_FILE
from core.runs.store import Run

logger = logging.getLogger(__name__)

RATES_FILE = ("_cache", "stage_rates.json")
# Seconds per (point x epoch) of a seeded single-threaded UMAP, and a fixed start cost
# (import, neighbours), measured on a busy 2-core machine with numba's cache warm: 4.7-10 s for
# World Cup 2018's 4,966 codes. Replaced by this machine's own figure after the first run.
DEFAULT_UMAP_RATE = 2.0e-6
DEFAULT_UMAP_START_S = 1.5
TICK_S = 1.0  # how often a running stage rewrites its time left


class StageReporter(Protocol):
    """What a stage needs of the pipeline's reporter (:class:`core.pipeline.reporter.RunReporter`)."""

    run: Run
    total_units: int
    progress: Callable[[int, int, str], None] | None


def _rates_path() -> Path:
    return runs_root().joinpath(*RATES_FILE)


def _read_rates() -> dict[str, float]:
    try:
        data = json.loads(_rates_path().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def _remember_rate(name: str, value: float) -> None:
    rates = _read_rates() | {name: value}
    try:
        atomic_write_json(_rates_path(), rates)
    except OSError as exc:  # a read-only runs root only costs the estimate
        logger.debug("stage rates not saved: %s", exc)


def estimate_umap_seconds(n: int, *, parallel: bool = False) -> float:
    """Expected seconds of :func:`core.analysis.latents.umap_embedding` on ``n`` codes."""
    from core.analysis.latents import UMAP_FIT_MAX, umap_epochs

    rate = _read_rates().get("umap_s_per_point_epoch", DEFAULT_UMAP_RATE)
    fitted = min(n, UMAP_FIT_MAX)  # beyond it the rest is placed in about a second per 100k
    seconds = DEFAULT_UMAP_START_S + rate * fitted * umap_epochs(fitted) + (n - fitted) * 1e-5
    return seconds / 2 if parallel else seconds


@contextmanager
def _counting_down(
    rep: StageReporter, stage: str, unit: int, estimate_s: float, message: str
) -> Iterator[None]:
    """Keep ``status.json``'s time left and progress moving while a stage without a
    progress hook runs: ``estimate_s`` counted down, never below 1 s until it ends."""
    stop = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not stop.wait(TICK_S):
            elapsed = time.monotonic() - started
            frac = min(0.95, elapsed / max(estimate_s, 1e-6))
            rep.run.update_status(
                stage=stage,
                progress=round((unit + frac) / rep.total_units, 4),
                eta_s=round(max(1.0, estimate_s - elapsed), 1),
                heartbeat=time.time(),
                message=message,
            )

    rep.run.update_status(
        stage=stage,
        progress=round(unit / rep.total_units, 4),
        eta_s=round(estimate_s, 1),
        heartbeat=time.time(),
        message=message,
    )
    if rep.progress:
        rep.progress(unit, rep.total_units, message)
    thread = threading.Thread(target=tick, name=f"{stage}-eta", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def projection_stage(
    rep: StageReporter, Z: np.ndarray, segment_ids: pl.Series, random_state: int | None, unit: int
) -> dict[str, Any]:
    """UMAP of the codes into ``umap.parquet``; returns the record ``diagnostics.json`` keeps
    under ``projection`` (method, threads, reproducible, seconds)."""
    from core.analysis.latents import UMAP_FIT_MAX, umap_embedding, umap_epochs

    n = int(Z.shape[0])
    parallel = random_state is None
    estimate = estimate_umap_seconds(n, parallel=parallel)
    message = f"UMAP of {n:,} latent codes"
    started = time.perf_counter()
    with _counting_down(rep, "umap", unit, estimate, message):
        emb = umap_embedding(Z, random_state=random_state)
    seconds = time.perf_counter() - started
    atomic_write_parquet(
        rep.run.artifact_path(UMAP_FILE),
        pl.DataFrame({"segment_id": segment_ids, "umap_x": emb[:, 0], "umap_y": emb[:, 1]}),
    )
    if not parallel and 1_000 <= n <= UMAP_FIT_MAX:  # small sets are all start cost
        rate = max(seconds - DEFAULT_UMAP_START_S, 0.0) / (n * umap_epochs(n))
        _remember_rate("umap_s_per_point_epoch", rate)
    return {
        "method": "umap" if n <= UMAP_FIT_MAX else "umap on a sample, the rest placed",
        "fitted_on": min(n, UMAP_FIT_MAX),
        "threads": "all cores" if parallel else "one (seeded, reproducible)",
        "reproducible": not parallel,
        "random_state": random_state,
        "seconds": round(seconds, 2),
        "estimate_s": round(estimate, 1),
    }


def states_stage(rep: StageReporter, unit: int) -> dict[str, Any] | None:
    """Compute the run's states into ``states/`` (recomputed: the codes are new).

    Progress reports every mixture fitted, with the time left extrapolated from the time
    so far. Returns the record ``diagnostics.json`` keeps under ``states`` (K per space,
    methods, seconds), or None when the run has no distinct dimension to fit states on
    (the States page then says so, as before).
    """
    from core.errors import StatesError
    from core.services.states import get_states

    run = rep.run
    started = time.monotonic()
    run.update_status(
        stage="states",
        progress=round(unit / rep.total_units, 4),
        eta_s=None,
        heartbeat=time.time(),
        message="tactical states: fitting mixtures",
    )

    def progress(done: int, total: int, message: str) -> None:
        elapsed = time.monotonic() - started
        eta = elapsed / done * (total - done) if done else None
        frac = done / max(total, 1)
        run.update_status(
            stage="states",
            progress=round((unit + frac) / rep.total_units, 4),
            eta_s=None if eta is None else round(eta, 1),
            heartbeat=time.time(),
            message=f"tactical states: {message}",
        )
        if rep.progress:
            rep.progress(unit, rep.total_units, f"states: {message}")

    try:
        result = get_states(run, progress=progress, recompute=True)
    except StatesError as exc:
        logger.warning("run %s: no states computed: %s", run.run_id, exc)
        return None
    summary = result.summary
    return {
        "seconds": round(time.monotonic() - started, 2),
        **{
            space: {
                "best_k": summary[space]["best_k"],
                "method": summary[space].get("plan", {}).get("method"),
            }
            for space in ("latent", "features")
        },
        "ari": summary.get("ari"),
    }


# --- the stages over a run's context -----------------------------------------------------------


def load_stage(ctx: RunContext) -> None:
    """Load the features, filter and preprocess them (fails early when they cannot train)."""
    from core.model.checks import check_trainable

    rep, prep = ctx.rep, ctx.prep
    rep.stage("loading", 0, f"loading {ctx.features_path.name}")
    df = load_features(ctx.features_path)
    rep.stage("preprocessing", 0, f"preprocessing {df.height:,} segments")
    data = prepare(df, prep)
    check_trainable(data.X.shape[0], data.X.shape[1], ctx.vae)
    logger.info(
        "run %s: %d segments x %d model inputs (%d named features; dropped tier>%d: %d)",
        ctx.run.run_id,
        data.X.shape[0],
        data.X.shape[1],
        len(data.feature_names),
        prep.max_tier,
        len(data.dropped_tier_columns),
    )
    ctx.put(data=data)


def training_stage(ctx: RunContext) -> None:
    """Train the VAE on the model matrix (data-parallel with DDP when ``world_size > 1``),
    then save the model and the preprocessing: they are what the slow training produced.

    A matrix above :func:`core.model.streaming.resident_limit_bytes` is written to the run's
    ``model_matrix.parquet`` and streamed from it a chunk at a time (deleted afterwards)."""
    from core.model.devices import resolve_device
    from core.model.streaming import MatrixFile, streams, write_matrix
    from core.model.training import train_vae
    from core.model.vae import save_module

    data, rep = ctx.data, ctx.rep
    rows: np.ndarray | MatrixFile = data.X
    where = ""
    if streams(data.X.nbytes, resolve_device(ctx.device)):
        rows = write_matrix(ctx.run.artifact_path(MODEL_MATRIX_FILE), data.X)
        where = f", streamed from {MODEL_MATRIX_FILE}"
    rep.stage("training", 1, f"training on {data.X.shape[0]:,} segments{where}")
    try:
        if ctx.world_size > 1:
            from core.model.ddp import train_vae_ddp

            rep.on_train_start(None, data.X.shape[0], data.X.shape[1])
            result = train_vae_ddp(
                rows,
                ctx.vae,
                world_size=ctx.world_size,
                callbacks=[rep],
                should_stop=ctx.should_stop,
            )
        else:
            result = train_vae(
                rows,
                ctx.vae,
                device=ctx.device,
                callbacks=[rep],
                should_stop=ctx.should_stop,
                precision="auto",
            )
    finally:
        ctx.run.artifact_path(MODEL_MATRIX_FILE).unlink(missing_ok=True)
    if result.cancelled:
        raise RunCancelled()
    save_module(result.module, ctx.run.artifact_path(MODEL_FILE))
    data.pipeline.save(ctx.run.artifact_path(PREPROCESSING_FILE))
    ctx.put(result=result)


def projection(ctx: RunContext) -> None:
    """:func:`projection_stage` on the run's codes (seeded by ``map_seed``)."""
    seg_ids = ctx.data.segments["segment_id"]
    record = projection_stage(
        ctx.rep, ctx.codes, seg_ids, ctx.vae.map_seed, ctx.rep.analysis_unit("umap")
    )
    ctx.put(projection=record)


def states(ctx: RunContext) -> None:
    """:func:`states_stage`: reads ``diagnostics.json``'s distinct dims, so it comes last."""
    states_stage(ctx.rep, ctx.rep.analysis_unit("states"))
