"""Worker processes for the audit: always spawned, never forked.

A forked child inherits the parent's threads' locks in whatever state they were; once
TensorFlow (the CNN backbone) has started its thread pools, a forked worker can die on a mutex
check and take the pool with it (BrokenProcessPool, seen after 12 minutes of a full audit).
Spawned workers start a fresh interpreter and import only what their job needs.
"""
from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterable

__all__ = ["process_pool", "loaded_modules"]


def process_pool(workers: int, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = ()) -> ProcessPoolExecutor:
    import multiprocessing as mp

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=initializer, initargs=initargs)


def loaded_modules(names: Iterable[str]) -> list[str]:
    """Which of these modules the calling process has imported (a probe for tests)."""
    return [n for n in names if n in sys.modules]
