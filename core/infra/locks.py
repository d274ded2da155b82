"""Inter-process locks on files, the one way the engine serialises writers.

Built on the ``filelock`` package (``flock`` on Linux): a lock dies with its process, so a
killed job never leaves a device or a run locked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout


def _lock(path: Path, *, blocking: bool) -> FileLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    # thread_local=False: a lock taken in one thread may be released by another (device
    # slots are held across a worker's threads); the lock file is kept so no two processes
    # can ever lock two different inodes of one path.
    return FileLock(path, blocking=blocking, thread_local=False, preserve_lock_file=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block, waiting for it if needed."""
    with _lock(path, blocking=True):
        yield


def try_lock(path: Path) -> FileLock | None:
    """Take the exclusive lock on ``path`` now, or return None when another holder has it.

    The caller releases it with :func:`release`.
    """
    lock = _lock(path, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


def release(locks: list[FileLock]) -> None:
    """Release locks taken with :func:`try_lock` (already released ones are skipped)."""
    for lock in locks:
        with contextlib.suppress(OSError):
            lock.release(force=True)
