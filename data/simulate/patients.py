"""Patients: what they tell the clinic, and the hidden state the registry never shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.contract import ANCESTRIES, HANDS, REGIONS
from data.simulate import params as p
from data.simulate.clinics import Clinics
from data.simulate.physics import PARALYSED, TARGETS
from data.simulate.types import LEFT, RIGHT, BoolArray, FloatArray, IntArray, Scenario, pick
from data.simulate.worlds import DEFAULT_WORLD, World

_EAST_ASIAN = ANCESTRIES.index("east_asian")
_JAW = REGIONS.index("jaw")


@dataclass(frozen=True, slots=True)
class Patients:
    """A chunk of patients; every array has one entry (or row) per patient."""

    clinic: IntArray
    male: BoolArray
    age0: FloatArray  # at the first session
    first_day: IntArray  # days since 1970-01-01
    n_sessions: IntArray
    ancestry: IntArray  # index into ANCESTRIES
    hand: IntArray  # index into HANDS
    exercise: FloatArray  # sessions per week
    bruxism: BoolArray
    smoker: BoolArray
    carrier: BoolArray  # CHRNA1
    # What the intake form records (False: left empty).
    known: dict[str, BoolArray]
    # Habits of the patient's plans.
    usual_regions: BoolArray  # (patient, region)
    dose_factor: FloatArray
    product: IntArray  # usual product, index into PRODUCTS
    forehead_points: IntArray  # per side
    crows_feet_units: FloatArray  # per point, U_eq
    three_point_glabella: BoolArray
    # Hidden state.
    baseline: FloatArray  # (patient, 3): true brow, palpebral, commissure difference
    frontalis_mm: FloatArray  # (patient, side)
    masseter_mm: FloatArray  # (patient, side)
    offset_mm: FloatArray  # (patient, target, side, xy)
    strength: FloatArray  # (patient, paralysed target, side)
    sensitivity: FloatArray
    beta: FloatArray  # dose-duration elasticity
    duration_factor: FloatArray  # activity, and the seed claims' CHRNA1 effect
    masseter_factor: FloatArray  # seed claim: frequent exercisers' masseter
    mouth_corner_shift: FloatArray  # seed claim: days earlier, 0 when absent
    nab_factor: FloatArray  # duration factor once antibodies have formed

    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self.clinic)


def _signed_rel(rng: np.random.Generator, sd: float, n: int) -> FloatArray:
    """A relative left-right difference |N(0, sd)| with a random sign."""
    return np.asarray(np.abs(rng.normal(0.0, sd, n)) * rng.choice([-1.0, 1.0], n))


def draw_patients(
    rng: np.random.Generator,
    n: int,
    clinics: Clinics,
    scenario: Scenario,
    *,
    start_day: int,
    end_day: int,
    world: World = DEFAULT_WORLD,
) -> Patients:
    """Draw ``n`` patients of the registry period ``[start_day, end_day]`` (days since epoch).

    Every draw happens in both scenarios, so a seed gives the same patients in each; only the
    seed claims' effects are switched on or off. The world sets how far each patient's muscles
    lie from its anatomy (``World.offset_sd_mm``).
    """
    seed_claims = scenario == "seed-claims"
    clinic = pick(rng, np.broadcast_to(clinics.weight / clinics.weight.sum(), (n, clinics.n)))
    male = rng.random(n) < p.P_MALE
    age0 = np.clip(rng.normal(p.AGE_MEAN, p.AGE_SD, n), *p.AGE_RANGE)
    east_asian = rng.random(n) < clinics.east_asian_share[clinic]
    others = [a for a in ANCESTRIES if a != "east_asian"]
    other_probs = np.array([p.ANCESTRY_PROBS_NON_EAST_ASIAN[a] for a in others])
    other = np.array([ANCESTRIES.index(a) for a in others])[
        pick(rng, np.broadcast_to(other_probs, (n, len(others))))
    ]
    ancestry = np.where(east_asian, _EAST_ASIAN, other)
    hand_probs = np.array([p.HAND_PROBS[h] for h in HANDS])
    hand = pick(rng, np.broadcast_to(hand_probs, (n, len(HANDS))))
    exercise = np.where(
        rng.random(n) < p.P_NO_EXERCISE,
        0.0,
        np.clip(np.round(rng.gamma(*p.EXERCISE_GAMMA, n) * 2.0) / 2.0, 0.5, 21.0),
    )
    carrier_u = rng.random(n)
    carrier_p = np.where(
        east_asian & seed_claims, p.P_CHRNA1_CARRIER_EAST_ASIAN_SEED, p.P_CHRNA1_CARRIER
    )
    known = {k: rng.random(n) >= v for k, v in p.P_MISSING_INTAKE.items()}

    region_probs = np.array([p.REGION_PROBS[r] for r in REGIONS])[None, :].repeat(n, axis=0)
    region_probs[:, _JAW] = np.where(east_asian, p.JAW_PROB_EAST_ASIAN, region_probs[:, _JAW])
    region_probs = np.minimum(region_probs * clinics.region_mult[clinic], 0.95)
    usual = rng.random((n, len(REGIONS))) < region_probs

    # Baseline differences (DF s11): brow magnitude half-normal with the age-dependent mean,
    # right brow lower (left minus right > 0) with p 0.6.
    mean_abs = np.where(
        age0 < p.BROW_DIFF_AGE_SPLIT, p.BROW_DIFF_MEAN_ABS_YOUNG, p.BROW_DIFF_MEAN_ABS_OLD
    )
    brow = np.abs(rng.normal(size=n)) * mean_abs / np.sqrt(2.0 / np.pi)
    brow *= np.where(rng.random(n) < p.P_RIGHT_BROW_LOWER, 1.0, -1.0)
    baseline = np.stack(
        [
            brow,
            rng.normal(0.0, p.PALPEBRAL_DIFF_SD, n),
            rng.normal(*p.COMMISSURE_DIFF, n),
        ],
        axis=1,
    )

    fr_mean = np.where(male, p.FRONTALIS_THICKNESS["male"][0], p.FRONTALIS_THICKNESS["female"][0])
    fr_sd = np.where(male, p.FRONTALIS_THICKNESS["male"][1], p.FRONTALIS_THICKNESS["female"][1])
    fr = np.clip(rng.normal(fr_mean, fr_sd), 1.0, 6.0)
    fr_rel = _signed_rel(rng, p.FRONTALIS_LR_REL_SD, n)
    frontalis = np.stack([fr * (1 + fr_rel / 2), fr * (1 - fr_rel / 2)], axis=1)
    dominance = rng.uniform(*p.SEED_DOMINANT_FRONTALIS, n)
    if seed_claims:
        for code, side in ((HANDS.index("right"), RIGHT), (HANDS.index("left"), LEFT)):
            frontalis[:, side] *= np.where(hand == code, dominance, 1.0)
    ms_mean = np.where(male, p.MASSETER_THICKNESS["male"][0], p.MASSETER_THICKNESS["female"][0])
    ms_sd = np.where(male, p.MASSETER_THICKNESS["male"][1], p.MASSETER_THICKNESS["female"][1])
    hypertrophy = usual[:, _JAW] & (rng.random(n) < p.P_HYPERTROPHY_IF_JAW)
    ms = np.where(
        hypertrophy,
        rng.normal(*p.MASSETER_HYPERTROPHY, n),
        rng.normal(ms_mean, ms_sd),
    )
    ms = np.clip(ms, 5.0, 25.0)
    ms_rel = _signed_rel(rng, p.MASSETER_LR_REL_SD, n)
    masseter = np.stack([ms * (1 + ms_rel / 2), ms * (1 - ms_rel / 2)], axis=1)

    strength = np.exp(
        rng.normal(0.0, p.STRENGTH_PATIENT_SD, n)[:, None, None]
        + rng.normal(0.0, p.STRENGTH_SIDE_SD, (n, len(PARALYSED), 2))
    )
    strength *= np.where(male, rng.uniform(*p.MALE_STRENGTH, n), 1.0)[:, None, None]
    strength *= np.where(east_asian, p.EAST_ASIAN_STRENGTH, 1.0)[:, None, None]
    # The frontalis is as strong as it is thick, relative to the sex's mean (so a dominant-side
    # thicker frontalis in the seed-claims scenario also resists the toxin more).
    strength[:, PARALYSED.index("frontalis")] *= frontalis / fr_mean[:, None]

    high_activity = exercise >= p.HIGH_ACTIVITY_SESSIONS
    activity = np.where(high_activity, rng.uniform(*p.HIGH_ACTIVITY_FACTOR, n), 1.0)
    chrna1 = rng.uniform(*p.SEED_CHRNA1_DURATION, n)
    exerciser_masseter = rng.uniform(*p.SEED_EXERCISER_MASSETER, n)
    mouth_shift = np.where(
        rng.random(n) < p.SEED_MOUTH_CORNER_SHARE, rng.uniform(*p.SEED_MOUTH_CORNER_DAYS, n), 0.0
    )
    carrier = carrier_u < carrier_p
    mu, sd, low, high = p.BETA_DOSE_DURATION
    beta = rng.normal(mu, sd, n)
    while np.any(bad := (beta < low) | (beta > high)):  # truncate by redrawing
        beta[bad] = rng.normal(mu, sd, int(bad.sum()))

    first_day = rng.integers(start_day, end_day - 13, n)
    sessions = pick(rng, np.broadcast_to(np.asarray(p.SESSION_COUNT_PROBS), (n, 6))) + 1
    fh_low, fh_high = p.FOREHEAD_POINTS_PER_SIDE
    return Patients(
        clinic=clinic,
        male=male,
        age0=age0,
        first_day=first_day.astype(np.int64),
        n_sessions=sessions,
        ancestry=ancestry.astype(np.int64),
        hand=hand,
        exercise=exercise,
        bruxism=rng.random(n) < p.P_BRUXISM,
        smoker=rng.random(n) < p.P_SMOKER,
        carrier=carrier,
        known=known,
        usual_regions=usual,
        dose_factor=np.exp(rng.normal(0.0, p.PATIENT_DOSE_SD, n)),
        product=pick(rng, clinics.product_probs[clinic]),
        forehead_points=rng.integers(fh_low, fh_high + 1, n),
        crows_feet_units=rng.uniform(*p.CROWS_FEET_UNITS, n),
        three_point_glabella=east_asian & (rng.random(n) < p.P_THREE_POINT_GLABELLA_EAST_ASIAN),
        baseline=baseline,
        frontalis_mm=frontalis,
        masseter_mm=masseter,
        offset_mm=rng.normal(0.0, world.offset_sd_mm, (n, len(TARGETS), 2, 2)),
        strength=strength,
        sensitivity=np.exp(rng.normal(0.0, p.SENSITIVITY_SD, n)),
        beta=beta,
        duration_factor=activity * np.where(carrier & seed_claims, chrna1, 1.0),
        masseter_factor=np.where(high_activity & seed_claims, exerciser_masseter, 1.0),
        mouth_corner_shift=mouth_shift if seed_claims else np.zeros(n),
        nab_factor=rng.uniform(*p.NAB_FACTOR, n),
    )
