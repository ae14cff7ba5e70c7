"""How close does a pre-treatment risk model get to the best possible one?

The simulator's oracle holds two probabilities of visible asymmetry per treatment (see
``data.simulate``): ``p_visible_asymmetry``, given the patient's hidden state and the plan,
averaging over each point's placement error (the best any pre-treatment prediction can do, even
knowing the hidden state), and ``p_visible_asymmetry_at_needle``, which also knows where every
point landed. This script simulates a registry, fits ``fit_risk`` on it and prints, on the
held-out period (latest treatments by date), AUC, Brier score and calibration slope of the three,
with ratios to the pre-treatment oracle: the ceiling model quality is reported against
(``training.risk.evaluate_risk`` does the same for ``risk_*_ratio_to_oracle``).

    .venv/bin/python benchmarks/risk_ceiling.py [--treatments 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from data.simulate import simulate
from training import metrics
from training.dataset import load_training_data
from training.risk import evaluate_risk, fit_risk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--treatments", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        simulate(args.treatments, Path(tmp), seed=args.seed)
        data = load_training_data(Path(tmp))
    assert data.oracle is not None
    report = evaluate_risk(fit_risk(data), data)
    y = report.y
    truth = data.oracle.asymmetry.reindex(report.treatment_ids)
    rows = {
        "oracle at the needle (landing known)": truth["p_visible_asymmetry_at_needle"],
        "oracle pre-treatment (the ceiling)": truth["p_visible_asymmetry"],
        "fit_risk (registry features)": report.p,
    }
    ceiling = np.asarray(rows["oracle pre-treatment (the ceiling)"], dtype=np.float64)
    auc_c, brier_c = metrics.auc(y, ceiling), metrics.brier(y, ceiling)
    print(f"{len(y):,} held-out reviews, prevalence {y.mean():.3f}")
    head = ("mean p", "AUC", "Brier", "AUC/c", "Brier/c", "slope")
    print(f"{'predictor':<38}" + "".join(f"{h:>9}" for h in head))
    for name, values in rows.items():
        p = np.asarray(values, dtype=np.float64)
        a, b = metrics.auc(y, p), metrics.brier(y, p)
        slope, _ = metrics.calibration(y, p)
        print(
            f"{name:<38}{p.mean():9.4f}{a:9.4f}{b:9.4f}{a / auc_c:9.3f}{b / brier_c:9.3f}"
            f"{slope:9.3f}"
        )


if __name__ == "__main__":
    main()
