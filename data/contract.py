"""The registry contract: the one definition of every table, column, unit, range and enum.

The reader, the validator, the simulator and (later) the serving request models all derive from
the objects here; nothing else restates a column, a range or an enum by hand. Source:
``design.md``, section "Registry contract".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Kind(StrEnum):
    """Logical type of a contract column."""

    STRING = "string"
    DATE = "date"
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    ENUM = "enum"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a contract table.

    Attributes:
        name: Column name as it appears in an export.
        kind: Logical type.
        description: Meaning, for docs and error messages.
        nullable: Whether an empty value is allowed.
        minimum: Smallest allowed value (numbers only).
        maximum: Largest allowed value (numbers only).
        exclusive_minimum: The value must be strictly greater than ``minimum``.
        values: Allowed values (enums only), in a fixed order that also fixes category codes.
        unit: Physical unit, if any.
    """

    name: str
    kind: Kind
    description: str
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    values: tuple[str, ...] = ()
    unit: str | None = None

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages."""
        if self.kind is Kind.ENUM:
            return "one of " + ", ".join(self.values)
        if self.kind in (Kind.FLOAT, Kind.INT):
            word = "an integer" if self.kind is Kind.INT else "a number"
            if self.minimum is not None and self.maximum is not None:
                low = f"> {self.minimum:g}" if self.exclusive_minimum else f">= {self.minimum:g}"
                return f"{word} {low} and <= {self.maximum:g}"
            if self.minimum is not None:
                op = ">" if self.exclusive_minimum else ">="
                return f"{word} {op} {self.minimum:g}"
            return word
        if self.kind is Kind.DATE:
            return "an ISO date YYYY-MM-DD"
        if self.kind is Kind.BOOL:
            return "true or false (any case) or 1/0"
        return "a non-empty string"


@dataclass(frozen=True, slots=True)
class Table:
    """One contract table.

    Attributes:
        name: Table name; the export holds it as ``NAME.parquet`` or ``NAME.csv``.
        description: What one row is.
        columns: The columns, in canonical order.
        key: Columns whose combination is unique within the table.
        parent: Table whose ``treatment_id`` every row must reference, if any.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    parent: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in canonical order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """Return the column called ``name``.

        Raises:
            KeyError: The table has no such column.
        """
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


# --- Enumerations -------------------------------------------------------------------------------

PRODUCTS: Final = (
    "onabotulinumtoxinA",
    "abobotulinumtoxinA",
    "incobotulinumtoxinA",
    "letibotulinumtoxinA",
    "prabotulinumtoxinA",
    "daxibotulinumtoxinA",
)
SEXES: Final = ("female", "male")
HANDS: Final = ("right", "left", "ambidextrous")
ANCESTRIES: Final = (
    "east_asian",
    "south_asian",
    "european",
    "african",
    "hispanic",
    "middle_eastern",
    "other",
)
CHRNA1: Final = ("carrier", "non_carrier")
MUSCLES: Final = (
    "frontalis",
    "corrugator",
    "procerus",
    "orbicularis_oculi",
    "levator_labii_alaeque_nasi",
    "depressor_anguli_oris",
    "mentalis",
    "masseter",
    "platysma",
)
MIDLINE: Final = "midline"
"""The side value of a point or duration on the facial midline."""
SIDES: Final = ("left", "right", MIDLINE)
DEPTHS: Final = ("intradermal", "subcutaneous", "intramuscular", "supraperiosteal")
REGIONS: Final = (
    "forehead",
    "glabella",
    "crows_feet",
    "nose",
    "mouth_corners",
    "chin",
    "jaw",
    "neck",
)

MUSCLE_REGION: Final = MappingProxyType(
    {
        "frontalis": "forehead",
        "corrugator": "glabella",
        "procerus": "glabella",
        "orbicularis_oculi": "crows_feet",
        "levator_labii_alaeque_nasi": "nose",
        "depressor_anguli_oris": "mouth_corners",
        "mentalis": "chin",
        "masseter": "jaw",
        "platysma": "neck",
    }
)
"""Which treated region each muscle belongs to."""

MIDLINE_MUSCLES: Final = frozenset({"procerus", "mentalis"})
"""The only muscles whose injections may have side ``midline``."""

MIDLINE_REGIONS: Final = frozenset(MUSCLE_REGION[m] for m in MIDLINE_MUSCLES)
"""Regions whose durations may have side ``midline`` (the regions of the midline muscles)."""

MAX_UNITS_PER_POINT: Final = 100.0

# --- Tables ---------------------------------------------------------------------------------------

_TREATMENT_ID = Column("treatment_id", Kind.STRING, "Treatment session identifier.")


def _diff(name: str, limit: float, when: str) -> Column:
    return Column(
        name,
        Kind.FLOAT,
        f"{when}, left minus right.",
        nullable=True,
        minimum=-limit,
        maximum=limit,
        unit="mm",
    )


def _thickness(name: str, low: float, high: float, what: str) -> Column:
    return Column(name, Kind.FLOAT, what, nullable=True, minimum=low, maximum=high, unit="mm")


TREATMENTS: Final = Table(
    name="treatments",
    description="One row per treatment session.",
    key=("treatment_id",),
    columns=(
        Column("treatment_id", Kind.STRING, "Treatment session identifier, unique."),
        Column("patient_id", Kind.STRING, "Pseudonymous patient identifier."),
        Column("clinic_id", Kind.STRING, "Clinic identifier."),
        Column("treatment_date", Kind.DATE, "Date of the session."),
        Column("product", Kind.ENUM, "Toxin product used.", values=PRODUCTS),
        Column(
            "dilution_ml_per_100u",
            Kind.FLOAT,
            "Saline volume per 100 labelled units.",
            minimum=0.5,
            maximum=10.0,
            unit="mL/100U",
        ),
        Column("age_years", Kind.INT, "Age at treatment.", minimum=18, maximum=100, unit="years"),
        Column("sex", Kind.ENUM, "Sex.", values=SEXES),
        Column("dominant_hand", Kind.ENUM, "Dominant hand.", nullable=True, values=HANDS),
        Column("ancestry", Kind.ENUM, "Self-reported ancestry.", nullable=True, values=ANCESTRIES),
        Column("chrna1_variant", Kind.ENUM, "CHRNA1 genotype.", nullable=True, values=CHRNA1),
        Column(
            "exercise_sessions_per_week",
            Kind.FLOAT,
            "Exercise sessions per week.",
            nullable=True,
            minimum=0.0,
            maximum=21.0,
            unit="1/week",
        ),
        Column("bruxism", Kind.BOOL, "Teeth grinding or clenching.", nullable=True),
        Column("smoker", Kind.BOOL, "Current smoker.", nullable=True),
        _diff("brow_height_diff_mm", 15.0, "Baseline brow height difference"),
        _diff("palpebral_fissure_diff_mm", 10.0, "Baseline palpebral fissure height difference"),
        _diff("commissure_height_diff_mm", 15.0, "Baseline oral commissure height difference"),
        _thickness("frontalis_thickness_left_mm", 0.5, 10.0, "Ultrasound frontalis, left."),
        _thickness("frontalis_thickness_right_mm", 0.5, 10.0, "Ultrasound frontalis, right."),
        _thickness("masseter_thickness_left_mm", 3.0, 30.0, "Ultrasound masseter relaxed, left."),
        _thickness("masseter_thickness_right_mm", 3.0, 30.0, "Ultrasound masseter relaxed, right."),
    ),
)

INJECTIONS: Final = Table(
    name="injections",
    description="One row per injection point.",
    key=(),
    parent="treatments",
    columns=(
        _TREATMENT_ID,
        Column("muscle", Kind.ENUM, "Target muscle.", values=MUSCLES),
        Column("side", Kind.ENUM, "Side (midline only for procerus, mentalis).", values=SIDES),
        Column(
            "units",
            Kind.FLOAT,
            "Labelled units of the product at this point.",
            minimum=0.0,
            maximum=MAX_UNITS_PER_POINT,
            exclusive_minimum=True,
            unit="U",
        ),
        Column(
            "x_mm",
            Kind.FLOAT,
            "Point in the face frame, positive toward the patient's left; missing: usual site.",
            nullable=True,
            minimum=-100.0,
            maximum=100.0,
            unit="mm",
        ),
        Column(
            "y_mm",
            Kind.FLOAT,
            "Point in the face frame, positive upward; missing: usual site.",
            nullable=True,
            minimum=-160.0,
            maximum=100.0,
            unit="mm",
        ),
        Column("depth", Kind.ENUM, "Injection depth.", nullable=True, values=DEPTHS),
    ),
)

FOLLOWUPS: Final = Table(
    name="followups",
    description="The review visit; at most one row per treatment.",
    key=("treatment_id",),
    parent="treatments",
    columns=(
        Column("treatment_id", Kind.STRING, "Treatment session identifier, unique here."),
        Column(
            "review_day",
            Kind.INT,
            "Days after treatment.",
            minimum=7,
            maximum=42,
            unit="days",
        ),
        _diff("brow_height_diff_mm", 15.0, "Post-treatment brow height difference"),
        _diff("palpebral_fissure_diff_mm", 10.0, "Post-treatment palpebral fissure difference"),
        _diff("commissure_height_diff_mm", 15.0, "Post-treatment commissure height difference"),
        Column("visible_asymmetry", Kind.BOOL, "Clinician-rated visible asymmetry at review."),
        Column("eyelid_ptosis", Kind.BOOL, "Eyelid ptosis seen by review."),
        Column("brow_ptosis", Kind.BOOL, "Brow ptosis seen by review."),
    ),
)

DURATIONS: Final = Table(
    name="durations",
    description="When muscle activity came back, per treated region and side.",
    key=("treatment_id", "region", "side"),
    parent="treatments",
    columns=(
        _TREATMENT_ID,
        Column("region", Kind.ENUM, "Treated region.", values=REGIONS),
        Column("side", Kind.ENUM, "Side (midline only for glabella, chin).", values=SIDES),
        Column(
            "days",
            Kind.FLOAT,
            "Days after treatment.",
            minimum=0.0,
            exclusive_minimum=True,
            unit="days",
        ),
        Column(
            "returned",
            Kind.BOOL,
            "True: activity returned at days; false: censored, last seen without return.",
        ),
    ),
)

TABLES: Final = MappingProxyType(
    {t.name: t for t in (TREATMENTS, INJECTIONS, FOLLOWUPS, DURATIONS)}
)
"""All contract tables by name, parents before children."""
