# Over 400 lines: one chain of physics, dose to paralysis to displacement to outcome, read together.
"""Outcome physics: points at the needle -> paralysis -> displacements -> review outcomes + oracle.

Every point's dose spreads as an isotropic Gaussian (``atlas.spread_sd_mm``), or in another
world (``worlds.World``) a wider one or a mixture of two; the share reaching a structure is
``atlas.reach`` to the patient's own (offset) structure, summed over the kernel's components. A
muscle's paralysis saturates, ``1 - exp(-k dose / strength)``. Paralysis moves the brow, the lid
and the mouth corner on that side (``World.landmark_mm``); toxin reaching the levator palpebrae
or the lowest frontalis causes eyelid or brow ptosis (random events whose probability is
logistic in the log dose reaching them).

The review is then random in three independent ways: the ptosis events, the biological response
(noise on each true post-treatment difference) and the clinician's reading (rater noise). The
oracle integrates all three exactly: given the events, each difference is Gaussian, so the chance
that the rater sees it beyond its threshold is a sum of two normal tails; the events enter as a
finite mixture, which factorises because the brow depends only on brow ptosis and the lid only
on eyelid ptosis.

That is the oracle at the needle (``review``). The pre-treatment oracle (``pre_treatment``)
averages the same closed form over fresh placement errors of the planned points.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.special import expit, ndtr

from data.atlas import MUSCLE_ATLAS, RISK_BLOBS, Blob, reach, spread_sd_mm
from data.simulate import params as p
from data.simulate.types import LEFT, RIGHT, BoolArray, FloatArray, IntArray
from data.simulate.worlds import DEFAULT_WORLD, World

TARGET_BLOBS: Final = MappingProxyType(
    {
        "frontalis": MUSCLE_ATLAS["frontalis"].blob,
        "corrugator": MUSCLE_ATLAS["corrugator"].blob,
        "orbicularis_oculi": MUSCLE_ATLAS["orbicularis_oculi"].blob,
        "depressor_anguli_oris": MUSCLE_ATLAS["depressor_anguli_oris"].blob,
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
def target_blobs(world: World = DEFAULT_WORLD) -> tuple[Blob, ...]:
    """The world's structures, ``TARGETS`` order: the atlas' moved by ``World.shift_mm``."""
    out = []
    for name in TARGETS:
        blob = TARGET_BLOBS[name]
        dx, dy = world.shift_mm.get(name, (0.0, 0.0))
        out.append(Blob(blob.x_mm + dx, blob.y_mm + dy, blob.sd_x_mm, blob.sd_y_mm, blob.source))
    return tuple(out)


def _reach(
    world: World, px: FloatArray, py: FloatArray, sd: FloatArray, *blob: FloatArray
) -> FloatArray:
    """``atlas.reach`` through the world's kernel: its components' reaches, weighted."""
    total: FloatArray | None = None
    for weight, width in world.kernel:
        r = weight * reach(px, py, sd * width, *blob)
        total = r if total is None else total + r
    assert total is not None  # a kernel has a component
    return total


@cache
def muscle_k(world: World = DEFAULT_WORLD) -> FloatArray:
    """Per paralysed target, ``k`` such that a label dose at the usual site gives LABEL_PARALYSIS.

    The label dose is one 4 U point per 0.1 mL at the usual site (or the structure's centre for a
    structure at risk), on an average-strength muscle at the world's position of the structure,
    through the world's kernel: label doses are what works in the world where they are given.
    """
    ks = []
    for name, blob in zip(PARALYSED, target_blobs(world), strict=False):
        sx, sy = MUSCLE_ATLAS[name].usual_site if name in MUSCLE_ATLAS else (blob.x_mm, blob.y_mm)
        sd = spread_sd_mm(np.array([4.0]), np.array([0.1]))
        r = _reach(world, np.array([sx]), np.array([sy]), sd, *_blob_args(blob))
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
    """At-the-needle oracle and realised review outcome per treatment.

    Attributes:
        p_visible: True probability of visible asymmetry at review, given where the points landed.
        p_eyelid: True probability of eyelid ptosis (either side), the same.
        p_brow: True probability of brow ptosis (either side), the same.
        expected_post: (treatment, 3) expected true post-treatment differences, the same.
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


def effective_doses(points: Points, anatomy: Anatomy, world: World = DEFAULT_WORLD) -> FloatArray:
    """Dose reaching each target on each side, (treatment, target, side), U_eq."""
    n = len(anatomy.sensitivity)
    sd = spread_sd_mm(points.u_eq, points.volume_ml)
    out = np.zeros((n, len(TARGETS), 2))
    t = points.treatment
    for i, (name, blob) in enumerate(zip(TARGETS, target_blobs(world), strict=True)):
        # Only frontalis points count for the lowest frontalis: glabellar points near it are
        # a lid risk (levator), not the brow-ptosis mechanism (DF s3).
        weight = points.u_eq * points.frontalis if name == "low_frontalis" else points.u_eq
        for side, sign in ((LEFT, 1.0), (RIGHT, -1.0)):
            off = anatomy.offset_mm[t, i, side]
            cx = sign * (blob.x_mm + off[:, 0])
            cy = blob.y_mm + off[:, 1]
            r = _reach(world, points.x_mm, points.y_mm, sd, cx, cy, *_blob_args(blob)[2:])
            out[:, i, side] = np.bincount(t, weights=weight * r, minlength=n)
    return out * anatomy.sensitivity[:, None, None]


def _tail(mu: FloatArray, sd: float, threshold: float) -> FloatArray:
    """P(|mu + N(0, sd^2)| > threshold)."""
    return np.asarray(ndtr((mu - threshold) / sd) + ndtr((-mu - threshold) / sd))


def _logit_p(logit: FloatArray) -> FloatArray:
    return np.asarray(expit(logit))


_DROPS: Final = (p.BROW_DROP_PTOSIS_MM, p.LID_DROP_PTOSIS_MM)
"""Drop of the brow (dimension 0) and the lid (dimension 1) on the side of a ptosis event."""


@dataclass(frozen=True, slots=True)
class _Conditional:
    """The closed-form review model of a batch given where its points landed.

    Attributes:
        p_visible: P(visible asymmetry).
        p_lid: (treatment, side) P(eyelid ptosis).
        p_browp: (treatment, side) P(brow ptosis).
        mu: (treatment, 3) true differences before the ptosis events and the noise.
        expected_post: (treatment, 3) expected true post-treatment differences.
    """

    p_visible: FloatArray
    p_lid: FloatArray
    p_browp: FloatArray
    mu: FloatArray
    expected_post: FloatArray


_NEGLIGIBLE_U_EQ: Final = 1e-9
"""A reach term that cannot exceed this dose in any placement draw is left out of the draws."""


@dataclass(frozen=True, slots=True)
class _Terms:
    """The reach terms (``effective_doses``) that can matter in a set of placement draws.

    A term is one (target, side, point): ``amp exp(-(dx^2 / 2 vx + dy^2 / 2 vy))`` U_eq, where
    ``dx, dy`` run from the structure's centre to where the point lands. Only ``dx, dy`` change
    between draws, so everything else is computed once; a term whose bound over the draws (the
    point moved by its largest error of any draw, straight toward the centre) is below
    ``_NEGLIGIBLE_U_EQ`` is dropped (about half of them: the face is large, the kernels small).
    The draws run in float32: their Monte-Carlo error is orders of magnitude larger.

    Attributes:
        point: The term's point.
        dx0: Planned x of the point minus the centre's x.
        dy0: Same for y.
        gx: ``-1 / (2 vx)``.
        gy: ``-1 / (2 vy)``.
        amp: Dose x peak share x the patient's sensitivity.
        starts: First term of each non-empty (target, side, treatment) slot, terms sorted by slot.
        slots: Those slots, as flat indices into (target, side, treatment).
        n: Treatments in the batch.
    """

    point: IntArray
    dx0: npt.NDArray[np.float32]
    dy0: npt.NDArray[np.float32]
    gx: npt.NDArray[np.float32]
    gy: npt.NDArray[np.float32]
    amp: npt.NDArray[np.float32]
    starts: IntArray
    slots: IntArray
    n: int

    @classmethod
    def of(
        cls, planned: Points, anatomy: Anatomy, reach_mm: FloatArray, world: World = DEFAULT_WORLD
    ) -> _Terms:
        """The terms of ``planned`` points that may move up to ``reach_mm`` (point, xy).

        A kernel of several Gaussians (``World.kernel``) gives each (target, side, point) a
        term per component.
        """
        n = len(anatomy.sensitivity)
        t = planned.treatment
        sd = spread_sd_mm(planned.u_eq, planned.volume_ml)
        blobs = target_blobs(world)
        bx = np.array([b.x_mm for b in blobs])[:, None, None]
        by = np.array([b.y_mm for b in blobs])[:, None, None]
        sx2 = np.array([b.sd_x_mm for b in blobs])[:, None, None] ** 2
        sy2 = np.array([b.sd_y_mm for b in blobs])[:, None, None] ** 2
        sign = np.array([1.0, -1.0])[None, :, None]  # LEFT, RIGHT
        off = np.moveaxis(anatomy.offset_mm[t], 0, -1)  # (target, side, xy, point)
        # As in effective_doses: only frontalis points count for the lowest frontalis.
        low = (np.arange(len(TARGETS)) == _T["low_frontalis"])[:, None, None]
        weight = np.where(low, planned.u_eq * planned.frontalis, planned.u_eq)
        shape = (len(TARGETS), 2, len(t))
        dx0 = planned.x_mm - sign * (bx + off[:, :, 0])
        dy0 = planned.y_mm - (by + off[:, :, 1])
        parts: list[list[npt.NDArray[Any]]] = []
        for share, width in world.kernel:
            sd2 = (sd * width) ** 2
            vx, vy = sx2 + sd2, sy2 + sd2  # (target, 1, point)
            amp = np.broadcast_to(
                weight * share * np.sqrt(sx2 * sy2 / (vx * vy)) * anatomy.sensitivity[t], shape
            )
            gap_x = np.maximum(np.abs(dx0) - reach_mm[:, 0], 0.0)
            gap_y = np.maximum(np.abs(dy0) - reach_mm[:, 1], 0.0)
            bound = amp * np.exp(-0.5 * (gap_x * gap_x / vx + gap_y * gap_y / vy))
            kept = np.nonzero(bound >= _NEGLIGIBLE_U_EQ)
            values = (dx0, dy0, -0.5 / vx, -0.5 / vy, amp)
            parts.append(
                [*kept, *(np.broadcast_to(v, shape)[kept].astype(np.float32) for v in values)]
            )
        target, side, point, *columns = (np.concatenate(c) for c in zip(*parts, strict=True))
        kept_slot = (target * 2 + side) * n + t[point]
        order = np.argsort(kept_slot, kind="stable")  # sorted already for one component
        kept_slot, point = kept_slot[order], point[order]
        dx0_, dy0_, gx, gy, amp_ = (c[order] for c in columns)
        starts = np.flatnonzero(np.diff(kept_slot, prepend=-1) != 0)
        return cls(
            point=point,
            dx0=dx0_,
            dy0=dy0_,
            gx=gx,
            gy=gy,
            amp=amp_,
            starts=starts,
            slots=kept_slot[starts],
            n=n,
        )

    def doses(self, error: npt.NDArray[np.float32]) -> FloatArray:
        """Dose reaching each target and side, (treatment, target, side), U_eq.

        Args:
            error: (point, xy) displacement of each point from its planned place.
        """
        out = np.zeros(len(TARGETS) * 2 * self.n)
        if len(self.starts):
            dx = self.dx0 + error[self.point, 0]
            dy = self.dy0 + error[self.point, 1]
            dx *= dx
            dx *= self.gx
            dy *= dy
            dy *= self.gy
            dx += dy
            share = np.exp(dx, out=dx)
            share *= self.amp
            out[self.slots] = np.add.reduceat(share, self.starts, dtype=np.float64)
        return np.moveaxis(out.reshape(len(TARGETS), 2, self.n), -1, 0)


def _landmarks(paralysis: FloatArray, world: World) -> list[FloatArray | None]:
    """Per landmark (brow, lid, commissure), its height change per (treatment, side).

    None where no structure moves it. Summed structure by structure in ``landmark_mm`` order.
    """
    moved: list[FloatArray | None] = [None, None, None]
    for name, shifts in world.landmark_mm.items():
        for dim, mm in enumerate(shifts):
            if mm != 0.0:
                term = mm * paralysis[:, _T[name]]
                before = moved[dim]
                moved[dim] = term if before is None else before + term
    return moved


def _conditional(
    dose: FloatArray,
    anatomy: Anatomy,
    forehead_without_glabella: BoolArray,
    age: FloatArray,
    world: World,
) -> _Conditional:
    """The closed-form review model given the doses that reached each target (see the module)."""
    n = len(anatomy.sensitivity)
    n_par = len(PARALYSED)
    paralysis = 1.0 - np.exp(-muscle_k(world)[None, :, None] * dose[:, :n_par] / anatomy.strength)
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
    for dim, up in enumerate(_landmarks(paralysis, world)):
        if up is not None:
            mu[:, dim] += up[:, LEFT] - up[:, RIGHT]
    event_p = (p_browp, p_lid)  # feeding dimension 0 (brow) and 1 (lid)
    sd = np.hypot(p.BIO_NOISE_MM, world.rater_noise_mm)
    thr = world.visible_threshold_mm

    # P(nothing visible) = P(commissure not seen) x E_events[P(brow not seen)] x E[lid not seen].
    p_none = 1.0 - _tail(mu[:, 2], float(sd[2]), thr[2])
    expected = mu.copy()
    for dim in (0, 1):
        pl, pr = event_p[dim][:, LEFT], event_p[dim][:, RIGHT]
        unseen = np.zeros(n)
        for el in (0, 1):
            for er in (0, 1):
                w = (pl if el else 1.0 - pl) * (pr if er else 1.0 - pr)
                m = mu[:, dim] - _DROPS[dim] * (el - er)
                unseen += w * (1.0 - _tail(m, float(sd[dim]), thr[dim]))
        p_none *= unseen
        expected[:, dim] -= _DROPS[dim] * (pl - pr)
    return _Conditional(
        p_visible=1.0 - p_none,
        p_lid=p_lid,
        p_browp=p_browp,
        mu=mu,
        expected_post=expected,
    )


def _either(p_side: FloatArray) -> FloatArray:
    """P(an event on either side) from independent per-side probabilities, (n, 2) -> (n,)."""
    return np.asarray(1.0 - (1.0 - p_side[:, LEFT]) * (1.0 - p_side[:, RIGHT]))


def review(
    rng: np.random.Generator,
    points: Points,
    anatomy: Anatomy,
    *,
    forehead_without_glabella: BoolArray,
    age: FloatArray,
    world: World = DEFAULT_WORLD,
) -> Review:
    """Simulate the two-week review of a batch of treatments and its at-the-needle oracle.

    Args:
        rng: Random source for the events and the noise.
        points: Where the points landed.
        anatomy: The patients' hidden state.
        forehead_without_glabella: Frontalis treated without the glabella (brow ptosis risk).
        age: Age at treatment.
        world: The world's physics and raters.

    Returns:
        The oracle quantities given the landing points and one realised review per treatment.
    """
    n = len(anatomy.sensitivity)
    dose = effective_doses(points, anatomy, world)
    cond = _conditional(dose, anatomy, forehead_without_glabella, age, world)
    thr = world.visible_threshold_mm

    # One realisation from the same model.
    events = [rng.random((n, 2)) < ep for ep in (cond.p_browp, cond.p_lid)]
    post = cond.mu.copy()
    for dim in (0, 1):
        post[:, dim] -= _DROPS[dim] * (events[dim][:, LEFT].astype(float) - events[dim][:, RIGHT])
    post += rng.normal(size=(n, 3)) * np.asarray(p.BIO_NOISE_MM)
    seen = post + rng.normal(size=(n, 3)) * np.asarray(world.rater_noise_mm)
    visible = (np.abs(seen) > np.asarray(thr)).any(axis=1)
    return Review(
        p_visible=cond.p_visible,
        p_eyelid=_either(cond.p_lid),
        p_brow=_either(cond.p_browp),
        expected_post=cond.expected_post,
        post=post,
        visible=visible,
        eyelid=np.asarray(events[1].any(axis=1)),
        brow=np.asarray(events[0].any(axis=1)),
    )


@dataclass(frozen=True, slots=True)
class PreTreatment:
    """Pre-treatment oracle: the review probabilities averaged over the placement error.

    Attributes:
        p_visible: P(visible asymmetry) given the hidden state and the plan.
        p_eyelid: P(eyelid ptosis, either side) given the same.
        p_brow: P(brow ptosis, either side) given the same.
    """

    p_visible: FloatArray
    p_eyelid: FloatArray
    p_brow: FloatArray


def pre_treatment(
    normals: npt.NDArray[np.float32],
    planned: Points,
    placement_sd_mm: FloatArray,
    anatomy: Anatomy,
    *,
    forehead_without_glabella: BoolArray,
    age: FloatArray,
    world: World = DEFAULT_WORLD,
) -> PreTreatment:
    """Average the closed-form probabilities over placement errors drawn beforehand.

    Each draw moves every point from its planned place by an independent ``N(0, sd^2)`` error
    per axis, exactly as the realised placement was drawn (``plans``), and evaluates the same
    conditional model as ``review``; the mean is a Monte-Carlo estimate of the probability given
    the hidden state and the plan alone. The standard normals are the caller's
    (``hidden.placement_normals``: keyed by treatment and point, so that the truth of another
    plan of the same treatment sees the same draws).

    Args:
        normals: (draws, point, xy) standard normal draws of the placement errors.
        planned: The points at their planned places (``x_mm``, ``y_mm`` = the plan).
        placement_sd_mm: Placement error sd per point (0 gives the at-the-needle values).
        anatomy: The patients' hidden state.
        forehead_without_glabella: As for ``review``.
        age: As for ``review``.
        world: As for ``review``.

    Returns:
        The placement-averaged probabilities per treatment.
    """
    n = len(anatomy.sensitivity)
    draws = len(normals)
    errors = normals * placement_sd_mm.astype(np.float32)[None, :, None]
    terms = _Terms.of(
        planned, anatomy, np.abs(errors).max(axis=0, initial=0.0).astype(float), world
    )
    total = np.zeros((3, n))
    for error in errors:
        cond = _conditional(terms.doses(error), anatomy, forehead_without_glabella, age, world)
        total[0] += cond.p_visible
        total[1] += _either(cond.p_lid)
        total[2] += _either(cond.p_browp)
    total /= draws
    return PreTreatment(p_visible=total[0], p_eyelid=total[1], p_brow=total[2])
