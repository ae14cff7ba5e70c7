# Over 400 lines: a chunk from patients to the four tables and the oracle, one pass read together.
"""One chunk of patients: their sessions over the registry period, as registry and oracle tables.

Sessions are simulated in rounds (first sessions of every patient, then second sessions, ...),
each round fully vectorised, because a session's date depends on when the previous one wore off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data.contract import (
    ANCESTRIES,
    CHRNA1,
    DURATIONS,
    FOLLOWUPS,
    INJECTIONS,
    MUSCLES,
    REGIONS,
    TABLES,
    TREATMENTS,
)
from data.simulate import params as p
from data.simulate.clinics import Clinics, clinic_count, draw_clinics
from data.simulate.hidden import HIDDEN_TABLE, POINTS_TABLE, POOL_COLUMNS, Hidden, placement_normals
from data.simulate.longevity import (
    DurationFactors,
    draw_returns,
    first_return,
    late_asymmetry_truth,
    observe,
)
from data.simulate.patients import Patients, draw_patients
from data.simulate.physics import Anatomy, Points, pre_treatment, review
from data.simulate.plans import PlanInput, draw_plan
from data.simulate.tables import ORACLE_TABLES, arrow_table, ids
from data.simulate.types import (
    LEFT,
    UNIT_FACTOR_BY_CODE,
    FloatArray,
    IntArray,
    Scenario,
    pick,
    rounded,
)
from data.simulate.worlds import DEFAULT_WORLD, World

_GLABELLA = REGIONS.index("glabella")
_FOREHEAD = REGIONS.index("forehead")
_JAW = REGIONS.index("jaw")
_FRONTALIS = MUSCLES.index("frontalis")
_CARRIER = CHRNA1.index("carrier")
_NON_CARRIER = CHRNA1.index("non_carrier")
_EAST_ASIAN_CODE = ANCESTRIES.index("east_asian")
_MAX_SESSIONS = len(p.SESSION_COUNT_PROBS)


def _day(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


@dataclass(frozen=True, slots=True)
class Chunk:
    """Arrow tables of one chunk, keyed like ``tables.ALL_TABLES``; ``n_patients`` kept."""

    tables: dict[str, pa.Table]
    n_patients: int
    n_treatments: int


def _clip(values: FloatArray, table_column: tuple[str, str], decimals: int = 1) -> FloatArray:
    """Round a measurement and keep it inside its contract range."""
    col = TABLES[table_column[0]].column(table_column[1])
    low = -np.inf if col.minimum is None else col.minimum
    high = np.inf if col.maximum is None else col.maximum
    return rounded(np.clip(values, low, high), decimals)


def _nan_where(values: FloatArray, missing: np.ndarray) -> FloatArray:
    return np.where(missing, np.nan, values)


def generate(
    n_treatments: int,
    seed: int,
    scenario: Scenario,
    chunk_patients: int,
    forehead_left_share: float | None = None,
    placement_sd_mm: tuple[float, float] | None = None,
    world: World = DEFAULT_WORLD,
) -> Iterator[Chunk]:
    """Yield the registry chunk by chunk until ``n_treatments`` treatments exist.

    Clinics come from the first child of ``SeedSequence(seed)``, chunk ``i`` from child ``i + 1``,
    so the output depends on the arguments only. The keys of the pre-treatment oracle's placement
    draws (``hidden.placement_normals``) come from the first child of chunk ``i``'s sequence, a
    stream of their own: the registry is the same as without them, draw for draw.

    Args:
        n_treatments: Treatments in all.
        seed: Root seed.
        scenario: ``literature`` or ``seed-claims``.
        chunk_patients: Patients per chunk.
        forehead_left_share: Force the left share of every forehead dose (for tests).
        placement_sd_mm: Force the placement error sd of (experienced, novice) injectors (for
            tests; zero makes the pre-treatment oracle equal the at-the-needle one).
        world: The world drawn (``worlds.WORLDS``); the default is the literature's.
    """
    root = np.random.SeedSequence(seed)
    clinics = draw_clinics(
        np.random.default_rng(root.spawn(1)[0]), clinic_count(n_treatments), world
    )
    done_t = done_p = 0
    while done_t < n_treatments:
        sequence = root.spawn(1)[0]
        rng = np.random.default_rng(sequence)
        chunk = _chunk(
            (rng, np.random.default_rng(sequence.spawn(1)[0])),
            clinics,
            scenario,
            chunk_patients,
            limit=n_treatments - done_t,
            offsets=(done_t, done_p),
            forehead_left_share=forehead_left_share,
            placement_sd_mm=placement_sd_mm,
            world=world,
        )
        done_t += chunk.n_treatments
        done_p += chunk.n_patients
        yield chunk


def _chunk(
    rngs: tuple[np.random.Generator, np.random.Generator],
    clinics: Clinics,
    scenario: Scenario,
    n_patients: int,
    *,
    limit: int,
    offsets: tuple[int, int],
    forehead_left_share: float | None,
    placement_sd_mm: tuple[float, float] | None,
    world: World,
) -> Chunk:
    """One chunk; ``rngs`` = (the registry's stream, the oracle's placement draws)."""
    rng = rngs[0]
    start, end = _day(p.REGISTRY_START), _day(p.REGISTRY_END)
    pat = draw_patients(
        rng, n_patients, clinics, scenario, start_day=start, end_day=end, world=world
    )
    day = pat.first_day.copy()
    nab = np.zeros(pat.n, dtype=bool)
    rounds: list[dict[str, np.ndarray]] = []
    points: list[dict[str, np.ndarray]] = []
    rows: list[dict[str, np.ndarray]] = []
    for k in range(_MAX_SESSIONS):
        active = np.flatnonzero((pat.n_sessions > k) & (day <= end))
        if len(active) == 0:
            break
        r, pts, dur, next_day = _round(
            rngs,
            pat,
            clinics,
            active,
            day[active],
            nab[active],
            k,
            end,
            (forehead_left_share, placement_sd_mm),
            world,
        )
        day[active] = next_day
        nab[active] |= rng.random(len(active)) < p.P_NAB_PER_TREATMENT
        rounds.append(r)
        points.append(pts)
        rows.append(dur)
    return _assemble(pat, rounds, points, rows, limit, offsets)


def _anatomy(pat: Patients, pi: IntArray) -> Anatomy:
    """The hidden state the review physics reads, of the patients ``pi``."""
    return Anatomy(
        offset_mm=pat.offset_mm[pi],
        strength=pat.strength[pi],
        sensitivity=pat.sensitivity[pi],
        baseline=pat.baseline[pi],
    )


def _duration_factors(
    pat: Patients, pi: IntArray, nab: np.ndarray, product: IntArray
) -> DurationFactors:
    """What the longevity medians read, of the patients ``pi`` in one session each."""
    return DurationFactors(
        male=pat.male[pi],
        sensitivity=pat.sensitivity[pi],
        beta=pat.beta[pi],
        duration_factor=pat.duration_factor[pi],
        masseter_factor=pat.masseter_factor[pi],
        mouth_corner_shift=pat.mouth_corner_shift[pi],
        masseter_mm=pat.masseter_mm[pi],
        nab=nab,
        nab_factor=pat.nab_factor[pi],
        product=product,
    )


def _round(
    rngs: tuple[np.random.Generator, np.random.Generator],
    pat: Patients,
    clinics: Clinics,
    pi: IntArray,
    day: IntArray,
    nab: np.ndarray,
    k: int,
    end: int,
    hooks: tuple[float | None, tuple[float, float] | None],
    world: World,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], IntArray]:
    """Session ``k`` of the patients ``pi`` on ``day``: plan, review, returns, next date.

    ``hooks`` are ``generate``'s test overrides (forehead left share, placement error sd).
    """
    rng, draws_rng = rngs
    forehead_left_share, placement_sd_mm = hooks
    placement_sd = world.placement_sd_mm if placement_sd_mm is None else placement_sd_mm
    n = len(pi)
    # Patients mostly stay with their clinic; a few sessions happen elsewhere.
    elsewhere = pick(rng, np.broadcast_to(clinics.weight / clinics.weight.sum(), (n, clinics.n)))
    c = np.where(rng.random(n) < p.P_OTHER_CLINIC, elsewhere, pat.clinic[pi])
    age = pat.age0[pi] + (day - pat.first_day[pi]) / 365.25
    usual = pat.usual_regions[pi]
    regions = np.where(
        usual,
        rng.random(usual.shape) < p.P_USUAL_REGION_KEPT,
        rng.random(usual.shape) < p.P_EXTRA_REGION,
    )
    regions[~regions.any(axis=1), _GLABELLA] = True
    product = np.where(
        rng.random(n) < p.P_PRODUCT_SWITCH, pick(rng, clinics.product_probs[c]), pat.product[pi]
    )
    base_dilution = np.asarray(p.DILUTION_ML_PER_100U_EQ)[pick(rng, clinics.dilution_probs[c])]
    dilution = rounded(base_dilution * UNIT_FACTOR_BY_CODE[product], 2)
    novice = rng.random(n) < clinics.novice_share[c]
    baseline = pat.baseline[pi]
    measured = rng.random(n) < clinics.baseline_share[c]
    measured_diffs = _nan_where(
        baseline + rng.normal(0.0, p.BASELINE_NOISE_MM, (n, 3)), ~measured[:, None]
    )
    plan = draw_plan(
        rng,
        PlanInput(
            regions=regions,
            male=pat.male[pi],
            east_asian=pat.ancestry[pi] == _EAST_ASIAN_CODE,
            age=age,
            dose_factor=clinics.dose_habit[c] * pat.dose_factor[pi],
            product=product,
            dilution_ml_per_100u=dilution,
            novice=novice,
            brow_measured=rounded(measured_diffs[:, 0], 1),
            commissure_measured=rounded(measured_diffs[:, 2], 1),
            corrects=clinics.corrects[c],
            forehead_points=pat.forehead_points[pi],
            crows_feet_units=pat.crows_feet_units[pi],
            three_point_glabella=pat.three_point_glabella[pi],
            low_glabella_mm=clinics.low_glabella_mm[c],
            forehead_left_share=forehead_left_share,
            placement_sd_mm=placement_sd,
            world=world,
        ),
    )
    landed = Points(
        treatment=plan.treatment,
        u_eq=plan.u_eq,
        volume_ml=plan.volume_ml,
        x_mm=plan.x_mm,
        y_mm=plan.y_mm,
        frontalis=plan.muscle == _FRONTALIS,
    )
    anatomy = _anatomy(pat, pi)
    no_glabella = regions[:, _FOREHEAD] & ~regions[:, _GLABELLA]
    outcome = review(
        rng, landed, anatomy, forehead_without_glabella=no_glabella, age=age, world=world
    )
    # The pre-treatment oracle: the same points at their planned places, placement averaged out
    # over draws keyed by treatment and point (the truth of another plan sees the same draws).
    draw_key = draws_rng.integers(0, POOL_COLUMNS, n)
    position = np.arange(len(plan.treatment)) - np.searchsorted(plan.treatment, plan.treatment)
    before = pre_treatment(
        placement_normals(draw_key[plan.treatment], position),
        dataclasses.replace(landed, x_mm=plan.x_plan, y_mm=plan.y_plan),
        plan.placement_sd_mm,
        anatomy,
        forehead_without_glabella=no_glabella,
        age=age,
        world=world,
    )
    returns = draw_returns(
        rng,
        plan.treatment,
        plan.muscle,
        plan.side,
        plan.u_eq,
        _duration_factors(pat, pi, nab, product),
    )
    # The patient comes back about when the first region wore off, after some wait.
    gap = first_return(returns, n) * np.exp(rng.normal(0.0, p.INTERVAL_NOISE_SD, n))
    gap = rounded(np.maximum(gap + rng.gamma(*p.INTERVAL_WAIT, n), p.MIN_INTERVAL_DAYS), 0)
    next_day = day + gap.astype(np.int64)
    has_next = (pat.n_sessions[pi] > k + 1) & (next_day <= end)
    lost = rng.random(n) < p.P_LOST
    censor = np.minimum.reduce(
        [
            np.where(has_next, gap, np.inf),
            (end - day).astype(np.float64),
            np.where(lost, rounded(rng.uniform(*p.LOST_AFTER_DAYS, n), 0), np.inf),
        ]
    )
    days, returned = observe(returns.days, censor[returns.treatment])
    next_day = np.where(has_next, next_day, end + 1)

    # What the clinic records.
    fr_us = regions[:, _FOREHEAD] & (rng.random(n) < clinics.frontalis_us_share[c])
    jaw_p = np.where(regions[:, _JAW], p.MASSETER_US_IF_JAW, p.MASSETER_US_OTHERWISE)
    ms_us = rng.random(n) < jaw_p
    fr = pat.frontalis_mm[pi] * (1 + rng.normal(0.0, p.FRONTALIS_US_SEM_REL, (n, 2)))
    ms = pat.masseter_mm[pi] * (1 + rng.normal(0.0, p.MASSETER_US_SEM_REL, (n, 2)))
    genotyped = rng.random(n) < clinics.genotype_share[c]
    post_measured = _nan_where(
        outcome.post + rng.normal(0.0, p.POST_MEASUREMENT_NOISE_MM, (n, 3)),
        rng.random((n, 3)) < p.P_FOLLOWUP_DIFF_MISSING,
    )
    review_day = np.clip(
        rounded(rng.normal(p.REVIEW_DAY[0], p.REVIEW_DAY[1], n), 0), *p.REVIEW_DAY[2:]
    )
    treatments = {
        "patient": pi,
        "clinic": c,
        "session": np.full(n, k),
        "day": day,
        "age": age,
        "product": product,
        "dilution": dilution,
        "brow": measured_diffs[:, 0],
        "palpebral": measured_diffs[:, 1],
        "commissure": measured_diffs[:, 2],
        "fr_left": _nan_where(fr[:, 0], ~fr_us),
        "fr_right": _nan_where(fr[:, 1], ~fr_us),
        "ms_left": _nan_where(ms[:, 0], ~ms_us),
        "ms_right": _nan_where(ms[:, 1], ~ms_us),
        "genotyped": genotyped,
        "coordinates": rng.random(n) < clinics.coordinate_share[c],
        "depth": rng.random(n) < clinics.depth_share[c],
        "followup": rng.random(n) < clinics.followup_share[c],
        "durations": rng.random(n) < clinics.duration_share[c],
        "review_day": review_day,
        "post_brow": post_measured[:, 0],
        "post_palpebral": post_measured[:, 1],
        "post_commissure": post_measured[:, 2],
        "visible": outcome.visible,
        "eyelid": outcome.eyelid,
        "brow_ptosis": outcome.brow,
        "placement_sd": np.where(novice, placement_sd[1], placement_sd[0]),
        "placement_draw": draw_key,
        "nab": nab,
        "p_visible": before.p_visible,
        "p_eyelid": before.p_eyelid,
        "p_brow": before.p_brow,
        "p_visible_needle": outcome.p_visible,
        "p_eyelid_needle": outcome.p_eyelid,
        "p_brow_needle": outcome.p_brow,
        "e_brow": outcome.expected_post[:, 0],
        "e_palpebral": outcome.expected_post[:, 1],
        "e_commissure": outcome.expected_post[:, 2],
    }
    pts = {
        "treatment": plan.treatment,
        "muscle": plan.muscle,
        "side": plan.side,
        "units": plan.units,
        "x": plan.x_plan,
        "y": plan.y_plan,
        "depth": plan.depth,
    }
    p_late, p_late_recorded = late_asymmetry_truth(returns)
    dur = {
        "treatment": returns.treatment,
        "region": returns.region,
        "side": returns.side,
        "median": returns.median_days,
        "p_late": p_late,
        "p_late_recorded": p_late_recorded,
        "days": days,
        "returned": returned,
    }
    return treatments, pts, dur, next_day


def _cat(
    parts: list[dict[str, np.ndarray]], offsets: IntArray | None = None
) -> dict[str, np.ndarray]:
    """Concatenate rounds; with ``offsets``, make the local treatment index global."""
    out = {k: np.concatenate([d[k] for d in parts]) for k in parts[0]}
    if offsets is not None:
        out["treatment"] = np.concatenate(
            [d["treatment"] + off for d, off in zip(parts, offsets, strict=True)]
        )
    return out


def _assemble(
    pat: Patients,
    rounds: list[dict[str, np.ndarray]],
    points: list[dict[str, np.ndarray]],
    rows: list[dict[str, np.ndarray]],
    limit: int,
    offsets: tuple[int, int],
) -> Chunk:
    """Order by patient and session, keep the first ``limit`` treatments, build the tables."""
    sizes = np.array([len(r["patient"]) for r in rounds])
    starts = np.cumsum(sizes) - sizes
    t = _cat(rounds)
    order = np.argsort(t["patient"] * _MAX_SESSIONS + t["session"], kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    keep = order[:limit]
    t = {k: v[keep] for k, v in t.items()}
    n_keep = len(keep)
    n_patients = int(t["patient"][-1]) + 1 if n_keep else 0

    def children(parts: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], IntArray]:
        d = _cat(parts, starts)
        r = rank[d["treatment"]]
        o = np.argsort(r, kind="stable")
        o = o[r[o] < limit]
        return {k: v[o] for k, v in d.items()}, r[o]

    inj, inj_t = children(points)
    dur, dur_t = children(rows)

    done_t, done_p = offsets
    tid = ids("T", done_t + np.arange(1, n_keep + 1), 7)
    pi = t["patient"]
    known = {k: v[pi] for k, v in pat.known.items()}
    carrier = np.where(pat.carrier[pi], _CARRIER, _NON_CARRIER)

    treatments = arrow_table(
        TREATMENTS,
        {
            "treatment_id": tid,
            "patient_id": ids("P", done_p + pi + 1, 6),
            "clinic_id": ids("C", t["clinic"] + 1, 3),
            "treatment_date": t["day"],
            "product": t["product"],
            "dilution_ml_per_100u": t["dilution"],
            "age_years": np.clip(np.floor(t["age"]), 18, 100).astype(np.int64),
            "sex": pat.male[pi].astype(np.int64),
            "dominant_hand": np.where(known["dominant_hand"], pat.hand[pi], -1),
            "ancestry": np.where(known["ancestry"], pat.ancestry[pi], -1),
            "chrna1_variant": np.where(t["genotyped"], carrier, -1),
            "exercise_sessions_per_week": _nan_where(pat.exercise[pi], ~known["exercise"]),
            "bruxism": np.where(known["bruxism"], pat.bruxism[pi], -1),
            "smoker": np.where(known["smoker"], pat.smoker[pi], -1),
            "brow_height_diff_mm": _clip(t["brow"], ("treatments", "brow_height_diff_mm")),
            "palpebral_fissure_diff_mm": _clip(
                t["palpebral"], ("treatments", "palpebral_fissure_diff_mm")
            ),
            "commissure_height_diff_mm": _clip(
                t["commissure"], ("treatments", "commissure_height_diff_mm")
            ),
            "frontalis_thickness_left_mm": _clip(
                t["fr_left"], ("treatments", "frontalis_thickness_left_mm")
            ),
            "frontalis_thickness_right_mm": _clip(
                t["fr_right"], ("treatments", "frontalis_thickness_right_mm")
            ),
            "masseter_thickness_left_mm": _clip(
                t["ms_left"], ("treatments", "masseter_thickness_left_mm")
            ),
            "masseter_thickness_right_mm": _clip(
                t["ms_right"], ("treatments", "masseter_thickness_right_mm")
            ),
        },
    )
    coords = t["coordinates"][inj_t]
    injections = arrow_table(
        INJECTIONS,
        {
            "treatment_id": tid.take(pa.array(inj_t)),
            "muscle": inj["muscle"],
            "side": inj["side"],
            "units": inj["units"],
            "x_mm": _nan_where(inj["x"], ~coords),
            "y_mm": _nan_where(inj["y"], ~coords),
            "depth": np.where(t["depth"][inj_t], inj["depth"], -1),
        },
    )
    f = np.flatnonzero(t["followup"])
    followups = arrow_table(
        FOLLOWUPS,
        {
            "treatment_id": tid.take(pa.array(f)),
            "review_day": t["review_day"][f].astype(np.int64),
            "brow_height_diff_mm": _clip(t["post_brow"][f], ("followups", "brow_height_diff_mm")),
            "palpebral_fissure_diff_mm": _clip(
                t["post_palpebral"][f], ("followups", "palpebral_fissure_diff_mm")
            ),
            "commissure_height_diff_mm": _clip(
                t["post_commissure"][f], ("followups", "commissure_height_diff_mm")
            ),
            "visible_asymmetry": t["visible"][f],
            "eyelid_ptosis": t["eyelid"][f],
            "brow_ptosis": t["brow_ptosis"][f],
        },
    )
    recorded = t["durations"][dur_t]
    d_ids = tid.take(pa.array(dur_t))
    durations = arrow_table(
        DURATIONS,
        {
            "treatment_id": d_ids.filter(pa.array(recorded)),
            "region": dur["region"][recorded],
            "side": dur["side"][recorded],
            "days": rounded(dur["days"][recorded], 1),
            "returned": dur["returned"][recorded],
        },
    )
    asymmetry = arrow_table(
        ORACLE_TABLES["asymmetry"],
        {
            "treatment_id": tid,
            "p_visible_asymmetry": rounded(t["p_visible"], 6),
            "p_visible_asymmetry_at_needle": rounded(t["p_visible_needle"], 6),
            "p_eyelid_ptosis": rounded(t["p_eyelid"], 6),
            "p_eyelid_ptosis_at_needle": rounded(t["p_eyelid_needle"], 6),
            "p_brow_ptosis": rounded(t["p_brow"], 6),
            "p_brow_ptosis_at_needle": rounded(t["p_brow_needle"], 6),
            "expected_brow_height_diff_mm": rounded(t["e_brow"], 3),
            "expected_palpebral_fissure_diff_mm": rounded(t["e_palpebral"], 3),
            "expected_commissure_height_diff_mm": rounded(t["e_commissure"], 3),
        },
    )
    hidden = Hidden(
        anatomy=_anatomy(pat, pi),
        duration=_duration_factors(pat, pi, t["nab"], t["product"]),
        age=t["age"],
        placement_sd_mm=t["placement_sd"],
        placement_draw=t["placement_draw"],
    )
    longevity = arrow_table(
        ORACLE_TABLES["longevity"],
        {
            "treatment_id": d_ids,
            "region": dur["region"],
            "side": dur["side"],
            "median_days": rounded(dur["median"], 2),
        },
    )
    pair = (dur["side"] == LEFT) & np.isfinite(dur["p_late"])  # one row per bilateral region
    late_asymmetry = arrow_table(
        ORACLE_TABLES["late_asymmetry"],
        {
            "treatment_id": d_ids.filter(pa.array(pair)),
            "region": dur["region"][pair],
            "p_late_asymmetry": rounded(dur["p_late"][pair], 6),
            "p_late_asymmetry_recorded": rounded(dur["p_late_recorded"][pair], 6),
        },
    )
    return Chunk(
        tables={
            "treatments": treatments,
            "injections": injections,
            "followups": followups,
            "durations": durations,
            "oracle/asymmetry": asymmetry,
            "oracle/longevity": longevity,
            "oracle/late_asymmetry": late_asymmetry,
            "oracle/hidden": arrow_table(HIDDEN_TABLE, {"treatment_id": tid, **hidden.columns()}),
            "oracle/points": arrow_table(
                POINTS_TABLE,
                {"treatment_id": tid.take(pa.array(inj_t)), "x_mm": inj["x"], "y_mm": inj["y"]},
            ),
        },
        n_patients=n_patients,
        n_treatments=n_keep,
    )
