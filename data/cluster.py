"""The Dask cluster of the ``--dask`` commands: an address in, a client out, parts mapped on it.

``local`` or ``local:N`` starts a ``distributed.LocalCluster`` on this machine: N worker
processes (default: one per core) of one thread each, as LightGBM and onnxruntime each want a
core of their own; it stops with the command. Anything else is the address of a running
scheduler (``tcp://host:8786``), whose workers must see the registry's files at the same paths
(a shared file system or object store mount).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, TypeVar

import dask
from distributed import Client, LocalCluster
from distributed.scheduler import KilledWorker

from data.partitioned import MapParts, Part

T = TypeVar("T")

LOCAL: Final = "local"
"""The address that starts a cluster on this machine (``local:N`` for N workers)."""
LOCAL_CONFIG: Final = {
    # The workers' statistical profiler samples the task's thread every 10 ms: 13% of the
    # workers' CPU scoring a part on this machine's two cores (benchmarks/bench_scale.py).
    "distributed.worker.profile.enabled": False,
    # Every process checks every 20 ms that its event loop is not blocked: a timer, not work.
    "distributed.admin.tick.interval": "1s",
}
"""Dask settings of the clusters ``local[:N]`` starts (a running cluster keeps its own)."""
PRE_SPAWN_ENVIRON: Final = "distributed.nanny.pre-spawn-environ"
MMAP_THRESHOLD: Final = 32 * 2**20
"""Bytes from which glibc's malloc maps an allocation on its own, for a local cluster's workers.

distributed's nannies set ``MALLOC_TRIM_THRESHOLD_`` for their workers, so that freed memory
goes back to the system; setting it also stops glibc from raising its mmap threshold (128 KiB)
as a process frees large blocks, so every array over 128 KiB is a fresh mapping whose pages
fault in again, each time: a part cost a worker 8.6 s instead of 6.6 s (benchmarks/bench_part.py
with and without). 32 MiB is where glibc's own raising stops; memory stays the same (1.04 GB).
"""


class ClusterError(Exception):
    """The cluster cannot be used: a bad address, no scheduler there, or no worker."""


FAILURES: Final = (ClusterError, KilledWorker)
"""What a command on a cluster says in a line (``failure``) rather than as a traceback."""


def failure(err: BaseException) -> str:
    """One line on why work on the cluster failed (an error of ``FAILURES``)."""
    if isinstance(err, KilledWorker):
        return (
            f"Dask workers died running {err.task} more often than the scheduler retries it "
            f"(out of memory? see the workers' logs)"
        )
    return str(err)


def _local_workers(address: str) -> int | None:
    """N of ``local:N`` (the core count for ``local``), None for a scheduler address."""
    if address != LOCAL and not address.startswith(f"{LOCAL}:"):
        return None
    count = address.removeprefix(LOCAL).removeprefix(":")
    if not count:
        return os.cpu_count() or 1
    if not count.isdigit() or int(count) < 1:
        raise ClusterError(f"--dask {address}: expected local, local:N (N >= 1) or tcp://host:port")
    return int(count)


@contextmanager
def environment_kept() -> Iterator[None]:
    """Give the process its environment back as it was at the start of the block.

    distributed's nannies write ``distributed.nanny.pre-spawn-environ`` (``OMP_NUM_THREADS=1``,
    ``MALLOC_TRIM_THRESHOLD_``, ...) into their own process's environment before each worker
    starts; a local cluster's nannies live in this process, whose later children (a server, a
    subprocess) would inherit them.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def connect(address: str, *, timeout: float = 30.0) -> Iterator[Client]:
    """A client of the cluster at ``address``; a local cluster it started stops at the end.

    Args:
        address: ``local``, ``local:N`` or a scheduler address such as ``tcp://host:8786``.
        timeout: Seconds to wait for the scheduler and for a first worker.

    Yields:
        The client.

    Raises:
        ClusterError: A bad address, no scheduler there, or no worker joined in time.
    """
    with environment_kept():
        yield from _connected(address, timeout)


def _connected(address: str, timeout: float) -> Iterator[Client]:
    workers = _local_workers(address)
    cluster: LocalCluster | None = None
    try:
        if workers is not None:
            environ = {
                **dask.config.get(PRE_SPAWN_ENVIRON),
                "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD,
            }
            # The nannies pass it on to their workers.
            with dask.config.set({**LOCAL_CONFIG, PRE_SPAWN_ENVIRON: environ}):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # a free port: none is fixed on a shared machine
                )
            client = Client(cluster, timeout=timeout)
        else:
            client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"--dask {address}: no Dask scheduler could be reached: {err}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(f"--dask {address}: no worker joined in {timeout:.0f} s") from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def task_key(stage: str, part: Part) -> str:
    """A task's key: its stage and part (as the dashboard shows them), unique to this call.

    Dask takes two tasks of one key for the same task; a second run on a cluster must not be
    handed the first run's results.
    """
    return f"{stage}-{part.name}-{uuid.uuid4().hex[:8]}"


def on_cluster(client: Client) -> MapParts:
    """Run a function on every part on the cluster's workers (``data.partitioned.MapParts``)."""

    def run(fn: Callable[[Part], T], parts: Sequence[Part], /) -> list[T]:
        name = str(getattr(fn, "__name__", None) or getattr(fn, "func", fn).__name__)
        futures = client.map(fn, parts, key=[task_key(name, p) for p in parts], pure=False)
        out: list[T] = client.gather(futures)
        return out

    return run
