"""Seed runs of a stability study: the same config under other seeds, found by their
content-hash ids with their live state (a dead worker noticed), and started as ordinary
training jobs (cached, and shared with everyone who asks for them)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.errors import RunNotFoundError
from core.jobs.api import run_status, start_training
from core.model.config import device_slots
from core.runs.config import run_id_for
from core.runs.side import mark_side_run
from core.runs.store import get_run
from core.services.stability import DEFAULT_SEEDS, SeedRun, check_seeds, seed_config

if TYPE_CHECKING:
    from core.jobs.records import TrainRequest
    from core.runs.store import Run

logger = logging.getLogger(__name__)


def seed_runs(run: Run, seeds: Sequence[int] = DEFAULT_SEEDS) -> list[SeedRun]:
    """The runs of ``run``'s config under ``seeds`` (found by their content-hash ids)."""
    cfg = run.config()
    out: list[SeedRun] = []
    for seed in check_seeds(seeds):
        rid = run_id_for(cfg.features_path, seed_config(run, seed), cfg.preprocess)
        try:
            other = get_run(rid)
        except RunNotFoundError:
            out.append(SeedRun(seed, rid, "missing", None))
            continue
        status = run_status(other)
        out.append(SeedRun(seed, rid, status.state, other, status.error))
    return out


def start_seed_runs(run: Run, seeds: Sequence[int] = DEFAULT_SEEDS) -> list[TrainRequest]:
    """Train ``run``'s config under each seed as background jobs (existing runs are reused)."""
    cfg = run.config()
    requests = []
    for seed in check_seeds(seeds):
        if seed == cfg.seed:
            continue
        request = start_training(
            cfg.features_path,
            seed_config(run, seed),
            cfg.preprocess,
            trusted=True,
            slots=device_slots(),  # one at a time on a CPU: they wait as records
        )
        if not request.existed:  # trained for this study only: never a default run
            mark_side_run(request.run, "seed", run.run_id)
        requests.append(request)
    logger.info("Stability of run %s: %d seed run(s) requested", run.run_id, len(requests))
    return requests
