"""Keep numba's compiled code across processes, so UMAP pays its compilation once per install.

umap-learn compiles ~250 numba functions on first use (25 s on a 2-core machine for 224
points, 40 s at 5,000) and declares almost none of them ``cache=True``, so every new job
worker paid the compilation again. :func:`setup_numba_cache` points numba's cache at a
folder under the runs root that the product owns (``runs_root()/_cache/numba``), and
:func:`enable_numba_caching` turns on numba's own on-disk cache for the already-imported
numba functions of the given packages (their dispatchers' ``enable_caching``). The cached
machine code is the code numba would compile, so results are identical, seeds included.

A ``NUMBA_CACHE_DIR`` set by the user wins over the product's folder.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from core.infra.paths import runs_root

logger = logging.getLogger(__name__)

NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"
CACHE_SUBDIR = ("_cache", "numba")
CACHED_PACKAGES = ("umap", "pynndescent")  # whose numba functions are cached on disk


def numba_cache_dir() -> Path:
    """The folder numba caches compiled code in: ``$NUMBA_CACHE_DIR`` or the runs root's."""
    user = os.environ.get(NUMBA_CACHE_ENV)
    if user:
        return Path(user).expanduser()
    return runs_root().joinpath(*CACHE_SUBDIR)


def setup_numba_cache() -> Path:
    """Point numba's on-disk cache at :func:`numba_cache_dir` (created) and return it.

    Call it before numba is imported (job worker, CLI, app start); when numba is already
    imported its configuration is re-read, which covers every function compiled or
    decorated afterwards. Idempotent.
    """
    folder = numba_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # read-only runs root: numba falls back to its default place
        logger.warning("numba cache folder %s cannot be created (%s); not caching", folder, exc)
        return folder
    if os.environ.get(NUMBA_CACHE_ENV) != str(folder):
        os.environ[NUMBA_CACHE_ENV] = str(folder)
        if "numba" in sys.modules:
            from numba.core import config

            config.reload_config()  # type: ignore[no-untyped-call]
    return folder


def enable_numba_caching(packages: Iterable[str] = CACHED_PACKAGES) -> int:
    """Turn on the on-disk cache of every uncached numba function in ``packages``' modules.

    Import the packages first (their functions must exist) and call
    :func:`setup_numba_cache` before that. Returns how many functions were switched on;
    functions numba cannot cache (e.g. ones defined dynamically) are left as they are.
    """
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    prefixes = tuple(packages)
    switched = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(prefixes):
            continue
        for value in list(vars(module).values()):
            cache = getattr(value, "_cache", None)  # numba's per-function cache (private)
            if not isinstance(value, Dispatcher) or not isinstance(cache, NullCache):
                continue
            try:
                value.enable_caching()
            except (RuntimeError, TypeError, ValueError, OSError) as exc:
                logger.debug("numba cache off for %s.%s: %s", name, value.py_func, exc)
                continue
            switched += 1
    return switched
