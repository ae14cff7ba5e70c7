"""The schedule shows what the data carry: in the seed-claims world mouth corners return 15-20
days before the forehead in 60% of patients, and the schedule moves their touch-up earlier by
about that much; in the literature world it does not (a model trained on each world)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bundle.predictor import Predictor
from data.simulate import simulate
from features.inputs import REGION_CODE
from features.longevity import treated_region_sides
from features.tables import registry_inputs
from serving.schedule import schedule_rows
from tests.fixtures import fit_small_models
from training.dataset import TrainingData, load_training_data
from training.export import export_bundle

FOREHEAD, MOUTH = REGION_CODE["forehead"], REGION_CODE["mouth_corners"]


def _gaps(scenario: str, folder: Path) -> tuple[float, float]:
    """Mean (forehead - mouth corners) touch-up day over held-out treatments with both: the
    schedule's, and the oracle's (each region's first side's true median)."""
    simulate(12_000, folder / "registry", seed=11, scenario=scenario)  # type: ignore[arg-type]
    data: TrainingData = load_training_data(folder / "registry")
    bundle = folder / "bundle"
    export_bundle(fit_small_models(data, trees=60), data, bundle, model_name="s", model_version="1")
    predictor = Predictor.load(bundle, intra_op_threads=1)
    inputs = registry_inputs(data.registry.tables)
    x = data.features.astype(np.float32)
    p = predictor.predict(x, *treated_region_sides(inputs.plan))
    rows = schedule_rows(p)
    touch_up = pd.Series(
        rows.touch_up_day[rows.first], index=[p.treatment[rows.first], p.region[rows.first]]
    )
    oracle = data.oracle.longevity  # type: ignore[union-attr]
    truth = oracle.groupby(["treatment_id", "region"], observed=True)["median_days"].min()
    held = np.flatnonzero(data.test)
    both = [t for t in held if (t, FOREHEAD) in touch_up.index and (t, MOUTH) in touch_up.index]
    assert len(both) >= 80  # enough treatments of both regions to compare means
    ids = data.treatment_ids[both]
    predicted = (
        touch_up.loc[[(t, FOREHEAD) for t in both]].to_numpy()
        - touch_up.loc[[(t, MOUTH) for t in both]].to_numpy()
    )
    true = (
        truth.loc[[(i, "forehead") for i in ids]].to_numpy()
        - truth.loc[[(i, "mouth_corners") for i in ids]].to_numpy()
    )
    return float(predicted.mean()), float(true.mean())


@pytest.mark.slow
def test_lower_face_is_scheduled_earlier_only_where_the_data_carry_it(tmp_path: Path) -> None:
    lit_schedule, lit_truth = _gaps("literature", tmp_path / "lit")
    seed_schedule, seed_truth = _gaps("seed-claims", tmp_path / "seed")
    # The worlds differ by the claim: 60% of patients x 15-20 days, ~10 days on average (8.0
    # in these registries: other seed claims move the forehead's first side too).
    assert 5.0 <= seed_truth - lit_truth <= 14.0
    # The schedule follows each world's truth, to the error of small models (60 trees of 7
    # leaves, on these means of a few hundred treatments: measured -2.1 and +5.7 days; the same
    # worlds recorded on the day itself, not on weekly visits, -2.8 and +5.4, so that is the
    # models' error, not the recording's; -4.2 and +3.2 before weekly returns were fitted as
    # intervals), which is less than the claim: the literature world's lower face is not moved
    # earlier, and the seed-claims world's is, by at least half the claim's average.
    assert abs(lit_schedule - lit_truth) <= 6.5
    assert abs(seed_schedule - seed_truth) <= 6.5
    assert seed_schedule - lit_schedule >= 5.0
