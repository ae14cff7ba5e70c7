"""Outcome physics: points at the needle -> paralysis -> displacements -> review outcomes + oracle.

Every point's dose spreads as an isotropic Gaussian (``atlas.spread_sd_mm``); the share reaching a
structure is ``atlas.reach`` to the patient's own (offset) structure. A muscle's paralysis
saturates, ``1 - exp(-k dose / strength)``. Paralysis moves the brow and the mouth corner on that
side; toxin reaching the levator palpebrae or the lowest frontalis causes eyelid or brow ptosis
(random events whose probability is logistic in the log dose reaching them).

The review is then random in three independent ways: the ptosis events, the biological response
(noise on each true post-treatment difference) and the clinician's reading (rater noise). The
oracle integrates all three exactly: given the events, each difference is Gaussian, so the chance
that the rater sees it beyond its threshold is a sum of two normal tails; the events enter as a
finite mixture, which factorises because the brow depends only on brow ptosis and the lid only
on eyelid ptosis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Final

import numpy as np
from scipy.special import expit, ndtr

from data.simulate import params as p
from data.simulate.types import LEFT, RIGHT, BoolArray, FloatArray, IntArray
from features.atlas import MUSCLE_BLOBS, RISK_BLOBS, USUAL_SITES, Blob, reach, spread_sd_mm

TARGET_BLOBS: Final = MappingProxyType(
    {
        "frontalis": MUSCLE_BLOBS["frontalis"],
        "corrugator": MUSCLE_BLOBS["corrugator"],
        "orbicularis_oculi": MUSCLE_BLOBS["orbicularis_oculi"],
        "depressor_anguli_oris": MUSCLE_BLOBS["depressor_anguli_oris"],
        "zygomaticus_major": RISK_BLOBS["zygomaticus_major"],
        "risorius": RISK_BLOBS["risorius"],
        "levator_palpebrae": RISK_BLOBS["levator_palpebrae"],
        "low_frontalis": p.LOW_FRONTALIS,
    }
)
"""Structures whose dose matters for the review, per side (left-side atlas, mirrored)."""
TARGETS: Final = tuple(TARGET_BLOBS)
PARALYSED: Final = tuple(p.LABEL_DOSE_PER_SIDE)
"""Targets that move a landmark in proportion to their paralysis (they have a strength)."""
_T = {name: i for i, name in enumerate(TARGETS)}
assert TARGETS[: len(PARALYSED)] == PARALYSED


@cache
def muscle_k() -> FloatArray:
    """Per paralysed target, ``k`` such that a label dose at the usual site gives LABEL_PARALYSIS.

    The label dose is one 4 U point per 0.1 mL at the usual site (or the structure's centre for a
    structure at risk), on an average-strength muscle at the atlas position.
    """
    ks = []
    for name in PARALYSED:
        blob = TARGET_BLOBS[name]
        sx, sy = USUAL_SITES.get(name, (blob.x_mm, blob.y_mm))
        sd = spread_sd_mm(np.array([4.0]), np.array([0.1]))
        r = reach(np.array([sx]), np.array([sy]), sd, *_blob_args(blob))
        ks.append(-np.log1p(-p.LABEL_PARALYSIS) / (p.LABEL_DOSE_PER_SIDE[name] * float(r[0])))
    return np.array(ks)


def _blob_args(blob: Blob) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    return (
        np.array([blob.x_mm]),
        np.array([blob.y_mm]),
        np.array([blob.sd_x_mm]),
        np.array([blob.sd_y_mm]),
    )


@dataclass(frozen=True, slots=True)
class Points:
    """Injection points of a batch of treatments, where they actually landed.

    Attributes:
        treatment: Index of the point's treatment in the batch.
        u_eq: Dose, onabotulinumtoxinA-equivalent units.
        volume_ml: Injected volume.
        x_mm: Actual x (planned + placement error).
        y_mm: Actual y.
        frontalis: Whether the point targets the frontalis.
    """

    treatment: IntArray
    u_eq: FloatArray
    volume_ml: FloatArray
    x_mm: FloatArray
    y_mm: FloatArray
    frontalis: BoolArray


@dataclass(frozen=True, slots=True)
class Anatomy:
    """Hidden state of the batch's patients, one row per treatment.

    Attributes:
        offset_mm: (treatment, target, side, xy) displacement of each structure from the atlas.
        strength: (treatment, paralysed target, side) relative strength.
        sensitivity: Toxin sensitivity multiplier.
        baseline: (treatment, 3) true brow, palpebral and commissure differences (left - right).
    """

    offset_mm: FloatArray
    strength: FloatArray
    sensitivity: FloatArray
    baseline: FloatArray


@dataclass(frozen=True, slots=True)
class Review:
    """Oracle and realised review outcome per treatment.

    Attributes:
        p_visible: True probability of visible asymmetry at review.
        p_eyelid: True probability of eyelid ptosis (either side).
        p_brow: True probability of brow ptosis (either side).
        expected_post: (treatment, 3) expected true post-treatment differences.
        post: (treatment, 3) realised true post-treatment differences.
        visible: Realised rating.
        eyelid: Realised eyelid ptosis.
        brow: Realised brow ptosis.
    """

    p_visible: FloatArray
    p_eyelid: FloatArray
    p_brow: FloatArray
    expected_post: FloatArray
    post: FloatArray
    visible: BoolArray
    eyelid: BoolArray
    brow: BoolArray


def effective_doses(points: Points, anatomy: Anatomy) -> FloatArray:
    """Dose reaching each target on each side, (treatment, target, side), U_eq."""
    n = len(anatomy.sensitivity)
    sd = spread_sd_mm(points.u_eq, points.volume_ml)
    out = np.zeros((n, len(TARGETS), 2))
    t = points.treatment
    for i, name in enumerate(TARGETS):
        blob = TARGET_BLOBS[name]
        # Only frontalis points count for the lowest frontalis: glabellar points near it are
        # a lid risk (levator), not the brow-ptosis mechanism (DF s3).
        weight = points.u_eq * points.frontalis if name == "low_frontalis" else points.u_eq
        for side, sign in ((LEFT, 1.0), (RIGHT, -1.0)):
            off = anatomy.offset_mm[t, i, side]
            cx = sign * (blob.x_mm + off[:, 0])
            cy = blob.y_mm + off[:, 1]
            r = reach(points.x_mm, points.y_mm, sd, cx, cy, *_blob_args(blob)[2:])
            out[:, i, side] = np.bincount(t, weights=weight * r, minlength=n)
    return out * anatomy.sensitivity[:, None, None]


def _tail(mu: FloatArray, sd: float, threshold: float) -> FloatArray:
    """P(|mu + N(0, sd^2)| > threshold)."""
    return np.asarray(ndtr((mu - threshold) / sd) + ndtr((-mu - threshold) / sd))


def _logit_p(logit: FloatArray) -> FloatArray:
    return np.asarray(expit(logit))


def review(
    rng: np.random.Generator,
    points: Points,
    anatomy: Anatomy,
    *,
    forehead_without_glabella: BoolArray,
    age: FloatArray,
) -> Review:
    """Simulate the two-week review of a batch of treatments and its oracle.

    Args:
        rng: Random source for the events and the noise.
        points: Where the points landed.
        anatomy: The patients' hidden state.
        forehead_without_glabella: Frontalis treated without the glabella (brow ptosis risk).
        age: Age at treatment.

    Returns:
        The oracle quantities and one realised review per treatment.
    """
    n = len(anatomy.sensitivity)
    dose = effective_doses(points, anatomy)
    n_par = len(PARALYSED)
    paralysis = 1.0 - np.exp(-muscle_k()[None, :, None] * dose[:, :n_par] / anatomy.strength)

    def par(name: str) -> FloatArray:
        return np.asarray(paralysis[:, _T[name]])

    brow_up = (
        -p.BROW_DROP_FRONTALIS_MM * par("frontalis")
        + p.BROW_LIFT_CORRUGATOR_MM * par("corrugator")
        + p.BROW_LIFT_ORBICULARIS_MM * par("orbicularis_oculi")
    )
    mouth_up = (
        p.COMMISSURE_LIFT_DAO_MM * par("depressor_anguli_oris")
        - p.COMMISSURE_DROP_ZYGOMATICUS_MM * par("zygomaticus_major")
        - p.COMMISSURE_DROP_RISORIUS_MM * par("risorius")
    )
    tiny = 1e-12
    a, b = p.EYELID_PTOSIS_LOGIT
    p_lid = _logit_p(a + b * np.log(dose[:, _T["levator_palpebrae"]] + tiny))
    a, b = p.BROW_PTOSIS_LOGIT
    shift = (
        p.BROW_PTOSIS_NO_GLABELLA_LOGIT * forehead_without_glabella
        + p.BROW_PTOSIS_OLD_LOGIT * (age > p.BROW_PTOSIS_OLD_AGE)
    )
    p_browp = _logit_p(a + b * np.log(dose[:, _T["low_frontalis"]] + tiny) + shift[:, None])

    # Differences before the ptosis events: baseline + left minus right displacement.
    mu = anatomy.baseline.copy()
    mu[:, 0] += brow_up[:, LEFT] - brow_up[:, RIGHT]
    mu[:, 2] += mouth_up[:, LEFT] - mouth_up[:, RIGHT]
    drops = (p.BROW_DROP_PTOSIS_MM, p.LID_DROP_PTOSIS_MM)
    event_p = (p_browp, p_lid)  # feeding dimension 0 (brow) and 1 (lid)
    sd = np.hypot(p.BIO_NOISE_MM, p.RATER_NOISE_MM)
    thr = p.VISIBLE_THRESHOLD_MM

    # P(nothing visible) = P(commissure not seen) x E_events[P(brow not seen)] x E[lid not seen].
    p_none = 1.0 - _tail(mu[:, 2], float(sd[2]), thr[2])
    expected = mu.copy()
    for dim in (0, 1):
        pl, pr = event_p[dim][:, LEFT], event_p[dim][:, RIGHT]
        unseen = np.zeros(n)
        for el in (0, 1):
            for er in (0, 1):
                w = (pl if el else 1.0 - pl) * (pr if er else 1.0 - pr)
                m = mu[:, dim] - drops[dim] * (el - er)
                unseen += w * (1.0 - _tail(m, float(sd[dim]), thr[dim]))
        p_none *= unseen
        expected[:, dim] -= drops[dim] * (pl - pr)

    # One realisation from the same model.
    events = [rng.random((n, 2)) < ep for ep in event_p]
    post = mu.copy()
    for dim in (0, 1):
        post[:, dim] -= drops[dim] * (events[dim][:, LEFT].astype(float) - events[dim][:, RIGHT])
    post += rng.normal(size=(n, 3)) * np.asarray(p.BIO_NOISE_MM)
    seen = post + rng.normal(size=(n, 3)) * np.asarray(p.RATER_NOISE_MM)
    visible = (np.abs(seen) > np.asarray(thr)).any(axis=1)
    return Review(
        p_visible=1.0 - p_none,
        p_eyelid=1.0 - (1.0 - p_lid[:, LEFT]) * (1.0 - p_lid[:, RIGHT]),
        p_brow=1.0 - (1.0 - p_browp[:, LEFT]) * (1.0 - p_browp[:, RIGHT]),
        expected_post=expected,
        post=post,
        visible=visible,
        eyelid=np.asarray(events[1].any(axis=1)),
        brow=np.asarray(events[0].any(axis=1)),
    )
