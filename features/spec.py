"""The feature list: the one place that names every feature, its order, kind, unit and meaning.

The model manifest, the feature reference in ``docs/features.md`` and the column order of every
feature matrix come from ``FEATURES``. Groups are built from the contract's enums and the atlas, so
a new muscle or region changes them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from data.atlas import MUSCLE_ATLAS, RISK_STRUCTURES
from data.contract import MIDLINE_MUSCLES, MUSCLES, REGIONS

FeatureKind = Literal["numeric", "binary", "categorical", "count"]

SIDES2: Final = ("left", "right")
"""The two sides of a paired structure."""


@dataclass(frozen=True, slots=True)
class Feature:
    """One column of the feature matrix.

    Attributes:
        name: Column name.
        kind: numeric, binary (0/1), categorical (integer code of a contract enum) or count.
        unit: Physical unit, or "" for none.
        description: Meaning, for the feature reference.
        group: Which block computes it (patient, placement, history).
    """

    name: str
    kind: FeatureKind
    unit: str
    description: str
    group: str


def _injection_units() -> tuple[tuple[str, str], ...]:
    """(muscle, side) combinations an injection row may have."""
    units: list[tuple[str, str]] = []
    for m in MUSCLES:
        units += [(m, "left"), (m, "right")]
        if m in MIDLINE_MUSCLES:
            units.append((m, "midline"))
    return tuple(units)


def _muscle_targets() -> tuple[tuple[str, str], ...]:
    """Anatomical muscle structures a dose can reach: one per side, or one on the midline."""
    targets: list[tuple[str, str]] = []
    for m in MUSCLES:
        if not MUSCLE_ATLAS[m].paired:
            targets.append((m, "midline"))
        else:
            targets += [(m, "left"), (m, "right")]
    return tuple(targets)


INJECTION_UNITS: Final = _injection_units()
MUSCLE_TARGETS: Final = _muscle_targets()
RISK_TARGETS: Final = tuple((r, s) for r in RISK_STRUCTURES for s in SIDES2)
PAIRED_MUSCLES: Final = tuple(m for m in MUSCLES if MUSCLE_ATLAS[m].paired)
DIFFS: Final = ("brow_height", "palpebral_fissure", "commissure_height")
"""The three signed left-minus-right differences of the contract (``*_diff_mm`` columns)."""
THICKNESS_MUSCLES: Final = ("frontalis", "masseter")
GEOMETRY: Final = (
    (
        "frontalis_low_point_above_brow_mm",
        "frontalis",
        "Height of the lowest frontalis point above the brow",
    ),
    (
        "glabella_low_point_above_rim_mm",
        "corrugator",
        "Height of the lowest corrugator point above the rim",
    ),
    (
        "dao_point_to_commissure_mm",
        "depressor_anguli_oris",
        "Distance of the nearest DAO point from the commissure",
    ),
)
"""Point-geometry features (name stem, the muscle whose points it measures, meaning); each for
the left, then the right side."""


def _each(
    name: str, kind: FeatureKind, unit: str, what: str, group: str, items: tuple[Any, ...]
) -> list[Feature]:
    """One feature per item; ``{}`` placeholders in name and what take the item (or its parts)."""
    out = []
    for item in items:
        parts = item if isinstance(item, tuple) else (item,)
        out.append(Feature(name.format(*parts), kind, unit, what.format(*parts), group))
    return out


def _patient() -> list[Feature]:
    g = "patient"
    f = [
        Feature("age_years", "numeric", "years", "Age at treatment.", g),
        Feature("sex_male", "binary", "", "1 if male.", g),
        Feature("ancestry", "categorical", "", "Ancestry code (contract order); missing: NaN.", g),
        Feature("dominant_hand", "categorical", "", "Dominant hand code; missing: NaN.", g),
        Feature("chrna1_carrier", "binary", "", "1 if CHRNA1 carrier; missing: NaN.", g),
        Feature("exercise_sessions_per_week", "numeric", "1/week", "Exercise frequency.", g),
        Feature("bruxism", "binary", "", "1 if bruxism; missing: NaN.", g),
        Feature("smoker", "binary", "", "1 if smoker; missing: NaN.", g),
        Feature("product", "categorical", "", "Product code (contract order).", g),
        Feature("dilution_ml_per_100u", "numeric", "mL/100U", "Saline per 100 labelled U.", g),
        Feature("unit_factor", "numeric", "U_eq/U", "Labelled units to ona-equivalent.", g),
    ]
    f += _each("baseline_{}_diff_mm", "numeric", "mm", "Measured baseline {}, L-R.", g, DIFFS)
    f += _each("baseline_{}_abs_mm", "numeric", "mm", "|Measured baseline {} diff|.", g, DIFFS)
    f.append(
        Feature("baseline_missing", "count", "", "Baseline differences not measured (0-3).", g)
    )
    for m in THICKNESS_MUSCLES:
        f += _each(f"{m}_thickness_{{}}_mm", "numeric", "mm", f"{m} ultrasound, {{}}.", g, SIDES2)
        f += [
            Feature(f"{m}_thickness_diff_mm", "numeric", "mm", f"{m} thickness L-R.", g),
            Feature(f"{m}_thickness_ratio", "numeric", "", f"{m} thickness left/right.", g),
            Feature(f"{m}_thickness_missing", "binary", "", f"1 if {m} not measured.", g),
        ]
    return f


def _placement() -> list[Feature]:
    g = "placement"
    units = INJECTION_UNITS
    return [
        *_each("u_eq_{}_{}", "numeric", "U_eq", "Units at {} points, {}.", g, units),
        *_each("points_{}_{}", "count", "", "Injection points at {}, {}.", g, units),
        *_each(
            "mean_x_mm_{}_{}",
            "numeric",
            "mm",
            "Mean recorded x of the {} points, {}; none recorded: NaN.",
            g,
            units,
        ),
        *_each(
            "mean_y_mm_{}_{}",
            "numeric",
            "mm",
            "Mean recorded y of the {} points, {}; none recorded: NaN.",
            g,
            units,
        ),
        *_each(
            "eff_{}_{}",
            "numeric",
            "U_eq",
            "Spread-weighted dose reaching {} ({}), at its atlas position.",
            g,
            MUSCLE_TARGETS + RISK_TARGETS,
        ),
        *_each(
            "eff_lr_diff_{}",
            "numeric",
            "U_eq",
            "Effective dose on {}, left minus right.",
            g,
            PAIRED_MUSCLES + tuple(RISK_STRUCTURES),
        ),
        *_each(
            "eff_lr_ratio_{}", "numeric", "", "(L-R)/(L+R) of effective {} dose.", g, PAIRED_MUSCLES
        ),
        *_each(
            "{0}_{1}",
            "numeric",
            "mm",
            "{2}, {1}; no such point: NaN.",
            g,
            tuple((stem, s, what) for stem, _, what in GEOMETRY for s in SIDES2),
        ),
        *_each(
            "expected_{}_change_mm",
            "numeric",
            "mm",
            "Atlas-physics estimate of the plan's change of the {} L-R difference.",
            g,
            DIFFS,
        ),
        *_each(
            "expected_{}_post_abs_mm",
            "numeric",
            "mm",
            "|Measured baseline + expected change| of {}; baseline missing: NaN.",
            g,
            DIFFS,
        ),
        *_each(
            "expected_{}_correction_mm",
            "numeric",
            "mm",
            "How much the plan shrinks |baseline {}| (negative: worsens it); NaN if unmeasured.",
            g,
            DIFFS,
        ),
        *_each("region_u_eq_{}", "numeric", "U_eq", "Total dose in {}.", g, REGIONS),
        *_each(
            "region_label_ratio_{}",
            "numeric",
            "",
            "Total {} dose over the top of its usual (label) range.",
            g,
            REGIONS,
        ),
        Feature("total_u_eq", "numeric", "U_eq", "Total dose of the session.", g),
        Feature("total_points", "count", "", "Injection points in the session.", g),
        Feature("points_usual_site", "count", "", "Points without coordinates (atlas site).", g),
        Feature("lower_face_areas", "count", "", "Lower-face regions treated in the session.", g),
        Feature("regions_treated", "count", "", "Regions treated in the session.", g),
    ]


def _history() -> list[Feature]:
    g = "history"
    return [
        Feature("prior_treatments", "count", "", "Earlier treatments of the patient.", g),
        Feature("days_since_previous", "numeric", "days", "Days since the previous one.", g),
        Feature("previous_review_known", "binary", "", "1 if its review was before today.", g),
        Feature("previous_visible_asymmetry", "binary", "", "Previous review: asymmetry.", g),
        Feature("previous_eyelid_ptosis", "binary", "", "Previous review: eyelid ptosis.", g),
        Feature("previous_brow_ptosis", "binary", "", "Previous review: brow ptosis.", g),
        *_each("previous_{}_diff_mm", "numeric", "mm", "Previous review {}, L-R.", g, DIFFS),
        *_each("previous_{}_u_eq", "numeric", "U_eq", "Previous session's dose in {}.", g, REGIONS),
        *_each(
            "previous_{}_days",
            "numeric",
            "days",
            "Previous {} longevity as known today (shortest side; censored or not).",
            g,
            REGIONS,
        ),
        *_each(
            "previous_{}_returned",
            "binary",
            "",
            "1 if {} activity had returned, by today, after the previous session.",
            g,
            REGIONS,
        ),
        *_each(
            "previous_{}_lr_days_diff",
            "numeric",
            "days",
            "Previous {} longevity as known today, left minus right.",
            g,
            REGIONS,
        ),
    ]


FEATURES: Final = tuple(_patient() + _placement() + _history())
FEATURE_NAMES: Final = tuple(f.name for f in FEATURES)
FEATURE_INDEX: Final = {name: i for i, name in enumerate(FEATURE_NAMES)}
FEATURE_DTYPE: Final = "float64"
"""Every feature is a float64 column (categoricals as integer codes, missing as NaN)."""
