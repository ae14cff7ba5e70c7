"""The predictor: a checked bundle's onnxruntime sessions, opened once, and what they answer.

``Predictor.predict`` turns a feature matrix and the treated (region, side) rows of the same
treatments into every answer of the service in two session calls (one per ONNX file), and the
raw outputs into answers, head by head of the manifest, with the same numpy functions the
LightGBM models use in training (``bundle.postprocess``), so both give the same answers from the
same raw outputs.

No LightGBM and no pandas here: this is the request path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnx
import onnx.utils
import onnxruntime as ort

from bundle import postprocess
from bundle.heads import OUTCOMES
from bundle.late_asymmetry import LATE_GAP_DAYS, QUADRATURE_LEVELS, late_asymmetry_by_region
from bundle.manifest import (
    LONGEVITY_FILE,
    TREATMENT_FILE,
    Head,
    Manifest,
    check_manifest,
    load_manifest,
    read_onnx,
)
from features.build import build_features
from features.inputs import FeatureInput
from features.longevity import longevity_matrix, treated_region_sides

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

SURVIVAL_DAYS: Final = (90, 120, 150)
"""Days at which P(activity not yet returned) is reported."""


_RETURN_LEVELS: Final = np.vstack([[postprocess.LOG_HALF], QUADRATURE_LEVELS])
"""Log-survival levels of a row's return days that ``predict`` needs: its median, then the
late-stage asymmetry's quadrature levels."""
ASYMMETRY_RISK: Final = OUTCOMES[0].name
"""The head whose answer is the asymmetry risk (banded, explained by contributions)."""


@dataclass(frozen=True)
class Predictions:
    """Every answer for n treatments and their r treated (region, side) rows.

    Attributes:
        risks: Per binary head (``binary``, ``contributions``), (n,) calibrated probability.
        contributions: Per ``contributions`` head, (n, F) per feature its share of the logit of
            the head's probability: with the base calibration.intercept + calibration.slope *
            contribution_base of the head, base + a row's sum = logit(risk) (path attribution
            of the trees, see ``bundle.manifest.Head``).
        differences: ``differences[target][q]``, (n,) post-treatment left-minus-right difference
            quantiles in mm, per ``quantiles`` head (sorted per row).
        treatment: (r,) row in the n treatments of each longevity row.
        region: (r,) region code (``data.contract.REGIONS`` order) of each longevity row.
        side: (r,) side code (``data.contract.SIDES`` order) of each longevity row.
        median_days: (r,) predicted median days until muscle activity returns.
        survival: ``survival[day]``, (r,) P(activity not yet returned at day), for
            ``SURVIVAL_DAYS``.
        late_asymmetry_risk: (n,) P(one side of some bilaterally treated region returns at least
            the treatment's gap (21 days by default) before the other) = 1 - prod over such
            regions of (1 - p_region); 0 if none.
        region_late_asymmetry_risk: (r,) p_region of each longevity row's region: the two sides
            jointly (``bundle.late_asymmetry``); NaN where the region is not treated on both
            sides.
        late_gap_days: (n,) the gap of each treatment's late-stage asymmetry.
        first_region: (n,) region code of the (region, side) expected to wear off first
            (smallest median), -1 if the treatment has no longevity row.
        first_side: (n,) its side code, -1 if none.
        curves: The survival curves of the r longevity rows, for any other summary of them
            (e.g. the day each reaches a given chance of return: ``SurvivalCurves.days_to``).
    """

    risks: Mapping[str, FloatArray]
    contributions: Mapping[str, FloatArray]
    differences: Mapping[str, Mapping[str, FloatArray]]
    treatment: IntArray
    region: IntArray
    side: IntArray
    median_days: FloatArray
    survival: Mapping[int, FloatArray]
    late_asymmetry_risk: FloatArray
    region_late_asymmetry_risk: FloatArray
    late_gap_days: FloatArray
    first_region: IntArray
    first_side: IntArray
    curves: postprocess.SurvivalCurves

    @property
    def asymmetry_risk(self) -> FloatArray:
        """(n,) calibrated P(visible asymmetry at review)."""
        return self.risks[ASYMMETRY_RISK]


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
    # Idle pool threads sleep instead of spinning: every caller does numpy work between calls
    # (features, post-processing), and spinning threads would take the cores from it (asym
    # predict 100k in one process: 15 s of CPU for 10 s of wall time with spinning, 11 for 8.5
    # without).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def outputs_only(data: bytes, outputs: list[str]) -> bytes:
    """An ONNX model cut down to what computes ``outputs`` (onnxruntime runs every node)."""
    model = onnx.load_from_string(data)
    inputs = [i.name for i in model.graph.input]
    cut: bytes = onnx.utils.Extractor(model).extract_model(inputs, outputs).SerializeToString()
    return cut


def _first_to_wear_off(
    median: FloatArray, treatment: IntArray, region: IntArray, side: IntArray, n: int
) -> tuple[IntArray, IntArray]:
    """Per treatment, the (region, side) codes of its smallest median (ties: first row), or -1."""
    first_region = np.full(n, -1, dtype=np.int64)
    first_side = np.full(n, -1, dtype=np.int64)
    if not len(treatment):
        return first_region, first_side
    order = np.lexsort((median, treatment))  # stable: equal medians keep row order
    t = treatment[order]
    starts = np.ones(len(t), dtype=np.bool_)  # the first row of each treatment in ``order``
    np.not_equal(t[1:], t[:-1], out=starts[1:])
    first = order[starts]
    first_region[treatment[first]] = region[first]
    first_side[treatment[first]] = side[first]
    return first_region, first_side


def _margin(head: Head, output: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """A binary head's raw margin: its output, or a ``contributions`` head's sum with the base."""
    if head.kind == "contributions":
        total: FloatArray = output.sum(axis=1, dtype=np.float64)
        return (head.contribution_base or 0.0) + total
    return output


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
        binary: ort.InferenceSession | None = None,
    ) -> None:
        """Wrap sessions already opened on the manifest's files (use ``Predictor.load``).

        ``binary``, if given, is a session over the binary heads' outputs of the treatment
        file alone (``outputs_only``), for ``risks``.
        """
        self._manifest = manifest
        self._treatment = treatment
        self._longevity = longevity
        self._binary_session = binary
        self._features_input = manifest.files[TREATMENT_FILE].input.name
        self._longevity_input = manifest.files[LONGEVITY_FILE].input.name
        self._binary = manifest.heads_of("binary", "contributions")
        self._quantiles = manifest.heads_of("quantiles")
        self._outputs = [o for h in (*self._binary, *self._quantiles) for o in h.outputs]
        # The quantile heads' outputs come last; they share their levels (``check_manifest``).
        self._levels = self._quantiles[0].quantiles if self._quantiles else ()
        self._first_quantile = len(self._outputs) - len(self._quantiles) * len(self._levels)
        specs = {o.name: o for o in manifest.files[TREATMENT_FILE].outputs}
        self._output_specs = [specs[o] for o in self._outputs]
        # Every binary head calibrated at once: (heads, 1) slopes and intercepts.
        calibrations = [h.calibration for h in self._binary]
        self._slope = np.array([[c.slope] for c in calibrations if c is not None])
        self._intercept = np.array([[c.intercept] for c in calibrations if c is not None])
        (self._hazard,) = manifest.heads_of("hazard")
        self._baseline = np.asarray(manifest.hazard_baseline, dtype=np.float64)
        self._side_dependence = np.asarray(manifest.side_dependence, dtype=np.float64)

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
        binary = [o for h in manifest.heads_of("binary", "contributions") for o in h.outputs]
        return cls(
            manifest,
            open_session(blobs[TREATMENT_FILE], intra_op_threads),
            open_session(blobs[LONGEVITY_FILE], intra_op_threads),
            open_session(outputs_only(blobs[TREATMENT_FILE], binary), intra_op_threads),
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
        late_gap_days: npt.ArrayLike = LATE_GAP_DAYS,
    ) -> Predictions:
        """Answer everything for n treatments in two session calls.

        Args:
            x: (n, F) feature matrix, columns in the manifest's order (cast to float32).
            treatment: (r,) row in ``x`` of each treated (region, side).
            region: (r,) its region code.
            side: (r,) its side code.
            late_gap_days: The late-stage asymmetry's gap in days, one for all or (n,) one per
                treatment (finite, >= 0).

        Returns:
            The predictions.

        Raises:
            ValueError: ``x`` has the wrong number of columns, the rows disagree in length or a
                gap is negative or not finite.
        """
        m = self._manifest
        x32 = self._features(x)
        treatment = np.asarray(treatment, dtype=np.int64)
        region = np.asarray(region, dtype=np.int64)
        side = np.asarray(side, dtype=np.int64)
        if not len(treatment) == len(region) == len(side):
            raise ValueError("treatment, region and side must have the same length")
        n, r = len(x32), len(treatment)
        gap = np.asarray(late_gap_days, dtype=np.float64)
        gap = np.full(n, gap) if gap.ndim == 0 else gap
        # In Python: a numpy test of one or a few values costs more (NaN fails too).
        if gap.shape != (n,) or not all(0.0 <= g < math.inf for g in gap.tolist()):
            raise ValueError("late_gap_days must be one value or one a treatment, finite, >= 0")

        # Both models run back to back, then all the numpy: each switch between the two costs
        # the caches, and the second model's rows need only the features.
        rows = longevity_matrix(x32, treatment, region, side)
        if n:
            values = self._treatment.run(self._outputs, {self._features_input: x32})
        else:  # onnxruntime rejects an empty batch in some operators; nothing to ask anyway
            values = [np.zeros((0, *o.shape[1:])) for o in self._output_specs]
        if r:
            (margin,) = self._longevity.run(self._hazard.outputs, {self._longevity_input: rows})
            hazards = postprocess.hazards_from_margin(margin, self._baseline, region)
        else:
            hazards = np.zeros((0, m.n_bins))
        raw = dict(zip(self._outputs, values, strict=True))
        risks = self._calibrated(raw)
        contributions = {
            h.name: raw[h.outputs[0]].astype(np.float64) * slope
            for h, slope in zip(self._binary, self._slope[:, 0], strict=True)
            if h.kind == "contributions"
        }
        # Every quantile head's outputs in one (heads, quantiles, n) array, sorted at once.
        stacked = np.array(values[self._first_quantile :], np.float64)
        by_level = postprocess.quantiles(
            stacked.reshape(len(self._quantiles), len(self._levels), n), self._levels
        )
        differences = {
            h.name: {q: v[i] for q, v in by_level.items()} for i, h in enumerate(self._quantiles)
        }
        # One set of survival curves serves every longevity answer.
        curves = postprocess.SurvivalCurves(hazards, m.bin_days)
        # The medians and the late-stage asymmetry's return days in one pass over the curves.
        returns = curves.days_to(_RETURN_LEVELS, slice(None))
        median = np.minimum(returns[0], postprocess.MAX_DAYS)
        first_region, first_side = _first_to_wear_off(median, treatment, region, side, n)
        by_region, late = late_asymmetry_by_region(
            curves, treatment, region, side, self._side_dependence, gap, returns[1:]
        )
        return Predictions(
            risks=risks,
            contributions=contributions,
            differences=differences,
            treatment=treatment,
            region=region,
            side=side,
            median_days=median,
            survival=dict(zip(SURVIVAL_DAYS, curves.survival_at(SURVIVAL_DAYS), strict=True)),
            late_asymmetry_risk=late,
            region_late_asymmetry_risk=by_region,
            late_gap_days=gap,
            first_region=first_region,
            first_side=first_side,
            curves=curves,
        )

    def _calibrated(self, raw: Mapping[str, npt.NDArray[np.floating]]) -> dict[str, FloatArray]:
        """Each binary head's calibrated probability from the raw outputs."""
        margins = np.array([_margin(h, raw[h.outputs[0]]) for h in self._binary], np.float64)
        calibrated = postprocess.calibrate_margin(margins, self._slope, self._intercept)
        return {h.name: p for h, p in zip(self._binary, calibrated, strict=True)}

    def risks(self, x: npt.NDArray[np.floating]) -> dict[str, FloatArray]:
        """The binary heads' calibrated probabilities of n treatments, and nothing else.

        One call of the session over the binary heads' outputs alone (when ``load`` made it):
        the plan advisor scores hundreds of candidate plans a request, and the difference
        quantiles are most of the treatment graph's work (100 rows: 7.4 ms, 1.2 ms without).

        Args:
            x: (n, F) feature matrix, columns in the manifest's order (cast to float32).

        Returns:
            Per binary head (``Predictions.risks``), (n,) calibrated probability.
        """
        x32 = self._features(x)
        outputs = [h.outputs[0] for h in self._binary]
        session = self._binary_session or self._treatment
        if not len(x32):
            return {h.name: np.zeros(0) for h in self._binary}
        return self._calibrated(
            dict(zip(outputs, session.run(outputs, {self._features_input: x32}), strict=True))
        )

    def predict_treatments(
        self, inputs: FeatureInput, late_gap_days: npt.ArrayLike = LATE_GAP_DAYS
    ) -> Predictions:
        """Answer everything for treatments given as contract data (features computed here).

        Args:
            inputs: The treatments (``features.request.request_inputs`` for one request,
                ``features.tables.registry_inputs`` for a registry).
            late_gap_days: The late-stage asymmetry's gap (see ``predict``).

        Returns:
            The predictions; longevity rows are the treated (region, side) of each plan.
        """
        x = build_features(inputs).astype(np.float32)
        treatment, region, side = treated_region_sides(inputs.plan)
        return self.predict(x, treatment, region, side, late_gap_days)
