"""Facts about processes and time that run and job records store: liveness, start times,
UTC stamps and log tails."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> str:
    """ISO-8601 UTC timestamp with microseconds, e.g. ``2026-11-26T08:40:12.000123Z``."""
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


def age_s(iso: str) -> float:
    """Seconds since a :func:`utc_now` stamp (0.0 when it cannot be parsed)."""
    try:
        t = datetime.strptime(iso, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - t).total_seconds()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (the command name may hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()


def process_start_time(pid: int) -> str | None:
    """Kernel start time of ``pid`` (``/proc/<pid>/stat`` field 22), None if unknown.

    Stored beside a pid so a recycled pid is not mistaken for the original process.
    """
    rest = _stat_fields(pid)
    return rest[19] if rest is not None and len(rest) > 19 else None


def process_alive(pid: int | None, start_time: str | None = None) -> bool:
    """True when ``pid`` runs and is not a zombie (and, if given, started at ``start_time``)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if not Path("/proc").is_dir():
        return True  # not Linux: trust kill(0)
    rest = _stat_fields(pid)
    if rest is None:
        return False
    if rest and rest[0] in ("Z", "X"):
        return False
    return not (start_time is not None and len(rest) > 19 and rest[19] != start_time)


def process_state(pid: int) -> str | None:
    """One-letter kernel state of ``pid`` (``R`` running, ``S`` sleeping, ``T`` stopped,
    ``Z`` zombie, ...), None when it is gone or unknown."""
    rest = _stat_fields(pid)
    return rest[0] if rest else None


def process_cpu_ticks(pid: int) -> int | None:
    """CPU time ``pid`` has used so far (user + system, all its threads), in clock ticks."""
    rest = _stat_fields(pid)
    if rest is None or len(rest) <= 12:
        return None
    return int(rest[11]) + int(rest[12])


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``), so a
    job worker never outlives the supervisor that owns it. A no-op elsewhere."""
    import ctypes
    import ctypes.util
    import signal

    name = ctypes.util.find_library("c")
    if not name or not Path("/proc").is_dir():
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(name, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)


def tail_text(path: Path, n: int = 40, max_bytes: int = 64_000) -> str:
    """Last ``n`` lines of a text file, reading at most ``max_bytes`` from its end."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-n:])
