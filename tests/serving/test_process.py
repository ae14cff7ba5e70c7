"""A server worker tunes its process while it serves; ``asym serve`` sets glibc's allocator up."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path

import pytest
import threadpoolctl
from fastapi import FastAPI

from serving.app import app_from_env, create_app
from serving.cli import server_environment
from serving.process import GC_THRESHOLD, MALLOC_ENV
from serving.settings import ENV_PREFIX, serving_settings
from tests.serving.live import asym_serve, children, environ_of


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


@pytest.fixture
def worker_env(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``ASYM_SERVE_*`` variables ``asym serve`` gives its workers."""
    for name, value in (
        ("MODEL", str(bundle)), ("NO_AUTH", "true"), ("LOG_URL", f"sqlite:///{tmp_path / 'l.db'}"),
    ):  # fmt: skip
        monkeypatch.setenv(f"{ENV_PREFIX}{name}", value)


def _serving(app: FastAPI, check: Callable[[], None]) -> None:
    """Run ``check`` while ``app``'s lifespan is up, in this thread (a worker's main thread)."""

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            assert app.state.serving.holder is not None  # the model is loaded
            check()

    asyncio.run(serve())


@pytest.mark.usefixtures("worker_env")
def test_the_worker_entry_tunes_its_process_while_it_serves() -> None:
    # Two BLAS threads to start from (OMP_NUM_THREADS=1 would make one the process's default).
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        threshold, blas = gc.get_threshold(), _blas_threads()
        assert gc.get_freeze_count() == 0 and threshold != GC_THRESHOLD
        assert blas and set(blas) == {2}

        def tuned() -> None:
            # Everything start-up loaded is out of the collector's walks; young ones rarer.
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold() == GC_THRESHOLD
            assert set(_blas_threads()) == {1}

        _serving(app_from_env(), tuned)
        # Stopped: the collector and BLAS as they were.
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == threshold
        assert _blas_threads() == blas


@pytest.mark.usefixtures("worker_env")
def test_an_app_sharing_its_process_leaves_it_alone() -> None:
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        threshold = gc.get_threshold()

        def untouched() -> None:
            assert gc.get_freeze_count() == 0
            assert gc.get_threshold() == threshold
            assert set(_blas_threads()) == {2}

        _serving(create_app(serving_settings()), untouched)


def test_the_server_environment_holds_settings_and_allocator() -> None:
    env = server_environment(
        {"model": "models:/x@champion", "no_auth": None, "keys_file": Path("k.jsonl")},
        {"PATH": "/bin", "ASYM_SERVE_LOG_URL": "sqlite:///a.db", "MALLOC_TRIM_THRESHOLD_": "0"},
    )
    assert env == {
        "PATH": "/bin",
        "ASYM_SERVE_LOG_URL": "sqlite:///a.db",  # from the environment, not overridden
        "ASYM_SERVE_MODEL": "models:/x@champion",
        "ASYM_SERVE_KEYS_FILE": "k.jsonl",
        "MALLOC_MMAP_THRESHOLD_": MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"],
        "MALLOC_TRIM_THRESHOLD_": "0",  # an operator's own value is kept
    }


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="reads /proc")
def test_asym_serve_starts_its_workers_with_the_allocator_settings(
    bundle: Path, tmp_path: Path
) -> None:
    args = ["--no-auth", "--model", str(bundle), "--workers", "2",
            "--log-url", f"sqlite:///{tmp_path / 'log.db'}"]  # fmt: skip
    with asym_serve(args) as (server, _):
        workers = [pid for pid in children(server.pid) if "spawn_main" in _cmdline(pid)]
        assert len(workers) == 2
        for pid in [server.pid, *workers]:
            env = environ_of(pid)
            assert {k: env.get(k) for k in MALLOC_ENV} == MALLOC_ENV
            assert env[f"{ENV_PREFIX}MODEL"] == str(bundle)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
