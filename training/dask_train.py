"""``asym train --dask``: the training stage with the registry in parts on a Dask cluster."""

from __future__ import annotations

from data.cluster import connect
from training.dask_data import SAMPLE_TREATMENTS
from training.dask_fit import DaskFits
from training.settings import TrainingSettings
from training.train import Echo, TrainResult, train


def train_on_dask(
    settings: TrainingSettings,
    address: str,
    *,
    sample_treatments: int = SAMPLE_TREATMENTS,
    echo: Echo = print,
) -> TrainResult:
    """Train as ``training.train.train`` does, reading and fitting on a Dask cluster.

    The registry is read, validated and featurised part by part on the workers
    (``training.dask_data``) and the risk, difference and longevity models are fitted there with
    ``lightgbm.dask`` (``training.dask_fit``); evaluation, export, parity, MLflow and the registry
    are the one-process run's, on the held-out period the client keeps.

    Args:
        settings: What to train on (a partitioned export, or a plain one as a single part) and
            where to record it.
        address: ``local``, ``local:N`` or a scheduler address (``data.cluster.connect``).
        sample_treatments: Training treatments the client keeps to choose the number of trees.
        echo: Receives one line per stage as it starts and ends.

    Returns:
        The run, the bundle, the registered version and the metrics.

    Raises:
        data.cluster.ClusterError: The cluster cannot be used.
        data.registry.ExportError: The export cannot be used.
        training.export.ParityError: The ONNX models disagree with LightGBM.
    """
    with connect(address) as client:
        fits = DaskFits(client, sample_treatments)
        where = client.scheduler_info()["address"]
        echo(f"Dask: {fits.params['dask_workers']} worker(s), scheduler {where}")
        return train(settings, echo, fits.engine())
