# Over 400 lines: one search (its moves, rules, descent and final choice), read together.
"""The plan advisor's search: a safer plan within label limits, for any scorer of plans.

The decision space is the clinician's plan itself: the same points, in the same order, each
(region, side)'s units scaled in levels of ``DOSE_STEP`` (at most
``Constraints.max_dose_change`` either way; a changed point's units rounded to
``UNITS_DECIMALS``) and each point with coordinates moved on a grid of ``MOVE_STEP_MM`` (at most
``Constraints.max_move_mm`` from where it was planned). A point without coordinates never moves:
its place is unknown, so a move from it would be a guess (its usual site is where the model
assumes it, not where the injector puts it). No region, and no point, is added or dropped.

The search is a deterministic descent. The first step scores every single move at once, in one
scorer call: a (region, side)'s dose ``DOSE_JUMPS`` levels up or down, units moved between the
two sides of a region by as many levels (a tree model is flat between its thresholds, so one
level alone often shows nothing), a point one ``MOVE_STEP_MM`` along x or y. The best move is
taken if it lowers the objective: the predicted asymmetry risk plus ``CHANGE_COST`` per grid
step away from the clinician's plan. The next steps score a shortlist (``SHORTLIST``), and every
move again when it gains nothing, until nothing gains or ``MAX_STEPS``. A candidate is refused
before it is scored if it leaves the label range (``data.atlas.LABEL_RANGE_U_EQ``, or, for a
region already outside it, goes further out), changes a (region, side)'s units by more than
allowed, touches a kept point, changes too many points or leaves the face frame; and after it is
scored if it raises a ptosis risk by more than ``PTOSIS_MARGIN``, fails a safety test the plan
passed (``Scores.warned``: a point below its safe height) or takes a feature the plan decides
outside the training data's range where the plan was inside it.

Then the states the descent took are checked, in two more calls: their median days (none may
shorten by more than ``LONGEVITY_DAYS``) and their risk as carried out (``_Search.carried_out``).
The suggestion is the state with the lowest risk as carried out among those that keep the
medians and lower the risk by ``IMPROVEMENT_MARGIN`` both as planned and as carried out;
without one the answer is ``no_safer_plan`` and the clinician's plan stands. A plan already in
the low band is not searched (``already_low``).

Scoring is a parameter (``Scorer``): the model (``serving.recommend``) or the simulator's truth
(the oracle advisor of ``benchmarks/advisor_quality.py``) run the very same search. Many plans
are searched in lockstep, each step one scorer call for all of them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from data.atlas import UNIT_FACTOR, label_excess
from data.contract import INJECTIONS, MAX_UNITS_PER_POINT, REGIONS, SIDES
from features.inputs import (
    LEFT,
    MIDLINE,
    MUSCLE_CODE,
    REGION_OF_MUSCLE,
    RIGHT,
    SIDE_CODE,
    UNIT_FACTOR_BY_CODE,
    FeatureInput,
    group_sum,
    table_sum,
)
from features.request import Plan
from serving.schemas import MODERATE_RISK

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Status = Literal["improved", "already_low", "no_safer_plan"]

DOSE_STEP: Final = 0.05
"""One dose level: 5% of a (region, side)'s units (a coarser step when the allowed change is
less than two levels' worth)."""
MOVE_STEP_MM: Final = 5.0
"""A point moves by this much along x or y (by ``max_move_mm`` when that is less), up to
``max_move_mm`` from its place: a smaller move is lost in the placement error of an injection
(3 mm experienced, 6 mm novice; DF s11)."""
DOSE_JUMPS: Final = (1, 2, 4)
"""A move changes a (region, side)'s dose, or moves units between the sides, by this many levels:
a tree model is flat between its thresholds, so one level alone often shows no change."""
MAX_STEPS: Final = 6
"""Most descent steps, each one scorer call: bounds the time of a recommendation."""
SHORTLIST: Final = 12
"""After the first step, a step scores the moves that gained most when last scored (at most
this many) and the moves of what the last step changed; only when they gain nothing is every
move scored again. Moves on different points and sides mostly add up, so their ranking keeps."""
CHANGE_COST: Final = 0.001
"""Objective per grid step away from the clinician's plan (a dose level, a transfer's two
levels, a point's grid step): of two plans equally safe, the closer is chosen, and a move must
lower the risk by 0.1 points per step to be taken. A tie-break, not a brake: the margin and the
plan as carried out (``finish``) keep the suggestions conservative."""
IMPROVEMENT_MARGIN: Final = 0.04
"""Least fall of the predicted risk for ``improved``, as planned and as carried out: the best of
hundreds of candidates by a model's risk looks better than it is (the optimiser's curse), and
smaller falls are what a model learned from registry data cannot tell from noise."""
ROBUST_DRAWS: Final = 8
"""Copies of a plan as carried out (``_Search.carried_out``)."""
DOSE_JITTER: Final = 0.05
"""sd of a (region, side)'s units as carried out, relative (assumption: drawing up and dosing)."""
PLACEMENT_JITTER_MM: Final = 3.0
"""sd of a point's place as carried out, per axis (DF s11: an experienced injector's placement
error, 3 mm)."""
_JITTER_SEED: Final = 12
"""Seed of the carried-out copies: fixed, so that one request always gets one answer."""
PTOSIS_MARGIN: Final = 0.005
"""Most a suggestion may raise either ptosis risk (absolute; the rates are ~1.5% and ~0.6%)."""
LONGEVITY_DAYS: Final = 14.0
"""Most a suggestion may shorten a treated (region, side)'s predicted median days."""
UNITS_DECIMALS: Final = 1
"""A changed point's units are rounded to 0.1 U: what a clinic draws up."""
_FRAME: Final = tuple(
    (INJECTIONS.column(c).minimum, INJECTIONS.column(c).maximum) for c in ("x_mm", "y_mm")
)
"""The face frame's (low, high) x and y of the contract: a moved point stays inside it."""
_N_SIDES: Final = len(SIDES)


@dataclass(frozen=True)
class Constraints:
    """What the clinician allows the advisor to change.

    Attributes:
        max_dose_change: Most change of each treated (region, side)'s units, as a fraction.
        max_move_mm: Most a point may move from where it was planned (0: doses only).
        keep: Indexes of injection points not to touch.
        max_changed_points: Most points changed (units or place); None: no limit.
    """

    max_dose_change: float = 0.25
    max_move_mm: float = 5.0
    keep: frozenset[int] = frozenset()
    max_changed_points: int | None = None


@dataclass(frozen=True)
class PlanPoints:
    """A plan as the search sees it: its points' muscles, sides, units and places.

    Attributes:
        muscle: (k,) muscle code.
        side: (k,) side code.
        units: (k,) labelled units.
        x_mm: (k,) planned x, NaN where the plan has no coordinates.
        y_mm: (k,) planned y, NaN likewise.
        unit_factor: U_eq per labelled unit of the plan's product.
    """

    muscle: IntArray
    side: IntArray
    units: FloatArray
    x_mm: FloatArray
    y_mm: FloatArray
    unit_factor: float

    @classmethod
    def of(cls, plan: Plan) -> PlanPoints:
        """The points of a validated request plan (``serving.schemas.Plan``)."""
        points = plan["injections"]
        xy = np.array([(p.get("x_mm"), p.get("y_mm")) for p in points], dtype=np.float64)
        return cls(
            muscle=np.array([MUSCLE_CODE[p["muscle"]] for p in points], dtype=np.int64),
            side=np.array([SIDE_CODE[p["side"]] for p in points], dtype=np.int64),
            units=np.array([p["units"] for p in points], dtype=np.float64),
            x_mm=xy[:, 0],
            y_mm=xy[:, 1],
            unit_factor=UNIT_FACTOR[plan["product"]],
        )

    @classmethod
    def all_of(cls, inputs: FeatureInput) -> list[PlanPoints]:
        """The plans of n treatments' inputs (``features.tables.registry_inputs``), in order."""
        plan = inputs.plan
        bounds = np.searchsorted(plan.treatment, np.arange(inputs.n + 1)).tolist()
        factor = UNIT_FACTOR_BY_CODE[inputs.product].tolist()
        return [
            cls(
                muscle=plan.muscle[a:b],
                side=plan.side[a:b],
                units=plan.units[a:b],
                x_mm=plan.x_mm[a:b],
                y_mm=plan.y_mm[a:b],
                unit_factor=factor[i],
            )
            for i, (a, b) in enumerate(itertools.pairwise(bounds))
        ]

    @property
    def region(self) -> IntArray:
        """(k,) region code of each point."""
        out: IntArray = REGION_OF_MUSCLE[self.muscle]
        return out


@dataclass(frozen=True)
class Candidates:
    """n candidate plans of one plan: its k points with other units and places.

    Attributes:
        units: (n, k) labelled units.
        x_mm: (n, k) x; NaN: the point has no coordinates and was not moved.
        y_mm: (n, k) y; NaN likewise.
    """

    units: FloatArray
    x_mm: FloatArray
    y_mm: FloatArray

    def __len__(self) -> int:
        return len(self.units)


@dataclass(frozen=True)
class Scores:
    """What a scorer says of n candidates of one plan.

    Attributes:
        risk: (n,) P(visible asymmetry at review).
        eyelid_ptosis: (n,) P(eyelid ptosis).
        brow_ptosis: (n,) P(brow ptosis).
        median_days: (n, g) median days of the plan's g treated (region, side), in a fixed
            order; None when not asked for.
        outside: (n, F) features outside the training data's support, or None (no reference).
        warned: (n, w) safety tests of the plan failed (e.g. a point below its safe height),
            or None (the scorer has none).
    """

    risk: FloatArray
    eyelid_ptosis: FloatArray
    brow_ptosis: FloatArray
    median_days: FloatArray | None = None
    outside: BoolArray | None = None
    warned: BoolArray | None = None

    def rows(self, at: IntArray) -> Scores:
        """The candidates ``at``, in that order."""
        return Scores(
            self.risk[at],
            self.eyelid_ptosis[at],
            self.brow_ptosis[at],
            None if self.median_days is None else self.median_days[at],
            None if self.outside is None else self.outside[at],
            None if self.warned is None else self.warned[at],
        )


Scorer = Callable[[Sequence[tuple[int, Candidates]], bool], list[Scores]]
"""Scores candidate sets of several plans at once: ``(plan index, candidates)`` in, one
``Scores`` per set out, in order; the flag asks for the median days too (the search needs them
for few plans, and they cost a model most of a call)."""


@dataclass(frozen=True)
class Suggestion:
    """The outcome of one plan's search.

    Attributes:
        status: ``improved``, ``already_low`` or ``no_safer_plan``.
        plan: The suggested plan (the clinician's own unless improved), one candidate.
        before: The scores of the clinician's plan, median days included.
        after: The scores of the suggested plan, median days included.
        candidates: Plans scored for it (the clinician's included).
        steps: Descent steps taken.
    """

    status: Status
    plan: Candidates
    before: Scores
    after: Scores
    candidates: int
    steps: int


class _Search:
    """One plan's descent (see the module docstring).

    Every single move is precomputed once as a (levels, offsets) delta from any state; a step
    adds them to the current state and keeps the ones within bounds and rules. The states the
    descent took are kept (``path``): the median days are checked on them at the end, once.
    """

    def __init__(self, plan: PlanPoints, constraints: Constraints) -> None:
        self.plan, self.constraints = plan, constraints
        c, k = constraints, len(plan.units)
        region, side = plan.region, plan.side
        self.kept = np.isin(np.arange(k), sorted(c.keep))
        keys, self.group = np.unique(region * _N_SIDES + side, return_inverse=True)
        # Dose levels: steps of DOSE_STEP, or of the whole allowance when it is smaller.
        self.dose_step = min(DOSE_STEP, c.max_dose_change)
        self.levels = int(c.max_dose_change / self.dose_step + 1e-9) if self.dose_step > 0 else 0
        self.move_step = min(MOVE_STEP_MM, c.max_move_mm)
        self.limit = c.max_move_mm / self.move_step if self.move_step > 0 else 0.0
        self.sign = np.select([side == LEFT, side == RIGHT], [1.0, -1.0], 0.0)
        self.group_units = group_sum(self.group, plan.units, len(keys))
        self.region_u_eq = group_sum(region, plan.units * plan.unit_factor, len(REGIONS))
        self.moves = self._moves(keys)
        d_level, d_offset = self.moves
        # Which coordinates (groups, then points) each move changes; the moves sharing one with
        # the move just taken are scored again at the next step (they interact with it).
        self.touches = np.concatenate([d_level != 0, (d_offset != 0).any(axis=2)], axis=1)
        self.retry = np.zeros(len(d_level), dtype=np.bool_)
        self.gain = np.full(len(d_level), np.inf)  # fall of the objective when last scored
        self.full = True  # the next step scores every move
        self.level = np.zeros(len(keys), dtype=np.int64)
        self.offset = np.zeros((k, 2), dtype=np.int64)
        self.path: list[tuple[IntArray, IntArray]] = []
        self.objective = np.inf
        self.before: Scores | None = None
        self.candidates = self.steps = 0
        self.done = False

    def _moves(self, keys: IntArray) -> tuple[IntArray, IntArray]:
        """Every single move: (m, groups) level deltas and (m, k, 2) offset deltas."""
        k, groups = len(self.plan.units), len(keys)
        adjustable = np.bincount(self.group[~self.kept], minlength=groups) > 0
        if self.levels == 0:
            adjustable[:] = False
        level: list[IntArray] = []
        for g in np.flatnonzero(adjustable).tolist():
            for d in _both_ways(DOSE_JUMPS):
                level.append(np.zeros(groups, np.int64))
                level[-1][g] = d
        # Units moved from one side of a region to the other.
        for r in np.unique(keys // _N_SIDES).tolist():
            pair = [np.flatnonzero((keys == r * _N_SIDES + s) & adjustable) for s in (LEFT, RIGHT)]
            if all(len(g) for g in pair):
                for d in _both_ways(DOSE_JUMPS):
                    level.append(np.zeros(groups, np.int64))
                    level[-1][pair[0][0]], level[-1][pair[1][0]] = d, -d
        offset: list[IntArray] = []
        # Only a point whose place is known moves: a move from an unknown place is a guess.
        known = ~(np.isnan(self.plan.x_mm) | np.isnan(self.plan.y_mm))
        movable = np.flatnonzero(~self.kept & known).tolist() if self.move_step > 0 else []
        for p in movable:
            # A midline point stays on the midline: it moves up or down only.
            for axis in (0, 1) if self.plan.side[p] != MIDLINE else (1,):
                for d in (-1, 1):
                    offset.append(np.zeros((k, 2), np.int64))
                    offset[-1][p, axis] = d
        level_deltas = np.array(level + [np.zeros(groups, np.int64)] * len(offset))
        offset_deltas = np.array([np.zeros((k, 2), np.int64)] * len(level) + offset)
        return level_deltas.reshape(-1, groups), offset_deltas.reshape(-1, k, 2)

    # --- states and their plans ----------------------------------------------------------------

    def _units(self, level: IntArray) -> FloatArray:
        """(n, k) units of states with these (n, groups) levels."""
        orig = self.plan.units
        factor = 1.0 + level[:, self.group] * self.dose_step
        changed = (level[:, self.group] != 0) & ~self.kept
        scaled = np.maximum(np.round(orig * factor, UNITS_DECIMALS), 10.0**-UNITS_DECIMALS)
        return np.where(changed, scaled, orig)

    def _plans(self, level: IntArray, offset: IntArray) -> Candidates:
        """The plans of states with these (n, groups) levels and (n, k, 2) offsets."""
        x = self.plan.x_mm + offset[..., 0] * self.move_step
        y = self.plan.y_mm + offset[..., 1] * self.move_step
        return Candidates(self._units(level), x, y)

    def _feasible(self, offset: IntArray, plans: Candidates) -> BoolArray:
        """Which states keep the rules that need no score (see the module docstring)."""
        c, plan, units = self.constraints, self.plan, plans.units
        n = len(units)
        rows = np.arange(n)[:, None]
        # Units per (region, side) within the allowed change (rounding may step over it).
        totals = table_sum(rows, self.group[None, :], units, (n, len(self.group_units)))
        limit = c.max_dose_change * self.group_units + 1e-9
        ok = (np.abs(totals - self.group_units) <= limit).all(axis=1)
        # The label range: within it, or no further out than the clinician's plan.
        u_eq = table_sum(rows, plan.region[None, :], units * plan.unit_factor, (n, len(REGIONS)))
        ok &= (label_excess(u_eq) <= label_excess(self.region_u_eq[None, :]) + 1e-9).all(axis=1)
        ok &= (units <= MAX_UNITS_PER_POINT).all(axis=1)
        # A moved point stays on its side of the face and inside the face frame.
        moved = (offset != 0).any(axis=2)
        inside = (self.sign * plans.x_mm > 0) | (self.sign == 0)
        for values, (low, high) in zip((plans.x_mm, plans.y_mm), _FRAME, strict=True):
            inside &= (values >= (-np.inf if low is None else low)) & (
                values <= (np.inf if high is None else high)
            )
        ok &= (~moved | inside).all(axis=1)
        if c.max_changed_points is not None:
            changed = moved | (units != plan.units)
            ok &= changed.sum(axis=1) <= c.max_changed_points
        return np.asarray(ok, dtype=np.bool_)

    # --- the descent ---------------------------------------------------------------------------

    def original(self) -> Candidates:
        """The clinician's plan, as one candidate."""
        return self._plans(np.zeros_like(self.level)[None], np.zeros_like(self.offset)[None])

    def start(self, scores: Scores) -> None:
        """Take the clinician's plan's scores; a plan in the low band is not searched."""
        self.before = scores
        self.candidates = 1
        self.objective = float(scores.risk[0])
        self.done = self.objective < MODERATE_RISK

    def propose(self) -> Candidates | None:
        """The next step's candidates, or None when the descent is over."""
        if self.done or self.steps >= MAX_STEPS:
            self.done = True
            return None
        if not self.full:
            # The moves that gained most when last scored, and every move of what just changed.
            ranked = np.argsort(-self.gain, kind="stable")[:SHORTLIST]
            short = np.union1d(ranked[self.gain[ranked] > 0], np.flatnonzero(self.retry))
            proposal = self._proposal(short)
            if proposal is not None:
                return proposal
            self.full = True
        proposal = self._proposal(np.arange(len(self.gain)))
        if proposal is None:
            self.done = True
        return proposal

    def _proposal(self, moves: IntArray) -> Candidates | None:
        """The candidates of these moves from the current state that keep the rules."""
        d_level, d_offset = self.moves
        level, offset = self.level + d_level[moves], self.offset + d_offset[moves]
        bounded = (np.abs(level) <= self.levels).all(axis=1)
        bounded &= (np.hypot(offset[..., 0], offset[..., 1]) <= self.limit + 1e-9).all(axis=1)
        moves, level, offset = moves[bounded], level[bounded], offset[bounded]
        plans = self._plans(level, offset)
        ok = self._feasible(offset, plans)
        self.gain[moves[~ok]] = -np.inf
        if not ok.any():
            return None
        self.pending = (moves[ok], level[ok], offset[ok])
        return Candidates(plans.units[ok], plans.x_mm[ok], plans.y_mm[ok])

    def take(self, scores: Scores) -> None:
        """Move to the step's best candidate if it lowers the objective.

        Otherwise, after a step over the shortlist, the next step scores every move; after a
        step over every move, the descent is over (a local optimum of the whole neighbourhood).
        """
        assert self.before is not None
        moves, level, offset = self.pending
        self.candidates += len(level)
        self.steps += 1
        b = self.before
        ok = scores.eyelid_ptosis <= b.eyelid_ptosis[0] + PTOSIS_MARGIN
        ok &= scores.brow_ptosis <= b.brow_ptosis[0] + PTOSIS_MARGIN
        # Nothing newly outside the training range, no safety test newly failed.
        for new, old in ((scores.outside, b.outside), (scores.warned, b.warned)):
            if new is not None and old is not None:
                ok &= ~(new & ~old).any(axis=1)
        steps = np.abs(level).sum(axis=1) + np.abs(offset).sum(axis=(1, 2))
        objective = np.where(ok, scores.risk + CHANGE_COST * steps, np.inf)
        self.gain[moves] = self.objective - objective
        best = int(np.argmin(objective))
        if objective[best] < self.objective - 1e-12:
            # The groups and points the step changed: their moves are scored again next step.
            changed = np.concatenate(
                [level[best] != self.level, (offset[best] != self.offset).any(axis=1)]
            )
            self.retry = (self.touches & changed).any(axis=1)
            self.objective = float(objective[best])
            self.level, self.offset = level[best], offset[best]
            self.path.append((self.level, self.offset))
            self.full = False
        elif self.full:
            self.done = True
        else:
            self.full = True

    def path_plans(self) -> Candidates | None:
        """The states the descent took, last first, to check their median days; None if none."""
        if not self.path:
            return None
        levels = np.array([lv for lv, _ in reversed(self.path)])
        offsets = np.array([off for _, off in reversed(self.path)])
        return self._plans(levels, offsets)

    def carried_out(self) -> Candidates | None:
        """The clinician's plan and each state of the path (last first), as carried out.

        ``ROBUST_DRAWS`` copies of each: every (region, side)'s units off by ``DOSE_JITTER`` and
        every point with coordinates off by ``PLACEMENT_JITTER_MM`` (sd), the same draws for
        every state (fixed: the answer is deterministic); None if the path is empty.
        """
        path = self.path_plans()
        if path is None:
            return None
        states = _stack(self.original(), path)
        rng = np.random.default_rng(_JITTER_SEED)
        dose = 1.0 + DOSE_JITTER * rng.standard_normal((ROBUST_DRAWS, len(self.group_units)))
        place = PLACEMENT_JITTER_MM * rng.standard_normal((ROBUST_DRAWS, len(self.group), 2))
        units = np.round(states.units[:, None] * dose[:, self.group], 2)
        return Candidates(
            np.maximum(units, 0.01).reshape(-1, len(self.group)),
            (states.x_mm[:, None] + place[..., 0]).reshape(-1, len(self.group)),
            (states.y_mm[:, None] + place[..., 1]).reshape(-1, len(self.group)),
        )

    def finish(self, path: Scores | None, carried: Scores | None) -> Suggestion:
        """Of the states the descent took, the safest as carried out that keeps the rules.

        A state qualifies if it keeps every median and lowers the risk by the margin both as
        planned and as carried out (the mean over ``carried_out``'s copies, against the
        clinician's plan's); of those, the one with the lowest risk as carried out is suggested.
        The descent's last state is the best of hundreds of candidates by the model's risk as
        planned, which flatters it: an optimum of a model's risk can be a narrow dip between its
        thresholds that the imprecision of any injection steps out of.
        """
        before = self.before
        assert before is not None and before.median_days is not None
        status: Status = "already_low" if before.risk[0] < MODERATE_RISK else "no_safer_plan"
        plan, after = self.original(), before
        if path is not None and path.median_days is not None and carried is not None:
            shortest = before.median_days - LONGEVITY_DAYS
            as_carried = carried.risk.reshape(-1, ROBUST_DRAWS).mean(axis=1)
            good = (path.median_days >= shortest).all(axis=1)
            good &= before.risk[0] - path.risk >= IMPROVEMENT_MARGIN
            good &= as_carried[0] - as_carried[1:] >= IMPROVEMENT_MARGIN
            if good.any():
                first = int(np.argmin(np.where(good, as_carried[1:], np.inf)))
                status, after = "improved", path.rows(np.array([first]))
                lv, off = self.path[len(self.path) - 1 - first]
                plan = self._plans(lv[None], off[None])
        return Suggestion(status, plan, before, after, self.candidates, self.steps)


def _stack(*plans: Candidates) -> Candidates:
    return Candidates(
        np.concatenate([p.units for p in plans]),
        np.concatenate([p.x_mm for p in plans]),
        np.concatenate([p.y_mm for p in plans]),
    )


def _both_ways(jumps: tuple[int, ...]) -> list[int]:
    return [-j for j in reversed(jumps)] + list(jumps)


@dataclass(frozen=True)
class SearchStats:
    """What a search cost: plans scored, scorer calls and wall time."""

    candidates: int
    scorer_calls: int
    milliseconds: float


def search(
    plans: Sequence[PlanPoints], constraints: Sequence[Constraints], scorer: Scorer
) -> tuple[list[Suggestion], SearchStats]:
    """Search a safer version of each plan, all in lockstep (see the module docstring).

    Scorer calls: the clinicians' plans (with median days); one per descent step, all plans'
    candidates together (without); the states the descents took (with), to keep every median.

    Args:
        plans: The clinicians' plans.
        constraints: What each clinician allows, one per plan.
        scorer: Scores candidates of several plans in one call.

    Returns:
        One suggestion per plan, in order, and what the search cost.
    """
    started = time.perf_counter()
    runs = [_Search(p, c) for p, c in zip(plans, constraints, strict=True)]
    first = scorer([(i, r.original()) for i, r in enumerate(runs)], True)
    for run, scores in zip(runs, first, strict=True):
        run.start(scores)
    calls = 1
    while proposals := [(i, c) for i, r in enumerate(runs) if (c := r.propose()) is not None]:
        for (i, _), scores in zip(proposals, scorer(proposals, False), strict=True):
            runs[i].take(scores)
        calls += 1
    paths = [(i, c) for i, r in enumerate(runs) if (c := r.path_plans()) is not None]
    carried = [(i, c) for i, r in enumerate(runs) if (c := r.carried_out()) is not None]
    checked: list[Scores | None] = [None] * len(runs)
    robust: list[Scores | None] = [None] * len(runs)
    if paths:
        for (i, _), scores in zip(paths, scorer(paths, True), strict=True):
            checked[i] = scores
        for (i, _), scores in zip(carried, scorer(carried, False), strict=True):
            robust[i] = scores
        calls += 2
    results = [r.finish(*s) for r, s in zip(runs, zip(checked, robust, strict=True), strict=True)]
    stats = SearchStats(
        candidates=sum(r.candidates for r in results) + sum(len(c) for _, c in (*paths, *carried)),
        scorer_calls=calls,
        milliseconds=(time.perf_counter() - started) * 1000.0,
    )
    return results, stats
