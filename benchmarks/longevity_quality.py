"""Longevity quality on a simulated registry: hazard model vs naive baseline vs oracle.

    .venv/bin/python benchmarks/longevity_quality.py [--n 20000] [--seed 0]
        [--scenario literature|seed-claims] [--registry DIR]

Simulates a registry (unless --registry names one), fits the discrete-time hazard model and the
naive baseline on the training patients, and prints the held-out figures side by side, overall
and per region, with the fit times; then the late-stage asymmetry risk of the two sides jointly
(the fitted Frank copula) beside the same curves taken as independent sides, against the pairs
seen and against the oracle, with issue 13's goals. The visit lattice the registry records returns
on (``training.visit_lattice``) is printed; Kaplan-Meier spreads those returns as the fit does.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from bundle.late_asymmetry import MIN_THETA
from data.contract import REGIONS
from data.simulate import simulate
from training.dataset import load_training_data
from training.duration_rows import duration_rows
from training.longevity import fit_longevity, fit_naive_longevity
from training.longevity_eval import evaluate_longevity
from training.survival import person_period


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", choices=["literature", "seed-claims"], default="literature")
    parser.add_argument("--registry", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.registry
        if folder is None:
            folder = Path(tmp) / "registry"
            simulate(args.n, folder, seed=args.seed, scenario=args.scenario)
        data = load_training_data(folder)
        train_rows = duration_rows(data, data.train)
        pp = person_period(train_rows.days, train_rows.returned, 30.0, 12)
        print(f"treatments {len(data.features)}, train durations rows {len(train_rows.days)}")
        print(f"person-period rows {len(pp.row)}")
        start = time.perf_counter()
        model = fit_longevity(data, seed=args.seed)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        naive = fit_naive_longevity(data, seed=args.seed)
        naive_s = time.perf_counter() - start
        start = time.perf_counter()
        report = evaluate_longevity(model, naive, data)
        eval_s = time.perf_counter() - start
        independent = evaluate_longevity(
            dataclasses.replace(model, side_dependence=np.full(len(REGIONS), MIN_THETA)),
            naive,
            data,
        ).metrics
    m = report.metrics
    lattice = model.visit_lattice
    print(
        f"visit lattice: returns recorded every {lattice.step_days:g} days "
        f"({lattice.share:.1%} of returned rows on it; 0 = none, days taken as recorded)"
    )
    print(f"fit {fit_s:.1f} s ({model.booster.current_iteration()} rounds), naive {naive_s:.1f} s,")
    print(f"evaluate {eval_s:.1f} s; held-out durations rows {m['longevity_rows_test']:.0f}")
    print(f"censored share {m['longevity_censored_share_test']:.3f}\n")

    print(f"{'':34s} {'model':>8s} {'naive':>8s} {'oracle':>8s}")
    suffixes = [""] + [f"__region_{r}" for r in REGIONS if f"longevity_c_index__region_{r}" in m]
    for suffix in suffixes:
        label = suffix.removeprefix("__region_") or "ALL"
        print(
            f"C-index {label:26s} {m[f'longevity_c_index{suffix}']:8.4f} "
            f"{m[f'longevity_naive_c_index{suffix}']:8.4f} "
            f"{m[f'oracle_longevity_c_index{suffix}']:8.4f}"
        )
    print(
        f"{'C-index ratio to oracle':34s} {m['longevity_c_index_ratio_to_oracle']:8.4f} "
        f"{m['longevity_naive_c_index_ratio_to_oracle']:8.4f}"
    )
    for suffix in [s for s in suffixes if f"longevity_median_days_mae_vs_oracle{s}" in m]:
        label = suffix.removeprefix("__region_") or "ALL"
        print(
            f"median MAE vs oracle {label:13s} "
            f"{m[f'longevity_median_days_mae_vs_oracle{suffix}']:8.2f} "
            f"{m[f'longevity_naive_median_days_mae_vs_oracle{suffix}']:8.2f}"
        )
    print(
        f"{'median bias vs oracle (days)':34s} {m['longevity_median_days_bias_vs_oracle']:8.2f} "
        f"{m['longevity_naive_median_days_bias_vs_oracle']:8.2f}"
    )
    print(
        f"{'schedule touch-up within 10 days':34s} "
        f"{m['schedule_touch_up_within_10_days_share']:8.3f}   (goal >= 0.70 of treated regions;"
        f" MAE {m['schedule_touch_up_mae_vs_oracle_days']:.1f} days)"
    )
    print(f"\n{'calibration':12s} {'predicted':>10s} {'KM':>8s} {'|gap|':>8s}")
    for day in (90, 120, 150):
        print(
            f"S({day:3d})       {m[f'longevity_s{day}_predicted']:10.3f} "
            f"{m[f'longevity_s{day}_km']:8.3f} {m[f'longevity_s{day}_abs_gap']:8.3f}"
        )
    theta = ", ".join(f"{r} {t:.1f}" for r, t in zip(REGIONS, model.side_dependence, strict=True))
    print(f"\nlate-stage asymmetry (one side >= 21 days before the other); Frank theta: {theta}")
    print(
        f"held-out pairs {m['late_asymmetry_pairs']:.0f}, outcome known "
        f"{m['late_asymmetry_known_pairs']:.0f}, "
        f"observed rate {m['late_asymmetry_observed_rate']:.3f}"
    )
    rows = (
        ("mean predicted (known pairs)", "late_asymmetry_predicted_mean", ""),
        ("predicted - observed (known pairs)", "late_asymmetry_predicted_minus_observed", ""),
        (
            "predicted - observed (IPCW)",
            "late_asymmetry_predicted_minus_observed_ipcw",
            "within +-0.03",
        ),
        ("calibration slope", "late_asymmetry_calibration_slope", "0.8-1.2"),
        ("calibration intercept", "late_asymmetry_calibration_intercept", ""),
        ("Brier", "late_asymmetry_brier", ""),
        ("Brier / oracle's", "late_asymmetry_brier_ratio_to_oracle", "<= 1.10"),
        ("predicted - oracle (all pairs)", "late_asymmetry_predicted_minus_oracle", ""),
        ("MAE vs oracle", "late_asymmetry_mae_vs_oracle", ""),
        ("slope vs oracle (logit)", "late_asymmetry_slope_vs_oracle", ""),
        ("AUC", "late_asymmetry_auc", ""),
        (
            "per treatment: predicted - observed",
            "late_asymmetry_treatment_predicted_minus_observed",
            "",
        ),
        ("per treatment: calibration slope", "late_asymmetry_treatment_calibration_slope", ""),
    )
    print(f"{'':38s} {'joint':>9s} {'independent':>12s}  goal")
    for label, key, goal in rows:
        if key in m:
            print(f"{label:38s} {m[key]:9.4f} {independent.get(key, float('nan')):12.4f}  {goal}")
    print(
        f"{'oracle: Brier, predicted - observed':38s} {m['oracle_late_asymmetry_brier']:9.4f} "
        f"{m['oracle_late_asymmetry_predicted_minus_observed']:12.4f}"
    )
    print(
        f"{'oracle: predicted - observed (IPCW)':38s} "
        f"{m['oracle_late_asymmetry_predicted_minus_observed_ipcw']:9.4f}"
    )


if __name__ == "__main__":
    main()
