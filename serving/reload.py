# Over 400 lines: the canary's six requests are written out (150 lines of data) beside the holder.
"""Hot reload: swap the serving model without a restart, only after it passes a canary.

``ModelHolder.current`` is the predictor that answers; a request reads it once and uses that
object to the end, so a swap never changes the model under a request in flight (the old
predictor stays alive until its last request lets go of it). ``reload`` loads the new bundle
beside the old one, checks it, and only then replaces the one reference: a refused model never
answers a single request.

The checks, in order:

1. ``Predictor.load``: the manifest must fit the installed ``features`` package and the ONNX
   files must be the exported ones (``bundle.manifest.check_manifest``).
2. The canary: ``CANARY_REQUESTS`` (a fixed handful of realistic requests, several muscles and
   regions, with and without history) are scored. Every output must be finite and in its range:
   risks and survival probabilities in [0, 1], difference quantiles ordered q10 <= q50 <= q90,
   median days > 0, first-to-wear-off codes valid.
3. The canary against the serving model: the mean over the canary requests of
   |new asymmetry risk - old asymmetry risk| must not exceed ``MAX_MEAN_RISK_SHIFT`` (0.5).
   Retraining moves risks by a few hundredths; a model that moves them by half the scale on
   ordinary requests is almost surely broken (wrong calibration, labels flipped), and a
   deliberate change that large should be deployed by a restart, not slipped in live.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from bundle.predictor import Predictions, Predictor
from bundle.registry import CHAMPION, MODELS_SCHEME
from bundle.resolve import resolve_model
from data.contract import REGIONS, SIDES
from features.request import TreatmentRequest, request_inputs

logger = logging.getLogger(__name__)

MAX_MEAN_RISK_SHIFT: Final = 0.5
"""Largest mean |new - old| canary asymmetry risk a reload accepts."""


def _point(muscle: str, side: str, units: float, **extra: Any) -> dict[str, Any]:
    return {"muscle": muscle, "side": side, "units": units, **extra}


CANARY_REQUESTS: Final[tuple[TreatmentRequest, ...]] = (
    # Glabella and forehead, first treatment, sparse patient data.
    {
        "patient": {"age_years": 38, "sex": "female"},
        "plan": {
            "product": "onabotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": [
                _point("procerus", "midline", 4.0),
                _point("corrugator", "left", 8.0),
                _point("corrugator", "right", 8.0),
                _point("frontalis", "left", 5.0),
                _point("frontalis", "right", 5.0),
            ],
        },
    },
    # Uneven forehead dose with explicit points and a brow already uneven.
    {
        "patient": {
            "age_years": 55,
            "sex": "female",
            "dominant_hand": "right",
            "ancestry": "european",
            "brow_height_diff_mm": 2.0,
            "frontalis_thickness_left_mm": 2.5,
            "frontalis_thickness_right_mm": 3.1,
        },
        "plan": {
            "product": "abobotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": [
                _point("frontalis", "left", 15.0, x_mm=20.0, y_mm=45.0, depth="intramuscular"),
                _point("frontalis", "right", 25.0, x_mm=-22.0, y_mm=48.0, depth="intramuscular"),
                _point("orbicularis_oculi", "left", 12.0),
                _point("orbicularis_oculi", "right", 12.0),
            ],
        },
    },
    # Masseter for bruxism, a man, with a previous treatment and its observed durations.
    {
        "patient": {
            "age_years": 44,
            "sex": "male",
            "bruxism": True,
            "smoker": False,
            "exercise_sessions_per_week": 4.0,
            "masseter_thickness_left_mm": 12.0,
            "masseter_thickness_right_mm": 13.5,
        },
        "plan": {
            "product": "incobotulinumtoxinA",
            "dilution_ml_per_100u": 2.0,
            "injections": [_point("masseter", "left", 25.0), _point("masseter", "right", 30.0)],
        },
        "history": [
            {
                "days_before": 130,
                "plan": {
                    "product": "incobotulinumtoxinA",
                    "dilution_ml_per_100u": 2.0,
                    "injections": [
                        _point("masseter", "left", 25.0),
                        _point("masseter", "right", 25.0),
                    ],
                },
                "review": {
                    "review_day": 14,
                    "visible_asymmetry": False,
                    "eyelid_ptosis": False,
                    "brow_ptosis": False,
                    "commissure_height_diff_mm": 0.5,
                },
                "durations": [
                    {"region": "jaw", "side": "left", "days": 110.0, "returned": True},
                    {"region": "jaw", "side": "right", "days": 118.0, "returned": True},
                ],
            }
        ],
    },
    # Lower face: mouth corners, chin, nose, one side only for the nose.
    {
        "patient": {"age_years": 61, "sex": "female", "ancestry": "east_asian", "smoker": True},
        "plan": {
            "product": "letibotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": [
                _point("depressor_anguli_oris", "left", 3.0),
                _point("depressor_anguli_oris", "right", 3.0),
                _point("mentalis", "midline", 6.0),
                _point("levator_labii_alaeque_nasi", "left", 2.0),
            ],
        },
    },
    # Neck, with two earlier treatments (one without a review).
    {
        "patient": {"age_years": 67, "sex": "male", "chrna1_variant": "non_carrier"},
        "plan": {
            "product": "daxibotulinumtoxinA",
            "dilution_ml_per_100u": 3.0,
            "injections": [
                _point("platysma", "left", 20.0),
                _point("platysma", "right", 20.0),
            ],
        },
        "history": [
            {
                "days_before": 400,
                "plan": {
                    "product": "onabotulinumtoxinA",
                    "dilution_ml_per_100u": 2.5,
                    "injections": [
                        _point("platysma", "left", 15.0),
                        _point("platysma", "right", 15.0),
                    ],
                },
            },
            {
                "days_before": 180,
                "plan": {
                    "product": "daxibotulinumtoxinA",
                    "dilution_ml_per_100u": 3.0,
                    "injections": [
                        _point("platysma", "left", 20.0),
                        _point("platysma", "right", 18.0),
                    ],
                },
                "review": {
                    "review_day": 21,
                    "visible_asymmetry": True,
                    "eyelid_ptosis": False,
                    "brow_ptosis": False,
                },
                "durations": [
                    {"region": "neck", "side": "left", "days": 150.0, "returned": False},
                    {"region": "neck", "side": "right", "days": 95.0, "returned": True},
                ],
            },
        ],
    },
    # Full upper face, heavy dose, a strong brow asymmetry at baseline.
    {
        "patient": {
            "age_years": 29,
            "sex": "female",
            "dominant_hand": "left",
            "brow_height_diff_mm": -4.0,
            "palpebral_fissure_diff_mm": 1.0,
        },
        "plan": {
            "product": "prabotulinumtoxinA",
            "dilution_ml_per_100u": 1.5,
            "injections": [
                _point("procerus", "midline", 10.0),
                _point("corrugator", "left", 12.0),
                _point("corrugator", "right", 12.0),
                _point("frontalis", "left", 10.0),
                _point("frontalis", "right", 4.0),
                _point("orbicularis_oculi", "left", 15.0),
                _point("orbicularis_oculi", "right", 15.0),
            ],
        },
    },
)
"""The canary: fixed requests every model must answer sensibly before it serves."""


class ReloadRefused(Exception):  # noqa: N818  (a refusal, not an error of the server)
    """A new model was not put into service; the message says why. The old one still serves."""


def score_canary(predictor: Predictor) -> list[Predictions]:
    """Answer each canary request with a predictor (one ``Predictions`` per request)."""
    return [predictor.predict_treatments(request_inputs(r)) for r in CANARY_REQUESTS]


def _unit_interval(name: str, values: np.ndarray) -> list[str]:
    bad = ~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))
    return [f"{name} {values[bad][:3].tolist()} not in [0, 1]"] if bad.any() else []


def canary_problems(answers: Sequence[Predictions]) -> list[str]:
    """What is wrong with the canary answers: non-finite or out-of-range outputs.

    Args:
        answers: One ``Predictions`` per canary request.

    Returns:
        One line per problem, prefixed with the request's index; empty if all is well.
    """
    problems: list[str] = []
    for i, p in enumerate(answers):
        found = [f for name, risk in p.risks.items() for f in _unit_interval(name, risk)]
        found += _unit_interval("late asymmetry risk", p.late_asymmetry_risk)
        for day, s in p.survival.items():
            found += _unit_interval(f"survival at day {day}", s)
        for target, by_q in p.differences.items():
            q = np.stack(list(by_q.values()), axis=1)  # in the head's quantile order
            if not np.isfinite(q).all():
                found.append(f"{target} quantiles not finite")
            elif not (np.diff(q, axis=1) >= 0).all():
                found.append(f"{target} quantiles not ordered {' <= '.join(by_q)}")
        days = p.median_days
        if len(days) == 0:
            found.append("no longevity answer for a plan with treated regions")
        elif not (np.isfinite(days) & (days > 0)).all():
            found.append(f"median days {days[~(np.isfinite(days) & (days > 0))][:3].tolist()}")
        if (
            not ((p.first_region >= 0) & (p.first_region < len(REGIONS))).all()
            or not ((p.first_side >= 0) & (p.first_side < len(SIDES))).all()
        ):
            found.append("first region/side to wear off not a valid code")
        problems += [f"canary request {i}: {f}" for f in found]
    return problems


def _risks(answers: Sequence[Predictions]) -> np.ndarray:
    return np.concatenate([p.asymmetry_risk for p in answers])


class ModelHolder:
    """The serving model and the only way to change it.

    ``current`` is one attribute read (atomic in Python), so a request never waits for a
    reload; reloads wait for each other (one lock), so two at once cannot interleave their
    checks and swaps.
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        intra_op_threads: int = 0,
        max_mean_risk_shift: float = MAX_MEAN_RISK_SHIFT,
    ) -> None:
        """Serve ``predictor`` until a reload replaces it.

        Args:
            predictor: The model serving now (already checked, e.g. at start-up).
            intra_op_threads: Threads per session call of the models loaded by ``reload``
                (as given to ``Predictor.load`` for the first one).
            max_mean_risk_shift: Largest mean |new - old| canary risk a reload accepts.
        """
        self._current = predictor
        self._intra_op_threads = intra_op_threads
        self._max_shift = max_mean_risk_shift
        self._lock = threading.Lock()

    @property
    def current(self) -> Predictor:
        """The predictor serving now. Read it once per request and keep using that object."""
        return self._current

    def reload(self, source: str | Path | None, tracking_uri: str | None) -> Predictor:
        """Load a model, check it and make it the serving one.

        Args:
            source: A bundle folder, or ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION``;
                None: the current champion, ``models:/<serving model's name>@champion``.
            tracking_uri: MLflow tracking (and registry) URI for a ``models:/`` source; None:
                MLflow's default.

        Returns:
            The new serving predictor.

        Raises:
            ReloadRefused: It could not be found or loaded, it does not fit this install, or
                it failed the canary; the old model is still serving.
        """
        with self._lock:
            old = self._current
            new = self._prepared(source, tracking_uri, old)
            self._swap(new, old)
        return new

    def prepare(self, source: str | Path | None, tracking_uri: str | None) -> Predictor:
        """Load and check a model beside the serving one, as ``reload`` does, without the swap.

        The first phase of a reload shared by several workers (``serving.replicas``): each
        prepares, and all swap (``commit``) or none.

        Returns:
            The checked model, not serving yet.

        Raises:
            ReloadRefused: As ``reload``.
        """
        with self._lock:
            return self._prepared(source, tracking_uri, self._current)

    def commit(self, new: Predictor, replaces: Predictor) -> None:
        """Make a prepared model the serving one, if ``replaces`` still serves.

        Raises:
            ReloadRefused: Another model came in since ``new`` was checked against ``replaces``.
        """
        with self._lock:
            if self._current is not replaces:
                raise ReloadRefused("the serving model changed while this one was checked")
            self._swap(new, replaces)

    def _prepared(
        self, source: str | Path | None, tracking_uri: str | None, old: Predictor
    ) -> Predictor:
        uri = str(source) if source is not None else self._champion_uri(old)
        new = self._load(uri, tracking_uri)
        self._check(new, old, uri)
        return new

    def _swap(self, new: Predictor, old: Predictor) -> None:
        self._current = new  # the swap: one reference replaced
        logger.info(
            "model reloaded: %s %s (was %s %s)",
            new.model_name, new.model_version, old.model_name, old.model_version,
        )  # fmt: skip

    @staticmethod
    def _champion_uri(old: Predictor) -> str:
        return f"{MODELS_SCHEME}{old.model_name}@{CHAMPION}"

    def _load(self, uri: str, tracking_uri: str | None) -> Predictor:
        try:
            if uri.startswith(MODELS_SCHEME):
                # The sessions are made from bytes read into memory, so the download can go
                # once loaded rather than pile up in the temporary folder on every reload.
                with tempfile.TemporaryDirectory(prefix="asym-reload-") as tmp:
                    folder = resolve_model(uri, tracking_uri, dst_path=Path(tmp))
                    return Predictor.load(folder, intra_op_threads=self._intra_op_threads)
            folder = resolve_model(uri, tracking_uri)
            return Predictor.load(folder, intra_op_threads=self._intra_op_threads)
        except Exception as err:  # any failure to load is a refusal, never a server crash
            raise self._refuse(uri, f"cannot load it: {err}") from err

    def _check(self, new: Predictor, old: Predictor, uri: str) -> None:
        try:
            answers = score_canary(new)
        except Exception as err:
            raise self._refuse(uri, f"the canary requests failed: {err!r}") from err
        problems = canary_problems(answers)
        if problems:
            raise self._refuse(uri, "canary answers out of range: " + "; ".join(problems[:5]))
        try:
            before = _risks(score_canary(old))
        except Exception as err:  # the old model is serving; its failing here is unexpected
            logger.warning("canary on the serving model failed (%r); risk shift not checked", err)
            return
        shift = float(np.mean(np.abs(_risks(answers) - before)))
        if not shift <= self._max_shift:
            raise self._refuse(
                uri,
                f"the canary asymmetry risks moved by {shift:.2f} on average from the serving "
                f"model's (at most {self._max_shift:.2f} is accepted on a live reload)",
            )

    @staticmethod
    def _refuse(uri: str, why: str) -> ReloadRefused:
        logger.warning("model reload from %s refused: %s", uri, why)
        return ReloadRefused(f"{uri}: {why}")
