"""Contributions by feature group: the risk's per-feature log-odds shares summed per group.

The bundle's treatment graph gives, per feature, its share of the risk's log-odds (a path
attribution of the risk trees, ``training.export``); a group's contribution is the sum over its
features, so the groups' contributions and the model's base add up to logit(asymmetry_risk).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from data.atlas import RISK_BLOBS
from data.contract import MUSCLES
from features.spec import (
    DIFFS,
    FEATURE_INDEX,
    FEATURES,
    GEOMETRY,
    INJECTION_UNITS,
    MUSCLE_TARGETS,
    SIDES2,
)

FloatArray = npt.NDArray[np.float64]


def _feature_groups() -> dict[str, tuple[str, ...]]:
    """Contribution groups: every feature of ``features.spec`` in exactly one group.

    Per muscle, everything its points decide (dose, points, effective dose, point geometry);
    the off-target structures; the physics estimates; the session totals; then the patient's
    demographics, product, baseline differences, thickness; and the history.
    """
    muscle: dict[str, set[str]] = {m: set() for m in MUSCLES}
    for m, s in INJECTION_UNITS:
        muscle[m] |= {f"u_eq_{m}_{s}", f"points_{m}_{s}"}
    for m, s in MUSCLE_TARGETS:
        muscle[m].add(f"eff_{m}_{s}")
    for m in MUSCLES:
        muscle[m] |= {f"eff_lr_diff_{m}", f"eff_lr_ratio_{m}"}
    for stem, m, _ in GEOMETRY:
        muscle[m] |= {f"{stem}_{s}" for s in SIDES2}
    named: dict[str, set[str]] = {f"placement:{m}": names for m, names in muscle.items()}
    named["placement:off_target_structures"] = {
        f"eff_{b}_{s}" for b in RISK_BLOBS for s in SIDES2
    } | {f"eff_lr_diff_{b}" for b in RISK_BLOBS}
    named["placement:expected_changes"] = {
        f"expected_{d}_{what}"
        for d in DIFFS
        for what in ("change_mm", "post_abs_mm", "correction_mm")
    }
    named["baseline_differences"] = {f"baseline_{d}_{a}_mm" for d in DIFFS for a in ("diff", "abs")}
    named["baseline_differences"].add("baseline_missing")
    named["product_dilution"] = {"product", "dilution_ml_per_100u", "unit_factor"}

    groups: dict[str, list[str]] = {}
    for f in FEATURES:
        group = next((g for g, names in named.items() if f.name in names), None)
        if group is None:
            if "_thickness_" in f.name:
                group = "thickness"
            elif f.group == "placement":
                group = "placement:session_totals"  # region doses, totals, counts
            elif f.group == "patient":
                group = "demographics"
            else:
                group = f.group  # history
        groups.setdefault(group, []).append(f.name)
    return {g: tuple(names) for g, names in groups.items()}


FEATURE_GROUPS: Final = _feature_groups()
"""Contribution groups by name: the feature names whose contributions each adds up."""


def _group_matrix() -> FloatArray:
    """(F, groups): 1 where feature f is in group k, so contributions @ it sums by group."""
    matrix = np.zeros((len(FEATURE_INDEX), len(FEATURE_GROUPS)))
    for k, names in enumerate(FEATURE_GROUPS.values()):
        matrix[[FEATURE_INDEX[n] for n in names], k] = 1.0
    return matrix


_GROUP_MATRIX: Final = _group_matrix()


def group_contributions(per_feature: FloatArray) -> FloatArray:
    """(n, groups) sums of (n, F) per-feature contributions over each of ``FEATURE_GROUPS``."""
    out: FloatArray = per_feature @ _GROUP_MATRIX
    return out
