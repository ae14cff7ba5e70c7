"""longevity_matrix and treated_region_sides bit for bit against straightforward references.

``longevity_matrix`` gathers every value of a row in one table lookup and computes the derived
columns in place, to keep one request fast; the reference below builds each column on its own
(as the function first did), from the same term rules."""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from data.contract import HANDS, MUSCLES, REGIONS, SIDES
from features.build import build_features
from features.inputs import LEFT, MIDLINE, REGION_OF_MUSCLE, RIGHT, PlanArrays
from features.longevity import (
    LONGEVITY_NAMES,
    PATIENT_COLUMNS,
    _dose_terms,
    _eff_terms,
    longevity_matrix,
    treated_region_sides,
)
from features.placement import LABEL_HIGH
from features.spec import FEATURE_INDEX
from features.tables import registry_inputs

_ZERO, _NAN = len(FEATURE_INDEX), len(FEATURE_INDEX) + 1


def _table(make) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    terms = [[make(r, s) for s in range(len(SIDES))] for r in REGIONS]
    k = max(len(t) for by_side in terms for t in by_side)
    cols = np.full((len(REGIONS), len(SIDES), k), _ZERO)
    weights = np.zeros((len(REGIONS), len(SIDES), k))
    for r, by_side in enumerate(terms):
        for s, t in enumerate(by_side):
            for j, (c, w) in enumerate(t):
                cols[r, s, j], weights[r, s, j] = FEATURE_INDEX[c], w
    return cols, weights


def _reference(x: np.ndarray, t: np.ndarray, region: np.ndarray, side: np.ndarray) -> np.ndarray:
    r = len(t)
    base = np.empty((r, x.shape[1] + 2))
    base[:, :-2] = x[t]
    base[:, -2], base[:, -1] = 0.0, np.nan
    midline = side == MIDLINE
    other = np.where(midline, MIDLINE, np.where(side == LEFT, RIGHT, LEFT))
    rows = np.arange(r)

    def summed(table: tuple[np.ndarray, np.ndarray], s: np.ndarray) -> np.ndarray:
        c, w = table[0][region, s], table[1][region, s]
        return (base[rows[:, None], c] * w).sum(axis=1)

    dose_t, eff_t = _table(_dose_terms), _table(_eff_terms)
    dose = summed(dose_t, side)
    other_dose = np.where(midline, np.nan, summed(dose_t, other))
    top = LABEL_HIGH[region] * np.where(midline, 1.0, 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.where(
            midline,
            0.0,
            (dose - np.nan_to_num(other_dose)) / (dose + np.nan_to_num(other_dose)),
        )
    thick = np.full((len(REGIONS), len(SIDES)), _NAN)
    for name, muscle in (("forehead", "frontalis"), ("jaw", "masseter")):
        for s in (LEFT, RIGHT):
            thick[REGIONS.index(name), s] = FEATURE_INDEX[f"{muscle}_thickness_{SIDES[s]}_mm"]
    hand = base[:, FEATURE_INDEX["dominant_hand"]]
    hand_side = np.full(r, -1.0)
    hand_side[hand == HANDS.index("right")] = RIGHT
    hand_side[hand == HANDS.index("left")] = LEFT

    def region_col(stem: str) -> np.ndarray:
        cols = np.array([FEATURE_INDEX[stem.format(g)] for g in REGIONS])
        return base[rows, cols[region]]

    prev_days = region_col("previous_{}_days")
    prev_lr = region_col("previous_{}_lr_days_diff")
    sign = np.where(side == LEFT, 1.0, np.where(side == RIGHT, -1.0, 0.0))
    region_dose = region_col("region_u_eq_{}")
    prev_u = region_col("previous_{}_u_eq")
    with np.errstate(invalid="ignore", divide="ignore"):
        vs_prev = np.where(prev_u > 0, region_dose / prev_u, np.nan)
    columns = [
        region * 1.0,
        side * 1.0,
        dose,
        dose / top,
        other_dose,
        lr,
        summed(eff_t, side),
        np.where(midline, np.nan, summed(eff_t, other)),
        region_dose,
        region_col("region_label_ratio_{}"),
        base[rows, thick[region, side]],
        np.where(midline, np.nan, base[rows, thick[region, other]]),
        np.where(np.isnan(hand), np.nan, (hand_side == side) * 1.0),
        prev_days,
        prev_days + np.maximum(np.nan_to_num(sign * prev_lr), 0.0),
        region_col("previous_{}_returned"),
        prev_lr,
        prev_u,
        vs_prev,
    ]
    out = np.empty((r, len(LONGEVITY_NAMES)), dtype=np.float32)
    out[:, : len(columns)] = np.array(columns).T
    out[:, len(columns) :] = base[:, [FEATURE_INDEX[c] for c in PATIENT_COLUMNS]]
    return out


def _assert_same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_registry_rows_are_the_reference_bit_for_bit(tables: Mapping[str, pd.DataFrame]) -> None:
    inputs = registry_inputs(tables)
    x = build_features(inputs).astype(np.float32)
    t, r, s = treated_region_sides(inputs.plan)
    _assert_same_bits(longevity_matrix(x, t, r, s), _reference(x, t, r, s))


def _every_region_and_side(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(treatment, region, side) of every region and side, midline included, of n treatments."""
    t = np.repeat(np.arange(n), len(REGIONS) * len(SIDES))
    r = np.tile(np.repeat(np.arange(len(REGIONS)), len(SIDES)), n)
    s = np.tile(np.arange(len(SIDES)), n * len(REGIONS))
    return t, r, s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_region_and_side_with_odd_values(dtype: type) -> None:
    # NaN, infinities, signed zeros and odd hand codes anywhere; every (region, side), midline
    # included, for every treatment.
    rng = np.random.default_rng(1)
    n = 40
    x = rng.standard_normal((n, len(FEATURE_INDEX))) * 10.0 ** rng.integers(-3, 4, (n, 1))
    for value, share in ((np.nan, 0.1), (np.inf, 0.01), (-np.inf, 0.01), (0.0, 0.2), (-0.0, 0.05)):
        x[rng.random(x.shape) < share] = value
    x[:, FEATURE_INDEX["dominant_hand"]] = rng.choice([0, 1, 2, np.nan, 0.5, -1], n)
    x = x.astype(dtype)
    t, r, s = _every_region_and_side(n)
    with np.errstate(all="ignore"):
        want = _reference(x, t, r, s)
        got = longevity_matrix(x, t, r, s)
    _assert_same_bits(got, want)


def test_sums_add_their_terms_in_numpys_order() -> None:
    # Doses whose sum depends on the order of the additions ((-1e16 + 1e16) + 1 is 1, but
    # -1e16 + (1e16 + 1) is 0, a difference float32 keeps): the sums must add their terms as
    # numpy's sum in the reference does. Any other order fails here, in dozens of rows.
    rng = np.random.default_rng(3)
    n = 40
    x = rng.choice([1e16, -1e16, 1.0, 3.0, -0.5], (n, len(FEATURE_INDEX)))
    t, r, s = _every_region_and_side(n)
    with np.errstate(all="ignore"):
        _assert_same_bits(longevity_matrix(x, t, r, s), _reference(x, t, r, s))


def test_no_rows_and_codes_out_of_range() -> None:
    x = np.zeros((2, len(FEATURE_INDEX)), dtype=np.float32)
    none = np.zeros(0, dtype=np.int64)
    assert longevity_matrix(x, none, none, none).shape == (0, len(LONGEVITY_NAMES))
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(IndexError):
        longevity_matrix(x, one, one, one + len(SIDES))
    with pytest.raises(IndexError):
        longevity_matrix(x, one, one + len(REGIONS), one)


def _treated_reference(plan: PlanArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The set-based rule: unique (treatment, region, side), midline kept only if nothing sided."""
    n_r, n_s = len(REGIONS), len(SIDES)
    key = np.unique((plan.treatment * n_r + REGION_OF_MUSCLE[plan.muscle]) * n_s + plan.side)
    side, pair = key % n_s, key // n_s
    keep = (side != MIDLINE) | ~np.isin(pair, pair[side != MIDLINE])
    key, pair = key[keep], pair[keep]
    return pair // n_r, pair % n_r, key % n_s


def test_treated_region_sides_equal_the_set_based_rule(
    tables: Mapping[str, pd.DataFrame],
) -> None:
    plans = [registry_inputs(tables).plan]
    rng = np.random.default_rng(7)
    for _ in range(200):  # random plans: any muscle on any side, treatments without points
        k = int(rng.integers(0, 40))
        plans.append(
            PlanArrays(
                treatment=np.sort(rng.integers(0, 6, k)),
                muscle=rng.integers(0, len(MUSCLES), k),
                side=rng.integers(0, len(SIDES), k),
                units=np.ones(k),
                x_mm=np.ones(k),
                y_mm=np.ones(k),
            )
        )
    for plan in plans:
        for got, want in zip(treated_region_sides(plan), _treated_reference(plan), strict=True):
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want)
