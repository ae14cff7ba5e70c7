"""Batch recommendation speed: `asym recommend` beside `asym predict` on the same export.

Simulates a registry (1,000 treatments by default, seed 1: not the demo's training registry) and
times the two stages the commands run, ``recommend_registry`` and ``predict_registry``, with the
same bundle, interleaved, three times each (medians; the machine may be shared: compare the
ratio). A recommendation searches only the plans the model puts in the moderate or high band.

    .venv/bin/python benchmarks/bench_recommend.py [--model BUNDLE|models:/..] [--treatments N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bundle.resolve import resolve_model
from data.simulate import simulate
from serving.predict import predict_registry
from serving.recommend_batch import recommend_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/asym@champion")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--treatments", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-recommend-") as tmp:
        folder = Path(tmp)
        bundle = resolve_model(args.model, args.tracking_uri, dst_path=folder / "model")
        simulate(args.treatments, folder / "registry", seed=1)
        times: dict[str, list[float]] = {"recommend": [], "predict": []}
        status: dict[str, int] = {}
        for i in range(3):
            start = time.perf_counter()
            report = recommend_registry(bundle, folder / "registry", folder / f"rec{i}")
            times["recommend"].append(time.perf_counter() - start)
            status = report.status
            start = time.perf_counter()
            predict_registry(bundle, folder / "registry", folder / f"pred{i}")
            times["predict"].append(time.perf_counter() - start)
    rec, pred = (statistics.median(times[k]) for k in ("recommend", "predict"))
    counts = ", ".join(f"{n:,} {s}" for s, n in sorted(status.items()))
    print(f"{args.treatments:,} treatments ({counts}); medians of 3, the bundle loaded each time")
    print(f"  asym recommend  {rec:7.2f} s   ({rec / args.treatments * 1000:.1f} ms a treatment)")
    print(f"  asym predict    {pred:7.2f} s   ({pred / args.treatments * 1000:.2f} ms a treatment)")
    print(f"  ratio           {rec / pred:7.1f}x")


if __name__ == "__main__":
    main()
