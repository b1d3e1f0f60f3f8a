"""A one-line progress report for long compilations, on a terminal only.

The pipeline calls `progress(stage, done, total)` as it works; this shows the latest
call on stderr, redrawn at most ten times a second and only once the work has taken half
a second (a small project prints nothing). When stderr is not a terminal (CI logs, pipes,
pre-commit) nothing is ever written, so output stays byte-for-byte the same.
"""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        delay: float = 0.5,
        interval: float = 0.1,
        clock=time.monotonic,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.clock = clock
        self.start = clock()
        self.delay = delay
        self.interval = interval
        self.last_draw = 0.0
        self.shown = False

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self.start < self.delay or now - self.last_draw < self.interval:
            return
        self.last_draw = now
        count = f" {done}/{total}" if total else ""
        self.stream.write(f"\r\x1b[Kkaosgen: {stage}{count}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the line, so what follows starts on a clean one."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
