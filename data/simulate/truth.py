"""The simulator as judge: the true pre-treatment risks and medians of any plan of a treatment.

A simulated registry keeps, beside its oracle, each treatment's hidden state and where each point
was planned (``data.simulate.hidden``). ``plan_truth`` evaluates other plans of the same
treatments with the oracle's own computation: the same points (same muscles and sides, in the
same order) with other units or places, scored by ``physics.pre_treatment`` over the oracle's
own placement draws (common random numbers, keyed by treatment and point) and, per treated
(region, side), the true Weibull median of ``longevity.draw_returns``. Given the plan a
treatment had, it answers exactly what ``oracle/asymmetry`` and ``oracle/longevity`` hold.

The truth is the world's, not a model's: the plan advisor and any schedule are judged by it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from data.contract import MUSCLES, REGIONS
from data.simulate.hidden import Hidden, placement_normals
from data.simulate.longevity import draw_returns
from data.simulate.oracle import ORACLE_FOLDER, OracleError, read_oracle_table
from data.simulate.physics import Points, pre_treatment
from data.simulate.types import (
    REGION_OF_MUSCLE,
    UNIT_FACTOR_BY_CODE,
    BoolArray,
    FloatArray,
    IntArray,
)
from data.simulate.worlds import DEFAULT_WORLD, World, world_named

_FRONTALIS: Final = MUSCLES.index("frontalis")


@dataclass(frozen=True)
class SimulatedTruth:
    """The hidden state of a simulated registry's treatments.

    Attributes:
        row_of: Row of each treatment_id.
        hidden: Per treatment, its hidden state (``hidden.Hidden``).
        planned_x: Per injection point (grouped by treatment, ``injections`` order), where the
            injector planned it.
        planned_y: Same for y.
        point_start: (n + 1,) first point of each treatment in ``planned_x``.
        world: The world the registry was drawn in (``simulation.json``; default if absent).
    """

    row_of: Mapping[str, int]
    hidden: Hidden
    planned_x: FloatArray
    planned_y: FloatArray
    point_start: IntArray
    world: World = DEFAULT_WORLD

    def rows(self, treatment_ids: list[str] | np.ndarray) -> IntArray:
        """Rows of the given treatments (each must be in the registry)."""
        return np.fromiter((self.row_of[t] for t in treatment_ids), np.int64, len(treatment_ids))


def read_truth(export: Path) -> SimulatedTruth:
    """Read what the truth needs from ``oracle/`` beside a simulated registry.

    Args:
        export: The registry export folder.

    Returns:
        The hidden state of its treatments.

    Raises:
        OracleError: ``oracle/hidden`` or ``oracle/points`` is missing; the message names it.
    """
    folder = Path(export) / ORACLE_FOLDER
    meta = folder / "simulation.json"
    simulation = json.loads(meta.read_text()) if meta.is_file() else {}
    hidden = read_oracle_table(folder, "hidden")
    points = read_oracle_table(folder, "points")
    ids = hidden["treatment_id"].to_numpy(dtype=object)
    row_of = {t: i for i, t in enumerate(ids)}
    owner = np.fromiter((row_of[t] for t in points["treatment_id"]), np.int64, len(points))
    if np.any(np.diff(owner) < 0):
        raise OracleError(f"{folder / 'points'}: points are not grouped by treatment")
    return SimulatedTruth(
        row_of=row_of,
        hidden=Hidden.from_columns({c: hidden[c].to_numpy() for c in hidden.columns}),
        planned_x=points["x_mm"].to_numpy(dtype=np.float64),
        planned_y=points["y_mm"].to_numpy(dtype=np.float64),
        point_start=np.searchsorted(owner, np.arange(len(ids) + 1)).astype(np.int64),
        world=world_named(str(simulation.get("world", DEFAULT_WORLD.name))),
    )


@dataclass(frozen=True, slots=True)
class Plans:
    """m plans to judge, each of one simulated treatment: its recorded points, other values.

    Attributes:
        treatment: (m,) row of each plan's treatment in the ``SimulatedTruth``.
        product: (m,) product code (``data.contract.PRODUCTS`` order).
        dilution_ml_per_100u: (m,) labelled dilution.
        plan: (p,) plan of each point, non-decreasing.
        position: (p,) index of the point among its treatment's points (``injections`` order).
        muscle: (p,) muscle code.
        side: (p,) side code.
        units: (p,) labelled units.
        x_mm: (p,) where the point is planned; NaN: where the injector planned it (the hidden
            place of a point the registry holds without coordinates).
        y_mm: (p,) same for y.
    """

    treatment: IntArray
    product: IntArray
    dilution_ml_per_100u: FloatArray
    plan: IntArray
    position: IntArray
    muscle: IntArray
    side: IntArray
    units: FloatArray
    x_mm: FloatArray
    y_mm: FloatArray


@dataclass(frozen=True, slots=True)
class PlanTruth:
    """The truth of m plans.

    Attributes:
        p_visible: (m,) true pre-treatment P(visible asymmetry at review).
        p_eyelid: (m,) true P(eyelid ptosis, either side).
        p_brow: (m,) true P(brow ptosis, either side).
        plan: (r,) plan of each treated (region, side) row, grouped by plan.
        region: (r,) region code.
        side: (r,) side code.
        median_days: (r,) true median days until activity returns.
    """

    p_visible: FloatArray
    p_eyelid: FloatArray
    p_brow: FloatArray
    plan: IntArray
    region: IntArray
    side: IntArray
    median_days: FloatArray


def registry_plans(truth: SimulatedTruth, tables: Mapping[str, pd.DataFrame]) -> Plans:
    """The plans a simulated registry's treatments had, as ``Plans`` (one per treatment, in order).

    Args:
        truth: The registry's hidden state.
        tables: Its ``treatments`` and ``injections`` in canonical dtypes (``data.registry``).

    Returns:
        Plan i is treatment i of ``tables["treatments"]``.
    """
    t, inj = tables["treatments"], tables["injections"]
    order = {tid: i for i, tid in enumerate(t["treatment_id"])}
    plan = np.fromiter((order[x] for x in inj["treatment_id"]), np.int64, len(inj))
    if np.any(np.diff(plan) < 0):
        raise ValueError("injections must be grouped by treatment in treatments order")

    def codes(column: pd.Series) -> IntArray:
        return column.cat.codes.to_numpy().astype(np.int64)

    def floats(column: pd.Series) -> FloatArray:
        return column.to_numpy(dtype=np.float64, na_value=np.nan)

    return Plans(
        treatment=truth.rows(t["treatment_id"].to_numpy()),
        product=codes(t["product"]),
        dilution_ml_per_100u=floats(t["dilution_ml_per_100u"]),
        plan=plan,
        position=np.arange(len(plan)) - np.searchsorted(plan, plan),
        muscle=codes(inj["muscle"]),
        side=codes(inj["side"]),
        units=floats(inj["units"]),
        x_mm=floats(inj["x_mm"]),
        y_mm=floats(inj["y_mm"]),
    )


def _treated(plans: Plans, m: int, region: str) -> BoolArray:
    hit = np.zeros(m, dtype=np.bool_)
    hit[plans.plan[REGION_OF_MUSCLE[plans.muscle] == REGIONS.index(region)]] = True
    return hit


def plan_truth(truth: SimulatedTruth, plans: Plans) -> PlanTruth:
    """The true pre-treatment risks and medians of plans of simulated treatments.

    Args:
        truth: The registry's hidden state (``read_truth``).
        plans: The plans.

    Returns:
        Per plan its true risks, per treated (region, side) its true median days.
    """
    m = len(plans.treatment)
    h, rows = truth.hidden, plans.treatment
    at = truth.point_start[rows[plans.plan]] + plans.position
    x = np.where(np.isnan(plans.x_mm), truth.planned_x[at], plans.x_mm)
    y = np.where(np.isnan(plans.y_mm), truth.planned_y[at], plans.y_mm)
    u_eq = plans.units * UNIT_FACTOR_BY_CODE[plans.product[plans.plan]]
    points = Points(
        treatment=plans.plan,
        u_eq=u_eq,
        volume_ml=plans.units * plans.dilution_ml_per_100u[plans.plan] / 100.0,
        x_mm=x,
        y_mm=y,
        frontalis=plans.muscle == _FRONTALIS,
    )
    case = h.take(rows)
    pre = pre_treatment(
        placement_normals(case.placement_draw[plans.plan], plans.position),
        points,
        case.placement_sd_mm[plans.plan],
        case.anatomy,
        forehead_without_glabella=_treated(plans, m, "forehead") & ~_treated(plans, m, "glabella"),
        age=case.age,
        world=truth.world,
    )
    # draw_returns' medians do not depend on its random source (it only draws the return times).
    returns = draw_returns(
        np.random.default_rng(0),
        plans.plan,
        plans.muscle,
        plans.side,
        u_eq,
        dataclasses.replace(case.duration, product=plans.product),
    )
    return PlanTruth(
        p_visible=pre.p_visible,
        p_eyelid=pre.p_eyelid,
        p_brow=pre.p_brow,
        plan=returns.treatment,
        region=returns.region,
        side=returns.side,
        median_days=returns.median_days,
    )
