"""The --dask address: local clusters, scheduler addresses, and what is said when they fail."""

from __future__ import annotations

import socket

import pytest

from data.cluster import ClusterError, connect


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
    with connect("local:2") as client:
        info = client.scheduler_info()
        assert len(info["workers"]) == 2
        assert {w["nthreads"] for w in info["workers"].values()} == {1}
        pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2
    assert client.status == "closed"
