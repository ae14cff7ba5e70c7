"""The app's lifespan: open the model, keys and log once; reload on request or SIGHUP; close.

``serving.reload.ModelHolder`` keeps the onnxruntime sessions opened here and swaps them on
reload. A worker of several (``ServingSettings.replicas_dir``) reloads only with all the others,
through their supervisor (``serving.supervisor``, ``serving.replicas``), and starts with the
model they last swapped in. Nothing here touches the process beyond the SIGHUP handler: tuning
a process for serving is the worker entry's (``serving.app.app_from_env``), as only it owns its
process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import multiprocess
from starlette.concurrency import run_in_threadpool

from bundle.predictor import Predictor
from bundle.resolve import resolve_model
from serving.keys import KeyStore
from serving.log import PredictionLog
from serving.reload import ModelHolder, ReloadRefused
from serving.replicas import ask_reload, committed_model, take_part
from serving.service import PredictionService
from serving.state import ServingState, shared_metrics

logger = logging.getLogger("asym.serving")


def open_state(state: ServingState) -> None:
    """Load the model, keys and log into ``state`` (blocking: at start-up, before any request)."""
    settings = state.settings
    if settings.keys_file is not None:
        state.keys = KeyStore.load(settings.keys_file)
    elif not settings.no_auth:
        raise RuntimeError("no keys_file and no_auth is off: every request would be refused")
    source = settings.model
    if settings.replicas_dir is not None:  # a worker started after a reload: its model
        source = committed_model(settings.replicas_dir) or source
    bundle = resolve_model(source, settings.tracking_uri)
    predictor = Predictor.load(bundle, intra_op_threads=settings.intra_op_threads)
    holder = ModelHolder(predictor, intra_op_threads=settings.intra_op_threads)
    log = PredictionLog(settings.log_url, on_count=state.count_log)
    log.start()
    state.log = log
    state.holder = holder
    state.service = PredictionService(lambda: holder.current, log)
    state.serving(predictor)
    logger.info("serving %s %s from %s", predictor.model_name, predictor.model_version, bundle)


def reload_model(state: ServingState, source: str | None) -> tuple[Predictor, Predictor]:
    """Swap in another model through the holder (blocking); in every worker, if several.

    Args:
        state: The app's state.
        source: Bundle folder or models:/ URI; None: the current champion of the serving model's
            name (``ModelHolder.reload``).

    Returns:
        (previous, new) predictors.

    Raises:
        serving.reload.ReloadRefused: The new model was refused (by any worker); the current one
            keeps serving (in every worker).
    """
    if state.holder is None:
        raise ReloadRefused("no model loaded yet")
    previous = state.holder.current
    settings = state.settings
    if settings.replicas_dir is not None:  # this worker's own part swaps it (_install_sighup)
        return previous, ask_reload(
            settings.replicas_dir, source, state.holder, settings.reload_timeout
        )
    new = state.holder.reload(source, settings.tracking_uri)
    state.serving(new, previous)
    return previous, new


def _install_sighup(state: ServingState) -> bool:
    """Reload the current champion on SIGHUP; False where signals cannot be caught here."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()  # keeps the tasks referenced until done

    async def reload() -> None:
        settings = state.settings
        if settings.replicas_dir is not None and state.holder is not None:
            # The supervisor's call: load, vote, and swap only if every worker can.
            swapped = await run_in_threadpool(
                take_part,
                settings.replicas_dir,
                state.holder,
                settings.tracking_uri,
                settings.reload_timeout,
            )
            if swapped is not None:
                state.serving(swapped[1], swapped[0])
            return
        try:
            previous, new = await run_in_threadpool(reload_model, state, None)
        except ReloadRefused as err:
            logger.warning("SIGHUP reload refused: %s", err)
            return
        logger.info(
            "SIGHUP reload: %s %s -> %s %s",
            previous.model_name, previous.model_version, new.model_name, new.model_version,
        )  # fmt: skip

    def on_hup() -> None:
        task = loop.create_task(reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        # Not the main thread (a test server in a thread) or no SIGHUP (Windows).
        return False
    return True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open ``app.state.serving`` before the first request; close its log after the last."""
    state: ServingState = app.state.serving
    await run_in_threadpool(open_state, state)
    hup = _install_sighup(state)
    try:
        yield
    finally:
        if hup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if state.log is not None:
            await run_in_threadpool(state.log.close)
        state.service = None
        if shared_metrics():  # this worker's model gauge leaves /metrics with it
            multiprocess.mark_process_dead(os.getpid())
