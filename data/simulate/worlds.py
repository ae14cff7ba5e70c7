"""World variants: the same registry drawn under other anatomy, spread, landmarks, raters, clinics.

Every figure asym quotes comes from the simulator, and the simulator shares the atlas and the
spread kernel with the features. A real registry is another world. A ``World`` is a named set of
overrides of the simulator parameters that the features assume (``params``, whose values the
default world takes), passed down to the modules that read them; nothing is changed at module
level. ``asym simulate --world NAME`` draws a registry in ``WORLDS[NAME]``; the oracle is that
world's truth, so models are measured against what was achievable there.

Each override names its source row in ``domain-facts.md`` ("DF s3" = section 3) or says
"assumption". The default world draws the same bytes as before worlds existed (a test checks a
digest). Variants draw the same random numbers for the same seed as far as their parameters
allow, so a variant differs from the default by its physics and habits, not by its luck.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from data.simulate import params as p

XY = tuple[float, float]
Triple = tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class World:
    """The parameters of the simulated world that the features' assumptions rest on.

    Compared and cached by identity: worlds are the constants of ``WORLDS``.

    Attributes:
        name: Name on the command line and in ``simulation.json``.
        description: One line on what differs from the default.
        shift_mm: Systematic displacement (x lateral, y up; left side, mirrored) of each
            structure of ``physics.TARGET_BLOBS`` from the atlas, for every patient; absent: 0.
        offset_sd_mm: Per-patient sd of each structure's offset around that position.
        spread_scale: Width of the spread kernel relative to the atlas' (``atlas.spread_sd_mm``).
        spread_tail: (share of the dose, width relative to the core) of a second, wider Gaussian
            component of the kernel; a share of 0 leaves the atlas' single Gaussian.
        landmark_mm: Per paralysed structure, the (brow, palpebral fissure, commissure) height
            change of its side at full paralysis.
        visible_threshold_mm: A rated (brow, lid, commissure) difference beyond this is visible.
        rater_noise_mm: The clinician's reading noise on each difference.
        placement_sd_mm: Per-point placement error sd of (experienced, novice) injectors.
        novice_share_beta: Beta distribution of a clinic's share of novice-injected sessions.
        p_clinic_corrects: Share of clinics whose injectors correct a measured difference.
        correction_per_mm: Extra left share of the forehead dose per mm of brow difference.
        imbalance_sd: Accidental left/right dose share error, (experienced, novice).
        p_clinic_no_coordinates: Share of clinics that never record coordinates.
        low_glabella_habit: N(mean, sd) mm of a clinic's shift of the lateral corrugator point.
        forehead_lowest_y_mm: Planned height of the lowest forehead row.
        dose_habit_sd: Lognormal sd of a clinic's dose multiplier.
    """

    name: str
    description: str
    shift_mm: Mapping[str, XY] = field(default_factory=lambda: MappingProxyType({}))
    offset_sd_mm: float = p.ANATOMY_OFFSET_SD_MM
    spread_scale: float = 1.0
    spread_tail: XY = (0.0, 1.0)
    landmark_mm: Mapping[str, Triple] = field(default_factory=lambda: p.LANDMARK_SHIFT_MM)
    visible_threshold_mm: Triple = p.VISIBLE_THRESHOLD_MM
    rater_noise_mm: Triple = p.RATER_NOISE_MM
    placement_sd_mm: XY = p.PLACEMENT_SD_MM
    novice_share_beta: XY = p.NOVICE_SHARE_BETA
    p_clinic_corrects: float = p.P_CLINIC_CORRECTS
    correction_per_mm: float = p.CORRECTION_PER_MM
    imbalance_sd: XY = p.IMBALANCE_SD
    p_clinic_no_coordinates: float = p.P_CLINIC_NO_COORDINATES
    low_glabella_habit: XY = p.LOW_GLABELLA_HABIT
    forehead_lowest_y_mm: float = p.FOREHEAD_LOWEST_Y_MM
    dose_habit_sd: float = p.DOSE_HABIT_SD

    @property
    def kernel(self) -> tuple[XY, ...]:
        """(weight, width relative to the atlas kernel) of each Gaussian of the spread kernel."""
        share, width = self.spread_tail
        if share == 0.0:
            return ((1.0, self.spread_scale),)
        return ((1.0 - share, self.spread_scale), (share, self.spread_scale * width))

    def overrides(self) -> dict[str, Any]:
        """The parameters that differ from the default world's, as JSON-ready values."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("name", "description"):
                continue
            value, default = getattr(self, f.name), getattr(DEFAULT_WORLD, f.name)
            if value != default:
                out[f.name] = dict(value) if isinstance(value, Mapping) else value
        return out


DEFAULT_WORLD: Final = World("default", "the literature world of params.py (the atlas' world)")

_ANATOMY: Final[dict[str, Any]] = {
    # DF s8: the frontalis, orbicularis, DAO and risk-structure centres are derivations,
    # "UNCERTAIN, +/-5-10 mm"; the corrugator's cadaver points span x 4-35 and y 16-31 mm, so
    # its bulk may lie lateral of their centroid. Shifts of 3-6 mm stay inside those ranges.
    "shift_mm": MappingProxyType(
        {
            "frontalis": (4.0, 6.0),
            "corrugator": (6.0, 3.0),
            "orbicularis_oculi": (-5.0, 4.0),
            "depressor_anguli_oris": (3.0, 6.0),
            "zygomaticus_major": (-5.0, 6.0),
            "risorius": (-4.0, 4.0),
            "levator_palpebrae": (0.0, 1.5),  # DF s8: rim at mid-pupil y +12..+15
            "low_frontalis": (0.0, 4.0),  # DF s8: frontalis from the brow, y ~ +20 (derived)
        }
    ),
    # DF s5: complete left-right corrugator symmetry in only 30% of cadavers: individual
    # anatomy varies more than the default's 1.5 mm (magnitude: assumption).
    "offset_sd_mm": 3.0,
}
_SPREAD: Final[dict[str, Any]] = {
    # DF s3: "~1 cm" read as a diameter or a radius (a factor 2), "up to 3 cm" elsewhere.
    "spread_scale": 1.5,
    # DF s3 (diffusion to neighbouring muscles on EMG; "up to 3 cm"): a quarter of the dose in a
    # component 2.5x wider (shape: assumption).
    "spread_tail": (0.25, 2.5),
}
_LANDMARKS: Final[dict[str, Any]] = {
    # DF s3 gives the directions only (frontalis lifts the brow, corrugator and orbicularis pull
    # it down, DAO pulls the commissure down, zygomaticus and risorius pull it up and out);
    # every magnitude and the extra landmarks are assumptions: the brow's weight narrows the
    # fissure, the lateral orbicularis (DF s5: the one asymmetric mimic muscle) opens it and its
    # lower fibres take part in the smile.
    "landmark_mm": MappingProxyType(
        {
            "frontalis": (-6.0, -0.5, 0.0),
            "corrugator": (0.5, 0.0, 0.0),
            "orbicularis_oculi": (1.5, 0.8, -0.8),
            "depressor_anguli_oris": (0.0, 0.0, 1.2),
            "zygomaticus_major": (0.0, 0.0, -4.5),
            "risorius": (0.0, 0.0, -1.0),
        }
    ),
}
_RATERS: Final[dict[str, Any]] = {
    # DF s11 visible-asymmetry row: brow > 2 mm (sensitivity 3 mm), commissure > 2.5 mm; the
    # default rates at brow 3 / commissure 3.5 mm, these raters half a millimetre stricter (at
    # brow 2 mm, 55% of a 20k registry would be rated visible); the noisier reading: assumption.
    "visible_threshold_mm": (2.5, 2.0, 3.0),
    "rater_noise_mm": (0.8, 0.5, 0.8),
}
_CLINICS: Final[dict[str, Any]] = {
    # DF s11 placement error (3 / 6 mm) is itself an assumption; DF s4: 5.4% lid ptosis in the
    # first trials' inexperienced hands. Wider errors and more novices: assumption.
    "placement_sd_mm": (4.0, 8.0),
    "novice_share_beta": (3.0, 4.0),
    "p_clinic_corrects": 0.3,  # assumption
    "correction_per_mm": 0.15,  # assumption: those that correct, over-correct
    "imbalance_sd": (0.05, 0.12),  # assumption
    "p_clinic_no_coordinates": 0.6,  # assumption: more plans at the usual sites
    # DF s3: glabellar points >= 1 cm above the rim is advice; some clinics go lower.
    "low_glabella_habit": (-2.0, 2.5),
    # DF s11 forehead row: lowest point y >= +35 mm; DF s3: brow ptosis from points too low.
    "forehead_lowest_y_mm": 33.0,
    "dose_habit_sd": 0.25,  # assumption
}

WORLDS: Final = MappingProxyType(
    {
        w.name: w
        for w in (
            DEFAULT_WORLD,
            World("anatomy", "muscles 3-6 mm away from the atlas; twice the variation", **_ANATOMY),
            World("spread", "a kernel 1.5x wider with a heavy tail", **_SPREAD),
            World(
                "landmarks",
                "other landmark mechanics: how far each muscle moves what",
                **_LANDMARKS,
            ),
            World(
                "raters",
                "stricter, noisier visibility rating (brow 2.5, commissure 3 mm)",
                **_RATERS,
            ),
            World("clinics", "more novices, wider placement error, other dose habits", **_CLINICS),
            World(
                "elsewhere",
                "all of the above at once",
                **_ANATOMY,
                **_SPREAD,
                **_LANDMARKS,
                **_RATERS,
                **_CLINICS,
            ),
        )
    }
)
"""Every world ``asym simulate --world`` knows, the default first."""


def world_named(name: str) -> World:
    """The world called ``name``.

    Raises:
        ValueError: No such world; the message lists them.
    """
    if name not in WORLDS:
        raise ValueError(f"world must be one of {', '.join(WORLDS)}, got {name!r}")
    return WORLDS[name]
