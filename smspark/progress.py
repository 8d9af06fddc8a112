"""Progress of long loops: a tqdm bar when stderr is a terminal, plain log lines otherwise.

A log file or a CI console gets at most about ``lines`` lines per loop (``desc i/n (elapsed)``), a person at a
terminal gets a live bar; the loop itself is the same.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from smspark.console import stderr_is_tty

T = TypeVar("T")


def progress(
    items: Iterable[T], desc: str, logger: logging.Logger, total: int | None = None, lines: int = 10
) -> Iterator[T]:
    """Yield ``items``, reporting progress as ``desc``.

    Args:
        items: the loop's items.
        desc: what the loop does (``"recommendations: user batches"``).
        logger: where the plain lines go (at INFO) when stderr is not a terminal.
        total: number of items when ``items`` has no ``len``.
        lines: at most about this many plain lines per loop (one every ``ceil(total / lines)`` items, and the last).
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if stderr_is_tty():
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, total=total, file=sys.stderr, dynamic_ncols=True, leave=False)
        return
    every = max(1, -(-(total or 0) // max(lines, 1))) if total else 1
    start = time.perf_counter()
    n = 0
    for n, item in enumerate(items, 1):
        yield item
        if n % every == 0 or n == total:
            of = f"/{total}" if total else ""
            logger.info("%s %d%s (%.0fs)", desc, n, of, time.perf_counter() - start)
