"""Clinics: their habits, mixes and record-keeping, drawn once per simulation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.contract import PRODUCTS, REGIONS
from data.simulate import params as p
from data.simulate.types import BoolArray, FloatArray
from data.simulate.worlds import DEFAULT_WORLD, World


@dataclass(frozen=True, slots=True)
class Clinics:
    """Per-clinic parameters; every array has one entry (or row) per clinic."""

    weight: FloatArray
    east_asian_share: FloatArray
    dose_habit: FloatArray
    region_mult: FloatArray  # (clinic, region in contract order)
    product_probs: FloatArray  # (clinic, product in contract order)
    dilution_probs: FloatArray  # (clinic, DILUTION_ML_PER_100U_EQ)
    novice_share: FloatArray
    coordinate_share: FloatArray
    depth_share: FloatArray
    followup_share: FloatArray
    duration_share: FloatArray
    baseline_share: FloatArray
    frontalis_us_share: FloatArray
    genotype_share: FloatArray
    corrects: BoolArray
    low_glabella_mm: FloatArray

    @property
    def n(self) -> int:
        """Number of clinics."""
        return len(self.weight)


def clinic_count(n_treatments: int) -> int:
    """A few dozen clinics, growing with the registry (assumption)."""
    low, high = p.CLINICS_RANGE
    return int(np.clip(round(np.sqrt(n_treatments) * p.CLINICS_PER_SQRT_TREATMENT), low, high))


def draw_clinics(rng: np.random.Generator, n: int, world: World = DEFAULT_WORLD) -> Clinics:
    """Draw ``n`` clinics with the world's habits."""

    def share(low_high: tuple[float, float]) -> FloatArray:
        return rng.uniform(*low_high, size=n)

    asian = rng.random(n) < p.P_ASIAN_CLINIC
    product_mean = np.array([p.PRODUCT_PROBS[x] for x in PRODUCTS])
    region_mult = np.exp(rng.normal(0.0, p.CLINIC_REGION_SD, size=(n, len(REGIONS))))
    records_coordinates = rng.random(n) >= world.p_clinic_no_coordinates
    frontalis_us = rng.random(n) < p.P_CLINIC_FRONTALIS_US
    genotypes = rng.random(n) < p.P_CLINIC_GENOTYPES
    return Clinics(
        weight=np.exp(rng.normal(0.0, p.CLINIC_SIZE_SD, size=n)),
        east_asian_share=np.where(
            asian, p.EAST_ASIAN_SHARE_ASIAN_CLINIC, p.EAST_ASIAN_SHARE_OTHER_CLINIC
        ),
        dose_habit=np.exp(rng.normal(0.0, world.dose_habit_sd, size=n)),
        region_mult=region_mult,
        product_probs=rng.dirichlet(product_mean * p.PRODUCT_CONCENTRATION, size=n),
        dilution_probs=rng.dirichlet(
            np.asarray(p.DILUTION_PROBS) * p.DILUTION_CONCENTRATION, size=n
        ),
        novice_share=rng.beta(*world.novice_share_beta, size=n),
        coordinate_share=np.where(records_coordinates, share(p.COORDINATE_SHARE_RANGE), 0.0),
        depth_share=share(p.DEPTH_SHARE_RANGE),
        followup_share=share(p.FOLLOWUP_SHARE_RANGE),
        duration_share=share(p.DURATION_SHARE_RANGE),
        baseline_share=share(p.BASELINE_SHARE_RANGE),
        frontalis_us_share=np.where(frontalis_us, share(p.FRONTALIS_US_SHARE_RANGE), 0.0),
        genotype_share=np.where(genotypes, share(p.GENOTYPE_SHARE_RANGE), 0.0),
        corrects=rng.random(n) < world.p_clinic_corrects,
        low_glabella_mm=rng.normal(*world.low_glabella_habit, size=n),
    )
