"""Run every benchmark in this folder, one fresh process each (``make bench``), then list
every line that states a target, so each figure stands next to its target at the end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TARGET_LINE = re.compile(r"target|goal|<=|>=", re.IGNORECASE)


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    summary: list[tuple[str, str]] = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n=== {script.stem} ===", flush=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", f"bench.{script.stem}"],
            cwd=here.parent,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if TARGET_LINE.search(line) and not line.lstrip().startswith(("Targets", "usage")):
                summary.append((script.stem, line.rstrip()))
        if proc.wait():
            failed.append(script.stem)
    print("\n=== figures and their targets ===")
    for stem, line in summary:
        print(f"{stem:22s} {line.strip()}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
