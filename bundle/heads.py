"""The binary outcomes a bundle predicts: each a calibrated probability of a ``followups`` column.

This tuple is the one place an outcome is declared. Training fits, evaluates and exports one
calibrated classifier per entry; the manifest lists them as heads; the predictor, the answers,
the batch writer, the pyfunc signature and the reload canary iterate over the manifest's heads.
The post-treatment differences and the longevity model are heads of their own kinds
(``bundle.manifest.Head``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Outcome:
    """A binary outcome at the review visit and the answer that predicts it.

    Attributes:
        name: Name of the answer (response field, head, batch column), e.g. ``asymmetry_risk``.
        target: The ``followups`` column it is fitted on; the simulator's oracle holds its true
            probability as ``p_<target>``.
        metric_prefix: Prefix of its metric names in MLflow (stable across runs).
        contributions: Explained by per-feature contributions exported with the model.
        description: What the probability means, for the API documentation.
    """

    name: str
    target: str
    metric_prefix: str
    contributions: bool
    description: str


OUTCOMES: Final = (
    Outcome(
        "asymmetry_risk",
        "visible_asymmetry",
        "risk",
        True,
        "Calibrated P(visible asymmetry at the two-week review).",
    ),
    Outcome(
        "eyelid_ptosis_risk",
        "eyelid_ptosis",
        "eyelid_ptosis",
        False,
        "Calibrated P(eyelid ptosis seen by the review): toxin reaching the levator palpebrae.",
    ),
    Outcome(
        "brow_ptosis_risk",
        "brow_ptosis",
        "brow_ptosis",
        False,
        "Calibrated P(brow ptosis seen by the review): toxin on the lowest frontalis.",
    ),
)
"""Every binary outcome, the asymmetry risk first (the one with contributions)."""
OUTCOME_BY_TARGET: Final = {o.target: o for o in OUTCOMES}
"""Each outcome by its ``followups`` column: code about one outcome names it, not its position."""
