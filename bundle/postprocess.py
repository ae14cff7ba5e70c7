"""From raw model outputs to answers: calibration, quantiles, survival, medians, late asymmetry.

numpy only (no LightGBM, no pandas): the same functions serve the LightGBM models in training
and the ONNX models in serving, so both give the same answers from the same raw outputs.

Longevity is a discrete-time hazard model: ``h[k]`` is the probability that activity returns in
bin k (days ``[k w, (k+1) w)``) given it had not before, with proportional odds:
logit h[k] = alpha[k] + f(x), a baseline per bin (per region and bin) plus one booster margin
per row (``hazards_from_margin``). Inside a bin the hazard is spread evenly
in log-survival (piecewise exponential), and beyond the last bin the last bin's hazard goes on.

``SurvivalCurves`` computes the log-survival of a set of hazards once for all its summaries
(median, survival at given days, late asymmetry of row pairs), as serving does per request;
``median_days``, ``survival_at`` and ``late_asymmetry`` are the same summaries on curves made for
the one call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Array = TypeVar("_Array", bound=npt.NDArray[Any])

_EPS: Final = 1e-12
MAX_DAYS: Final = 3650.0
"""Medians beyond ten years are reported as ten years (no activity return is that late)."""
LATE_GAP_DAYS: Final = 21.0
"""Late-stage asymmetry: one side returning at least this many days before the other."""


def calibrate(raw: FloatArray, slope: float, intercept: float) -> FloatArray:
    """Platt scaling: sigmoid(slope * logit(raw) + intercept)."""
    p = np.clip(raw, _EPS, 1.0 - _EPS)
    return calibrate_margin(np.log(p / (1.0 - p)), slope, intercept)


def calibrate_margin(margin: FloatArray, slope: float, intercept: float) -> FloatArray:
    """Platt scaling of a raw margin (log-odds before calibration): sigmoid(slope * m + b)."""
    out: FloatArray = 1.0 / (1.0 + np.exp(-(slope * margin + intercept)))
    return out


def quantiles(raw: FloatArray) -> dict[str, FloatArray]:
    """Last-axis entries (q10, q50, q90) of ``raw``, sorted so the interval never inverts.

    ``raw`` is (n, 3) for one target, or (n, targets, 3) for several at once (one sort).
    """
    ordered = np.sort(raw, axis=-1)
    return {"q10": ordered[..., 0], "q50": ordered[..., 1], "q90": ordered[..., 2]}


def hazards_from_margin(
    margin: FloatArray, baseline: FloatArray, region: npt.NDArray[np.integer]
) -> FloatArray:
    """(r, n_bins) hazards of the proportional-odds model: sigmoid(baseline[region, k] + margin).

    ``SurvivalCurves.from_margin`` makes the curves of these hazards without them.

    Args:
        margin: (r,) raw margin f(x) of the hazard booster per longevity row (its log-odds
            shift, the same in every bin).
        baseline: (g, n_bins) log-odds baseline per bin; one row (g = 1) serves every region,
            else row ``region`` (contract ``REGIONS`` order) serves that region's rows.
        region: (r,) region code of each row (unused when g = 1).

    Returns:
        The hazard of each row in each bin.
    """
    table = _baseline_table(baseline)
    m = np.asarray(margin, dtype=np.float64)
    alpha = table[:1] if len(table) == 1 else table.take(region, axis=0)
    return _sigmoid_in_place(alpha + m[:, None])


def _baseline_table(baseline: FloatArray) -> FloatArray:
    table = np.asarray(baseline, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"baseline has shape {table.shape}, expected (groups, n_bins)")
    return table


def _sigmoid_in_place(z: FloatArray) -> FloatArray:
    """sigmoid(z) = exp(-log(1 + exp(-z))), without overflow, in z's memory (no temporaries)."""
    np.negative(z, out=z)
    np.logaddexp(0.0, z, out=z)
    np.negative(z, out=z)
    return np.exp(z, out=z)


_LOG_HALF: Final = float(np.log(0.5))
_MINUS_TINY: Final = np.array(-np.nextafter(0.0, 1.0))
"""-(the smallest positive double), as an array: numpy takes it with less overhead than a float."""
_MINUS_TINY.flags.writeable = False
_SUM_AT_ONCE_ROWS: Final = 128
"""Up to this many rows, ``SurvivalCurves`` sums the log survival in one call, row by row."""
_FEW_PAIRS: Final = 64
"""Up to this many pairs, ``late_asymmetry`` gathers through an index cached per count of pairs."""
_PAIR_CHUNK: Final = 4096
"""Pairs per call of ``late_asymmetry``'s core: its (6, segments, 2 pairs) block is 9.8 MB."""


class SurvivalCurves:
    """Log-survival of (r, n_bins) hazards, computed once and shared by every summary of them.

    One request asks for the median, three survival days and the late asymmetry of the same few
    rows; at that size numpy's per-call cost dominates, so the clip, log1p and cumsum are done
    once here and each summary is a handful of gathers on them. Every summary equals the
    function of the same name on the hazards (``median_days``, ``survival_at``,
    ``late_asymmetry``), which are these methods on curves made for the call.

    The curves are kept bin by bin (a row per bin, a column per row of hazards): a batch's
    thousands of rows then make every step a few long contiguous loops (the cumsum one add per
    bin, each summary's gather whole rows) rather than thousands of short ones.

    Args:
        hazards: (r, n_bins) hazard of each row in each bin.
        bin_days: Width of a bin in days.

    Attributes:
        bin_days: Width of a bin in days.
    """

    __slots__ = ("_n", "_table", "bin_days")

    def __init__(self, hazards: FloatArray, bin_days: float) -> None:
        """Compute the curves of ``hazards``."""
        hazards = np.asarray(hazards)
        n = hazards.shape[1]
        # One table, [log_start; log_keep] (bins x rows), so that one gather serves both.
        table = np.empty((2 * n + 1, len(hazards)))
        # Clipped below at 0 here, above in _finish (np.clip, the same but for the sign of 0).
        np.maximum(hazards.T, 0.0, out=table[n + 1 :], dtype=np.float64)
        self._finish(table, n, bin_days)

    @classmethod
    def from_margin(
        cls,
        margin: FloatArray,
        baseline: FloatArray,
        region: npt.NDArray[np.integer],
        bin_days: float,
    ) -> SurvivalCurves:
        """The curves of ``hazards_from_margin(margin, baseline, region)``, the same to the bit.

        The hazards are computed in the curves' own memory, bin by bin, not as an (r, n_bins)
        array of their own that the curves would then copy.

        Args:
            margin: (r,) raw margin of the hazard booster per row.
            baseline: (g, n_bins) log-odds baseline per bin (per region if g > 1).
            region: (r,) region code of each row (unused when g = 1).
            bin_days: Width of a bin in days.

        Returns:
            The curves.
        """
        table = _baseline_table(baseline)
        m = np.asarray(margin, dtype=np.float64)
        n = table.shape[1]
        curves = np.empty((2 * n + 1, len(m)))
        z = curves[n + 1 :]
        np.add(table.T if len(table) == 1 else table.T.take(region, axis=1), m, out=z)
        # A sigmoid is never below 0 (exp gives +0 at the least): no clipping below needed.
        _sigmoid_in_place(z)
        out = cls.__new__(cls)
        out._finish(curves, n, bin_days)
        return out

    def _finish(self, table: FloatArray, n: int, bin_days: float) -> None:
        """The curves from ``table``: its log_keep rows hold the hazards, clipped below at 0."""
        h = table[n + 1 :]
        np.minimum(h, 1.0 - 1e-9, out=h)
        log_keep = np.log1p(np.negative(h, out=h), out=h)
        table[0] = 0.0
        if table.shape[1] <= _SUM_AT_ONCE_ROWS:  # np.cumsum, with less overhead: one call, few rows
            np.add.accumulate(log_keep, axis=0, out=table[1 : n + 1])
        else:  # the same sums, a bin at a time: n long loops rather than r short ones
            np.copyto(table[1], log_keep[0])
            for k in range(1, n):
                np.add(table[k], log_keep[k], out=table[k + 1])
        self._n = n
        self._table = table
        self.bin_days = float(bin_days)

    @property
    def log_keep(self) -> FloatArray:
        """(r, n_bins) log survival over each whole bin (<= 0): log(1 - h), h clipped below 1."""
        out: FloatArray = self._table[self._n + 1 :].T
        return out

    @property
    def log_start(self) -> FloatArray:
        """(r, n_bins + 1) log survival at the start of each bin, then at the end of the last."""
        out: FloatArray = self._table[: self._n + 1].T
        return out

    def survival_at(self, days: Sequence[float]) -> FloatArray:
        """P(activity not yet returned) at each of ``days``: (len(days), r), one row a day."""
        at = _day_rows(tuple(days), self._n, self.bin_days)
        both = self._table.take(at.index, axis=0)  # (2 d, r): log_start, then log_keep
        d = len(at.rest)
        # log_start + log_keep * rest / bin_days, in place (in that order of operations).
        log_s = both[d:]
        np.multiply(log_s, at.rest, out=log_s)
        np.divide(log_s, self.bin_days, out=log_s)
        np.add(both[:d], log_s, out=log_s)
        out: FloatArray = np.exp(log_s, out=log_s)
        return out

    def median_days(self) -> FloatArray:
        """Day at which survival crosses 0.5, per row (at most ``MAX_DAYS``)."""
        n, table = self._n, self._table
        rows = table.shape[1]
        # First bin whose end is at or below the target; past the last bin, its hazard goes on:
        # marking the last bin crossed makes argmax answer it when no bin is.
        crossed = table[1 : n + 1] <= _LOG_HALF
        crossed[n - 1] = True
        k = crossed.argmax(axis=0)
        at = k * rows
        at += np.arange(rows)  # (k, row) in the flat table
        rate = table.take(at + (n + 1) * rows)  # log survival per bin inside bin k (<= 0)
        into = np.empty(rows)
        into.fill(np.inf)
        np.divide(_LOG_HALF - table.take(at), rate, out=into, where=rate < 0)
        out: FloatArray = np.minimum((k + into) * self.bin_days, MAX_DAYS)
        return out

    def late_asymmetry(
        self, left: IntArray, right: IntArray, gap_days: float = LATE_GAP_DAYS
    ) -> FloatArray:
        """P(one side returns at least ``gap_days`` before the other) for row pairs of the curves.

        The method and its accuracy are those of the function ``late_asymmetry``.

        Args:
            left: (p,) row of the first side of each pair.
            right: (p,) row of the other side.
            gap_days: The gap (>= 0).

        Returns:
            (p,) probability per pair.

        Raises:
            ValueError: If ``gap_days`` is negative or not finite.
        """
        plan = _late_plan(self._n, self.bin_days, gap_days)
        if len(left) <= _PAIR_CHUNK:
            return self._late_asymmetry(left, right, plan)
        out = np.empty(len(left))
        for i in range(0, len(left), _PAIR_CHUNK):  # bounded memory: (segments, 2 chunk) blocks
            chunk = slice(i, i + _PAIR_CHUNK)
            out[chunk] = self._late_asymmetry(left[chunk], right[chunk], plan)
        return out

    def _late_asymmetry(self, left: IntArray, right: IntArray, plan: _LatePlan) -> FloatArray:
        p, m = len(left), plan.segments
        at, both = self._late_logs(left, right, plan)
        # The first side's share a / (a + b) of the hazard of "one returns" in each segment;
        # both rates 0 (log_keep sum 0): share 0, as 0 / -(the smallest positive double).
        share = np.minimum(both[1], _MINUS_TINY, out=both[1])
        np.divide(at[1, 0], share, out=share)
        # P(both alive) at each segment's start, then 0 at the end of the last (unbounded) one;
        # share x its drop over a segment: P(the first side returns in it, the other side being
        # alive gap_days later). In the block of the log survival, no longer needed: every new
        # block costs page faults once the memory goes back to the system between calls.
        alive = at[0].reshape(2 * m, 2 * p)[: m + 1]
        alive[m] = 0.0
        np.exp(both[0], out=alive[:m])
        drop = np.subtract(alive[:m], alive[1:], out=both[0])
        first = np.multiply(share, drop, out=drop).sum(axis=0)  # per pair and first side
        out: FloatArray = first[:p] + first[p:]
        return out

    def _late_logs(
        self, left: IntArray, right: IntArray, plan: _LatePlan
    ) -> tuple[FloatArray, FloatArray]:
        """Per segment and first side (left sides, then right sides), at the segment's start.

        Returns:
            (2, 2, segments, 2 p): (log survival, log_keep of the bin) x (now: the first side
            at t; later: the other side at t + gap_days), and (2, segments, 2 p): log P(both
            alive, the other gap_days later), then the sum of their log_keep. Segments first:
            each numpy loop runs over many pairs, and the sums over segments go segment by
            segment, whatever the number of pairs (a pair alone gives what it gives among many,
            to the last bit).
        """
        p, m = len(left), plan.segments
        # (table rows, 2 p): the curves of the sides, left sides then right sides.
        sides = self._table.take(np.concatenate((left, right)), axis=1)
        if p <= _FEW_PAIRS:
            # One gather through a cached flat index, "later" already the other side of each
            # pair, so that every step is on whole contiguous blocks (fewer, cheaper loops).
            few = _late_few(self._n, self.bin_days, plan.gap_days, p)
            at = sides.take(few.index)  # (log_start, log_keep) x (now, later) x segment x side
            at[0] += at[1] * few.rest  # log survival, now and later
            both = at[:, 0] + at[:, 1]
        else:
            # That index would be as large as the data: gather the rows of the segments as they
            # are, then pair each side now with the other side later. All in one block: glibc
            # keeps up to twice the largest block freed, so the next call reuses this memory
            # (with a block per array, it went back to the system and faulted in every call).
            work = np.empty((6, m, 2 * p))
            at = work[:4].reshape(2, 2, m, 2 * p)
            # "clip" (the indexes are all valid): with "raise", take would copy through a buffer.
            sides.take(plan.index, axis=0, out=work[:4].reshape(4 * m, 2 * p), mode="clip")
            both = work[4:]  # first the product below: no block of its own
            np.add(at[0], np.multiply(at[1], plan.rest, out=both), out=at[0])
            np.add(at[:, 0, :, :p], at[:, 1, :, p:], out=both[..., :p])
            np.add(at[:, 0, :, p:], at[:, 1, :, :p], out=both[..., p:])
        return at, both


@dataclass(frozen=True)
class _DayRows:
    """Where each of some days falls in the bins (read-only arrays, cached per set of days).

    Attributes:
        index: (2 d,) rows of ``SurvivalCurves``' table: log_start at the start of each day's
            bin (whole bins before it, at most n_bins), then log_keep of that bin (or of the last
            bin past the end).
        rest: (d, 1) days into that bin (or past the end of the last one).
    """

    index: IntArray
    rest: FloatArray


def _day_rows_of(days: FloatArray, n_bins: int, bin_days: float) -> _DayRows:
    k_full = np.minimum(days // bin_days, n_bins).astype(np.int64)
    rest = days - k_full * bin_days
    last = np.minimum(k_full, n_bins - 1)
    return _DayRows(
        _read_only(np.concatenate([k_full, n_bins + 1 + last])), _read_only(rest[:, None])
    )


@functools.lru_cache(maxsize=64)
def _day_rows(days: tuple[float, ...], n_bins: int, bin_days: float) -> _DayRows:
    # Keyed by the days as given: 90 and 90.0 hash alike and give the same rows.
    return _day_rows_of(np.array(days, dtype=np.float64), n_bins, bin_days)


@dataclass(frozen=True)
class _LatePlan:
    """The segments of ``late_asymmetry``: on each, both sides' hazards are constant.

    The integral over t of P(one side returns at t and the other is alive at t + gap) is cut at
    every bin edge of t and of t + gap, up to the end of the last bin; the last segment, from
    there on, is unbounded. Each side of a pair is evaluated "now" (at t, its return) and
    "later" (at t + gap, the other's), at the start of each segment, in the bin of the segment.

    Attributes:
        index: (4 segments,) rows of ``SurvivalCurves``' table: log_start of the bins now,
            then later; then log_keep of the same bins, now then later.
        rest: (2, segments, 1) days from the start of that bin to the start of the segment (past
            the end for the last bin), over the bin width: now, then later.
        segments: Number of segments.
        gap_days: The gap.
    """

    index: IntArray
    rest: FloatArray
    segments: int
    gap_days: float


@functools.lru_cache(maxsize=64)
def _late_plan(n_bins: int, bin_days: float, gap_days: float) -> _LatePlan:
    """The segments of ``late_asymmetry``, cached per (bins, width, gap): they never change."""
    if not (np.isfinite(gap_days) and gap_days >= 0):
        raise ValueError(f"gap_days is {gap_days}, expected finite and >= 0")
    horizon = n_bins * bin_days
    edges = np.arange(n_bins + 1, dtype=np.float64) * bin_days
    shifted = edges - gap_days  # the t at which t + gap is an edge
    inside = shifted[(shifted > 0.0) & (shifted < horizon)]
    starts = np.unique(np.concatenate([edges, inside]))  # sorted, 0 to the horizon
    # Each segment's bins from its middle, not its start: an edge minus the gap may round to
    # just below another edge. A segment that rounding leaves (~1e-13 days between an edge and
    # a shifted edge) weighs that little, whichever bin it is given.
    middle = np.append(0.5 * (starts[:-1] + starts[1:]), horizon + bin_days)  # last: unbounded
    now = np.minimum(middle // bin_days, n_bins - 1).astype(np.int64)
    later = np.minimum((middle + gap_days) // bin_days, n_bins - 1).astype(np.int64)
    rest = np.stack([starts - now * bin_days, starts + gap_days - later * bin_days]) / bin_days
    index = np.concatenate([now, later, n_bins + 1 + now, n_bins + 1 + later])
    return _LatePlan(_read_only(index), _read_only(rest[:, :, None]), len(starts), gap_days)


@dataclass(frozen=True)
class _LateFew:
    """``_LatePlan`` for a given number of pairs, as flat indexes into their gathered curves.

    Attributes:
        index: (2, 2, segments, 2 pairs) index into the (table rows, 2 pairs) curves of the
            pairs' sides, left sides then right sides, flattened: ``_LatePlan.index``'s rows of
            each side now, and of the other side of its pair later.
        rest: (2, segments, 2 pairs) ``_LatePlan.rest``, repeated for every side.
    """

    index: IntArray
    rest: FloatArray


@functools.lru_cache(maxsize=_FEW_PAIRS)
def _late_few(n_bins: int, bin_days: float, gap_days: float, pairs: int) -> _LateFew:
    """``_LateFew`` of ``_late_plan(n_bins, bin_days, gap_days)``, cached per count of pairs."""
    plan = _late_plan(n_bins, bin_days, gap_days)
    m, sides = plan.segments, 2 * pairs
    side = np.arange(sides)
    column = np.stack([side, (side + pairs) % sides])  # now: the side itself; later: the other
    index = plan.index.reshape(2, 2, m, 1) * sides + column[None, :, None, :]
    rest = np.broadcast_to(plan.rest, (2, m, sides))
    return _LateFew(_read_only(index), _read_only(rest.copy()))


def _read_only(a: _Array) -> _Array:
    a.flags.writeable = False  # shared by every call through the caches
    return a


def survival_at(hazards: FloatArray, days: float, bin_days: float) -> FloatArray:
    """P(activity not yet returned at ``days``) per row of (r, n_bins) hazards.

    For several days or summaries of the same hazards, ``SurvivalCurves`` computes the curves
    once.
    """
    out: FloatArray = SurvivalCurves(hazards, bin_days).survival_at((days,))[0]
    return out


def median_days(hazards: FloatArray, bin_days: float) -> FloatArray:
    """Day at which survival crosses 0.5, per row of (r, n_bins) hazards (at most MAX_DAYS)."""
    return SurvivalCurves(hazards, bin_days).median_days()


def late_asymmetry(
    hazards_left: FloatArray,
    hazards_right: FloatArray,
    bin_days: float,
    gap_days: float = LATE_GAP_DAYS,
) -> FloatArray:
    """P(one side returns at least ``gap_days`` before the other), per row pair of hazards.

    The sides are taken as independent given the features; the hazards are (r, n_bins) each.
    P(T_L + g <= T_R) is the integral of f_L(t) S_R(t + g) over t, and the same the other way.
    Cut at every bin edge of t and of t + g, both hazards are constant on each piece, rates a
    and b (per day) say, so P(both alive) decays as e^-(a + b) t there and the piece gives
    a / (a + b) of its drop: the first side's share of "one of them returns" in it. The piece
    past the last bin, where both hazards stay the last bin's, is unbounded and gives
    a / (a + b) P(both alive at its start). The answer is exact for piecewise exponential
    survival, up to floating point (about 1e-15). ``SurvivalCurves.late_asymmetry`` does the
    same on curves already computed.

    Args:
        hazards_left: (p, n_bins) hazards of the first side of each pair.
        hazards_right: (p, n_bins) hazards of the other side.
        bin_days: Width of a bin in days.
        gap_days: The gap (>= 0).

    Returns:
        (p,) probability per pair.

    Raises:
        ValueError: If ``gap_days`` is negative or not finite.
    """
    p = len(hazards_left)
    curves = SurvivalCurves(np.concatenate([hazards_left, hazards_right]), bin_days)
    pairs = np.arange(p)
    return curves.late_asymmetry(pairs, pairs + p, gap_days)
