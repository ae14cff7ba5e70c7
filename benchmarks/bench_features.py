"""Feature speed: a whole registry, the `asym features` command, and one request.

Each figure is printed beside the alternative it is compared with, measured in the same run:
  - whole registry (100k treatments): the vectorised batch path vs featurising the same
    treatments one request at a time (extrapolated from 2,000);
  - one request (12 points, short history): the pandas-free request path vs running the batch
    path on that one treatment's own tables (a DataFrame per request).
Medians of repeated runs; the machine is shared, so compare ratios.

    .venv/bin/python benchmarks/bench_features.py [--treatments 100000]
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from timing import median_seconds  # benchmarks/timing.py (scripts run from their folder)

from data.registry import read_registry
from data.simulate import simulate
from features.build import build_features
from features.inputs import FeatureInput
from features.request import request_inputs
from features.tables import registry_inputs, registry_requests

T = TypeVar("T")


def _featurise(inputs: Callable[[T], FeatureInput], data: T, times: int) -> None:
    """Turn the same data into features ``times`` times (``inputs`` then ``build_features``)."""
    for _ in range(times):
        build_features(inputs(data))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--treatments", type=int, default=100_000)
    parser.add_argument("--command-treatments", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big"
        simulate(args.treatments, big, seed=0)
        tables = read_registry(big).tables
        n_inj = len(tables["injections"])
        batch = median_seconds(lambda: build_features(registry_inputs(tables)), 3)
        print(f"registry: {args.treatments:,} treatments, {n_inj:,} injections")
        print(f"  batch path                 {batch:8.2f} s   (median of 3)")

        t = tables["treatments"]
        sample = {k: v for k, v in tables.items()}
        ids = set(t["treatment_id"].iloc[:2_000])
        for k in ("treatments", "injections", "followups", "durations"):
            sample[k] = tables[k][tables[k]["treatment_id"].isin(ids)]
        requests = list(registry_requests(sample).values())
        per_request = median_seconds(
            lambda: [build_features(request_inputs(r)) for r in requests], 3
        ) / len(requests)
        extrapolated = per_request * args.treatments
        print(f"  one request at a time      {extrapolated:8.2f} s   (extrapolated)")
        print(f"  ratio                      {extrapolated / batch:8.1f} x")

        # One request with 12 points: a short history (2 earlier treatments, the case)
        # and the longest history in the sample.
        all_requests = registry_requests(sample)
        ids_by_history = {
            label: min(
                all_requests,
                key=lambda k: (
                    abs(len(all_requests[k]["plan"]["injections"]) - 12),
                    abs(len(all_requests[k].get("history", [])) - want),
                ),
            )
            for label, want in (("short history", 2), ("long history", 99))
        }
        loops = 2_000
        for label, tid in ids_by_history.items():
            request = all_requests[tid]
            own = {k: v[v["treatment_id"] == tid] for k, v in tables.items()}
            fast = (
                median_seconds(functools.partial(_featurise, request_inputs, request, loops), 7)
                / loops
            )
            slow = median_seconds(functools.partial(_featurise, registry_inputs, own, 200), 5) / 200
            print(
                f"one request, {label}: {len(request['plan']['injections'])} points, "
                f"{len(request.get('history', []))} earlier treatments"
            )
            print(f"  request path (no pandas)   {fast * 1e6:8.1f} us  (median of 7 x {loops})")
            print(f"  batch path on its tables   {slow * 1e6:8.1f} us")
            print(f"  ratio                      {slow / fast:8.1f} x")

        mid = Path(tmp) / "mid"
        simulate(args.command_treatments, mid, seed=1)
        exe = Path(sys.executable).with_name("asym")
        cmd = [str(exe), "features", "--registry", str(mid), "--out", str(Path(tmp) / "f.parquet")]
        command = median_seconds(lambda: subprocess.run(cmd, check=True, capture_output=True), 3)
        print(
            f"`asym features` on {args.command_treatments:,} treatments, start-up and reading "
            f"included: {command:.2f} s (median of 3)"
        )


if __name__ == "__main__":
    main()
