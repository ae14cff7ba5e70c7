"""Synthetic treatment registry with a ground-truth oracle (design.md, "Synthetic registry").

The world. Patients (about 88% women, median age ~47, an ancestry mix whose East Asian share
depends on the clinic) come to a few dozen clinics for 1 to 6 sessions between 2019 and 2025,
returning about when the effect wore off. Each patient carries hidden state the registry never
shows: true baseline brow, lid and mouth-corner differences, muscle strength per muscle and side
(men stronger), frontalis and masseter thickness, small offsets of each muscle from the atlas,
toxin sensitivity, a dose-duration elasticity, an activity effect and antibody formation. The
registry shows noisy, sometimes missing measurements of some of it (missingness is clinic- and
plan-dependent: masseter ultrasound mostly when the jaw is treated). Clinics differ in dose
habits, treated regions, products, dilution, injector experience, what they record and how
complete their follow-up is. Plans follow domain-facts.md section 11; injectors split doses
between the sides evenly, with accidental imbalance, and in some clinics correct a measured
brow or mouth-corner difference.

Physics. Each point lands at its planned place plus a placement error; its dose spreads as a
Gaussian kernel (``data.atlas.spread_sd_mm``) and reaches each muscle of the patient's own
anatomy (``data.atlas.reach``); paralysis saturates with dose over strength. Paralysis moves
the brows and mouth corners side by side; toxin reaching the levator palpebrae or the lowest
frontalis causes eyelid or brow ptosis. The true post-treatment differences are the baseline
plus the left-minus-right displacement plus biological noise; the clinician rates visible
asymmetry when a difference, read with rater noise, passes its threshold (brow 3 mm, lid 2 mm,
mouth corner 3.5 mm). Longevity per treated (region, side) is Weibull around the region's
median, scaled by dose, sex, muscle size, activity, product and antibodies; the registry sees it
through visits, censored by the next session, loss to follow-up and the end of the registry.

The oracle. Per treatment, ``oracle/asymmetry`` holds two versions of each review probability.
``p_visible_asymmetry`` is the pre-treatment one: the true probability of visible asymmetry given
the patient's hidden state and the plan (each point's planned position, dose and volume, and
whether an experienced or a novice injector places it), integrating over each point's placement
error (3 or 6 mm sd per axis) as well as over the ptosis events, the biological response and the
rater. It is the best any pre-treatment model could do, even one that knew the hidden state, and
the ceiling model quality is measured against. It is computed as the mean, over
``params.ORACLE_PLACEMENT_DRAWS`` independent placement-error draws (their own random stream,
seeded from the chunk's), of the closed-form conditional probability below; its Monte-Carlo sd
is ~0.015 per treatment. ``p_visible_asymmetry_at_needle`` is that conditional probability at
the realised placement: given the hidden state and where each point actually landed, integrating
in closed form over the ptosis events, the biological response and the rater. The recorded
outcome is one draw from the realised placement, so both have the observed rate as their mean;
the at-the-needle one is sharper. ``p_eyelid_ptosis`` and ``p_brow_ptosis`` (either side) follow
the same two definitions, with ``_at_needle`` columns. The ``expected_*_diff_mm`` columns are
expected true post-treatment differences at the needle. For every treated (region, side),
``oracle/longevity``'s ``median_days`` is the true Weibull median.

The truth of any plan. ``oracle/hidden`` (per treatment: the hidden state, the injector's
placement sd, the key of the placement draws) and ``oracle/points`` (where each point was
planned, recorded or not) let ``truth.plan_truth`` judge other plans of the same treatments with
the oracle's own computation on the oracle's own draws (common random numbers keyed by
treatment and point): the plan a treatment had gets exactly its oracle values.

Scenarios. ``literature`` holds only effects with public support. ``seed-claims`` adds, labelled
as such, the source document's unsupported effects: dominant-side frontalis 15-30% thicker,
CHRNA1 carriers in 33% of East Asian patients with 20-30% longer effect, frequent exercisers'
masseter wearing off 18-24% sooner, and mouth corners returning 15-20 days earlier in 60% of
patients.

Worlds. ``--world`` draws the same registry under other parameters of what the features assume
(``worlds.WORLDS``: other anatomy, spread kernel, landmark mechanics, raters, clinic habits, or
all at once); the oracle is that world's truth. The default world is the one described above.
"""

from data.simulate.api import Simulated, SimulationReport, simulate, simulate_frames
from data.simulate.types import Scenario

__all__ = ["Scenario", "Simulated", "SimulationReport", "simulate", "simulate_frames"]
