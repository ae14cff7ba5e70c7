"""Tuning of a server process for many large requests: BLAS threads, garbage collector, malloc.

Process-wide settings, so applied only by an app that owns its process (an ``asym serve`` worker,
``serving.app.app_from_env``), after the model is loaded, and undone (where they can be) when it
stops. Each was measured on a 1,000-treatment batch call (``benchmarks/bench_serve.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from typing import Final

import threadpoolctl

GC_THRESHOLD: Final = (100_000, 10, 10)
"""The cyclic garbage collector's thresholds while serving (Python's default: 700, 10, 10).

The first counts container objects made and not yet freed: a 1,000-treatment batch call holds
between 30,000 and 40,000 at its peak (validated requests, then answers; measured by the
thresholds at which collections begin). So one or two such calls in flight run no collection; a
worker with more in flight runs one now and then."""
MALLOC_MMAP_THRESHOLD: Final = 64 << 20
"""Blocks from this size up get their own memory map (glibc's default: 128 KiB, rising to 32 MiB
as blocks are freed)."""
MALLOC_TRIM_THRESHOLD: Final = 256 << 20
"""Free memory at the top of the heap kept for reuse up to this size (glibc's default: 128 KiB,
or twice the mmap threshold once that has risen)."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def _tune_malloc() -> bool:
    """Have glibc keep freed memory for the next request instead of returning it to the system.

    A batch's arrays are megabytes each; by default glibc maps the largest afresh and hands the
    top of the heap back after each call, so every call pays a page fault per 4 KiB it touches
    again: 2,550 faults and 6 of ~60 ms of a 1,000-treatment call. With these thresholds the
    heap stays at its peak and a call faults almost never (measured: 30 faults a call, and
    176 MB resident after such calls instead of 161 MB). Only where the C library is glibc;
    elsewhere nothing changes. Not undone: glibc has no call that reads the values back.

    Returns:
        Whether the thresholds were set.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt)
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)
        and mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD)
    )


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
    - glibc keeps freed memory for the next call (``_tune_malloc``).

    Returns:
        A function that undoes the BLAS and collector settings (the app is stopping); frozen
        objects go back to the collector.
    """
    blas = threadpoolctl.threadpool_limits(1, user_api="blas")
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    _tune_malloc()

    def undo() -> None:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        blas.restore_original_limits()

    return undo
