"""Do the features carry the signal? LightGBM on them vs on per-muscle unit sums alone.

Simulates a registry, holds out the latest 20% of treatments (no patient on both sides) and
fits the same plain LightGBM classifier for visible asymmetry on three feature sets. Prints
held-out AUC and Brier score for each, beside the oracle's on the same rows.

    .venv/bin/python benchmarks/feature_value.py [--treatments 20000] [--seed 7]
"""

from __future__ import annotations

import argparse

import lightgbm as lgb
import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from data.simulate import simulate_frames
from features.spec import FEATURES
from features.tables import feature_frame
from training.split import split_by_patient_and_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--treatments", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sim = simulate_frames(args.treatments, seed=args.seed)
    tables = sim.tables
    frame = feature_frame(tables)
    fol = tables["followups"][["treatment_id", "visible_asymmetry"]]
    oracle = sim.oracle["asymmetry"][["treatment_id", "p_visible_asymmetry"]]
    data = frame.merge(fol, on="treatment_id").merge(oracle, on="treatment_id")
    t = tables["treatments"].set_index("treatment_id").loc[data["treatment_id"]].reset_index()
    train, test = split_by_patient_and_time(t, 0.2)
    y = data["visible_asymmetry"].to_numpy()
    sets = {
        "per-muscle unit sums": [f.name for f in FEATURES if f.name.startswith("u_eq_")],
        "patient + unit sums": [
            f.name for f in FEATURES if f.group == "patient" or f.name.startswith("u_eq_")
        ],
        "all asym features": [f.name for f in FEATURES],
    }
    print(
        f"{len(data):,} reviewed treatments: train {train.sum():,}, held out {test.sum():,}; "
        f"visible asymmetry {y.mean():.1%}"
    )
    p_oracle = data["p_visible_asymmetry"].to_numpy()[test]
    auc_o, brier_o = roc_auc_score(y[test], p_oracle), brier_score_loss(y[test], p_oracle)
    print(f"{'features':<24}{'n':>5}{'AUC':>8}{'Brier':>8}{'AUC/oracle':>12}{'Brier/oracle':>14}")
    for name, cols in sets.items():
        model = lgb.LGBMClassifier(
            n_estimators=400,
            learning_rate=0.03,
            num_leaves=31,
            min_child_samples=40,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=0,
            verbose=-1,
        )
        x = data[cols].to_numpy(np.float32)
        model.fit(x[train], y[train])
        p = np.asarray(model.predict_proba(x[test]))[:, 1]
        auc, brier = roc_auc_score(y[test], p), brier_score_loss(y[test], p)
        print(
            f"{name:<24}{len(cols):>5}{auc:>8.4f}{brier:>8.4f}{auc / auc_o:>12.3f}"
            f"{brier / brier_o:>14.3f}"
        )
    print(f"{'oracle (true p)':<24}{'':>5}{auc_o:>8.4f}{brier_o:>8.4f}")


if __name__ == "__main__":
    main()
