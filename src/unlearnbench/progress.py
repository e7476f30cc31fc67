"""Progress of long loops (feature extraction): a tqdm bar on a terminal, periodic log lines otherwise.

Jobs write to their ``log:`` file (:func:`unlearnbench.workflow.logged`), where a tqdm bar would be either
disabled or a wall of carriage returns; there :class:`Progress` prints one line every ~10 % of the work or every
30 s, whichever comes first, plus a last line at the end::

    [extract train] 2560/12800 images (20%), 431 img/s, 5.9 s elapsed, ~24 s left

On a terminal (``stream.isatty()``) it is a tqdm bar with the same total and unit. Nothing here imports torch.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

#: log a line at least every this fraction of the total ...
EVERY_FRACTION = 0.1
#: ... or after this many seconds without one
EVERY_SECONDS = 30.0


class Progress:
    """``with Progress(total, "extract train") as p: ... p.update(batch_size)``."""

    def __init__(self, total: int, desc: str, *, unit: str = "images", stream: TextIO | None = None,
                 every_fraction: float = EVERY_FRACTION, every_seconds: float = EVERY_SECONDS,
                 clock: Callable[[], float] = time.perf_counter, tty: bool | None = None):
        self.total, self.desc, self.unit = max(0, int(total)), desc, unit
        self.short_unit = "img" if unit == "images" else unit
        self.stream = stream if stream is not None else sys.stderr
        self.every_fraction, self.every_seconds, self.clock = every_fraction, every_seconds, clock
        self.done = 0
        self.start = self._last_time = clock()
        self._last_done = 0
        self.lines = 0  # log lines written (non-TTY)
        if tty is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        if tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=self.short_unit, file=self.stream, leave=False, mininterval=0.5, dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.done += int(n)
        if self._bar is not None:
            self._bar.update(int(n))
            return
        if self._last_done >= self.total:  # the end was reported already
            return
        now = self.clock()
        step = max(1, int(self.every_fraction * self.total))
        if self.done >= self.total or self.done - self._last_done >= step or now - self._last_time >= self.every_seconds:
            self._log(now)

    def _log(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else float("nan")
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = ""
        if 0 < self.done < self.total and rate > 0:
            left = f", ~{(self.total - self.done) / rate:.0f} s left"
        shown = f"{rate:.0f}" if not rate < 10 else f"{rate:.2f}"
        self.stream.write(f"[{self.desc}] {self.done}/{self.total} {self.unit}{pct}, {shown} {self.short_unit}/s, "
                          f"{elapsed:.1f} s elapsed{left}\n")
        self.stream.flush()
        self.lines += 1
        self._last_done, self._last_time = self.done, now

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.done != self._last_done:  # a last line with the final count (e.g. a capped total)
            self._log(self.clock())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
