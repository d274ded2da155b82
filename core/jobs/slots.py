"""Device slots: a training job holds an exclusive lock on one device (all of them for DDP)
while it trains, so jobs spread over free GPUs and wait, queued, while every one is busy.
Without a GPU one job at a time trains on the CPU (two would only halve each other)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from core.infra.locks import release, try_lock
from core.jobs.records import JobCancelled

if TYPE_CHECKING:  # devices imports torch: only a worker taking a slot pays for it
    from core.model.devices import DeviceInfo

POLL_S = 1.0


def _lock_device(lock_dir: Path, device: str) -> FileLock | None:
    return try_lock(lock_dir / f"{device.replace(':', '_')}.lock")


def _take_all(lock_dir: Path, wanted: list[str]) -> list[FileLock] | None:
    held = [h for h in (_lock_device(lock_dir, n) for n in wanted) if h is not None]
    if len(held) == len(wanted):
        return held
    release(held)
    return None


def _take_one(lock_dir: Path, devices: list[DeviceInfo]) -> tuple[str, FileLock] | None:
    from core.model.devices import assign_device

    busy: set[str] = set()
    while (name := assign_device(busy, devices)) is not None:
        handle = _lock_device(lock_dir, name)
        if handle is not None:
            return name, handle
        busy.add(name)
    return None


@contextlib.contextmanager
def device_slot(
    lock_dir: Path,
    devices: list[DeviceInfo],
    world_size: int,
    cancel_flag: Path,
    on_wait: Callable[[str], None],
) -> Iterator[str]:
    """Hold a free device for the ``with`` block and yield its name (``"cuda:1"``,
    ``"cpu"``, or ``"ddp:2xcuda"`` for data-parallel training on every GPU).

    Waits while all are busy, calling ``on_wait(message)`` once; raises
    :class:`JobCancelled` when ``cancel_flag`` appears meanwhile.
    """
    gpus = [d.torch_name for d in devices if d.kind == "cuda"]
    lock_dir.mkdir(parents=True, exist_ok=True)
    held: list[FileLock] = []
    waited = False
    try:
        while True:
            if cancel_flag.exists():
                raise JobCancelled()
            if world_size > 1:
                wanted = gpus[:world_size] if len(gpus) >= world_size else ["cpu"]
                taken = _take_all(lock_dir, wanted)
                if taken is not None:
                    held = taken
                    kind = "cuda" if wanted[0] != "cpu" else "cpu"
                    yield f"ddp:{world_size}x{kind}"
                    return
            else:
                one = _take_one(lock_dir, devices)
                if one is not None:
                    name, handle = one
                    held = [handle]
                    yield name
                    return
            if not waited:
                waited = True
                on_wait("queued: every device is busy with another job")
            time.sleep(POLL_S)
    finally:
        release(held)
