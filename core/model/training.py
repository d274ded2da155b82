"""Beta-VAE training: shuffled batches of rows on the device, one host sync per epoch.

The rows are resident on the device or streamed from parquet (:mod:`core.model.streaming`).
The loop knows nothing about runs, jobs or files: progress leaves through callbacks
(``on_epoch_end(metrics)``), cancellation comes in through ``should_stop()``. The same loop
serves single-process training and each rank of data-parallel training (``core.model.ddp``).

The loss of a batch is the module's own (``TacticalVAEModule.loss``, per-segment sums, see
``core.model.config.LOSS_REDUCTION``); epoch metrics are per-segment means over the whole epoch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from core.errors import TacticalError
from core.model.config import VAEConfig
from core.model.devices import resolve_device
from core.model.ensemble import StackedVAE, build_stacked, member_seeds
from core.model.flat_params import FlatParameters
from core.model.metrics import Callback, EpochMetrics
from core.model.precision import Precision, resolve_precision
from core.model.streaming import (
    MatrixFile,
    ResidentRows,
    TrainingRows,
    describe_rows,
    training_rows,
)
from core.model.vae import Forward, TacticalVAEModule, build_module

logger = logging.getLogger(__name__)


#: How often (seconds) ``should_stop`` is polled inside an epoch of single-process training.
STOP_POLL_S = 0.5

AllReduce = Callable[[torch.Tensor], None]


class NonFiniteLossError(TacticalError, RuntimeError):
    """The epoch loss became NaN or infinite; ``history`` holds the finite epochs before it."""

    def __init__(self, epoch: int, history: list[EpochMetrics], detail: str = "") -> None:
        self.epoch = epoch
        self.history = list(history)
        super().__init__(
            f"Training diverged: the loss is not finite at epoch {epoch}"
            f"{' (' + detail + ')' if detail else ''}. The metrics of the {len(history)} "
            "earlier epoch(s) are kept. Lower the learning rate or beta, or check the features "
            "for extreme values."
        )


@dataclass
class TrainResult:
    """A trained module (on the CPU, in eval mode) and how training went."""

    module: TacticalVAEModule
    history: list[EpochMetrics]
    stopped_early: bool = False  # early stopping ended training before n_epochs
    cancelled: bool = False  # should_stop() ended training; history holds the finished epochs
    device: str = "cpu"  # where it trained ("cpu", "cuda:0", or "ddp:2xcuda" style)
    best_epoch: int | None = None  # epoch with the lowest total loss
    extra: dict[str, Any] = field(default_factory=dict)
    precision: str = "float32"  # "bfloat16": forward passes under bfloat16 autocast
    # A seed ensemble (core.model.ensemble): ``module`` is member 0 (the run's own seed),
    # ``members`` the others, ``seeds`` all the seeds in member order and ``member_kl`` each
    # member's KL per dimension at the last epoch (member 0's is ``history[-1]``'s).
    members: list[TacticalVAEModule] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    member_kl: list[list[float]] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        """Total loss of the last finished epoch (NaN when no epoch finished)."""
        return self.history[-1].total if self.history else float("nan")


def beta_at(epoch: int, cfg: VAEConfig) -> float:
    """Beta used in ``epoch`` (1-based): linear ramp over ``kl_warmup_epochs``, then ``cfg.beta``."""
    if cfg.kl_warmup_epochs <= 0:
        return cfg.beta
    return cfg.beta * min(1.0, epoch / cfg.kl_warmup_epochs)


def make_optimizer(module: torch.nn.Module, cfg: VAEConfig, dev: torch.device) -> torch.optim.Adam:
    """Adam as the notebook (same update rule), with the fused single-kernel implementation."""
    return torch.optim.Adam(module.parameters(), lr=cfg.learning_rate, fused=True)


# -- the loop --------------------------------------------------------------------------------
@dataclass
class _LoopOutcome:
    history: list[EpochMetrics]
    stopped_early: bool
    cancelled: bool
    best_epoch: int | None
    member_sums: list[list[float]] = field(default_factory=list)  # last epoch, per member


@dataclass(frozen=True)
class _Loop:
    """What the epoch loop works with; fixed for one :func:`run_epochs` call."""

    module: TacticalVAEModule | StackedVAE
    forward: Forward
    rows: TrainingRows  # the whole matrix on the device, or chunks streamed from parquet
    cfg: VAEConfig
    dev: torch.device
    opt: torch.optim.Adam
    flat: FlatParameters | None
    rank: int
    world_size: int
    all_reduce: AllReduce | None
    callbacks: Sequence[Callback]
    should_stop: Callable[[], bool] | None
    bf16: bool = False  # forward under bfloat16 autocast; loss and optimiser in float32
    noise_seeds: tuple[int, ...] = ()  # one per ensemble member; () = a single module


@dataclass
class _EarlyStopping:
    """Tracks the best total loss; counts only once beta has reached its final value."""

    cfg: VAEConfig
    best: float = math.inf
    best_epoch: int | None = None
    since_best: int = 0

    def update(self, epoch: int, total: float) -> bool:
        """Record ``epoch``'s total loss; True when patience has run out."""
        if epoch < self.cfg.kl_warmup_epochs:
            return False
        if total < self.best - self.cfg.early_stopping_min_delta:
            self.best, self.best_epoch, self.since_best = total, epoch, 0
        else:
            self.since_best += 1
        patience = self.cfg.early_stopping_patience
        return patience is not None and self.since_best >= patience


# Public entry (core.model.ddp calls it): its keyword-only options mirror train_vae's.
def run_epochs(  # noqa: PLR0913 - grouping them would break the callers' keyword API
    module: TacticalVAEModule | StackedVAE,
    forward: Forward,
    rows: torch.Tensor | TrainingRows,
    cfg: VAEConfig,
    dev: torch.device,
    *,
    rank: int = 0,
    world_size: int = 1,
    all_reduce: AllReduce | None = None,
    callbacks: Sequence[Callback] = (),
    should_stop: Callable[[], bool] | None = None,
    progress: bool = False,
    precision: str = "float32",
    noise_seeds: Sequence[int] = (),
) -> _LoopOutcome:
    """Train ``module`` in place; shared by single-process and DDP training.

    ``rows`` is the matrix on the device, or a :class:`core.model.streaming.StreamedRows`
    (chunks of a parquet file, each shuffled as a whole matrix would be).

    Every rank draws the same global permutation and the same global reparameterisation
    noise; rank ``r`` takes rows ``r::world_size`` of each global batch. The local loss is
    scaled by ``world_size / global_batch_rows`` so that DDP's gradient averaging yields
    exactly the single-process full-batch gradient. Metric sums are all-reduced once per
    epoch, so every rank sees the global means (and steps the scheduler identically).
    """
    module.set_fast_cpu_dropout(dev.type == "cpu")
    # Single process: one flat parameter vector (see FlatParameters). DDP keeps the module's
    # own parameters, whose gradients its reducer manages.
    flat = FlatParameters(module) if all_reduce is None else None
    opt = flat.adam(cfg.learning_rate) if flat is not None else make_optimizer(module, cfg, dev)
    loop = _Loop(
        module=module,
        forward=forward,
        rows=ResidentRows(rows) if isinstance(rows, torch.Tensor) else rows,
        cfg=cfg,
        dev=dev,
        opt=opt,
        flat=flat,
        rank=rank,
        world_size=world_size,
        all_reduce=all_reduce,
        callbacks=callbacks,
        should_stop=should_stop,
        bf16=resolve_precision(precision, dev, world_size) == "bfloat16",
        noise_seeds=tuple(int(s) for s in noise_seeds),
    )
    try:
        return _epochs(loop, progress=progress)
    finally:
        if flat is not None:
            flat.release()
        module.set_fast_cpu_dropout(False)
        module.eval()


def _epochs(loop: _Loop, *, progress: bool) -> _LoopOutcome:
    cfg, dev = loop.cfg, loop.dev
    perm_gens = []
    for seed in loop.noise_seeds or (cfg.random_state,):
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        perm_gens.append(gen)
    noise_gens = []
    for seed in loop.noise_seeds or (cfg.random_state,):
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed + 1)
        noise_gens.append(gen)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        loop.opt, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience
    )
    history: list[EpochMetrics] = []
    member_sums: list[list[float]] = []
    early = _EarlyStopping(cfg)
    stopped_early = cancelled = False

    epochs = range(1, cfg.n_epochs + 1)
    bar = tqdm(epochs, desc="VAE training", unit="epoch", disable=not progress or loop.rank != 0)
    for epoch in bar:
        if _stop_requested(loop.should_stop, loop.all_reduce, dev):
            cancelled = True
            break
        t0 = time.perf_counter()
        beta = beta_at(epoch, cfg)
        acc = _train_epoch(loop, beta, perm_gens, noise_gens)
        if acc is None:
            cancelled = True
            break
        metrics, member_sums = _epoch_metrics(loop, acc, epoch, beta, t0, history)
        total = metrics.total
        history.append(metrics)
        sched.step(total)
        if loop.rank == 0:
            _report_epoch(loop, metrics, bar)
        if early.update(epoch, total):
            stopped_early = epoch < cfg.n_epochs
            break
    bar.close()
    return _LoopOutcome(history, stopped_early, cancelled, early.best_epoch, member_sums)


def _train_epoch(
    loop: _Loop,
    beta: float,
    perm_gens: Sequence[torch.Generator],
    noise_gens: Sequence[torch.Generator],
) -> torch.Tensor | None:
    """One pass over the data: the sums ``[squared error, KL per dim...]`` of this rank, one
    row per ensemble member (one row for a single module).

    None when ``should_stop`` interrupted the epoch (single process only).
    """
    k = loop.cfg.latent_dim
    loop.module.train()
    members = len(loop.noise_seeds) or 1
    acc = torch.zeros((members, 1 + k), device=loop.dev)
    poll = _poller(loop.should_stop if loop.world_size == 1 else None)
    for chunk in loop.rows.chunks():
        if not _train_chunk(loop, chunk, beta, perm_gens, noise_gens, acc, poll):
            return None
    return acc


def _poller(should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
    """``should_stop``, asked at most every ``STOP_POLL_S`` seconds (None: never asked)."""
    last = [time.monotonic()]

    def poll() -> bool:
        if should_stop is None or time.monotonic() - last[0] <= STOP_POLL_S:
            return False
        last[0] = time.monotonic()
        return should_stop()

    return poll


def _train_chunk(
    loop: _Loop,
    X_t: torch.Tensor,
    beta: float,
    perm_gens: Sequence[torch.Generator],
    noise_gens: Sequence[torch.Generator],
    acc: torch.Tensor,
    poll: Callable[[], bool],
) -> bool:
    """The optimiser steps over one chunk of rows (a resident matrix is one chunk), its
    sums added to ``acc``; False when ``should_stop`` interrupted it."""
    dev, opt, flat = loop.dev, loop.opt, loop.flat
    rank, world_size = loop.rank, loop.world_size
    n_rows = int(X_t.shape[0])
    k = loop.cfg.latent_dim
    bs = loop.cfg.batch_size
    # An ensemble's members each shuffle with their own seed (shared batches would make the
    # seeds agree for a reason that is not in the data); member 0 as a single run would.
    perms = [torch.randperm(n_rows, generator=g, device=dev) for g in perm_gens]
    perm = torch.stack(perms) if loop.noise_seeds else perms[0]
    draws = [torch.randn((n_rows, k), generator=g, device=dev) for g in noise_gens]
    noise = torch.stack(draws) if loop.noise_seeds else draws[0]
    for start in range(0, n_rows, bs):
        idx = perm[..., start : start + bs]
        m = int(idx.shape[-1])
        eps = noise[..., start : start + m, :]
        if world_size > 1:
            idx, eps = idx[..., rank::world_size], eps[..., rank::world_size, :]
        xb = X_t.index_select(0, idx.reshape(-1)).reshape(*idx.shape, X_t.shape[1])
        # Scaled by world_size / global batch rows: DDP's averaging gives the full-batch gradient.
        terms = loop.module.loss(
            xb, beta=beta, eps=eps, scale=world_size / m, forward=loop.forward, bf16=loop.bf16
        )
        if flat is not None:
            flat.zero_grad()
        else:
            opt.zero_grad(set_to_none=True)
        terms.total.backward()  # type: ignore[no-untyped-call]
        opt.step()
        with torch.no_grad():
            acc[:, 0] += terms.recon_sum.detach().reshape(-1)
            acc[:, 1:] += terms.kl_per_dim_sum.detach().reshape(acc.shape[0], k)
        if poll():
            return False
    return True


def _epoch_metrics(
    loop: _Loop,
    acc: torch.Tensor,
    epoch: int,
    beta: float,
    t0: float,
    history: list[EpochMetrics],
) -> tuple[EpochMetrics, list[list[float]]]:
    """Global per-segment means of the epoch (member 0's) and every member's means
    ``[recon, KL per dim...]``; raises :class:`NonFiniteLossError` on NaN/inf."""
    n_rows = loop.rows.n_rows
    if loop.all_reduce is not None:
        loop.all_reduce(acc)
    all_sums = acc.cpu().double().numpy()  # the one host sync of the epoch
    members = (all_sums / n_rows).tolist()
    sums = all_sums[0]
    recon_mean = float(sums[0] / n_rows)
    kl_dims_mean = (sums[1:] / n_rows).tolist()
    kl_mean = float(sum(kl_dims_mean))
    total = recon_mean + beta * kl_mean
    lr = float(loop.opt.param_groups[0]["lr"])
    if not (math.isfinite(total) and math.isfinite(recon_mean) and math.isfinite(kl_mean)):
        raise NonFiniteLossError(epoch, history, f"recon={recon_mean}, kl={kl_mean}")
    if not np.isfinite(all_sums).all():
        raise NonFiniteLossError(epoch, history, "an ensemble member's loss is not finite")
    metrics = EpochMetrics(
        epoch=epoch,
        total=total,
        recon=recon_mean,
        kl=kl_mean,
        kl_per_dim=kl_dims_mean,
        lr=lr,
        seconds=time.perf_counter() - t0,
        beta=beta,
    )
    return metrics, members


def _report_epoch(loop: _Loop, metrics: EpochMetrics, bar: Any) -> None:
    """Rank 0 only: callbacks, the progress bar and the debug log line."""
    for cb in loop.callbacks:
        cb.on_epoch_end(metrics)
    bar.set_postfix(
        loss=f"{metrics.total:.3f}", recon=f"{metrics.recon:.3f}", kl=f"{metrics.kl:.3f}"
    )
    logger.debug(
        "epoch %d: total=%.5f recon=%.5f kl=%.5f lr=%.2e (%.2fs)",
        metrics.epoch,
        metrics.total,
        metrics.recon,
        metrics.kl,
        metrics.lr,
        metrics.seconds,
    )


def _stop_requested(
    should_stop: Callable[[], bool] | None, all_reduce: AllReduce | None, dev: torch.device
) -> bool:
    local = bool(should_stop()) if should_stop is not None else False
    if all_reduce is None:
        return local
    flag = torch.tensor([1.0 if local else 0.0], device=dev)
    all_reduce(flag)  # any rank asking to stop stops all of them, at the same epoch
    return bool(flag.item() > 0)


def train_vae(
    X: npt.ArrayLike | MatrixFile,
    cfg: VAEConfig,
    *,
    device: str | torch.device | None = None,
    callbacks: Sequence[Callback] = (),
    should_stop: Callable[[], bool] | None = None,
    progress: bool = False,
    precision: Precision = "float32",
) -> TrainResult:
    """Train a beta-VAE on the preprocessed matrix ``X`` (segments x features), or on a
    :class:`core.model.streaming.MatrixFile` streamed from parquet a chunk at a time.

    ``device`` None picks the best device. Callbacks receive every epoch's metrics as it
    ends; ``should_stop`` is polled between epochs and about every ``STOP_POLL_S`` seconds
    within one, and a True answer ends training with ``cancelled=True`` (the unfinished
    epoch is discarded). Deterministic on the CPU for a given ``cfg.random_state``; the
    global torch RNG state of the caller is left untouched.

    ``precision="auto"`` (the run pipeline's) uses bfloat16 autocast where the CPU computes
    it natively (:func:`core.model.precision.resolve_precision`); the default float32 is the
    notebook's arithmetic.

    Raises :class:`TrainingError` for unusable input and :class:`NonFiniteLossError` (with
    the epoch and the history so far) if the loss diverges.
    """
    dev = resolve_device(device)
    rows = training_rows(X, cfg, dev)
    used = resolve_precision(precision, dev)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    seeds = member_seeds(cfg.random_state, cfg.ensemble) if cfg.ensemble > 1 else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(cfg.random_state)
        trained: TacticalVAEModule | StackedVAE
        if seeds:
            trained = build_stacked(
                rows.n_cols, cfg.latent_dim, cfg.hidden_dims, cfg.dropout, seeds
            ).to(dev)
        else:
            trained = build_module(rows.n_cols, cfg).to(dev)
        for cb in callbacks:
            start = getattr(cb, "on_train_start", None)
            if start is not None:
                start(trained, rows.n_rows, rows.n_cols)
        logger.info(
            "Training beta-VAE on %s (%s, %s): %d segments x %d features, latent %d, beta %g, "
            "%d epochs, %d seed(s)",
            dev,
            used,
            describe_rows(rows),
            rows.n_rows,
            rows.n_cols,
            cfg.latent_dim,
            cfg.beta,
            cfg.n_epochs,
            max(1, len(seeds)),
        )
        outcome = run_epochs(
            trained,
            trained,
            rows,
            cfg,
            dev,
            callbacks=callbacks,
            should_stop=should_stop,
            progress=progress,
            precision=used,
            noise_seeds=seeds,
        )
    members: list[TacticalVAEModule] = []
    if isinstance(trained, StackedVAE):
        trained = trained.cpu().eval()
        module = trained.member(0)
        members = [trained.member(s) for s in range(1, trained.n_members)]
    else:
        module = trained.cpu().eval()
    member_kl = [row[1:] for row in outcome.member_sums[1:]] if members else []
    return TrainResult(
        module=module,
        history=outcome.history,
        stopped_early=outcome.stopped_early,
        cancelled=outcome.cancelled,
        device=str(dev),
        best_epoch=outcome.best_epoch,
        precision=used,
        members=members,
        seeds=seeds or [cfg.random_state],
        member_kl=member_kl,
        extra={"data": describe_rows(rows)},
    )
