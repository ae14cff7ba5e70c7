"""`promote` moves the champion alias only to a candidate better on the same held-out data."""

import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from bundle.manifest import FORMAT_VERSION
from training.dataset import load_training_data
from training.promote import promote
from training.settings import training_settings
from training.tracking import register_bundle, use_store
from training.train import train


@pytest.fixture(scope="module")
def store(small_registry: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("promote")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    # A candidate trained on outcomes shuffled across treatments has learnt nothing real.
    scrambled = work / "scrambled"
    shutil.copytree(small_registry, scrambled)
    fol = pd.read_parquet(scrambled / "followups.parquet")
    rng = np.random.default_rng(0)
    fol["visible_asymmetry"] = rng.permutation(fol["visible_asymmetry"].to_numpy())
    fol.to_parquet(scrambled / "followups.parquet", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)  # the SQLite store keeps artifacts in ./mlruns
        for i, registry in enumerate((small_registry, scrambled)):
            settings = training_settings(
                registry=registry,
                out=work / f"bundle{i}",
                tracking_uri=uri,
                experiment="promote",
                model_name="asym-p",
            )
            train(settings, echo=lambda _: None)
        yield uri, work


def test_a_worse_candidate_is_not_promoted(store, small_registry: Path) -> None:
    uri, work = store
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        result = promote("asym-p", "2", small_registry, tracking_uri=uri, echo=lambda _: None)
    assert result.champion == "1"
    assert not result.promoted
    assert "worse on" in result.reason and "risk_auc" in result.reason
    row = result.table.set_index("metric").loc["risk_auc"]
    # Shuffled labels: the candidate ranks risk about as well as chance.
    assert row["champion"] > 0.75 and row["candidate"] < 0.6
    client = MlflowClient(uri)
    assert str(client.get_model_version_by_alias("asym-p", "champion").version) == "1"
    run = client.get_run(result.run_id)
    assert run.data.tags["promoted"] == "false"
    assert run.data.metrics["candidate_risk_auc"] == pytest.approx(row["candidate"])
    assert run.data.params["champion_version"] == "1"


def test_the_champion_is_not_promoted_over_itself(store, small_registry: Path) -> None:
    uri, work = store
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        result = promote("asym-p", "1", small_registry, tracking_uri=uri, echo=lambda _: None)
    assert not result.promoted
    assert result.reason == "version 1 is already the champion"
    # Same bundle, same data: the same figures on both sides.
    assert np.allclose(result.table["champion"], result.table["candidate"])


def test_without_a_champion_a_candidate_that_passes_parity_is_promoted(
    store, small_registry: Path
) -> None:
    uri, work = store
    client = MlflowClient(uri)
    client.delete_registered_model_alias("asym-p", "champion")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(work)
            result = promote("asym-p", "1", small_registry, tracking_uri=uri, echo=lambda _: None)
        assert result.promoted and result.reason == "there was no champion"
        assert str(client.get_model_version_by_alias("asym-p", "champion").version) == "1"
    finally:
        client.set_registered_model_alias("asym-p", "champion", "1")


def test_a_champion_this_install_cannot_read_gives_way_to_a_sound_candidate(
    store, small_registry: Path
) -> None:
    # A champion exported by an older asym (bundle format 2): no server of this install would
    # serve it. Registered for real, then only its stored manifest's format changed (this
    # install cannot register a format-2 bundle: it reads the manifest for the signature).
    uri, work = store
    client = MlflowClient(uri)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        use_store(uri, "promote")
        with mlflow.start_run():
            example = load_training_data(small_registry).features[:3]
            registered = register_bundle(work / "bundle0", "asym-p", example)
        logged = mlflow.get_logged_model(registered.model_uri.removeprefix("models:/"))
        (stored,) = Path(urlparse(logged.artifact_location).path).rglob("manifest.json")
        manifest = json.loads(stored.read_text())
        manifest["format_version"] = 2
        stored.write_text(json.dumps(manifest))
        client.set_registered_model_alias("asym-p", "champion", registered.version)
        try:
            lines: list[str] = []
            result = promote("asym-p", "1", small_registry, tracking_uri=uri, echo=lines.append)
            assert result.promoted
            assert result.reason == (
                f"the champion (version {registered.version}) cannot be used by this install"
            )
            reads = f"format_version 2, this install reads {FORMAT_VERSION}"
            assert any(reads in line for line in lines)
            assert str(client.get_model_version_by_alias("asym-p", "champion").version) == "1"
            assert result.table["champion"].isna().all()  # nothing to compare with
        finally:
            client.set_registered_model_alias("asym-p", "champion", "1")
