"""MLflow as a tracking server on PostgreSQL: a run trained against it, its champion served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from serving.reload import CANARY_REQUESTS
from tests.mlflow_server import mlflow_server
from tests.serving.live import asym_serve
from training.settings import training_settings
from training.train import train

DATABASE = "mlflow_store"


@pytest.fixture(scope="module")
def store(postgres_url: str) -> str:
    """A database of its own on the test server, as an operator would give MLflow."""
    engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {DATABASE}"))
        conn.execute(sa.text(f"CREATE DATABASE {DATABASE}"))
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + f"/{DATABASE}"


@pytest.fixture(scope="module")
def server(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(store, tmp_path_factory.mktemp("artifacts")) as url:
        yield url


def test_train_against_the_server_and_serve_its_champion(
    server: str, store: str, small_registry: Path, tmp_path: Path
) -> None:
    settings = training_settings(
        registry=small_registry,
        out=tmp_path / "bundle",
        tracking_uri=server,
        experiment="pg",
        model_name="asym-pg",
    )
    result = train(settings, echo=lambda _: None)
    assert result.registered.version == "1" and result.registered.champion
    # The runs and the registry live in PostgreSQL, not in a file beside the server.
    engine = sa.create_engine(store)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT run_uuid, status FROM runs")).all()
        alias = conn.execute(
            sa.text("SELECT version FROM registered_model_aliases WHERE name = 'asym-pg'")
        ).scalar_one()
    engine.dispose()
    assert [(r.run_uuid, r.status) for r in runs] == [(result.run_id, "FINISHED")]
    assert alias == 1
    # A server started on models:/asym-pg@champion fetches the bundle through the tracking server.
    args = ["--model", "models:/asym-pg@champion", "--tracking-uri", server, "--no-auth",
            "--log-url", f"sqlite:///{tmp_path / 'log.db'}"]  # fmt: skip
    with asym_serve(args) as (_, url):
        ready = httpx.get(f"{url}/readyz").json()
        assert ready["model"] == {"name": "asym-pg", "version": "1", "run_id": result.run_id}
        answer = httpx.post(f"{url}/v1/predict", json=CANARY_REQUESTS[1])
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"]["version"] == "1"
