"""A measurement taken in a fresh Python process (its own imports, caches and peak RSS)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def fresh_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python <args>`` in the project root and return the JSON object its last line of
    standard output prints (a failing process raises ``CalledProcessError``)."""
    out = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
