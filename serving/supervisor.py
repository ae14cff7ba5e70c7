"""Several workers of one server, reloaded together: all of them swap the model, or none does.

``asym serve --workers N`` (N > 1) becomes ``Supervisor``: uvicorn's own supervisor (it starts
the workers on one socket and replaces one that dies) with SIGHUP changed. uvicorn replaces the
workers one by one on SIGHUP, so a replacement that fails to start leaves the others on the new
model; here SIGHUP reloads every worker in place, in two phases, through a folder they share
(``ServingSettings.replicas_dir``):

1. The supervisor writes a *generation*: ``reloads/GEN/request.json`` (the model to load; none:
   the champion of the serving model's name) and sends SIGHUP to every worker.
2. Each worker loads and checks the model beside the one it serves
   (``serving.reload.ModelHolder.prepare``: the manifest, the canary) and votes in
   ``reloads/GEN/PID.vote``: ready, naming the model it loaded, or refused, saying why.
3. When every worker is ready with the same model (an alias resolved alike by all), the
   supervisor writes ``reloads/GEN/decision`` *commit*, and ``model``: that model pinned
   (``models:/NAME/VERSION``, not the alias), which a worker started later loads. A refusal, two
   different models, or a worker that has not voted within ``reload_timeout`` (stopped, busy,
   dead) make it *abort*, and the supervisor logs why.
4. Each worker swaps on commit (``ModelHolder.commit``) and drops what it loaded on abort, or
   when no decision comes.

``POST /v1/admin/reload`` on any worker asks the supervisor for the same (a ticket in
``tickets/``, then SIGHUP to the supervisor) and answers with the outcome. Each worker's metrics
go to files in ``metrics/`` (prometheus_client's multiprocess mode, ``serving.state``), so
``/metrics`` sums them whichever worker answers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess

from serving.settings import ENV_PREFIX, serving_settings

logger = logging.getLogger("uvicorn.error")  # shown beside uvicorn's own lines

APP_FACTORY: Final = "serving.app:app_from_env"
"""What each uvicorn worker imports and calls to build its app (settings from the environment)."""
METRICS: Final = "metrics"
"""Sub-folder of the replicas folder holding every worker's metric files."""
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's variable naming that folder; read when a worker imports it."""
MODEL: Final = "model"
"""File of the replicas folder naming the model last committed (pinned)."""
RELOADS: Final = "reloads"
"""Sub-folder of the generations, one per reload."""
TICKETS: Final = "tickets"
"""Sub-folder of the reloads asked through ``POST /v1/admin/reload``, pending."""
POLL: Final = 0.02
"""Seconds between two looks at the folder while waiting."""
_KEPT_GENERATIONS: Final = 3


@dataclass(frozen=True)
class Decision:
    """How a reload shared by the workers ended.

    Attributes:
        commit: Every worker swapped in ``model``; else none did.
        why: What the workers said (the reasons of an abort).
        model: The model committed: name, version, run id and pinned source.
    """

    commit: bool
    why: str
    model: dict[str, str] | None = None


def write_json(path: Path, value: Any) -> None:
    """Write a file whole (to a temporary name, then renamed): a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """A file ``write_json`` wrote."""
    return json.loads(path.read_text())


# --- The supervisor ------------------------------------------------------------------------------


class Supervisor(Multiprocess):
    """uvicorn's supervisor of the workers, reloading them in place, all or none, on SIGHUP."""

    def __init__(self, config: Config, sockets: list[Any], folder: Path, timeout: float) -> None:
        """Supervise ``config.workers`` workers on ``sockets``, coordinating through ``folder``."""
        super().__init__(config, sockets)
        self.folder = folder
        self.timeout = timeout

    def handle_hup(self) -> None:
        """Reload every worker in place: each pending ticket in turn, or else the champion."""
        tickets = sorted(
            (self.folder / TICKETS).glob("*.json"), key=lambda p: p.stat().st_mtime
        ) if (self.folder / TICKETS).is_dir() else []  # fmt: skip
        if not tickets:
            self.reload(None, None)
        for path in tickets:
            source = read_json(path)["source"]
            path.unlink()
            self.reload(source, path.stem)

    def reload(self, source: str | None, ticket: str | None) -> Decision:
        """One reload of every worker (see the module docstring).

        Args:
            source: The model to load; None: the champion.
            ticket: The admin request it answers, if any.

        Returns:
            The decision, also written for the workers.
        """
        generation = self.folder / RELOADS / f"{time.time_ns():020d}"
        generation.mkdir(parents=True)
        write_json(generation / "request.json", {"source": source, "ticket": ticket})
        pids = [p.pid for p in self.processes if p.pid is not None]
        logger.info("reload of %d workers asked (%s)", len(pids), source or "the champion")
        for pid in pids:
            os.kill(pid, signal.SIGHUP)
        decision = self._decide(generation, pids)
        write_json(generation / "decision", decision.__dict__)
        if decision.commit and decision.model is not None:
            (self.folder / MODEL).write_text(decision.model["source"])
            logger.info("reload committed in every worker: %s", decision.why)
        else:
            logger.warning("reload aborted, no worker swapped: %s", decision.why)
        for old in sorted((self.folder / RELOADS).iterdir())[:-_KEPT_GENERATIONS]:
            shutil.rmtree(old, ignore_errors=True)
        return decision

    def _decide(self, generation: Path, pids: Sequence[int]) -> Decision:
        deadline = time.monotonic() + self.timeout
        votes: dict[int, dict[str, Any]] = {}
        while len(votes) < len(pids) and time.monotonic() < deadline:
            for pid in pids:
                path = generation / f"{pid}.vote"
                if pid not in votes and path.is_file():
                    votes[pid] = read_json(path)
            if any(not v["ready"] for v in votes.values()):
                break  # one refusal settles it: no need to wait for the others
            time.sleep(POLL)
        refused = [f"worker {pid}: {v['why']}" for pid, v in votes.items() if not v["ready"]]
        silent = [f"worker {pid}: no answer in {self.timeout:.0f} s" for pid in pids
                  if pid not in votes]  # fmt: skip
        if refused or silent:
            return Decision(commit=False, why="; ".join(refused + silent))
        models = {json.dumps(v["model"], sort_keys=True) for v in votes.values()}
        if len(models) > 1:
            return Decision(commit=False, why=f"the workers loaded different models: {models}")
        model: dict[str, str] = json.loads(models.pop())
        return Decision(commit=True, why=f"{model['name']} {model['version']}", model=model)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the workers of ``asym serve --workers N`` under the supervisor (what it execs)."""
    parser = argparse.ArgumentParser(prog="python -m serving.supervisor")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    settings = serving_settings()
    folder = Path(tempfile.mkdtemp(prefix="asym-replicas-"))
    try:
        (folder / METRICS).mkdir()
        # Set before the workers start (they are new processes that read their environment).
        os.environ[MULTIPROC_ENV] = str(folder / METRICS)
        os.environ[f"{ENV_PREFIX}REPLICAS_DIR"] = str(folder)
        config = Config(
            APP_FACTORY,
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=args.access_log,
        )
        sock = config.bind_socket()
        Supervisor(config, [sock], folder, settings.reload_timeout).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
