"""One run, end to end: features -> preprocessing -> beta-VAE -> every analysis, into its folder.

This is the notebook's sections 2-9 as a function. It runs wherever it is called (a
background job's worker process, the headless ``train`` command, a test), writes each
artifact atomically as soon as it exists, keeps ``status.json`` current (stage, progress,
time left, heartbeat) and writes ``state: done`` only after the last artifact.

A run is :data:`STAGES`, in order, over one :class:`~core.pipeline.context.RunContext`:
each stage reads what the earlier ones left in the context and leaves its own result
there; between two stages the run can be cancelled.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from core.infra.process import process_start_time, utc_now
from core.pipeline.analyses import (
    correlations_stage,
    diagnostics_stage,
    encode_stage,
    interpretation_stage,
)
from core.pipeline.context import RunCancelled, RunContext, ShouldStop
from core.pipeline.reporter import Progress, RunReporter
from core.pipeline.stages import load_stage, projection, states, training_stage
from core.runs.files import (
    AXES_FILE,
    CORRELATIONS_FILE,
    DIAGNOSTICS_FILE,
    INTERPRETATION_FILE,
    LATENTS_FILE,
    LOG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    MODEL_MATRIX_FILE,
    PIVOT_FILE,
    PREPROCESSING_FILE,
    UMAP_FILE,
)
from core.runs.store import Run, get_run

logger = logging.getLogger(__name__)

Stage = Callable[[RunContext], None]

STAGES: tuple[tuple[str, Stage], ...] = (
    ("loading", load_stage),  # features -> filtered segments -> fitted preprocessing
    ("training", training_stage),  # the beta-VAE; model and preprocessing saved
    ("encoding", encode_stage),  # posterior means on the reading axes -> latents.parquet
    ("correlations", correlations_stage),  # codes x features -> correlations.npz
    ("interpretation", interpretation_stage),  # top-5 per dim -> interpretation.parquet
    ("umap", projection),  # the map -> umap.parquet
    ("diagnostics", diagnostics_stage),  # health, quality, baseline -> diagnostics.json
    ("states", states),  # mixtures on the distinct dims -> states/
)
STALE_ON_RETRY = (
    METRICS_FILE,
    MODEL_FILE,
    MODEL_MATRIX_FILE,
    PREPROCESSING_FILE,
    LATENTS_FILE,
    AXES_FILE,
    CORRELATIONS_FILE,
    INTERPRETATION_FILE,
    PIVOT_FILE,
    UMAP_FILE,
    DIAGNOSTICS_FILE,
)


def _attach_log(run: Run) -> logging.Handler:
    handler = logging.FileHandler(run.artifact_path(LOG_FILE), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    core_logger = logging.getLogger("core")
    core_logger.addHandler(handler)
    if core_logger.getEffectiveLevel() > logging.INFO:
        core_logger.setLevel(logging.INFO)
    return handler


def execute_run(
    run_id: str,
    *,
    device: str | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    world_size: int = 1,
    job_id: str | None = None,
) -> Run:
    """Train the run's model and compute every analysis into its folder.

    ``device`` is a torch device name (None: the best one here); ``world_size > 1`` trains
    data-parallel with DDP. ``progress(done, total, message)`` gets every epoch and stage.
    ``should_stop()`` is polled during training and between stages; when it answers True
    the run ends ``cancelled``. Errors (bad features, diverging loss) leave the run
    ``failed`` with a message naming the cause and are re-raised; metrics written so far
    are kept.
    """
    run = get_run(run_id)
    with run.writer():  # one writer per run, whoever starts it (RunBusyError otherwise)
        if run.status().state == "done":
            return run  # another writer finished it while this caller was starting
        return _execute_claimed(run, device, progress, should_stop, world_size, job_id)


def _execute_claimed(
    run: Run,
    device: str | None,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    world_size: int,
    job_id: str | None,
) -> Run:
    """:func:`execute_run` once this process holds the run's writer lock."""
    run_id = run.run_id
    cfg = run.config()
    # A retry (after a failure or cancel) starts clean: no stale artifact of an earlier
    # attempt can be mistaken for this one's.
    for name in STALE_ON_RETRY:
        run.artifact_path(name).unlink(missing_ok=True)
    handler = _attach_log(run)
    rep = RunReporter(run, cfg.vae.n_epochs, progress)
    pid = os.getpid()
    run.update_status(
        state="running",
        stage="loading",
        progress=0.0,
        eta_s=None,
        error=None,
        pid=pid,
        pid_start=process_start_time(pid),
        job_id=job_id,
        **({"device": device} if device else {}),  # a job has recorded its device slot
        epoch=None,
        n_epochs=cfg.vae.n_epochs,
        started_at=utc_now(),
        finished_at=None,
        heartbeat=time.time(),
        message="loading features",
    )
    try:
        ctx = RunContext(
            run=run,
            vae=cfg.vae,
            prep=cfg.preprocess,
            features_path=cfg.features_path,
            rep=rep,
            device=device,
            should_stop=should_stop,
            world_size=world_size,
        )
        for _name, stage in STAGES:
            ctx.check_stop()
            stage(ctx)
        _finish(ctx)
    except RunCancelled:
        run.update_status(
            state="cancelled", message="cancelled by request", finished_at=utc_now(), eta_s=None
        )
        logger.info("run %s cancelled", run_id)
    except BaseException as exc:
        if isinstance(exc, Exception):
            run.update_status(
                state="failed",
                error=str(exc),
                finished_at=utc_now(),
                eta_s=None,
                message=f"failed: {type(exc).__name__}",
            )
            logger.error("run %s failed: %s", run_id, exc)
        else:  # SIGTERM/Ctrl-C while computing: nothing half-done is marked done
            run.update_status(
                state="cancelled",
                message=f"interrupted ({type(exc).__name__})",
                finished_at=utc_now(),
                eta_s=None,
            )
        raise
    finally:
        logging.getLogger("core").removeHandler(handler)
        handler.close()
    return run


def _finish(ctx: RunContext) -> None:
    """``state: done``, written last, so a run is never shown done before its files exist."""
    rep, result = ctx.rep, ctx.result
    n_units = rep.total_units
    if rep.progress:
        rep.progress(n_units, n_units, "done")
    note = " (early stop)" if result.stopped_early else ""
    verdict = ctx.diagnostics["verdict"]
    ctx.run.update_status(
        state="done",
        stage="done",
        progress=1.0,
        eta_s=0.0,
        heartbeat=time.time(),
        finished_at=utc_now(),
        device=result.device,
        message=f"done: {len(result.history)} epochs{note}, final loss "
        f"{result.final_loss:.4f}; {verdict}",
    )
    logger.info("run %s done", ctx.run.run_id)
