"""Data-parallel beta-VAE training with torch DDP: several GPUs (nccl) or CPU processes (gloo).

Two ways in, one loop (:func:`core.model.training.run_epochs`):

* :func:`train_vae_ddp` spawns ``world_size`` processes from Python and returns a
  :class:`~core.model.training.TrainResult` like :func:`~core.model.training.train_vae`; callbacks and
  ``should_stop`` run in the calling process (rank 0 streams its metrics back).
* ``torchrun --nproc-per-node N -m core.model.ddp --data X.npy --config cfg.json --out DIR``
  runs the same worker under torchrun; rank 0 writes ``metrics.jsonl``, ``model.pt`` and
  ``result.json`` into ``DIR``.

Every rank holds the whole matrix on its device and takes an interleaved share of each
global batch; with dropout 0 the loss curve equals single-process training up to float
rounding (``DDP_LOSS_RTOL``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import queue as queue_mod
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp
from torch.multiprocessing.spawn import start_processes
from torch.nn.parallel import DistributedDataParallel

from core.errors import ConfigError, TrainingError
from core.infra.io import atomic_write_json
from core.model.checks import check_trainable, validate_matrix
from core.model.config import VAEConfig, check_world_size
from core.model.devices import resolve_device
from core.model.metrics import Callback, EpochMetrics, JsonlMetricsWriter
from core.model.streaming import MatrixFile, training_rows
from core.model.training import NonFiniteLossError, TrainResult, run_epochs
from core.model.vae import TacticalVAEModule, build_module, load_module, save_module

logger = logging.getLogger(__name__)

#: Relative tolerance within which a DDP loss curve (dropout 0) matches single-process training.
DDP_LOSS_RTOL = 1e-4


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def default_ddp_devices(world_size: int) -> list[str]:
    """One GPU per rank when there are enough GPUs, else every rank on the CPU."""
    if torch.cuda.is_available() and torch.cuda.device_count() >= world_size:
        return [f"cuda:{i}" for i in range(world_size)]
    return ["cpu"] * world_size


class _QueueCallback:
    def __init__(self, q: Any) -> None:
        self.q = q

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self.q.put(("epoch", metrics.to_dict()))


def _train_rank(
    X: npt.NDArray[np.float32] | MatrixFile,
    cfg: VAEConfig,
    dev: torch.device,
    rank: int,
    world_size: int,
    callbacks: Sequence[Callback],
    should_stop: Callable[[], bool] | None,
) -> tuple[TacticalVAEModule, Any]:
    """The body every rank runs once the process group exists."""
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    torch.manual_seed(cfg.random_state)
    rows = training_rows(X, cfg, dev)  # the matrix on the device, or parquet chunks
    module = build_module(rows.n_cols, cfg).to(dev)
    ddp_model = DistributedDataParallel(
        module, device_ids=[dev.index] if dev.type == "cuda" else None
    )

    def all_reduce(t: torch.Tensor) -> None:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)

    # The loss is module.loss; its forward pass runs through ddp_model so the reducer syncs.
    outcome = run_epochs(
        module,
        ddp_model,
        rows,
        cfg,
        dev,
        rank=rank,
        world_size=world_size,
        all_reduce=all_reduce,
        callbacks=callbacks,
        should_stop=should_stop,
    )
    return module, outcome


@dataclass(frozen=True)
class _WorkerSpec:
    """What every spawned rank needs to join the group and train (picklable)."""

    world_size: int
    init_method: str
    backend: str
    data_path: str
    cfg_dict: dict[str, Any]
    device_names: list[str]
    out_dir: str


def _spawned_worker(rank: int, spec: _WorkerSpec, q: Any, stop_event: Any) -> None:
    """Entry of each process started by :func:`train_vae_ddp`."""
    world_size = spec.world_size
    dev = torch.device(spec.device_names[rank])
    if dev.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    else:
        torch.cuda.set_device(dev)  # before the process group, so nccl binds the right GPU
    dist.init_process_group(
        spec.backend, init_method=spec.init_method, rank=rank, world_size=world_size
    )
    try:
        X = _read_matrix(spec.data_path)
        cfg = VAEConfig.from_dict(spec.cfg_dict)
        callbacks: list[Callback] = [_QueueCallback(q)] if rank == 0 else []
        should_stop = stop_event.is_set if rank == 0 else None
        module, outcome = _train_rank(X, cfg, dev, rank, world_size, callbacks, should_stop)
        if rank == 0:
            save_module(module.cpu(), Path(spec.out_dir) / "model.pt")
            q.put(
                (
                    "done",
                    {
                        "stopped_early": outcome.stopped_early,
                        "cancelled": outcome.cancelled,
                        "best_epoch": outcome.best_epoch,
                    },
                )
            )
        # Tear down together: a rank that destroys its gloo group and exits while its peer
        # is still saving can abort ("terminate called without an active exception").
        dist.barrier()
    except NonFiniteLossError as exc:
        if rank == 0:
            q.put(("nonfinite", {"epoch": exc.epoch, "message": str(exc)}))
        dist.barrier()  # every rank sees the same all-reduced loss, so all of them get here
    except Exception as exc:
        if rank == 0:
            q.put(("error", {"message": f"{type(exc).__name__}: {exc}"}))
        raise
    finally:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def _read_matrix(path: str) -> npt.NDArray[np.float32] | MatrixFile:
    """A rank's rows: a ``.parquet`` model matrix is streamed, a ``.npy`` one loaded."""
    if path.endswith(".parquet"):
        return MatrixFile(Path(path))
    return np.load(path, allow_pickle=False)  # type: ignore[no-any-return]


def _rank_devices(
    world_size: int, backend: str | None, devices: Sequence[str] | None
) -> tuple[list[str], str]:
    """One checked torch device name per rank, and the backend that fits them."""
    names = list(devices) if devices is not None else default_ddp_devices(world_size)
    if len(names) != world_size:
        raise TrainingError(
            f"Got {len(names)} devices for world_size={world_size}; give one per rank."
        )
    for name in names:
        resolve_device(name)
    on_gpu = all(torch.device(n).type == "cuda" for n in names)
    chosen_backend = backend or ("nccl" if on_gpu else "gloo")
    if chosen_backend == "nccl" and not on_gpu:
        raise TrainingError("The nccl backend needs one GPU per rank; use backend='gloo' on CPU.")
    return names, chosen_backend


class _Reports:
    """What rank 0 sends back: epoch metrics (passed on to the callbacks), then one final word."""

    def __init__(self, q: Any, callbacks: Sequence[Callback]) -> None:
        self.q = q
        self.callbacks = callbacks
        self.history: list[EpochMetrics] = []
        self.final: tuple[str, dict[str, Any]] | None = None

    def drain(self, block_s: float) -> None:
        """Take every message that arrives within ``block_s`` seconds."""
        deadline = time.monotonic() + block_s
        while True:
            try:
                kind, payload = self.q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue_mod.Empty:
                return
            if kind == "epoch":
                metrics = EpochMetrics.from_dict(payload)
                self.history.append(metrics)
                for cb in self.callbacks:
                    cb.on_epoch_end(metrics)
            else:
                self.final = (kind, payload)

    def outcome(self) -> dict[str, Any]:
        """The final ``done`` payload; raises what the workers reported instead."""
        if self.final is None:
            raise TrainingError("DDP workers finished without reporting a result.")
        kind, payload = self.final
        if kind == "nonfinite":
            raise NonFiniteLossError(int(payload["epoch"]), self.history)
        if kind == "error":
            raise TrainingError(f"DDP training failed: {payload['message']}")
        return payload


def _watch(
    procs: Any,
    reports: _Reports,
    stop_event: Any,
    should_stop: Callable[[], bool] | None,
    poll_s: float,
) -> None:
    """Relay reports and stop requests until every worker has exited (killed on any error)."""
    try:
        while True:
            reports.drain(poll_s)
            if should_stop is not None and not stop_event.is_set() and should_stop():
                stop_event.set()
            if procs.join(timeout=0):
                break
        reports.drain(0.5)
    except BaseException:
        for p in procs.processes:
            if p.is_alive():
                p.terminate()
        raise


def train_vae_ddp(
    X: npt.ArrayLike | MatrixFile,
    cfg: VAEConfig,
    *,
    world_size: int,
    backend: str | None = None,
    devices: Sequence[str] | None = None,
    callbacks: Sequence[Callback] = (),
    should_stop: Callable[[], bool] | None = None,
    poll_s: float = 0.2,
) -> TrainResult:
    """Train like :func:`core.model.training.train_vae`, data-parallel over ``world_size`` processes.

    ``backend`` defaults to ``nccl`` when every rank has a GPU, else ``gloo``; ``devices``
    (one torch name per rank) defaults to :func:`default_ddp_devices`. Metrics are global
    per-segment means (sums all-reduced over ranks). Callbacks and ``should_stop`` run in
    this process. The caller's script must be import-safe (``if __name__ == "__main__"``),
    since the workers are started with the spawn method.
    """
    if world_size < 1:
        raise TrainingError(f"world_size must be >= 1, got {world_size}.")
    if devices is None:  # ranks on this machine: bounded by its cores and GPUs
        try:
            check_world_size(world_size)
        except ConfigError as exc:
            raise TrainingError(str(exc)) from exc
    arr: npt.NDArray[np.float32] | None = None
    if isinstance(X, MatrixFile):  # every rank streams the file: none holds the matrix
        source: Path | None = X.path
        n_rows, n_cols = X.shape()
        check_trainable(n_rows, n_cols, cfg)
    else:
        source, arr = None, validate_matrix(X, cfg)
        n_rows = arr.shape[0]
    names, chosen_backend = _rank_devices(world_size, backend, devices)

    with tempfile.TemporaryDirectory(prefix="tactical-ddp-") as tmpdir:
        data_path = str(source or Path(tmpdir) / "X.npy")
        if arr is not None:
            np.save(data_path, arr)
        ctx = tmp.get_context("spawn")
        q = ctx.Queue()
        stop_event = ctx.Event()
        spec = _WorkerSpec(
            world_size=world_size,
            init_method=f"tcp://127.0.0.1:{_free_port()}",
            backend=chosen_backend,
            data_path=data_path,
            cfg_dict=cfg.to_dict(),
            device_names=names,
            out_dir=tmpdir,
        )
        logger.info(
            "DDP training: %d ranks on %s (%s), %d segments",
            world_size,
            names,
            chosen_backend,
            n_rows,
        )
        procs = start_processes(  # type: ignore[no-untyped-call]
            _spawned_worker,
            args=(spec, q, stop_event),
            nprocs=world_size,
            join=False,
            start_method="spawn",
        )
        reports = _Reports(q, callbacks)
        _watch(procs, reports, stop_event, should_stop, poll_s)
        payload = reports.outcome()
        module = load_module(Path(tmpdir) / "model.pt", dropout=cfg.dropout)
    return TrainResult(
        module=module.eval(),
        history=reports.history,
        stopped_early=bool(payload["stopped_early"]),
        cancelled=bool(payload["cancelled"]),
        device=f"ddp:{world_size}x{torch.device(names[0]).type}",
        best_epoch=payload["best_epoch"],
        extra={
            "data": "streamed from parquet by every rank" if source else "resident on each rank"
        },
    )


# -- torchrun entry ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``torchrun --nproc-per-node N -m core.model.ddp --data X.npy --config cfg.json --out DIR``."""
    parser = argparse.ArgumentParser(prog="python -m core.model.ddp", description=main.__doc__)
    parser.add_argument(
        "--data", required=True, help="preprocessed matrix: .npy float32, or .parquet to stream"
    )
    parser.add_argument("--config", required=True, help="VAEConfig as JSON (VAEConfig.to_dict)")
    parser.add_argument(
        "--out", required=True, help="folder for metrics.jsonl, model.pt, result.json"
    )
    parser.add_argument("--backend", default=None, help="nccl or gloo (default: nccl on GPUs)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_gpu = torch.cuda.is_available() and torch.cuda.device_count() > local_rank
    dev = torch.device(f"cuda:{local_rank}" if use_gpu else "cpu")
    backend = args.backend or ("nccl" if use_gpu else "gloo")
    out = Path(args.out)
    cfg = VAEConfig.from_dict(json.loads(Path(args.config).read_text()))
    X = _read_matrix(args.data)  # checked by each rank's training_rows

    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world_size)
    try:
        callbacks: list[Callback] = [JsonlMetricsWriter(out / "metrics.jsonl")] if rank == 0 else []
        module, outcome = _train_rank(X, cfg, dev, rank, world_size, callbacks, None)
        if rank == 0:
            save_module(module.cpu(), out / "model.pt")
            summary = {
                "world_size": world_size,
                "backend": backend,
                "epochs": len(outcome.history),
                "final_loss": outcome.history[-1].total if outcome.history else None,
                "stopped_early": outcome.stopped_early,
                "best_epoch": outcome.best_epoch,
            }
            atomic_write_json(out / "result.json", summary)
            logger.info("DDP training done: %s", json.dumps(summary))
        dist.barrier()  # tear down together (see _spawned_worker)
    except NonFiniteLossError as exc:
        if rank == 0:
            logger.error("%s", exc)
        return 1
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
