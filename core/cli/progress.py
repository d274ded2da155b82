"""Progress bars for the commands: the ``progress(done, total, message)`` callbacks that
every long engine call takes, drawn as one tqdm bar on stderr."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


class ProgressBar:
    """A ``progress(done, total, message)`` callback drawing one tqdm bar."""

    def __init__(self, desc: str, unit: str = "step") -> None:
        self.bar: tqdm[Any] | None = None
        self.desc = desc
        self.unit = unit

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr)
        if self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(message[:60], refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
