"""World variants (``data.simulate.worlds``): the default is unchanged, each variant differs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data.atlas import MUSCLE_ATLAS
from data.simulate import Simulated, simulate, simulate_frames
from data.simulate.physics import (
    TARGETS,
    Anatomy,
    Points,
    _landmarks,
    _Terms,
    effective_doses,
    muscle_k,
    target_blobs,
)
from data.simulate.worlds import DEFAULT_WORLD, WORLDS, world_named
from tests.data.simulate.helpers import check_contract

N_WORLD = 2500
"""Treatments per world: ~1,700 reviews, enough for the rates compared below."""

# sha256 of the pre-treatment oracle's probability columns of ``simulate_frames(1500, seed=5,
# chunk_patients=700)`` (float64 bytes), as asym-sim 1.3 drew them before worlds existed (checked
# on the commit before the merge): the default world's placement draws, spread kernel and
# landmark sums are the same operations. test_writer pins the registry files.
_PRE_TREATMENT_1_3 = "07841a0fe01aacc5747e3b7489601710c10a427c1a8f8fa037d8f57e6f0bbee7"


@pytest.fixture(scope="module")
def drawn() -> dict[str, Simulated]:
    # Small chunks: a chunk simulates all its patients' sessions before the registry is cut.
    return {
        name: simulate_frames(N_WORLD, seed=2, world=name, chunk_patients=1000) for name in WORLDS
    }


def test_default_world_draws_what_the_simulator_drew_before_worlds() -> None:
    asym = simulate_frames(1500, seed=5, chunk_patients=700).oracle["asymmetry"]
    columns = [f"p_{x}" for x in ("visible_asymmetry", "eyelid_ptosis", "brow_ptosis")]
    values = np.ascontiguousarray(asym[columns].to_numpy(np.float64))
    assert hashlib.sha256(values.tobytes()).hexdigest() == _PRE_TREATMENT_1_3


def test_every_world_keeps_the_contract_and_a_calibrated_oracle(
    drawn: dict[str, Simulated],
) -> None:
    for name, sim in drawn.items():
        check_contract(sim)
        fu = sim.tables["followups"].merge(sim.oracle["asymmetry"], on="treatment_id")
        y, p = fu["visible_asymmetry"].to_numpy(), fu["p_visible_asymmetry"].to_numpy()
        se = np.sqrt((p * (1 - p)).sum()) / len(p)  # SE of the observed rate given the oracle
        assert abs(y.mean() - p.mean()) < 4 * se, name


def test_variants_differ_from_the_default_where_they_say(drawn: dict[str, Simulated]) -> None:
    def rate(name: str) -> float:
        return float(drawn[name].tables["followups"]["visible_asymmetry"].mean())

    def lid_ptosis(name: str) -> float:
        return float(drawn[name].oracle["asymmetry"]["p_eyelid_ptosis"].mean())

    def recorded(name: str) -> float:
        return float(drawn[name].tables["injections"]["x_mm"].notna().mean())

    # Same seed, same patients: stricter raters see more (0.23 -> 0.37 at 20k; SE ~ 0.01 here).
    assert rate("raters") > rate("default") + 0.08
    # Lower lateral corrugator points and wider placement error reach the levator more often
    # (mean oracle risk 1.5% -> 5% at 20k).
    assert lid_ptosis("clinics") > 2 * lid_ptosis("default")
    # Clinics that record no coordinates: 30% -> 60% of them (the same uniforms decide).
    assert recorded("clinics") < recorded("default") - 0.05  # 0.39 vs 0.48: six clinics
    for name in ("anatomy", "spread", "landmarks"):  # physics only: the same plans
        a, b = drawn["default"].tables["injections"], drawn[name].tables["injections"]
        assert a["units"].equals(b["units"]), name
        assert (
            not drawn["default"]
            .oracle["asymmetry"]["p_visible_asymmetry"]
            .equals(drawn[name].oracle["asymmetry"]["p_visible_asymmetry"])
        ), name


def _one_point(x: float, y: float) -> tuple[Points, Anatomy]:
    points = Points(
        treatment=np.array([0]),
        u_eq=np.array([4.0]),
        volume_ml=np.array([0.1]),
        x_mm=np.array([x]),
        y_mm=np.array([y]),
        frontalis=np.array([False]),
    )
    anatomy = Anatomy(
        offset_mm=np.zeros((1, len(TARGETS), 2, 2)),
        strength=np.ones((1, 6, 2)),
        sensitivity=np.ones(1),
        baseline=np.zeros((1, 3)),
    )
    return points, anatomy


def test_physics_follows_the_world() -> None:
    corrugator = TARGETS.index("corrugator")
    cx, cy = MUSCLE_ATLAS["corrugator"].blob.x_mm, MUSCLE_ATLAS["corrugator"].blob.y_mm
    points, anatomy = _one_point(cx, cy)
    default = effective_doses(points, anatomy)[0, corrugator, 0]
    # The anatomy world's corrugator lies 6 mm lateral, 3 mm up: an atlas-centred point reaches
    # less of it, and the label-dose calibration of its k makes up for the usual site.
    assert effective_doses(points, anatomy, WORLDS["anatomy"])[0, corrugator, 0] < 0.9 * default
    assert target_blobs(WORLDS["anatomy"])[corrugator].x_mm == cx + 6.0
    assert muscle_k(WORLDS["anatomy"])[corrugator] > muscle_k()[corrugator]
    # A point 20 mm above the corrugator reaches it ~3.7x as much through the spread world's
    # wider kernel and its tail.
    far, _ = _one_point(cx, cy + 20.0)
    wide = effective_doses(far, anatomy, WORLDS["spread"])[0, corrugator, 0]
    assert wide > 3 * effective_doses(far, anatomy)[0, corrugator, 0]
    # Landmarks: only in that world does the orbicularis move the lid.
    paralysis = np.zeros((1, 6, 2))
    paralysis[0, TARGETS.index("orbicularis_oculi"), 0] = 1.0
    assert _landmarks(paralysis, DEFAULT_WORLD)[1] is None
    lid = _landmarks(paralysis, WORLDS["landmarks"])[1]
    assert lid is not None and lid[0, 0] == pytest.approx(0.8)


@pytest.mark.parametrize("name", ["default", "spread", "elsewhere"])
def test_placement_draws_see_the_same_kernel(name: str) -> None:
    # The pre-treatment oracle's precomputed terms (a term per kernel component) give, without
    # placement error, the doses of effective_doses; float32 terms: relative 1e-5.
    world = WORLDS[name]
    rng = np.random.default_rng(0)
    n_points = 40
    points = Points(
        treatment=np.repeat(np.arange(4), 10),
        u_eq=rng.uniform(1, 8, n_points),
        volume_ml=rng.uniform(0.05, 0.2, n_points),
        x_mm=rng.uniform(-60, 60, n_points),
        y_mm=rng.uniform(-100, 60, n_points),
        frontalis=rng.random(n_points) < 0.5,
    )
    anatomy = Anatomy(
        offset_mm=rng.normal(0, 2, (4, len(TARGETS), 2, 2)),
        strength=np.ones((4, 6, 2)),
        sensitivity=np.ones(4),
        baseline=np.zeros((4, 3)),
    )
    zero = np.zeros((n_points, 2), dtype=np.float32)
    terms = _Terms.of(points, anatomy, np.zeros((n_points, 2)), world)
    np.testing.assert_allclose(
        terms.doses(zero), effective_doses(points, anatomy, world), rtol=1e-5, atol=1e-8
    )


def test_the_world_is_recorded_and_an_unknown_one_refused(tmp_path: Path) -> None:
    simulate(300, tmp_path / "w", seed=1, world="raters", chunk_patients=150)
    meta = json.loads((tmp_path / "w" / "oracle" / "simulation.json").read_text())
    assert meta["world"] == "raters"
    assert meta["world_overrides"] == {
        "visible_threshold_mm": [2.5, 2.0, 3.0],
        "rater_noise_mm": [0.8, 0.5, 0.8],
    }
    assert DEFAULT_WORLD.overrides() == {}
    with pytest.raises(ValueError, match="world must be one of default, anatomy"):
        world_named("mars")
    with pytest.raises(ValueError, match="world must be one of"):
        simulate_frames(10, world="mars")
    asym = str(Path(sys.executable).with_name("asym"))
    cli = subprocess.run(
        [asym, "simulate", "--out", str(tmp_path / "m"), "--treatments", "10", "--world", "mars"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2
    assert "--world must be one of default, anatomy, spread" in cli.stderr
    assert "Traceback" not in cli.stderr
