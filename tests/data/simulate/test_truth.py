"""The simulator as judge: the truth of any plan (``data.simulate.truth``)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.contract import MUSCLES, REGIONS, SIDES
from data.registry import Registry, read_registry
from data.simulate import simulate
from data.simulate.oracle import OracleError, read_oracle
from data.simulate.truth import Plans, SimulatedTruth, plan_truth, read_truth, registry_plans


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("truth")
    simulate(4000, out, seed=8)
    return out


@pytest.fixture(scope="module")
def registry(export: Path) -> Registry:
    return read_registry(export)


@pytest.fixture(scope="module")
def truth(export: Path) -> SimulatedTruth:
    return read_truth(export)


def test_the_truth_of_the_plan_given_is_the_oracle(
    export: Path, registry: Registry, truth: SimulatedTruth
) -> None:
    got = plan_truth(truth, registry_plans(truth, registry.tables))
    oracle = read_oracle(export)
    assert oracle is not None
    ids = registry.treatments["treatment_id"]
    asym = oracle.asymmetry.loc[ids]
    # The same computation on the same draws: equal up to the oracle's 6 written decimals.
    for mine, column in (
        (got.p_visible, "p_visible_asymmetry"),
        (got.p_eyelid, "p_eyelid_ptosis"),
        (got.p_brow, "p_brow_ptosis"),
    ):
        np.testing.assert_allclose(mine, asym[column], rtol=0, atol=5.1e-7)
    medians = pd.DataFrame(
        {
            "treatment_id": ids.to_numpy()[got.plan],
            "region": np.array(REGIONS)[got.region],
            "side": np.array(SIDES)[got.side],
            "truth": got.median_days,
        }
    )
    both = medians.merge(
        oracle.longevity.astype({"region": str, "side": str}), on=["treatment_id", "region", "side"]
    )
    assert len(both) == len(medians) == len(oracle.longevity)
    np.testing.assert_allclose(both["truth"], both["median_days"], rtol=0, atol=0.0051)


def test_a_plan_is_judged_alone_whatever_else_is_judged_with_it(
    registry: Registry, truth: SimulatedTruth
) -> None:
    plans = registry_plans(truth, registry.tables)
    together = plan_truth(truth, plans).p_visible
    k = 17
    points = plans.plan == k
    alone = Plans(
        treatment=plans.treatment[[k]],
        product=plans.product[[k]],
        dilution_ml_per_100u=plans.dilution_ml_per_100u[[k]],
        plan=np.zeros(int(points.sum()), dtype=np.int64),
        position=plans.position[points],
        muscle=plans.muscle[points],
        side=plans.side[points],
        units=plans.units[points],
        x_mm=plans.x_mm[points],
        y_mm=plans.y_mm[points],
    )
    # The placement draws are keyed by treatment and point, not by the batch.
    assert plan_truth(truth, alone).p_visible[0] == pytest.approx(together[k], abs=1e-12)


def test_moving_frontalis_units_toward_the_higher_brow_lowers_the_true_risk(
    registry: Registry, truth: SimulatedTruth
) -> None:
    plans = registry_plans(truth, registry.tables)
    brow = truth.hidden.anatomy.baseline[plans.treatment, 0]  # true, left minus right
    frontalis = plans.muscle == MUSCLES.index("frontalis")
    has = np.bincount(plans.plan[frontalis], minlength=len(plans.treatment)) > 0
    uneven = has & (np.abs(brow) >= 2.5)
    assert uneven.sum() > 100
    left = plans.side == SIDES.index("left")
    # The higher brow's side gets 40% more frontalis units, the other 40% fewer; then the
    # opposite. Frontalis paralysis lowers its brow, so the first evens the brows out.
    higher_left = brow[plans.plan] > 0
    toward = np.where(frontalis, np.where(left == higher_left, 1.4, 0.6), 1.0)

    def mean_risk(factor: np.ndarray) -> float:
        shifted = dataclasses.replace(plans, units=plans.units * factor)
        return float(plan_truth(truth, shifted).p_visible[uneven].mean())

    # Same patients and draws (common random numbers): the differences are the plans' alone.
    # At seed 8 (587 treatments) the means are 0.30, 0.43 and 0.65: 0.03 is far inside that.
    assert mean_risk(toward) < mean_risk(np.ones_like(toward)) - 0.03
    assert mean_risk(2.0 - toward) > mean_risk(np.ones_like(toward)) + 0.03


def test_a_missing_table_is_named(export: Path, tmp_path: Path) -> None:
    shutil.copytree(export / "oracle", tmp_path / "oracle")
    (tmp_path / "oracle" / "points.parquet").unlink()
    with pytest.raises(OracleError) as err:
        read_truth(tmp_path)
    assert str(err.value) == f"{tmp_path / 'oracle' / 'points'}.parquet (or .csv) is missing"
