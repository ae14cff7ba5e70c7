"""Commands of the serving stage: ``asym predict`` and ``asym serve``."""

from __future__ import annotations

import ipaddress
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from bundle.late_asymmetry import LATE_GAP_DAYS
from bundle.manifest import BundleError
from bundle.resolve import resolve_model
from data.cli import EXIT_UNUSABLE
from data.registry import ExportError
from serving.keys import KeysFileError, KeyStore
from serving.predict import PredictReport, predict_registry
from serving.process import MALLOC_ENV
from serving.schemas import MAX_LATE_GAP_DAYS
from serving.settings import ENV_PREFIX, serving_settings
from serving.supervisor import APP_FACTORY


def predict_cmd(
    model: Annotated[
        str,
        typer.Option(help="Bundle folder, or models:/NAME@ALIAS or models:/NAME/VERSION."),
    ],
    registry: Annotated[Path, typer.Option(help="Registry export folder to score.")],
    out: Annotated[Path, typer.Option(help="Folder for risk.parquet and longevity.parquet.")],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI for a models:/ model.", envvar="MLFLOW_TRACKING_URI"
        ),
    ] = None,
    late_gap_days: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=MAX_LATE_GAP_DAYS,
            help="Late-stage asymmetry: one side wearing off at least this many days before the "
            "other.",
        ),
    ] = LATE_GAP_DAYS,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Score on a Dask cluster: local, local:N (N worker processes on this machine) "
            "or a scheduler address (tcp://host:8786). Writes OUT/risk/, OUT/longevity/ and "
            "OUT/schedule/ as partitioned Parquet and OUT/_SUCCESS, all at once when the run has "
            "finished.",
        ),
    ] = None,
) -> None:
    """Score every valid treatment of a registry with a model bundle (ONNX only)."""
    try:
        bundle = resolve_model(model, tracking_uri)
        if dask is None:
            report = predict_registry(bundle, registry, out, late_gap_days=late_gap_days)
        else:
            report = _predict_on_dask(bundle, registry, out, dask, late_gap_days)
    except (BundleError, ExportError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    where = "" if dask is None else ", summed over the parts"
    typer.echo(
        f"{report.model_name} {report.model_version}: {report.n_treatments:,} treatments, "
        f"{report.n_longevity_rows:,} treated sides -> {out} "
        f"(read {report.read_seconds:.1f} s, score {report.score_seconds:.1f} s, "
        f"write {report.write_seconds:.1f} s{where})"
    )
    if report.n_rejects:
        typer.echo(f"{report.n_rejects:,} rejected rows not scored, see {report.files[-1]}")


def _predict_on_dask(
    bundle: Path, registry: Path, out: Path, address: str, late_gap_days: float
) -> PredictReport:
    """``predict_on_dask``, a failure of its cluster said in one line (exit 2)."""
    from data.cluster import FAILURES, failure
    from serving.predict_dask import predict_on_dask

    try:
        return predict_on_dask(bundle, registry, out, address, late_gap_days)
    except FAILURES as err:
        typer.echo(f"error: {failure(err)}; nothing was written to {out}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds only to this machine (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unusable(model: str, tracking_uri: str | None, log_url: str) -> str | None:
    """Why the server could not start with this model and log, or None.

    The model is fetched into a temporary folder and checked (manifest, file hashes) as a
    worker will; each worker fetches it again, so that reload keeps following the alias.
    """
    from bundle.manifest import check_manifest, load_manifest
    from serving.log import PredictionLog

    try:
        with tempfile.TemporaryDirectory(prefix="asym-serve-") as tmp:
            bundle = resolve_model(model, tracking_uri, dst_path=Path(tmp))
            check_manifest(load_manifest(bundle), bundle)
        PredictionLog(log_url).close()  # the URL and its driver; connects only when started
    except (BundleError, ValueError) as err:
        return str(err)
    return None


def server_environment(values: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The environment ``asym serve`` starts its server and workers with.

    Args:
        values: Settings given on the command line (None: not given), as ``ASYM_SERVE_*``
            variables over those of ``environ``, so that every worker builds the same settings.
        environ: The command's own environment.

    Returns:
        ``environ`` with the settings and glibc's allocator settings (``MALLOC_ENV``; an
        operator's own values of these variables are kept).
    """
    settings = {f"{ENV_PREFIX}{k.upper()}": str(v) for k, v in values.items() if v is not None}
    return {**MALLOC_ENV, **environ, **settings}


def serve_cmd(
    model: Annotated[
        str | None,
        typer.Option(help="Bundle folder or models:/NAME@ALIAS (default: models:/asym@champion)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8000,
    keys_file: Annotated[
        Path | None,
        typer.Option(help="API keys file (asym keys create); required unless --no-auth."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without a key (loopback only).")
    ] = False,
    log_url: Annotated[
        str | None,
        typer.Option(help="Prediction log URL (default: sqlite:///predictions.db)."),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI for a models:/ model.", envvar="MLFLOW_TRACKING_URI"
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every HTTP request line (costs latency).")
    ] = False,
) -> None:
    """Serve the prediction API (FastAPI on uvicorn; models on ONNX Runtime).

    Every request needs an X-API-Key from the keys file. The default model is trained on
    simulated data: not fit for clinical use.
    """
    if keys_file is None and not no_auth:
        typer.echo(
            "error: no --keys-file: every request would be refused. Create keys with "
            "`asym keys create --clinic NAME --keys-file FILE`, or pass --no-auth for a "
            "loopback-only development server.",
            err=True,
        )
        raise typer.Exit(EXIT_UNUSABLE)
    if no_auth and not is_loopback(host):
        typer.echo(
            f"error: --no-auth serves without keys and may only bind to loopback "
            f"(127.0.0.1, ::1, localhost), not {host}",
            err=True,
        )
        raise typer.Exit(EXIT_UNUSABLE)
    if no_auth:
        typer.echo(
            "warning: --no-auth: requests are not authenticated (loopback only, development)",
            err=True,
        )
    if keys_file is not None:
        try:  # fail here, with the file's problem, rather than in every worker's start-up
            KeyStore.load(keys_file)
        except KeysFileError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(EXIT_UNUSABLE) from None
    values: dict[str, Any] = {
        "model": model,
        "tracking_uri": tracking_uri,
        "keys_file": keys_file,
        "no_auth": no_auth or None,
        "log_url": log_url,
    }
    settings = serving_settings(**values)  # validated once here, then rebuilt by each worker
    problem = _unusable(settings.model, settings.tracking_uri, settings.log_url)
    if problem:  # said here, once, rather than as a traceback in every worker's start-up
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_UNUSABLE)
    typer.echo(f"serving {settings.model} on http://{host}:{port} ({workers} worker(s))", err=True)
    # This process becomes uvicorn (one worker), or the supervisor of several workers that
    # reloads them together (serving.supervisor), started with the environment: glibc reads its
    # allocator settings only when a process starts, so setting them here for a server run
    # in-process (one worker) would change nothing.
    where = ["--host", host, "--port", str(port), "--log-level", "info"]
    if workers == 1:
        argv = [sys.executable, "-m", "uvicorn", APP_FACTORY, "--factory", *where,
                "--access-log" if access_log else "--no-access-log"]  # fmt: skip
    else:
        argv = [sys.executable, "-m", "serving.supervisor", *where, "--workers", str(workers),
                *(["--access-log"] if access_log else [])]  # fmt: skip
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, server_environment(values, os.environ))
