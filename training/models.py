"""The fitted models of one run: LightGBM boosters and what turns their outputs into answers.

Calibration and survival come from the numpy-only ``bundle.postprocess``. The ONNX bundle
(``training.export``) holds the same boosters converted, and ``serving`` reproduces these
``predict`` methods with onnxruntime and the same post-processing.

Every ``predict`` takes float32 matrices: the dtype the ONNX models take.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from bundle import postprocess
from bundle.heads import OUTCOMES
from features.longevity import LONGEVITY_INDEX
from training.visit_lattice import VisitLattice

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

DIFF_TARGETS: Final = (
    "brow_height_diff_mm",
    "palpebral_fissure_diff_mm",
    "commissure_height_diff_mm",
)
"""Post-treatment differences predicted (``followups`` columns), in output order."""

QUANTILES: Final = (("q10", 0.1), ("q50", 0.5), ("q90", 0.9))
"""The interval (10-90%) and the median of each difference."""

FIT_THREADS: Final = 1
"""LightGBM threads per fit. A registry's few ten thousand rows give each tree too little work
to share: on this 2-core machine two threads fitted the asymmetry risk in 10.1 s, one in 6.9 s,
with ``OMP_WAIT_POLICY=PASSIVE`` (which ``asym`` sets, so that waiting OpenMP threads do not
spin on a shared machine); the fitted models are the same (``deterministic``, row-wise). Every
LightGBM call in training passes it, predictions too: LightGBM sets OpenMP's thread count
process-wide on each call, and a prediction at the default count while another thread fitted
(``training.train`` fits two at a time) crashed the process once in the gate (a segfault in
``LGBM_BoosterCreate``)."""


@dataclass(frozen=True)
class RiskModel:
    """Calibrated classifier of a binary outcome at review (``bundle.heads.Outcome``).

    Attributes:
        booster: Binary LightGBM model on the treatment features.
        calibration: Platt scaling (slope, intercept) of the booster's logit, fitted on held-out
            training patients: p = sigmoid(slope * logit(p_raw) + intercept).
    """

    booster: lgb.Booster
    calibration: tuple[float, float]

    def predict(self, x: Float32Array) -> FloatArray:
        """Calibrated probability of the outcome per row of treatment features."""
        raw = np.asarray(self.booster.predict(x, num_threads=FIT_THREADS), dtype=np.float64)
        return postprocess.calibrate(raw, *self.calibration)


@dataclass(frozen=True)
class DifferenceModels:
    """Quantile regressors of the three post-treatment left-minus-right differences.

    Attributes:
        boosters: ``boosters[target][q]`` for target in DIFF_TARGETS and q in q10/q50/q90.
    """

    boosters: Mapping[str, Mapping[str, lgb.Booster]]

    def predict(self, x: Float32Array) -> dict[str, dict[str, FloatArray]]:
        """Per target, the 10%, 50% and 90% quantiles (sorted, so the interval never inverts)."""
        out: dict[str, dict[str, FloatArray]] = {}
        for target in DIFF_TARGETS:
            raw = [
                np.asarray(self.boosters[target][q].predict(x, num_threads=FIT_THREADS))
                for q, _ in QUANTILES
            ]
            out[target] = postprocess.quantiles(raw, [q for q, _ in QUANTILES])
        return out


@dataclass(frozen=True)
class LongevityModel:
    """Discrete-time hazard model of the return of muscle activity per (region, side).

    Proportional odds: logit P(return in bin k | not returned before bin k) = alpha[k] + f(x),
    so the booster is evaluated once per row whatever the number of bins.

    Attributes:
        booster: Binary LightGBM model on a row of ``features.longevity`` inputs (no bin column),
            fitted with the baseline as init score; its raw margin is f(x).
        baseline: (g, n_bins) log-odds baseline alpha per bin; g = 1 (every region) or
            ``len(REGIONS)`` (row = region code, the ``region`` longevity input).
        bin_days: Width of a bin in days.
        side_dependence: Per region code, Frank's theta of the copula that joins its two sides'
            curves (``bundle.late_asymmetry``).
        visit_lattice: The visit lattice the training registry records returns on; the model is
            fitted with each such return spread over its interval since the visit before
            (``training.visit_lattice.spread_returns``).
    """

    booster: lgb.Booster
    baseline: FloatArray
    bin_days: float
    side_dependence: FloatArray
    visit_lattice: VisitLattice

    @property
    def n_bins(self) -> int:
        """Number of bins; survival beyond the last one is extrapolated at its hazard."""
        return int(self.baseline.shape[1])

    def margin(self, rows: Float32Array) -> FloatArray:
        """(r,) raw margin f(x) per longevity input row."""
        return np.asarray(
            self.booster.predict(rows, raw_score=True, num_threads=FIT_THREADS), dtype=np.float64
        )

    def hazards(self, rows: Float32Array) -> FloatArray:
        """(r, n_bins) hazard per longevity input row and bin."""
        region = rows[:, LONGEVITY_INDEX["region"]].astype(np.int64)
        return postprocess.hazards_from_margin(self.margin(rows), self.baseline, region)

    def curves(self, rows: Float32Array) -> postprocess.SurvivalCurves:
        """The survival curves of longevity input rows."""
        return postprocess.SurvivalCurves(self.hazards(rows), self.bin_days)


@dataclass(frozen=True)
class FittedModels:
    """All models of one run.

    Attributes:
        risks: A calibrated classifier per binary outcome (``bundle.heads.OUTCOMES``), by name.
        differences: The difference quantile regressors.
        longevity: The hazard model.
    """

    risks: Mapping[str, RiskModel]
    differences: DifferenceModels
    longevity: LongevityModel

    @property
    def risk(self) -> RiskModel:
        """The asymmetry-risk classifier (the first outcome)."""
        return self.risks[OUTCOMES[0].name]
