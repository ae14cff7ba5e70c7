"""Tuning of a server process for many large requests: BLAS threads, garbage collector, malloc.

Process-wide settings, so applied only where the process is owned: BLAS and the collector by the
worker entry (``serving.app.app_from_env``, through ``tuned``) once the model is loaded, undone
when it stops; glibc's allocator by ``asym serve`` (``serving.cli``), through the environment its
server starts with (``MALLOC_ENV``), as glibc reads it when a process starts. Each was measured on
a 1,000-treatment batch call (``benchmarks/bench_serve.py``).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import threadpoolctl
from starlette.types import Lifespan

App = TypeVar("App")

GC_THRESHOLD: Final = (100_000, 10, 10)
"""The cyclic garbage collector's thresholds while serving (Python's default: 700, 10, 10).

The first counts container objects made and not yet freed: a 1,000-treatment batch call holds
between 30,000 and 40,000 at its peak (validated requests, then answers; measured by the
thresholds at which collections begin). So one or two such calls in flight run no collection; a
worker with more in flight runs one now and then. Tied to ``max_batch`` (1,000 by default): a
larger batch limit would want a larger threshold."""

MALLOC_ENV: Final = {
    "MALLOC_MMAP_THRESHOLD_": str(64 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
}
"""glibc's allocator keeps freed memory for the next request instead of returning it.

A batch's arrays are megabytes each; by default glibc maps blocks from 128 KiB up afresh (the
threshold rising to 32 MiB as they are freed) and hands the top of the heap back after each call
once 128 KiB are free there, so every call pays a page fault per 4 KiB it touches again: 2,550
faults and 6 of ~60 ms of a 1,000-treatment call. With blocks mapped only from 64 MiB and up to
256 MiB kept at the top of the heap, it stays at its peak and a call faults almost never
(measured: 30 faults a call, and 176 MB resident after such calls instead of 161 MB). Read by
glibc only; other C libraries ignore them."""


def tune_for_serving() -> Callable[[], None]:
    """Tune this process for serving; call once the model is loaded.

    - One BLAS thread: a request's matrix products are small, and OpenBLAS's helper threads spin
      after each one, taking the core another worker or the ONNX session needs (a batch call
      60 ms with one thread, 100+ ms with two).
    - The garbage collector kept off what lives as long as the process: a batch makes some
      200,000 objects, so with Python's thresholds the collector runs hundreds of times a call
      and, every 70,000 allocations, walks every object in the process (modules, model, app).
      Frozen, what start-up made is out of every walk, and a larger first threshold makes the
      young collections fewer: 122 ms of CPU a call with the defaults, 100 ms frozen, 91 ms
      with both at 10,000; above a call's peak (``GC_THRESHOLD``) a call alone runs none at
      all (1.6 ms a call fewer than at 10,000). Garbage without cycles is freed by reference
      counting as before; a model replaced by reload is too.

    Returns:
        A function that undoes both (the app is stopping); frozen objects go back to the
        collector.
    """
    blas = threadpoolctl.threadpool_limits(1, user_api="blas")
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)

    def undo() -> None:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        blas.restore_original_limits()

    return undo


def tuned(lifespan: Lifespan[App]) -> Lifespan[App]:
    """``lifespan`` with the process tuned for serving from start-up's end to shutdown's start.

    Args:
        lifespan: An app's lifespan (it loads the model before it yields).

    Returns:
        The lifespan of a worker that owns its process.
    """

    @asynccontextmanager
    async def tuned_lifespan(app: App) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            undo = tune_for_serving()
            try:
                yield state
            finally:
                undo()

    return tuned_lifespan
