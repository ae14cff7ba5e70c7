"""Batch prediction speed: `predict_registry` on a simulated registry, ONNX vs LightGBM.

Simulates a registry (100k treatments by default), fits small LightGBM models on a smaller one
(``tests.fixtures.fit_small_models``, or takes a bundle given with --model), exports the
bundle and times ``predict_registry`` (median of 3), split into reading + features, scoring and
writing. The scoring is then timed again on the same matrices: ``Predictor.predict`` (both ONNX
sessions and the post-processing) beside LightGBM's own ``predict`` of the same boosters (the
alternative, without post-processing). The machine may be shared: compare ratios, and the
target (100k treatments <= 10 s) with the total.

    .venv/bin/python benchmarks/bench_predict.py [--treatments 100000] [--model BUNDLE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The small models are the tests' (tests/fixtures.py), found from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_seconds  # benchmarks/timing.py (scripts run from their folder)

from bundle.predictor import Predictor
from data.registry import read_registry
from data.simulate import simulate
from features.build import build_features
from features.longevity import longevity_matrix, treated_region_sides
from features.tables import registry_inputs
from serving.predict import predict_registry
from tests.fixtures import fit_small_models
from training.dataset import load_training_data
from training.export import export_bundle
from training.models import DIFF_TARGETS, QUANTILES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--treatments", type=int, default=100_000)
    parser.add_argument("--model", type=Path, default=None, help="a bundle folder to use")
    parser.add_argument("--fit-treatments", type=int, default=5_000)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--leaves", type=int, default=31)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        models = None
        bundle = args.model
        if bundle is None:
            t0 = time.perf_counter()
            small = load_training_data(simulate(args.fit_treatments, tmp_path / "fit").out)
            models = fit_small_models(small, trees=args.trees, leaves=args.leaves)
            bundle = tmp_path / "bundle"
            export_bundle(models, small, bundle, model_name="bench", model_version="0")
            print(
                f"bundle: 10 + 1 boosters x {args.trees} trees x {args.leaves} leaves, fitted on "
                f"{args.fit_treatments:,} treatments, exported in {time.perf_counter() - t0:.1f} s"
            )
        registry = tmp_path / "registry"
        simulate(args.treatments, registry, seed=1)

        reports = []
        for i in range(3):
            reports.append(predict_registry(bundle, registry, tmp_path / f"out{i}"))
        r = sorted(reports, key=lambda p: p.read_seconds + p.score_seconds + p.write_seconds)[1]
        total = r.read_seconds + r.score_seconds + r.write_seconds
        print(
            f"predict_registry: {r.n_treatments:,} treatments, {r.n_longevity_rows:,} treated "
            f"sides (median of 3 by total)"
        )
        print(f"  read + validate + features {r.read_seconds:8.2f} s")
        print(f"  score (ONNX + postprocess) {r.score_seconds:8.2f} s")
        print(f"  write Parquet              {r.write_seconds:8.2f} s")
        print(f"  total                      {total:8.2f} s   (target <= 10 s per 100k)")

        # The scoring on the same matrices: ONNX sessions vs LightGBM, then the shared numpy.
        inputs = registry_inputs(read_registry(registry).tables)
        x = build_features(inputs).astype(np.float32)
        t, reg, side = treated_region_sides(inputs.plan)
        predictor = Predictor.load(bundle)
        rows = longevity_matrix(x, t, reg, side)
        served = median_seconds(lambda: predictor.predict(x, t, reg, side), 3)
        print(
            f"scoring the same matrices ({len(x):,} x {x.shape[1]}; {len(rows):,} longevity rows):"
        )
        print(f"  Predictor.predict (ONNX sessions + post-processing)  {served:8.2f} s")
        if models is not None:
            boosters = [r.booster for r in models.risks.values()] + [
                models.differences.boosters[tg][q] for tg in DIFF_TARGETS for q, _ in QUANTILES
            ]
            lgb_treat = median_seconds(lambda: [b.predict(x) for b in boosters], 3)
            lgb_hazard = median_seconds(lambda: models.longevity.margin(rows), 3)
            print(
                f"  LightGBM predict of the same boosters (no post-processing) "
                f"{lgb_treat + lgb_hazard:8.2f} s"
            )


if __name__ == "__main__":
    main()
