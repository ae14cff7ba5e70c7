"""What ``build_features`` reads: contract data for n treatments as plain numpy arrays.

Two adapters fill it: ``features.tables`` from a whole registry, ``features.request`` from one
clinic request. Enums are integer codes in contract order (``data.contract``); a missing value is
NaN. Keeping this free of pandas lets one request be featurised in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Final

import numpy as np
import numpy.typing as npt

from data.atlas import UNIT_FACTOR
from data.contract import MUSCLE_REGION, MUSCLES, PRODUCTS, REGIONS, SIDES
from features.spec import FEATURE_INDEX

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MUSCLE_CODE: Final = {m: i for i, m in enumerate(MUSCLES)}
SIDE_CODE: Final = {s: i for i, s in enumerate(SIDES)}
REGION_CODE: Final = {r: i for i, r in enumerate(REGIONS)}
PRODUCT_CODE: Final = {p: i for i, p in enumerate(PRODUCTS)}
LEFT, RIGHT, MIDLINE = SIDE_CODE["left"], SIDE_CODE["right"], SIDE_CODE["midline"]

UNIT_FACTOR_BY_CODE: Final = np.array([UNIT_FACTOR[p] for p in PRODUCTS])
REGION_OF_MUSCLE: Final = np.array([REGION_CODE[MUSCLE_REGION[m]] for m in MUSCLES])

REVIEW_FIELDS: Final = (
    "review_day",
    "brow_height_diff_mm",
    "palpebral_fissure_diff_mm",
    "commissure_height_diff_mm",
    "visible_asymmetry",
    "eyelid_ptosis",
    "brow_ptosis",
)
"""Columns of ``followups`` kept as a treatment's review, in this order."""

THICKNESS_FIELDS: Final = (
    "frontalis_thickness_left_mm",
    "frontalis_thickness_right_mm",
    "masseter_thickness_left_mm",
    "masseter_thickness_right_mm",
)
BASELINE_FIELDS: Final = (
    "brow_height_diff_mm",
    "palpebral_fissure_diff_mm",
    "commissure_height_diff_mm",
)


@dataclass(frozen=True, slots=True)
class PlanArrays:
    """Injection points of n treatments, grouped by treatment in their original order.

    Attributes:
        treatment: Row (0..n-1) of the treatment each point belongs to, non-decreasing.
        muscle: Muscle code.
        side: Side code.
        units: Labelled units.
        x_mm: x in the face frame, NaN if not recorded.
        y_mm: y in the face frame, NaN if not recorded.
    """

    treatment: IntArray
    muscle: IntArray
    side: IntArray
    units: FloatArray
    x_mm: FloatArray
    y_mm: FloatArray


@dataclass(frozen=True, slots=True)
class FeatureInput:
    """Everything the features of n treatments depend on.

    Attributes:
        product: Product code per treatment.
        dilution: mL per 100 labelled units.
        patient: (n, 8) patient columns of ``treatments``, ``PATIENT_FIELDS`` order (enums as
            codes, bools as 0/1, missing as NaN).
        baseline: (n, 3) measured baseline differences, ``BASELINE_FIELDS`` order.
        thickness: (n, 4) ultrasound thicknesses, ``THICKNESS_FIELDS`` order.
        plan: The injection points.
        prior_treatments: Number of earlier treatments of the patient.
        days_since_previous: Days since the previous treatment, NaN if none.
        previous_review: (n, 7) the previous treatment's review (``REVIEW_FIELDS``), NaN if none.
        previous_days: (n, regions, 3 sides) the previous treatment's durations rows, NaN if none.
        previous_returned: (n, regions, 3 sides) their ``returned`` flags (1/0), NaN if none.
        previous_region_u_eq: (n, regions) the previous session's dose per region, NaN if none.
    """

    product: IntArray
    dilution: FloatArray
    patient: FloatArray
    baseline: FloatArray
    thickness: FloatArray
    plan: PlanArrays
    prior_treatments: FloatArray
    days_since_previous: FloatArray
    previous_review: FloatArray
    previous_days: FloatArray
    previous_returned: FloatArray
    previous_region_u_eq: FloatArray

    @property
    def n(self) -> int:
        """Number of treatments."""
        return len(self.product)

    def take(self, rows: npt.NDArray[np.int64]) -> FeatureInput:
        """The treatments ``rows``, in that order, with their points.

        A treatment's features read only its own rows and points, so featurising the
        treatments of a registry part by part gives the rows of featurising them all at once.

        Args:
            rows: Treatments to take, each once.

        Returns:
            The inputs of ``len(rows)`` treatments, treatment i being ``rows[i]``.
        """
        plan = self.plan
        position = np.full(self.n, -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        new = position[plan.treatment]
        points = np.flatnonzero(new >= 0)
        points = points[np.argsort(new[points], kind="stable")]  # grouped in the new order
        taken = {f.name: getattr(plan, f.name)[points] for f in fields(PlanArrays)}
        return FeatureInput(
            plan=PlanArrays(**(taken | {"treatment": new[points]})),
            **{f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name != "plan"},
        )


PATIENT_FIELDS: Final = (
    "age_years",
    "sex",
    "ancestry",
    "dominant_hand",
    "chrna1_variant",
    "exercise_sessions_per_week",
    "bruxism",
    "smoker",
)
"""Columns of ``treatments`` carried in ``FeatureInput.patient`` (enums as codes)."""


def columns(names: Sequence[str]) -> slice:
    """The feature-matrix columns of ``names``, as one slice.

    The blocks write into the one feature matrix through slices (views, so no copy and no extra
    numpy call per write), so ``names`` must sit at evenly spaced positions of the spec, in order:
    usually side by side. Anything else means a block and the spec disagree and fails at import.

    Args:
        names: Feature names, in the order the block writes them.

    Returns:
        ``slice(first, last + 1, step)`` over their columns.

    Raises:
        AssertionError: If the names are not evenly spaced in spec order.
    """
    at = [FEATURE_INDEX[name] for name in names]
    step = at[1] - at[0] if len(at) > 1 else 1
    if step < 1 or at != list(range(at[0], at[-1] + 1, step)):
        raise AssertionError(f"features {names} are not evenly spaced in the spec")
    return slice(at[0], at[-1] + 1, step)


def group_sum(group: IntArray, weights: FloatArray | None, length: int) -> FloatArray:
    """Sum ``weights`` (or count rows) per group id in ``[0, length)``.

    ``np.bincount`` adds in input order, so a treatment's sum is the same whether it is computed
    alone or inside a whole registry.
    """
    return np.bincount(group, weights=weights, minlength=length).astype(np.float64, copy=False)


def table_sum(
    row: IntArray, column: IntArray, weights: FloatArray | None, shape: tuple[int, int]
) -> FloatArray:
    """Sum ``weights`` (or count them) into an (n, k) table at (``row``, ``column``).

    ``np.bincount`` adds in input order (``group_sum``): a (points, k) ``weights`` with
    ``row[:, None]`` and ``np.arange(k)`` sums each point's k values into its row.

    Args:
        row: Row (treatment) of each value; broadcasts against ``column``.
        column: Column of each value, in ``[0, k)``.
        weights: The values, in the shape of ``row * k + column``; None counts them.
        shape: (n, k).
    """
    n, k = shape
    at = row * k + column
    values = None if weights is None else weights.ravel()
    return group_sum(at.ravel(), values, n * k).reshape(n, k)


def region_u_eq(plan: PlanArrays, u_eq: FloatArray, n: int) -> FloatArray:
    """Dose per treatment and region in U_eq, (n, regions).

    Args:
        plan: Injection points.
        u_eq: Dose of each point in U_eq.
        n: Number of treatments.
    """
    return table_sum(plan.treatment, REGION_OF_MUSCLE[plan.muscle], u_eq, (n, len(REGIONS)))
