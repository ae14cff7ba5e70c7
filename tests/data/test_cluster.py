"""The --dask address: local clusters, scheduler addresses, and what is said when they fail."""

from __future__ import annotations

import os
import socket

import dask
import pytest

from data.cluster import LOCAL_CONFIG, MMAP_THRESHOLD, ClusterError, connect


@pytest.mark.parametrize("address", ["local:0", "local:two", "local:-1"])
def test_a_bad_local_address_is_refused(address: str) -> None:
    with (
        pytest.raises(ClusterError, match=f"--dask {address}: expected local, local:N"),
        connect(address),
    ):
        pass


def test_no_scheduler_at_the_address_is_said() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    expected = f"--dask {address}: no Dask scheduler could be reached"
    with pytest.raises(ClusterError, match=expected), connect(address, timeout=2):
        pass


def test_a_local_cluster_has_the_workers_asked_for_and_stops() -> None:
    environ = dict(os.environ)
    with connect("local:2") as client:
        assert client.nthreads() and set(client.nthreads().values()) == {1}
        assert len(client.nthreads()) == 2
        pids = set(client.run(os.getpid).values())
        threads = set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values())
        malloc = client.run(
            lambda: [os.environ.get(f"MALLOC_{k}_THRESHOLD_") for k in ("TRIM", "MMAP")]
        )
        # The workers run with the settings chosen for them (no sampling profiler), which a
        # worker gets from its nanny, not from this process's config.
        settings = client.run(lambda: {k: dask.config.get(k) for k in LOCAL_CONFIG})
    assert len(pids) == 2 and os.getpid() not in pids  # worker processes of their own
    assert threads == {"1"}  # what distributed gives its workers
    # Freed memory still goes back to the system; arrays under 32 MiB come from the heap.
    assert list(malloc.values()) == [["65536", str(MMAP_THRESHOLD)]] * 2
    assert list(settings.values()) == [LOCAL_CONFIG, LOCAL_CONFIG]
    assert dask.config.get("distributed.worker.profile.enabled") is True  # here: as it was
    assert client.status == "closed"
    # ... without leaving it in this process's environment for its later children.
    assert dict(os.environ) == environ
