"""A one-line progress bar on stderr for work that takes seconds to minutes (benchmarks, calibration)."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

Item = TypeVar("Item")
BAR_WIDTH = 24


def show_progress(done: int, total: int, label: str) -> None:
    """Redraw the bar in place on a terminal; in a log (no TTY) write one line per call."""
    filled = int(BAR_WIDTH * done / max(total, 1))
    end = "\n" if done >= total or not sys.stderr.isatty() else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} {label[:50]:<50}{end}")
    sys.stderr.flush()


def progress(items: Iterable[Item], total: int, label: str, every: int = 1) -> Iterator[Item]:
    """Yield ``items`` while redrawing the bar every ``every`` items (in a log: only at start and end)."""
    if not sys.stderr.isatty():
        every = max(total, 1)
    done = 0
    show_progress(0, total, label)
    for item in items:
        yield item
        done += 1
        if done % every == 0 or done == total:
            show_progress(done, total, label)
    if done < total:
        show_progress(total, total, label)
