"""A server worker tunes its process while it serves, and an app sharing a process does not."""

from __future__ import annotations

import gc
import platform
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import threadpoolctl

from serving.app import create_app
from serving.process import GC_THRESHOLD
from serving.settings import serving_settings
from tests.serving.live import live_server


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def _faults_of_a_reused_block() -> int:
    # 48 MB: above glibc's own largest mmap threshold (32 MB), so by default such a block is
    # mapped afresh and faulted in again each time (measured here: 988 faults, numpy asking for
    # huge pages; 12,000 without); kept by the tuned allocator, it faults not at all.
    np.ones(6_000_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(6_000_000)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@contextmanager
def _serving(bundle: Path, tmp_path: Path, own_process: bool) -> Iterator[None]:
    """A live server on ``bundle`` until the block ends (checked ready)."""
    settings = serving_settings(
        model=str(bundle), no_auth=True, log_url=f"sqlite:///{tmp_path / 'log.db'}"
    )
    with live_server(create_app(settings, own_process=own_process)) as url:
        assert httpx.get(f"{url}/readyz").status_code == 200
        yield


def test_a_worker_tunes_its_process_while_it_serves(bundle: Path, tmp_path: Path) -> None:
    threshold, blas = gc.get_threshold(), _blas_threads()
    assert gc.get_freeze_count() == 0 and threshold != GC_THRESHOLD
    with _serving(bundle, tmp_path, own_process=True):
        # Everything start-up loaded is out of the collector's walks; young collections rarer.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == GC_THRESHOLD
        assert _blas_threads() and set(_blas_threads()) == {1}
        if platform.libc_ver()[0] == "glibc":
            assert _faults_of_a_reused_block() < 50
    # Stopped: the collector and BLAS as they were (glibc's thresholds cannot be read back).
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold
    assert _blas_threads() == blas


def test_an_app_sharing_its_process_leaves_it_alone(bundle: Path, tmp_path: Path) -> None:
    threshold, blas = gc.get_threshold(), _blas_threads()
    with _serving(bundle, tmp_path, own_process=False):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == threshold
        assert _blas_threads() == blas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_the_default_allocator_faults_where_the_tuned_one_does_not() -> None:
    # The reference for the test above, in a process no server has tuned.
    code = "from tests.serving.test_process import _faults_of_a_reused_block as f; print(f())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 50
