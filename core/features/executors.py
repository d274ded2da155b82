"""Where an extraction's matches are processed: this machine's cores, or a Dask cluster.

``--executor`` takes ``local`` (the default: a process pool over this machine's cores) or
``dask://HOST:PORT``, the address of a running Dask scheduler (``dask scheduler`` on one
machine, ``dask worker tcp://HOST:PORT`` on each of the others). The same function runs
each match either way (:func:`core.features.extract._extract_to_cache`), so both paths give
the same features; only where it runs differs.

Why Dask and not Ray: for this shape of work (independent matches of seconds each, results
written as files) either would do, so the smaller one won. Measured here: ``distributed`` and
``dask`` are pure-Python wheels of 2.5 MB together (Ray 2.60's wheel: 79 MB, with its own
object store and dashboard processes), installed in 14 s next to the product's stack, import
in 0.35 s, and a two-worker local cluster starts in 0.6 s.

A cluster's workers must see the match files and the dataset folder at the same paths as
the machine that starts the extraction (a shared or network file system): each match's
tables are written there by the worker that extracted it, as the local pool does. Dask
ships tasks and their small results with its own serialisation: point ``--executor`` only at
a scheduler you run yourself (Dask's TLS settings apply as for any Dask client).
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from core.errors import ConfigError

logger = logging.getLogger(__name__)

R = TypeVar("R")

LOCAL: Final = "local"
DASK_CONNECT_TIMEOUT_S: Final = 20.0
_DASK_RE: Final = re.compile(
    r"^dask://(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$"
)


@dataclass(frozen=True)
class Executor:
    """``kind`` ``"local"`` (a process pool) or ``"dask"`` (a scheduler at ``address``)."""

    kind: str = LOCAL
    address: str | None = None  # "tcp://host:port" for Dask

    def describe(self) -> str:
        return (
            "this machine's cores" if self.kind == LOCAL else f"the Dask cluster at {self.address}"
        )


def parse_executor(spec: str | None) -> Executor:
    """``--executor``'s value as an :class:`Executor`, or a ``ConfigError`` saying what works."""
    if spec is None or spec.strip() in ("", LOCAL):
        return Executor()
    text = spec.strip()
    if text.startswith("ray://"):
        raise ConfigError(
            f"--executor {text}: Ray is not supported; the product's cluster engine is Dask. "
            "Start a Dask scheduler (`dask scheduler`) and workers (`dask worker "
            "tcp://HOST:8786`), then pass --executor dask://HOST:8786."
        )
    match = _DASK_RE.match(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ConfigError(
            f"--executor {spec!r} is not understood: give `local` (this machine's cores) or "
            "`dask://HOST:PORT`, the address of a running Dask scheduler."
        )
    return Executor("dask", f"tcp://{match['host']}:{int(match['port'])}")


def _can_spawn() -> bool:
    """Whether spawned workers can re-import ``__main__`` (not so for code read from stdin)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or Path(main_file).exists()


def run_tasks(
    fn: Callable[..., R],
    tasks: Sequence[tuple[Any, ...]],
    *,
    workers: int,
    on_done: Callable[[R], None],
    on_failure: Callable[[tuple[Any, ...], BaseException], R],
    executor: Executor | None = None,
    min_parallel: int = 2,
) -> None:
    """Call ``fn(*task)`` for every task, on ``executor``, handing each result to ``on_done``
    as it arrives (in any order). A task the executor itself fails (a worker died, its
    arguments did not travel) gives ``on_failure(task, exc)`` instead. ``on_done`` may raise
    to cancel: the tasks not yet started are dropped."""
    executor = executor or Executor()
    if executor.kind == "dask":
        _run_dask(fn, tasks, executor, on_done, on_failure)
        return
    if workers <= 1 or len(tasks) < min_parallel or not _can_spawn():
        for task in tasks:
            on_done(fn(*task))
        return
    # spawn, not fork: the parent may already run polars' thread pool, which fork would break.
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx)
    try:
        futures: dict[Future[R], tuple[Any, ...]] = {pool.submit(fn, *t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - a pool failure only fails its task
                result = on_failure(futures[fut], exc)
            on_done(result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on cancel, drop the queued tasks


def _distributed() -> Any:
    """Dask's ``distributed`` package (untyped: reached as ``Any``), imported on first use."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:  # pragma: no cover - distributed is in requirements.txt
        raise ConfigError(
            "--executor dask://... needs the `distributed` package (pip install distributed)."
        ) from exc


def _dask_client(address: str) -> Any:
    try:
        return _distributed().Client(address, timeout=DASK_CONNECT_TIMEOUT_S, set_as_default=False)
    except OSError as exc:
        raise ConfigError(
            f"Could not reach the Dask scheduler at {address} ({exc}). Start it with `dask "
            "scheduler` and its workers with `dask worker ADDRESS`, or leave --executor out "
            "to use this machine's cores."
        ) from exc


def _run_dask(
    fn: Callable[..., R],
    tasks: Sequence[tuple[Any, ...]],
    executor: Executor,
    on_done: Callable[[R], None],
    on_failure: Callable[[tuple[Any, ...], BaseException], R],
) -> None:
    if not tasks:
        return
    assert executor.address is not None
    client = _dask_client(executor.address)
    logger.info("Sending %d task(s) to %s", len(tasks), executor.describe())
    futures: dict[Any, tuple[Any, ...]] = {}
    try:
        for task in tasks:
            futures[client.submit(fn, *task, pure=False)] = task
        for fut in _distributed().as_completed(list(futures), loop=client.loop):
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker lost with its task
                result = on_failure(futures[fut], exc)
            on_done(result)
    finally:
        client.cancel(list(futures))  # on cancel, drop what has not run yet
        client.close()
