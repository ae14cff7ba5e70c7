"""The worker's side of a reload shared by the workers of one server (``serving.supervisor``).

``take_part`` answers the supervisor's SIGHUP: load and check the model beside the one serving,
vote, await the decision, swap or drop it. ``ask_reload`` is ``POST /v1/admin/reload`` on one
worker: it asks the supervisor to reload them all and waits for the outcome. ``committed_model``
is what a worker started after a reload loads instead of the configured model.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from bundle.predictor import Predictor
from bundle.registry import MODELS_SCHEME
from serving.reload import ModelHolder, ReloadRefused
from serving.supervisor import MODEL, POLL, RELOADS, TICKETS, Decision, read_json, write_json


def committed_model(folder: Path) -> str | None:
    """The model the workers last swapped in together (pinned), or None before any reload."""
    path = folder / MODEL
    return path.read_text().strip() if path.is_file() else None


def _identity(predictor: Predictor, source: str | None) -> dict[str, str]:
    """A model's name, version and run, and where a worker started later finds that very one.

    A registered model is pinned to its version: the alias may have moved on by then.
    """
    if source is None or source.startswith(MODELS_SCHEME):
        source = f"{MODELS_SCHEME}{predictor.model_name}/{predictor.model_version}"
    return {
        "name": predictor.model_name,
        "version": predictor.model_version,
        "run_id": str(predictor.manifest.run_id),
        "source": source,
    }


def take_part(
    folder: Path, holder: ModelHolder, tracking_uri: str | None, timeout: float
) -> tuple[Predictor, Predictor] | None:
    """Answer the newest reload the supervisor asked for: load, vote, await the decision, swap.

    Args:
        folder: The replicas folder.
        holder: This worker's model.
        tracking_uri: MLflow tracking URI for a ``models:/`` model.
        timeout: The reload timeout; past it (and a little), no decision means abort.

    Returns:
        (previous, new) if this worker swapped; None if the reload was aborted.
    """
    reloads = sorted((folder / RELOADS).iterdir()) if (folder / RELOADS).is_dir() else []
    pid = os.getpid()
    todo = [g for g in reloads if not (g / f"{pid}.vote").exists() | (g / "decision").exists()]
    if not todo:
        return None
    generation = todo[-1]
    source = read_json(generation / "request.json")["source"]
    old = holder.current
    try:
        new = holder.prepare(source, tracking_uri)
        vote: dict[str, Any] = {"ready": True, "model": _identity(new, source)}
    except ReloadRefused as err:
        new, vote = None, {"ready": False, "why": str(err)}
    write_json(generation / f"{pid}.vote", vote)
    decision = _await_decision(generation, timeout + 5.0)
    if new is None or decision is None or not decision.commit:
        return None
    holder.commit(new, old)
    return old, new


def _await_decision(generation: Path, timeout: float) -> Decision | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (generation / "decision").is_file():
            return Decision(**read_json(generation / "decision"))
        time.sleep(POLL)
    return None


def ask_reload(folder: Path, source: str | None, holder: ModelHolder, timeout: float) -> Predictor:
    """Have the supervisor reload every worker (``POST /v1/admin/reload`` on one of them).

    Args:
        folder: The replicas folder.
        source: The model to load; None: the champion.
        holder: This worker's model (which swaps as one of the workers).
        timeout: The reload timeout.

    Returns:
        The model this worker serves once every worker has swapped.

    Raises:
        ReloadRefused: The reload was aborted (the message has the workers' reasons), or no
            decision came.
    """
    ticket = uuid.uuid4().hex
    (folder / TICKETS).mkdir(exist_ok=True)
    write_json(folder / TICKETS / f"{ticket}.json", {"source": source})
    os.kill(os.getppid(), signal.SIGHUP)
    deadline = time.monotonic() + timeout + 10.0
    while time.monotonic() < deadline:
        for generation in sorted((folder / RELOADS).glob("*"), reverse=True):
            request = generation / "request.json"
            if request.is_file() and read_json(request).get("ticket") == ticket:
                decision = _await_decision(generation, deadline - time.monotonic())
                if decision is None:
                    break
                if not decision.commit or decision.model is None:
                    raise ReloadRefused(decision.why)
                return _swapped(holder, decision.model, deadline)
        time.sleep(POLL)
    raise ReloadRefused(f"no decision on the reload within {timeout + 10.0:.0f} s")


def _swapped(holder: ModelHolder, model: dict[str, str], deadline: float) -> Predictor:
    """This worker's model once its own part of a committed reload has swapped it in."""
    while time.monotonic() < deadline:
        current = holder.current
        if (current.model_version, str(current.manifest.run_id)) == (
            model["version"],
            model["run_id"],
        ):
            return current
        time.sleep(POLL)
    raise ReloadRefused("the reload was committed but this worker has not swapped yet")
