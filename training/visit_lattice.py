"""Returns recorded on a visit lattice: detected in the registry, taken as interval-censored.

Many registries learn that activity returned at a follow-up visit, not on the day it happened:
a clinic that sees its patients weekly records a return on day d when it happened some time in
the week before, (d - 7, d]. Fitted as if it happened on day d, every predicted day runs late by
about half a visit step. ``detect_visit_lattice`` finds such a step from the training rows
themselves (the share of returned days that are whole multiples of a step, against the share
chance would put there), and ``spread_returns`` takes each return that sits on the lattice as
interval-censored in (d - k, d]: spread over the hazard model's bins that interval covers; a
return off the lattice (a day recorded as it happened, or at an unscheduled visit) and a censored
row keep their day. A registry of exact days has no lattice, and nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LATTICE_STEPS: Final = (7.0, 14.0, 28.0, 30.0)
"""Visit steps looked for, in days: weekly, fortnightly, four-weekly, monthly."""
MIN_EXCESS_SHARE: Final = 0.25
"""A step is a lattice when at least this share of returned rows sit on it beyond chance (with
thousands of rows, chance alone moves the share by a percent or two)."""
COARSER_STEP_SHARE: Final = 0.75
"""A coarser step (14 over 7) is taken when it holds at least this share of the finer one's
excess: on a weekly lattice every second point is fortnightly (a half), on a fortnightly one
all are."""
_TOLERANCE: Final = 1e-6


@dataclass(frozen=True)
class VisitLattice:
    """The step on which a registry records returns, and how many of its returns sit on it.

    Attributes:
        step_days: Days between the visits returns are recorded on; 0 where there is no lattice
            (returns recorded on the day).
        share: Share of the returned rows whose day is a multiple of the step (0 without one).
    """

    step_days: float
    share: float


NO_LATTICE: Final = VisitLattice(step_days=0.0, share=0.0)


def _on_step(days: FloatArray, step: float) -> BoolArray:
    """Whether each day is a whole multiple of ``step`` (integer days and floats alike)."""
    rest = np.mod(days, step)
    out: BoolArray = (rest < _TOLERANCE) | (rest > step - _TOLERANCE)
    return out


def detect_visit_lattice(days: FloatArray, returned: BoolArray) -> VisitLattice:
    """The visit lattice the returned rows' days sit on, if any.

    For each step k of ``LATTICE_STEPS`` the share s_k of returned days that are multiples of k
    is compared with chance: whole days land on a multiple of k one time in k, so the excess
    (s_k - s_1 / k) / (1 - 1 / k), s_1 the share of whole days, is the share of rows that sit on
    the lattice beyond chance (days with fractions land on it by chance almost never). The
    largest excess must reach ``MIN_EXCESS_SHARE``; among the steps that hold at least
    ``COARSER_STEP_SHARE`` of it, the coarsest is the lattice.

    Args:
        days: Recorded days per durations row.
        returned: Whether activity returned at ``days``.

    Returns:
        The lattice, or ``NO_LATTICE``.
    """
    seen = np.asarray(days, dtype=np.float64)[np.asarray(returned, dtype=bool)]
    if len(seen) == 0:
        return NO_LATTICE
    whole = float(_on_step(seen, 1.0).mean())
    shares = np.array([_on_step(seen, k).mean() for k in LATTICE_STEPS])
    steps = np.array(LATTICE_STEPS)
    excess = (shares - whole / steps) / (1.0 - 1.0 / steps)
    if excess.max() < MIN_EXCESS_SHARE:
        return NO_LATTICE
    at = int(np.flatnonzero(excess >= COARSER_STEP_SHARE * excess.max()).max())
    return VisitLattice(step_days=float(steps[at]), share=float(shares[at]))


def lattice_returns(days: FloatArray, returned: BoolArray, lattice: VisitLattice) -> BoolArray:
    """Whether each row is a return recorded on the lattice (none without one)."""
    returned = np.asarray(returned, dtype=bool)
    if lattice.step_days <= 0:
        return np.zeros(len(returned), dtype=bool)
    out: BoolArray = returned & _on_step(np.asarray(days, dtype=np.float64), lattice.step_days)
    return out


@dataclass(frozen=True)
class SpreadRows:
    """Durations rows with each return on the lattice spread over the bins its interval covers.

    Attributes:
        row: The durations row each spread row comes from.
        days: Day to fit the spread row at: the recorded day, or the middle of its piece of the
            interval.
        weight: Share of the row it carries (1, or the piece's share of the interval).
    """

    row: IntArray
    days: FloatArray
    weight: FloatArray


def spread_returns(
    days: FloatArray, returned: BoolArray, lattice: VisitLattice, bin_days: float
) -> SpreadRows:
    """Each return on the lattice as the pieces of its interval (d - k, d] cut at bin edges.

    The hazard model counts a return in the bin it falls in, so a return recorded on a weekly
    visit whose week began in the bin before is, with the share of the week that lay there,
    a return in that bin: the interval's likelihood under a uniform return time within it (the
    fractional allocation of an interval-censored event, one E-step of Turnbull's estimator),
    not one point. The middle of the interval alone (Law & Brookmeyer's midpoint imputation)
    gives the same mean but moves whole returns across bin edges by where the lattice falls.
    A row off the lattice, a censored row, and every row where there is no lattice, stays one
    row at its day with weight 1.

    Args:
        days: Recorded days per durations row.
        returned: Whether activity returned at ``days``.
        lattice: The registry's lattice (``detect_visit_lattice``).
        bin_days: Width of the hazard model's bins.

    Returns:
        The spread rows, ordered by piece then row; each row's weights add up to 1.
    """
    days = np.asarray(days, dtype=np.float64)
    on = lattice_returns(days, returned, lattice)
    k = lattice.step_days
    low = np.where(on, days - k, days)
    first = np.floor(low / bin_days)
    rows, at, weights = [np.flatnonzero(~on)], [days[~on]], [np.ones(int((~on).sum()))]
    # An interval of k days meets at most floor(k / bin_days) + 2 bins.
    for piece in range(int(k // bin_days) + 2 if k > 0 else 0):
        start = np.maximum(low, (first + piece) * bin_days)
        end = np.minimum(days, (first + piece + 1) * bin_days)
        keep = np.flatnonzero(on & (end > start))
        rows.append(keep)
        at.append((start[keep] + end[keep]) / 2.0)
        weights.append((end[keep] - start[keep]) / k)
    return SpreadRows(
        row=np.concatenate(rows).astype(np.int64),
        days=np.concatenate(at),
        weight=np.concatenate(weights),
    )
