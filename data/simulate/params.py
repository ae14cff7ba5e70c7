"""Every number of the simulated world, named once.

Each constant names its row in ``domain-facts.md`` section 11 ("DF s11 <row>", sometimes another
section) or says "assumption" where no public number exists. Anatomy (muscle centres, usual
sites, structures at risk, unit factors, spread kernel) is not restated here: it comes from
``data.atlas``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from data.atlas import BROW_LINE_Y_MM, Blob

SIMULATOR_VERSION: Final = "asym-sim 1.3"
"""Bumped whenever the same arguments would give different files."""

CHUNK_PATIENTS: Final = 10_000
"""Patients simulated together; bounds memory (about 30k treatments, 350k points per chunk)."""

# --- Registry period -----------------------------------------------------------------------------

REGISTRY_START: Final = "2019-01-01"  # assumption
REGISTRY_END: Final = "2025-12-31"  # assumption

# --- Cohort (DF s11 "Cohort realism") ------------------------------------------------------------

P_MALE: Final = 0.12  # DF s11 cohort realism: ~85-90% women
AGE_MEAN: Final = 47.0  # DF s11 cohort realism: median age 45-50
AGE_SD: Final = 12.0  # assumption
AGE_RANGE: Final = (18.0, 85.0)  # assumption (contract allows 18-100)
HAND_PROBS: Final = MappingProxyType({"right": 0.88, "left": 0.10, "ambidextrous": 0.02})
"""Assumption: ~88% right-handed."""
ANCESTRY_PROBS_NON_EAST_ASIAN: Final = MappingProxyType(
    {
        "south_asian": 0.08,
        "european": 0.60,
        "african": 0.08,
        "hispanic": 0.12,
        "middle_eastern": 0.07,
        "other": 0.05,
    }
)
"""Assumption: mostly White in US trials (DF s11 cohort realism); the East Asian share is set
per clinic below."""
P_ASIAN_CLINIC: Final = 0.25  # assumption: share of clinics with a mainly East Asian clientele
EAST_ASIAN_SHARE_ASIAN_CLINIC: Final = 0.70  # assumption (Brin pooled set ~50% Asian, DF s11)
EAST_ASIAN_SHARE_OTHER_CLINIC: Final = 0.04  # assumption
SESSION_COUNT_PROBS: Final = (0.30, 0.22, 0.17, 0.13, 0.10, 0.08)
"""Assumption: planned sessions per patient, 1 to 6 (fewer fall inside the registry period)."""
P_NO_EXERCISE: Final = 0.25  # assumption
EXERCISE_GAMMA: Final = (2.0, 1.4)  # assumption: (shape, scale) sessions/week of exercisers
HIGH_ACTIVITY_SESSIONS: Final = 4.0  # assumption: "frequent exerciser" / high activity cut-off
P_BRUXISM: Final = 0.10  # assumption
P_SMOKER: Final = 0.12  # assumption
P_CHRNA1_CARRIER: Final = 0.03  # assumption: small effect-free carrier share (DF s10: no data)
P_CHRNA1_CARRIER_EAST_ASIAN_SEED: Final = 0.33  # seed claim (DF s10), scenario seed-claims only

# Intake fields the patient leaves empty (per patient; assumption).
P_MISSING_INTAKE: Final = MappingProxyType(
    {"dominant_hand": 0.15, "ancestry": 0.08, "exercise": 0.25, "bruxism": 0.20, "smoker": 0.10}
)

# --- Hidden per-patient state --------------------------------------------------------------------

BROW_DIFF_MEAN_ABS_YOUNG: Final = 1.4  # DF s11 baseline brow: half-normal mean 1.4 mm, age < 45
BROW_DIFF_MEAN_ABS_OLD: Final = 1.8  # DF s11 baseline brow: 1.8 mm, age >= 45
BROW_DIFF_AGE_SPLIT: Final = 45.0  # DF s11 baseline brow
P_RIGHT_BROW_LOWER: Final = 0.6  # DF s11 baseline brow: right lower with p = 0.6
COMMISSURE_DIFF: Final = (-0.5, 1.7)  # DF s11 baseline commissure: N(-0.5, 1.7) mm
PALPEBRAL_DIFF_SD: Final = (
    0.7  # DF s5: margin-pupil mean |diff| 0.55 mm -> sd 0.55/0.8 (assumption)
)
MALE_STRENGTH: Final = (1.3, 1.6)  # DF s11 sex effect: muscle factor 1.3-1.6 (uniform)
EAST_ASIAN_STRENGTH: Final = 0.85  # DF s6: smaller muscle mass (magnitude assumption)
STRENGTH_PATIENT_SD: Final = 0.20  # assumption: lognormal sd, shared by a patient's muscles
STRENGTH_SIDE_SD: Final = 0.07  # assumption: lognormal sd per muscle and side
FRONTALIS_THICKNESS: Final = MappingProxyType({"female": (2.4, 0.4), "male": (2.9, 0.5)})
"""Assumption (DF s5: frontalis thickness not retrieved): N(mean, sd) mm."""
FRONTALIS_LR_REL_SD: Final = 0.05  # DF s11 frontalis L-R: |N(0, 0.05)| relative
MASSETER_THICKNESS: Final = MappingProxyType({"female": (9.0, 1.5), "male": (10.5, 1.5)})
"""DF s11 muscle size: relaxed masseter N(mean, sd) mm; also the longevity reference."""
MASSETER_HYPERTROPHY: Final = (13.0, 3.0)  # DF s11 muscle size: hypertrophy patients N(13, 3)
P_HYPERTROPHY_IF_JAW: Final = 0.6  # assumption: share of jaw patients with hypertrophy
MASSETER_LR_REL_SD: Final = 0.08  # DF s11 baseline masseter L-R: |N(0, 0.08)|
ANATOMY_OFFSET_SD_MM: Final = 1.5  # assumption: muscle centres vary ~N(0, 1.5 mm) around the atlas
SENSITIVITY_SD: Final = 0.10  # assumption: lognormal sd of toxin sensitivity
BETA_DOSE_DURATION: Final = (0.3, 0.1, 0.1, 0.6)  # DF s11 dose-duration: N(0.3, 0.1) in [0.1, 0.6]
HIGH_ACTIVITY_FACTOR: Final = (0.8, 0.95)  # DF s11 physical activity: duration x U(0.8, 0.95)
P_NAB_PER_TREATMENT: Final = 0.004  # DF s11 neutralising antibodies: p 0.004 per treatment
NAB_FACTOR: Final = (0.3, 0.6)  # DF s11 neutralising antibodies: later cycles x U(0.3, 0.6)

# Seed-claims scenario only (DF s10 verdicts: none supported; labelled stress test).
SEED_DOMINANT_FRONTALIS: Final = (1.15, 1.30)  # dominant-side frontalis 15-30% thicker
SEED_CHRNA1_DURATION: Final = (1.2, 1.3)  # assumption for "longer effect" of carriers
SEED_EXERCISER_MASSETER: Final = (0.76, 0.82)  # masseter wearing off 18-24% sooner
SEED_MOUTH_CORNER_SHARE: Final = 0.6  # mouth corners returning earlier in 60% of patients
SEED_MOUTH_CORNER_DAYS: Final = (15.0, 20.0)  # ... by 15-20 days

# --- Measurement ---------------------------------------------------------------------------------

BASELINE_NOISE_MM: Final = 0.2  # assumption: photo measurement of a height difference
FRONTALIS_US_SEM_REL: Final = 0.22 / 2.77  # DF s5 ultrasound repeatability: MDD 22% = 2.77 SEM
MASSETER_US_SEM_REL: Final = 0.10 / 2.77  # DF s5 ultrasound repeatability: MDD 10%

# --- Clinics (assumptions unless a row is named) -------------------------------------------------

CLINICS_PER_SQRT_TREATMENT: Final = 1.0 / 8.0  # assumption: ~40 clinics at 100k treatments
CLINICS_RANGE: Final = (3, 60)  # "a few dozen"
P_OTHER_CLINIC: Final = 0.05  # a session at another clinic than the patient's usual one
CLINIC_SIZE_SD: Final = 0.6  # lognormal spread of clinic sizes
DOSE_HABIT_SD: Final = 0.12  # lognormal sd of a clinic's dose multiplier
PATIENT_DOSE_SD: Final = 0.10  # lognormal sd of a patient's usual dose multiplier
PRODUCT_PROBS: Final = MappingProxyType(
    {
        "onabotulinumtoxinA": 0.45,
        "abobotulinumtoxinA": 0.20,
        "incobotulinumtoxinA": 0.15,
        "prabotulinumtoxinA": 0.08,
        "letibotulinumtoxinA": 0.07,
        "daxibotulinumtoxinA": 0.05,
    }
)
"""DF s11 product mix."""
PRODUCT_CONCENTRATION: Final = 8.0  # Dirichlet concentration of a clinic's product mix
P_PRODUCT_SWITCH: Final = 0.15  # per session, the patient gets a product other than their usual
DILUTION_ML_PER_100U_EQ: Final = (2.5, 2.0, 4.0)
"""DF s11 dilution: label 4 U/0.1 mL (2.5 mL/100 U), Korean 50 U/mL (2 mL), higher dilution.
Per 100 onabotulinumtoxinA-equivalent units; the labelled figure is this times the unit factor."""
DILUTION_PROBS: Final = (0.7, 0.2, 0.1)  # DF s11 dilution: 70% / 20% / 10%
DILUTION_CONCENTRATION: Final = 10.0  # Dirichlet concentration of a clinic's dilution mix
NOVICE_SHARE_BETA: Final = (1.5, 5.0)  # Beta of a clinic's share of novice-injected sessions
PLACEMENT_SD_MM: Final = (3.0, 6.0)  # DF s11 per-point placement error: experienced, novice
ORACLE_PLACEMENT_DRAWS: Final = 32
"""Placement-error draws averaged for the pre-treatment oracle (``physics.pre_treatment``).

Not a property of the world but precision against cost. Across a literature registry the placement
error moves a treatment's P(visible asymmetry) with sd ~0.09 (rms; at most ~0.38), while the
true probability varies across treatments with sd ~0.29. With 32 draws the Monte-Carlo sd of a
treatment's average is ~0.015 rms (worst ~0.07): it adds ~2e-4 to a Brier score of ~0.13
(0.2%), and ~0.015 / sqrt(n) to a mean over n treatments, far below the effects the tests
compare (a few points over thousands of treatments). Cost: ~7 s per 100k treatments."""
P_CLINIC_NO_COORDINATES: Final = 0.3  # clinics that never record coordinates
COORDINATE_SHARE_RANGE: Final = (0.6, 1.0)  # sessions with coordinates in the others
DEPTH_SHARE_RANGE: Final = (0.0, 1.0)  # sessions with depth recorded
FOLLOWUP_SHARE_RANGE: Final = (0.55, 0.95)  # sessions with a review visit recorded
DURATION_SHARE_RANGE: Final = (0.5, 0.95)  # sessions with durations recorded
BASELINE_SHARE_RANGE: Final = (0.96, 1.0)  # sessions with baseline differences measured
P_CLINIC_FRONTALIS_US: Final = 0.4  # clinics doing frontalis ultrasound at all
FRONTALIS_US_SHARE_RANGE: Final = (0.3, 0.9)  # ... and their share of forehead sessions
MASSETER_US_IF_JAW: Final = 0.85  # masseter ultrasound when the jaw is treated (informative)
MASSETER_US_OTHERWISE: Final = 0.03
P_CLINIC_GENOTYPES: Final = 0.3  # clinics recording chrna1_variant at all
GENOTYPE_SHARE_RANGE: Final = (0.3, 0.9)
REVIEW_DAY: Final = (14.0, 3.0, 7, 42)  # DF s11 touch-up row: review day 14-21; N(14, 3) in range
P_FOLLOWUP_DIFF_MISSING: Final = 0.05  # a post-treatment difference not measured at review
P_CLINIC_CORRECTS: Final = 0.7  # clinics whose injectors correct a measured brow difference
LOW_GLABELLA_HABIT: Final = (0.0, 1.5)  # N(mean, sd) mm: a clinic's lateral corrugator height

# --- Which regions are treated -------------------------------------------------------------------

REGION_PROBS: Final = MappingProxyType(
    {
        "glabella": 0.80,
        "forehead": 0.55,
        "crows_feet": 0.45,
        "nose": 0.04,
        "mouth_corners": 0.07,
        "chin": 0.06,
        "jaw": 0.06,
        "neck": 0.05,
    }
)
"""Assumption: a patient's usual regions (glabella most common, then forehead, crow's feet)."""
JAW_PROB_EAST_ASIAN: Final = 0.35  # DF s6 / s11: masseter contouring much more common
CLINIC_REGION_SD: Final = 0.3  # lognormal spread of a clinic's region shares
P_USUAL_REGION_KEPT: Final = 0.9  # a session includes each usual region with this p
P_EXTRA_REGION: Final = 0.03  # ... and each other region with this p

# --- Plans (doses in U_eq) -----------------------------------------------------------------------

GLABELLA_DOSE: Final = MappingProxyType({"female": (20.0, 4.0), "male": (35.0, 6.0)})
"""DF s11 GL dose: women 20 U_eq sd 4; men 30-40 U_eq (N(35, 6))."""
GLABELLA_RANGE: Final = (8.0, 80.0)  # DF s11 GL dose ranges (East Asian 8-10 U to men 80 U)
EAST_ASIAN_DOSE: Final = 0.55  # DF s11 ethnicity: GL ~10 U, forehead 3-9 U (ratio ~0.5)
P_THREE_POINT_GLABELLA_EAST_ASIAN: Final = 0.5  # DF s1 Korean consensus: 3 points
AGE_DOSE_PER_YEAR: Final = 0.1  # DF s11 age: +0.1 U per year above 40 (glabella)
AGE_DOSE_FROM: Final = 40.0
PROCERUS_SHARE: Final = 0.2  # DF s1 label: 4 of 20 U at the procerus point
LATERAL_CORRUGATOR_SHARE: Final = 0.45  # assumption: lateral point of a corrugator's two
CORRUGATOR_MEDIAL_SITE: Final = (12.0, 22.0)  # assumption: medial brow, above the medial canthus
LATERAL_CORRUGATOR_X_MM: Final = 24.0  # assumption: near the mid-pupillary line
LATERAL_CORRUGATOR_ABOVE_RIM: Final = (12.5, 2.0)  # DF s3/s11: ~1 cm above the rim; N(mean, sd)
FOREHEAD_DOSE: Final = (10.0, 20.0)  # DF s11 forehead dose: 10-20 U_eq, uniform
MALE_FOREHEAD: Final = 1.3  # assumption: men's larger frontalis
FOREHEAD_POINTS_PER_SIDE: Final = (2, 5)  # DF s11 forehead: 4-10 points in all
FOREHEAD_LOWEST_Y_MM: Final = 38.0  # DF s11 forehead: lowest point y >= +35 mm
FOREHEAD_PLAN_SD_MM: Final = 5.0  # DF s11 forehead: planning error N(0, 5 mm)
FOREHEAD_ROW_GAP_MM: Final = 12.0  # assumption: two rows of points ~1.2 cm apart
FOREHEAD_X_RANGE_MM: Final = (10.0, 42.0)  # assumption: within the temporal fusion lines (DF s8)
CROWS_FEET_POINTS: Final = 3  # DF s11 crow's feet: 3 points per side
CROWS_FEET_UNITS: Final = (2.0, 4.0)  # DF s11 crow's feet: 2-4 U per point
CROWS_FEET_DY_MM: Final = 10.0  # DF s8: points fan ~1 cm apart vertically
JAW_DOSE_PER_SIDE: Final = (20.0, 40.0)  # DF s11 masseter: 20-40 U_eq per side
MALE_MASSETER: Final = 1.2  # assumption: men's larger masseter (DF s5 thickness M > F)
JAW_POINTS_PER_SIDE: Final = (1, 3)  # DF s11 masseter: 1-3 points
JAW_DY_MM: Final = 8.0  # assumption: points along the lower masseter
DAO_DOSE_PER_SIDE: Final = (2.0, 5.0)  # DF s11 DAO: 2-5 U per side
DAO_POINTS_PER_SIDE: Final = (1, 3)  # DF s11 DAO: 1-3 points
CHIN_DOSE: Final = (2.0, 8.0)  # DF s11 mentalis: 2-8 U total
P_CHIN_MIDLINE: Final = 0.5  # assumption: one midline point instead of a paired one
NOSE_DOSE_PER_SIDE: Final = (1.0, 2.5)  # DF s11 LLSAN: 1-2.5 U per side, 1 point
NECK_DOSE_PER_SIDE: Final = (5.0, 20.0)  # DF s11 platysma: 10-40 U consensus (<= 20 U/side)
NECK_POINTS_PER_SIDE: Final = (3, 5)  # DF s1 platysma: 3-5 per band
SITE_JITTER_MM: Final = 3.0  # assumption: plan-to-plan variation of a point around its site
CORRECTION_PER_MM: Final = 0.08  # assumption: extra share of forehead units per mm of brow diff
DAO_CORRECTION_PER_MM: Final = 0.06  # assumption: same for DAO and the commissure difference
IMBALANCE_SD: Final = (0.03, 0.08)  # assumption: accidental L/R share error, experienced/novice
P_GROSS_IMBALANCE: Final = 0.03  # assumption: one side clearly over-dosed by mistake
GROSS_IMBALANCE: Final = 0.2  # assumption: ... by this share
SHARE_RANGE: Final = (0.15, 0.85)  # left share of a region's dose stays within this

# --- Outcome physics -----------------------------------------------------------------------------

LABEL_PARALYSIS: Final = 0.78  # assumption: a label dose paralyses ~0.7-0.85 of a muscle
LABEL_DOSE_PER_SIDE: Final = MappingProxyType(
    {
        "frontalis": 7.5,  # DF s1: 10-20 U forehead
        "corrugator": 8.0,  # DF s1 label: corrugator ~8 U/side
        "orbicularis_oculi": 12.0,  # DF s1 label: 12 U/side
        "depressor_anguli_oris": 4.5,  # DF s1 DAO RCT: 4.5 U/side
        "zygomaticus_major": 4.5,  # assumption: a small lower-face muscle like the DAO
        "risorius": 4.5,  # assumption: same
    }
)
"""Per-side label dose placed at the usual site; calibrates each muscle's k (assumption)."""
LOW_FRONTALIS: Final = Blob(
    27.0, BROW_LINE_Y_MM + 5.0, 12.0, 4.0, "assumption: brow-elevating lowest frontalis"
)
"""Lowest part of the frontalis; toxin reaching it drops the brow (DF s3 brow ptosis mechanism)."""
LANDMARK_SHIFT_MM: Final = MappingProxyType(
    {
        # (brow, palpebral fissure, commissure) height change of a side at full paralysis, mm.
        "frontalis": (-4.0, 0.0, 0.0),  # assumption: full frontalis paralysis lowers the brow 4 mm
        "corrugator": (1.2, 0.0, 0.0),  # assumption: corrugator paralysis lifts the medial brow
        "orbicularis_oculi": (0.8, 0.0, 0.0),  # assumption: lateral orbicularis lifts the tail
        "depressor_anguli_oris": (0.0, 0.0, 2.0),  # assumption
        "zygomaticus_major": (0.0, 0.0, -3.0),  # assumption: smile asymmetry (DF s3 off-target)
        "risorius": (0.0, 0.0, -2.0),  # assumption: narrower smile (DF s3 masseter row)
    }
)
"""Which landmark each paralysed structure moves, and how far (DF s3 gives the directions only).
Keys are ``LABEL_DOSE_PER_SIDE``'s; a world (``worlds.World.landmark_mm``) may say otherwise."""
EYELID_PTOSIS_LOGIT: Final = (-2.1, 2.0)  # DF s11 eyelid ptosis: logit p = a + b ln(levator U_eq)
BROW_PTOSIS_LOGIT: Final = (-5.2, 1.6)  # DF s11 brow ptosis: logit p = a + b ln(low-frontalis U)
BROW_PTOSIS_NO_GLABELLA_LOGIT: Final = 1.1  # DF s11 brow ptosis: frontalis without glabella (x3)
BROW_PTOSIS_OLD_LOGIT: Final = 0.405  # DF s11 age: brow ptosis risk x1.5 if age > 50 (ln 1.5)
BROW_PTOSIS_OLD_AGE: Final = 50
LID_DROP_PTOSIS_MM: Final = 2.5  # DF s3 lid ptosis: apraclonidine lifts the lid 1-3 mm
BROW_DROP_PTOSIS_MM: Final = 3.0  # assumption
BIO_NOISE_MM: Final = (0.4, 0.3, 0.4)  # assumption: biological response sd (brow, lid, commissure)
RATER_NOISE_MM: Final = (0.5, 0.4, 0.5)  # assumption: clinician's reading noise
POST_MEASUREMENT_NOISE_MM: Final = 0.3  # assumption: as for the baseline
VISIBLE_THRESHOLD_MM: Final = (3.0, 2.0, 3.5)
"""DF s11 visible asymmetry: brow > 2 mm (sensitivity 3 mm), commissure > 2.5 mm; chosen (brow 3,
lid 2, commissure 3 mm; assumption) so that 10-25% of sessions are rated visibly asymmetric."""

# --- Longevity -----------------------------------------------------------------------------------

WEIBULL_SHAPE: Final = 3.5  # DF s11 longevity: shape k ~ 3-4
REF_MEDIAN_DAYS: Final = MappingProxyType(
    {
        "forehead": 120.0,  # DF s11 longevity: FHL ~120 d
        "glabella": 130.0,  # DF s11 longevity: GL 120-140 d (20 U women)
        "crows_feet": 125.0,  # DF s11 longevity: CFL 125 d (24 U)
        "nose": 100.0,  # assumption (LLSAN: no source)
        "mouth_corners": 100.0,  # DF s11 longevity: DAO ~90-110 d
        "chin": 90.0,  # DF s11 longevity: mentalis ~90 d
        "jaw": 110.0,  # DF s11 longevity: masseter function ~110 d
        "neck": 110.0,  # DF s11 longevity: platysma ~110 d
    }
)
REF_DOSE_U_EQ: Final = MappingProxyType(
    {
        "forehead": 15.0,  # assumption: middle of DF s11's 10-20 U_eq
        "glabella": 20.0,  # DF s11 longevity: 20 U
        "crows_feet": 24.0,  # DF s11 longevity: 24 U
        "nose": 3.5,  # assumption: DF s1 2-5 U total
        "mouth_corners": 9.0,  # DF s1 DAO RCT 4.5 U/side
        "chin": 5.0,  # assumption: middle of DF s11's 2-8 U
        "jaw": 60.0,  # DF s11 masseter 20-40 U_eq/side
        "neck": 30.0,  # DF s11 platysma 26-36 U label
    }
)
"""Reference dose of each region's median, both sides together (U_eq)."""
DOSE_CAP: Final = 2.5  # DF s11 dose-duration: capped at 2.5x the reference dose
MALE_DURATION: Final = 0.85  # DF s11 sex effect: men x0.85
MASSETER_DURATION_EXPONENT: Final = 0.5  # DF s11 muscle size: x (ref/thickness)^0.5
DAXI_DURATION: Final = 1.4  # DF s11 unit factor row: daxi duration x1.4
SIDE_TO_SIDE_CORRELATION: Final = 0.9
"""Assumption (no source gives it): correlation, in a return time's Gaussian copula, of the two
sides of one region treated in one session. They share the patient, the session, the product,
the dilution and the injector; what differs is the muscle and the points of each side. At 0.9
(with the medians of two sides at equal dose equal) their return times differ by 21 days or more
in about a fifth of pairs, by about 10 days at the median."""
REGION_TO_REGION_CORRELATION: Final = 0.3
"""Assumption: the same correlation between two regions of one session (the patient, session
and product shared; other muscles, other doses)."""
LATE_GAP_DAYS: Final = 21.0
"""The oracle's late-stage asymmetry: one side returning at least this many days before the
other (the three weeks the clinic's question is about)."""
INTERVAL_NOISE_SD: Final = 0.2  # assumption: lognormal noise on "comes back when it wore off"
INTERVAL_WAIT: Final = (2.0, 12.0)  # assumption: Gamma (shape, scale) days of extra wait
MIN_INTERVAL_DAYS: Final = 75.0  # DF s1: retreat >= 90 days (label), some clinics earlier
P_LOST: Final = 0.15  # assumption: clinic loses track of a session's return
LOST_AFTER_DAYS: Final = (20.0, 200.0)  # assumption: ... at U(20, 200) days
VISIT_GRID_DAYS: Final = 7.0  # assumption: returns reported by the week (interval-ish)
