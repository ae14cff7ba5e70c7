"""A throwaway PostgreSQL server for the tests (``initdb`` + ``pg_ctl`` in a temporary folder).

The prediction log's tests and the MLflow tracking server's test run against it when the server
binaries are installed, and are skipped, saying why, when they are not; with ``CI`` set in the
environment they fail instead: the gate must run them. ``postgres_url`` is a session fixture
(``tests/conftest.py``): one server for every test that asks for it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest


def _pg_bindir() -> Path | None:
    """A folder holding initdb, pg_ctl and postgres: PATH first, then Debian's layout."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)

    def version(d: str) -> float:
        try:
            return float(Path(d).parent.name)
        except ValueError:
            return 0.0

    candidates += [
        Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    ]
    for d in candidates:
        if all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_server_user(argv: list[str], user: str | None) -> list[str]:
    # PostgreSQL refuses to run as root; as root, run it as an unprivileged user.
    if user is None:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *argv]
    return ["su", user, "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]


def _unavailable(why: str) -> NoReturn:
    """Skip the PostgreSQL cases, saying why; in CI, fail: there the gate must run them."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and PostgreSQL cannot run: {why}")
    pytest.skip(why)


def postgres_server() -> Iterator[str]:
    """Start a server; yield its URL (database ``postgres``, user ``postgres``); stop it."""
    bindir = _pg_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server binaries not installed (initdb, pg_ctl, postgres)")
    user: str | None = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                user = name
                break
        if user is None:
            _unavailable("running as root and no unprivileged user to run PostgreSQL as")
    # Not pytest's tmp_path: its folders are private to root, the server user must write here.
    root = Path(tempfile.mkdtemp(prefix="asym-pg-"))
    if user is not None:
        shutil.chown(root, user)
    data, port = root / "data", free_port()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _as_server_user([str(bindir / argv[0]), *argv[1:]], user),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    init = run(
        "initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
    )
    started = None
    if init.returncode == 0:
        options = f"-h 127.0.0.1 -p {port} -k {root} -F -c fsync=off"
        started = run(
            "pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"
        )
    if started is None or started.returncode != 0:
        why = (init if started is None else started).stderr.strip()[-300:]
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(
            f"PostgreSQL server binaries found in {bindir} but the server did not start: {why}"
        )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
