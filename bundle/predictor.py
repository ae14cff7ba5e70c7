"""The predictor: a checked bundle's onnxruntime sessions, opened once, and what they answer.

``Predictor.predict`` turns a feature matrix and the treated (region, side) rows of the same
treatments into every answer of the service in two session calls (one per ONNX file), and the
raw outputs into answers with the same numpy functions the LightGBM models use in training
(``bundle.postprocess``), so both give the same answers from the same raw outputs.

No LightGBM and no pandas here: this is the request path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from bundle import postprocess
from bundle.manifest import (
    CONTRIBUTIONS_OUTPUT,
    HAZARD_MARGIN_OUTPUT,
    LONGEVITY_FILE,
    TREATMENT_FILE,
    Manifest,
    check_manifest,
    difference_output,
    load_manifest,
    read_onnx,
)
from data.contract import REGIONS, SIDES
from features.build import build_features
from features.inputs import LEFT, RIGHT, FeatureInput
from features.longevity import longevity_matrix, treated_region_sides

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

SURVIVAL_DAYS: Final = (90, 120, 150)
"""Days at which P(activity not yet returned) is reported."""


@dataclass(frozen=True)
class Predictions:
    """Every answer for n treatments and their r treated (region, side) rows.

    Attributes:
        asymmetry_risk: (n,) calibrated P(visible asymmetry at review).
        contributions: (n, F) per feature, its share of logit(asymmetry_risk): with the base
            calibration.intercept + calibration.slope * risk_contribution_base of the
            manifest, base + a row's sum = logit(asymmetry_risk) (path attribution of the risk
            trees, see ``bundle.manifest.Manifest``).
        differences: ``differences[target][q]``, (n,) post-treatment left-minus-right difference
            quantiles in mm, q in q10/q50/q90 (sorted per row).
        treatment: (r,) row in the n treatments of each longevity row.
        region: (r,) region code (``data.contract.REGIONS`` order) of each longevity row.
        side: (r,) side code (``data.contract.SIDES`` order) of each longevity row.
        median_days: (r,) predicted median days until muscle activity returns.
        survival: ``survival[day]``, (r,) P(activity not yet returned at day), for
            ``SURVIVAL_DAYS``.
        late_asymmetry_risk: (n,) P(one side of some bilaterally treated region returns at least
            21 days before the other) = 1 - prod over such regions of (1 - p_region); 0 if none.
        first_region: (n,) region code of the (region, side) expected to wear off first
            (smallest median), -1 if the treatment has no longevity row.
        first_side: (n,) its side code, -1 if none.
    """

    asymmetry_risk: FloatArray
    contributions: FloatArray
    differences: Mapping[str, Mapping[str, FloatArray]]
    treatment: IntArray
    region: IntArray
    side: IntArray
    median_days: FloatArray
    survival: Mapping[int, FloatArray]
    late_asymmetry_risk: FloatArray
    first_region: IntArray
    first_side: IntArray


def open_session(data: bytes, intra_op_threads: int = 0) -> ort.InferenceSession:
    """An onnxruntime CPU session on an ONNX model's bytes, logging errors only.

    Args:
        data: The serialised model.
        intra_op_threads: Threads per session call; 0 lets onnxruntime use every core.

    Returns:
        The session.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: a server log is no place for graph warnings
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _late_asymmetry(
    curves: postprocess.SurvivalCurves,
    treatment: IntArray,
    region: IntArray,
    side: IntArray,
    n: int,
) -> FloatArray:
    """Per treatment, 1 - prod(1 - p_region) over regions treated on both sides.

    Args:
        curves: The survival curves of the r rows.
        treatment: (r,) treatment of each row, in [0, n).
        region: (r,) region code of each row.
        side: (r,) side code of each row.
        n: Number of treatments.

    Returns:
        (n,) late-asymmetry risk per treatment.
    """
    # 1 + row of each (treatment, region, side) in a dense table, 0 if none (the first row if
    # repeated: reversed, the last write wins); pairs come out in (treatment, region) order.
    regions = len(REGIONS)
    row = np.zeros((n * regions, len(SIDES)), dtype=np.int64)
    row[(treatment * regions + region)[::-1], side[::-1]] = np.arange(len(side), 0, -1)
    pair = np.flatnonzero(np.logical_and(row[:, LEFT], row[:, RIGHT]))
    rows = row.take(pair, axis=0) - 1
    p = curves.late_asymmetry(rows[:, LEFT], rows[:, RIGHT])  # in chunks of bounded memory
    with np.errstate(divide="ignore"):  # p == 1 gives log(0) = -inf: certain asymmetry
        # clip to [0, 1] (minimum and maximum: the same, with less overhead)
        log_none = np.log1p(-np.minimum(np.maximum(p, 0.0), 1.0))
    out: FloatArray = -np.expm1(np.bincount(pair // regions, weights=log_none, minlength=n))
    return out


_SORT_UP_TO_ROWS: Final = 64
"""Up to this many rows, ``_first_to_wear_off`` sorts them (fewer numpy calls than by runs)."""


def _first_to_wear_off(
    median: FloatArray, treatment: IntArray, region: IntArray, side: IntArray, n: int
) -> tuple[IntArray, IntArray]:
    """Per treatment, the (region, side) codes of its smallest median (ties: first row)."""
    codes = np.full((2, n), -1, dtype=np.int64)  # region, side
    first = _first_rows_by_run(median, treatment) if len(treatment) > _SORT_UP_TO_ROWS else None
    if first is None:  # any order of rows: sort them
        order = np.lexsort((median, treatment))  # stable: equal medians keep row order
        t = treatment[order]
        new = np.empty(len(t), dtype=np.bool_)  # first of its treatment in that order
        new[:1] = True
        np.not_equal(t[1:], t[:-1], out=new[1:])
        first = order[new]
    treated = treatment.take(first)
    codes[0, treated] = region.take(first)
    codes[1, treated] = side.take(first)
    first_region, first_side = codes
    return first_region, first_side


def _first_rows_by_run(median: FloatArray, treatment: IntArray) -> IntArray | None:
    """Row of each treatment's smallest median (ties: the first), its rows being one run each.

    The rows of a batch come grouped by treatment, in order: a minimum per run then finds what
    sorting them by (treatment, median) would, in a few passes rather than a sort (a tenth of
    its time). Medians that are NaN come last, as in that sort.

    Returns:
        The rows, by treatment in increasing order; None when the treatments' runs do not
        increase (a treatment in several runs is possible then) or one's medians are all NaN.
    """
    r = len(treatment)
    new = np.empty(r, dtype=np.bool_)  # first row of a run
    new[0] = True
    np.not_equal(treatment[1:], treatment[:-1], out=new[1:])
    start = np.flatnonzero(new)
    t = treatment.take(start)
    if not np.all(t[1:] > t[:-1]):
        return None
    low = np.fmin.reduceat(median, start)  # NaN only if all of a run's are
    at_low = median == np.repeat(low, np.diff(start, append=r))
    # Each run's first row at its minimum: r (no row) if the run's medians are all NaN.
    first: IntArray = np.minimum.reduceat(np.where(at_low, np.arange(r), r), start)
    return None if first.max() == r else first


class Predictor:
    """A loaded bundle: its manifest and its two onnxruntime sessions.

    Make one with ``Predictor.load`` at start-up and share it; ``predict`` is thread-safe
    (onnxruntime sessions are).
    """

    def __init__(
        self,
        manifest: Manifest,
        treatment: ort.InferenceSession,
        longevity: ort.InferenceSession,
    ) -> None:
        """Wrap sessions already opened on the manifest's files (use ``Predictor.load``)."""
        self._manifest = manifest
        self._treatment = treatment
        self._longevity = longevity
        spec = manifest.files[TREATMENT_FILE]
        self._features_input = spec.input.name
        self._longevity_input = manifest.files[LONGEVITY_FILE].input.name
        self._diff_outputs = [
            difference_output(t, q) for t in manifest.diff_targets for q in manifest.quantiles
        ]
        # The contributions last: ``predict`` pops them off.
        self._outputs = [*self._diff_outputs, CONTRIBUTIONS_OUTPUT]
        self._baseline = np.asarray(manifest.hazard_baseline, dtype=np.float64)

    @classmethod
    def load(cls, bundle_dir: Path, *, intra_op_threads: int = 0) -> Predictor:
        """Check a bundle against this install and open its sessions.

        Args:
            bundle_dir: The bundle folder.
            intra_op_threads: Threads per session call; 0 lets onnxruntime use every core.

        Returns:
            The predictor.

        Raises:
            bundle.manifest.BundleError: The bundle cannot be read.
            bundle.manifest.BundleMismatch: It does not fit the installed ``features`` or a file
                was changed after export.
        """
        manifest = load_manifest(bundle_dir)
        check_manifest(manifest)
        # Sessions open from the very bytes whose hash was checked.
        blobs = {role: read_onnx(bundle_dir, spec) for role, spec in manifest.files.items()}
        return cls(
            manifest,
            open_session(blobs[TREATMENT_FILE], intra_op_threads),
            open_session(blobs[LONGEVITY_FILE], intra_op_threads),
        )

    @property
    def manifest(self) -> Manifest:
        """The bundle's manifest."""
        return self._manifest

    @property
    def model_name(self) -> str:
        """Registered model name."""
        return self._manifest.model_name

    @property
    def model_version(self) -> str:
        """Model version."""
        return self._manifest.model_version

    def _features(self, x: npt.NDArray[np.floating]) -> Float32Array:
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        if x32.ndim != 2 or x32.shape[1] != len(self._manifest.feature_names):
            n = len(self._manifest.feature_names)
            raise ValueError(f"x has shape {x32.shape}, expected (n, {n})")
        return x32

    def predict(
        self,
        x: npt.NDArray[np.floating],
        treatment: IntArray,
        region: IntArray,
        side: IntArray,
    ) -> Predictions:
        """Answer everything for n treatments in two session calls.

        Args:
            x: (n, F) feature matrix, columns in the manifest's order (cast to float32).
            treatment: (r,) row in ``x`` of each treated (region, side).
            region: (r,) its region code.
            side: (r,) its side code.

        Returns:
            The predictions.

        Raises:
            ValueError: ``x`` has the wrong number of columns or the rows disagree in length.
        """
        m = self._manifest
        x32 = self._features(x)
        treatment = np.asarray(treatment, dtype=np.int64)
        region = np.asarray(region, dtype=np.int64)
        side = np.asarray(side, dtype=np.int64)
        if not len(treatment) == len(region) == len(side):
            raise ValueError("treatment, region and side must have the same length")
        n, r = len(x32), len(treatment)

        width = x32.shape[1]
        if n:
            raw = self._treatment.run(self._outputs, {self._features_input: x32})
        else:  # onnxruntime rejects an empty batch in some operators; nothing to ask anyway
            raw = [np.zeros(0) for _ in self._outputs[:-1]] + [np.zeros((0, width))]
        # The risk model's raw margin is its contributions' sum with the base (no output of its
        # own); on the calibrated scale each contribution is the slope times its share.
        raw_contributions = raw.pop().astype(np.float64)
        c = m.calibration
        margin = m.risk_contribution_base + raw_contributions.sum(axis=1)
        risk = postprocess.calibrate_margin(margin, c.slope, c.intercept)
        contributions = np.multiply(raw_contributions, c.slope, out=raw_contributions)
        # The differences target by target, quantile by quantile: one array, one sort for all
        # (made as outputs x treatments, then transposed: np.stack by columns costs more).
        stacked = np.ascontiguousarray(np.array(raw, dtype=np.float64).reshape(len(raw), n).T)
        per_target = postprocess.quantiles(
            stacked.reshape(n, len(m.diff_targets), len(m.quantiles))
        )
        differences = {
            t: {q: v[:, i] for q, v in per_target.items()} for i, t in enumerate(m.diff_targets)
        }

        # One set of survival curves serves every longevity answer (straight from the margin:
        # the hazards themselves are no answer).
        if r:
            rows = longevity_matrix(x32, treatment, region, side)
            (margin,) = self._longevity.run([HAZARD_MARGIN_OUTPUT], {self._longevity_input: rows})
            curves = postprocess.SurvivalCurves.from_margin(
                margin, self._baseline, region, m.bin_days
            )
        else:
            curves = postprocess.SurvivalCurves(np.zeros((0, m.n_bins)), m.bin_days)
        median = curves.median_days()
        first_region, first_side = _first_to_wear_off(median, treatment, region, side, n)
        return Predictions(
            asymmetry_risk=risk,
            contributions=contributions,
            differences=differences,
            treatment=treatment,
            region=region,
            side=side,
            median_days=median,
            survival=dict(zip(SURVIVAL_DAYS, curves.survival_at(SURVIVAL_DAYS), strict=True)),
            late_asymmetry_risk=_late_asymmetry(curves, treatment, region, side, n),
            first_region=first_region,
            first_side=first_side,
        )

    def predict_treatments(self, inputs: FeatureInput) -> Predictions:
        """Answer everything for treatments given as contract data (features computed here).

        Args:
            inputs: The treatments (``features.request.request_inputs`` for one request,
                ``features.tables.registry_inputs`` for a registry).

        Returns:
            The predictions; longevity rows are the treated (region, side) of each plan.
        """
        x = build_features(inputs).astype(np.float32)
        treatment, region, side = treated_region_sides(inputs.plan)
        return self.predict(x, treatment, region, side)
