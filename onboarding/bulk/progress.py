"""Progress of long bulk work: a bar on a terminal, plain lines in logs and pipes."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """Reports ``update(done)`` calls of named stages; silent by default (the admin)."""

    def start(self, stage: str, total: int | None = None) -> None:
        pass

    def update(self, done: int) -> None:
        pass

    def finish(self) -> None:
        pass


class StreamProgress(Progress):
    """Writes progress to ``stream``: a redrawn bar when it is a terminal, else lines.

    Plain lines come at every tenth of the total (or every ``every`` units without a
    total), so a CI log of a 100,000-row import stays short and readable.
    """

    BAR_WIDTH = 30

    def __init__(self, stream: TextIO, *, tty: bool | None = None, every: int = 10_000) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.every = every
        self.stage = ""
        self.total: int | None = None
        self.done = 0
        self._last_draw = 0.0
        self._last_step = -1
        self._active = False

    def start(self, stage: str, total: int | None = None) -> None:
        if self._active:
            self.finish()
        self.stage, self.total, self.done = stage, total, 0
        self._last_step, self._last_draw, self._active = -1, 0.0, True
        self.update(0)

    def update(self, done: int) -> None:
        self.done = done
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw()
            return
        step = self._step()
        # Small stages and the 0% mark would only add noise to a log.
        if step != self._last_step and step > 0 and (self.total or 0) >= self.every:
            self._last_step = step
            self.stream.write(self._text() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if not self._active:
            return
        self._active = False
        if self.total is not None:
            self.done = max(self.done, self.total)
        if self.tty:
            self._draw()
            self.stream.write("\n")
        elif self._step() != self._last_step and (self.total or 0) >= self.every:
            self.stream.write(self._text() + "\n")
        self.stream.flush()

    def _step(self) -> int:
        if self.total:
            return min(10, self.done * 10 // self.total)
        return self.done // self.every

    def _text(self) -> str:
        if self.total:
            return (
                f"{self.stage}: {self.done * 100 // self.total}% ({self.done:,} of {self.total:,})"
            )
        return f"{self.stage}: {self.done:,}"

    def _draw(self) -> None:
        if self.total:
            filled = min(self.BAR_WIDTH, self.done * self.BAR_WIDTH // self.total)
            bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
            text = f"\r{self.stage:<24} [{bar}] {self.done * 100 // self.total:3d}%"
        else:
            text = f"\r{self.stage:<24} {self.done:,}"
        self.stream.write(text)
        self.stream.flush()
