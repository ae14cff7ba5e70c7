"""Model quality against the simulator's oracle, on the held-out latest period.

Simulates a registry (or reads --registry), loads it with ``load_training_data``, fits the
asymmetry-risk and post-treatment-difference models and prints their held-out metrics beside
the oracle's and the plain baseline's (``training.baseline``, fitted alike on the same rows),
with the ratios the targets are stated in (risk AUC >= 0.97 x oracle, Brier <= 1.10 x oracle,
calibration slope 0.9-1.1, 10-90% interval coverage near 0.8; against the plain baseline AUC
+0.005, Brier x0.99), and fit times.

    .venv/bin/python benchmarks/model_quality.py [--treatments 20000] [--seed 0]
    .venv/bin/python benchmarks/model_quality.py --registry path/to/export

Set OMP_WAIT_POLICY=passive on a busy machine: LightGBM's OpenMP threads otherwise spin while
waiting and fit times grow several-fold under contention.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from data.simulate import simulate
from training.baseline import evaluate_plain, fit_plain
from training.dataset import TrainingData, load_training_data
from training.differences import evaluate_differences, fit_differences
from training.models import DIFF_TARGETS
from training.risk import evaluate_risk, fit_risk

RISK_ROWS = (
    ("AUC", "auc", "ratio >= 0.97"),
    ("Brier", "brier", "ratio <= 1.10"),
    ("log loss", "log_loss", ""),
    ("calibration slope", "calibration_slope", "0.9-1.1"),
    ("calibration intercept", "calibration_intercept", "~0"),
    ("net benefit pt=0.10", "net_benefit_t10", ""),
    ("net benefit pt=0.20", "net_benefit_t20", ""),
    ("net benefit pt=0.30", "net_benefit_t30", ""),
)


def _risk(data: TrainingData, seed: int) -> float:
    start = time.perf_counter()
    model = fit_risk(data, seed=seed)
    seconds = time.perf_counter() - start
    report = evaluate_risk(model, data)
    plain = evaluate_plain(fit_plain(data, seed=seed), data, report)
    m = report.metrics
    print(
        f"\nasymmetry risk: {int(m['risk_n_test']):,} held-out reviews, prevalence "
        f"{m['risk_prevalence']:.3f}; {model.booster.num_trees()} trees, Platt slope "
        f"{model.calibration[0]:.3f} intercept {model.calibration[1]:+.3f}; fit {seconds:.1f} s"
    )
    print(f"{'metric':<24}{'model':>9}{'oracle':>9}{'ratio':>8}{'plain':>9}  target")
    for label, key, target in RISK_ROWS:
        model_v, oracle_v = m[f"risk_{key}"], m.get(f"oracle_risk_{key}")
        oracle_s = "" if oracle_v is None else f"{oracle_v:9.4f}"
        # A ratio of intercepts (target 0) means nothing.
        ratio = "" if oracle_v is None or "intercept" in key else f"{model_v / oracle_v:8.3f}"
        plain_v = plain.get(f"plain_risk_{key}")
        plain_s = "" if plain_v is None else f"{plain_v:9.4f}"
        print(f"{label:<24}{model_v:9.4f}{oracle_s:>9}{ratio:>8}{plain_s:>9}  {target}")
    print(
        f"against the plain baseline: AUC {plain['risk_auc_minus_plain']:+.4f} "
        f"({plain['risk_auc_minus_plain_ci_low']:+.4f} to "
        f"{plain['risk_auc_minus_plain_ci_high']:+.4f}), Brier "
        f"x{plain['risk_brier_ratio_to_plain']:.3f} (target +0.005, x0.99)"
    )
    for t in (10, 20, 30):
        print(f"{f'treat all pt=0.{t}':<24}{m[f'risk_net_benefit_treat_all_t{t}']:9.4f}")
    return seconds


def _differences(data: TrainingData, seed: int) -> float:
    start = time.perf_counter()
    model = fit_differences(data, seed=seed)
    seconds = time.perf_counter() - start
    m = evaluate_differences(model, data)
    print(f"\npost-treatment differences (mm, left minus right); 9 boosters, fit {seconds:.1f} s")
    print(
        f"{'difference':<28}{'n':>6}{'MAE':>8}{'oracle':>8}{'ratio':>7}"
        f"{'vs truth':>10}{'cover':>7}  (cover target 0.80)"
    )
    for target in DIFF_TARGETS:
        k = f"diff_{target}"
        oracle = m.get(f"oracle_{k}_mae")
        print(
            f"{target:<28}{int(m[f'{k}_n_test']):>6}{m[f'{k}_mae']:8.3f}"
            + ("" if oracle is None else f"{oracle:8.3f}{m[f'{k}_mae_ratio_to_oracle']:7.2f}")
            + ("" if oracle is None else f"{m[f'{k}_mae_vs_oracle']:10.3f}")
            + f"{m[f'{k}_coverage_10_90']:7.3f}"
        )
    print(
        "  MAE: q50 vs measured; oracle: the true expected difference vs measured; "
        "vs truth: q50 vs the true expected difference"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--treatments", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0, help="simulator seed")
    parser.add_argument("--fit-seed", type=int, default=0)
    parser.add_argument("--registry", type=Path, help="use this export instead of simulating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.registry
        if folder is None:
            folder = Path(tmp) / "registry"
            simulate(args.treatments, folder, seed=args.seed)
        start = time.perf_counter()
        data = load_training_data(folder)
        print(
            f"{folder}: {len(data.registry.treatments):,} treatments, train "
            f"{int(data.train.sum()):,}, held out {int(data.test.sum()):,} (latest period); "
            f"loaded in {time.perf_counter() - start:.1f} s; oracle: "
            f"{'yes' if data.oracle is not None else 'no'}"
        )
        seconds = _risk(data, args.fit_seed)
        seconds += _differences(data, args.fit_seed)
        print(f"\nfit time, all models above: {seconds:.1f} s (longevity: longevity_quality.py)")


if __name__ == "__main__":
    main()
