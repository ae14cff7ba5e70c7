"""Longevity quality on a simulated registry: hazard model vs naive baseline vs oracle.

    .venv/bin/python benchmarks/longevity_quality.py [--n 20000] [--seed 0] [--registry DIR]

Simulates a literature-scenario registry (unless --registry names one), fits the discrete-time
hazard model and the naive baseline on the training patients, and prints the held-out figures
side by side, overall and per region, with the fit times.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from data.contract import REGIONS
from data.simulate import simulate
from training.dataset import load_training_data
from training.longevity import duration_rows, fit_longevity, fit_naive_longevity
from training.longevity_eval import evaluate_longevity
from training.survival import person_period


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--registry", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.registry
        if folder is None:
            folder = Path(tmp) / "registry"
            simulate(args.n, folder, seed=args.seed)
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
    m = report.metrics
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
    print(f"\n{'calibration':12s} {'predicted':>10s} {'KM':>8s} {'|gap|':>8s}")
    for day in (90, 120, 150):
        print(
            f"S({day:3d})       {m[f'longevity_s{day}_predicted']:10.3f} "
            f"{m[f'longevity_s{day}_km']:8.3f} {m[f'longevity_s{day}_abs_gap']:8.3f}"
        )
    print("\nlate-stage asymmetry (one side >= 21 days before the other)")
    print(
        f"  pairs {m['late_asymmetry_pairs']:.0f}, mean predicted risk "
        f"{m['late_asymmetry_predicted_mean']:.3f}"
    )
    if "late_asymmetry_observed_rate" in m:
        print(
            f"  both sides returned: {m['late_asymmetry_observed_pairs']:.0f} pairs, observed "
            f"rate {m['late_asymmetry_observed_rate']:.3f}, mean predicted "
            f"{m['late_asymmetry_predicted_mean_observed']:.3f}, AUC "
            f"{m['late_asymmetry_auc']:.3f}"
        )


if __name__ == "__main__":
    main()
