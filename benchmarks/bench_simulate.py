"""Benchmark of the simulator: time and peak memory of ``simulate``.

Times 100k treatments in Parquet and CSV (median of 3 runs, each in a fresh process so that its
peak RSS is its own), then 1M treatments in Parquet once, to show that chunked writing keeps
memory bounded: ten times the output should cost about ten times the time and about the same
peak memory. Also reports the in-memory ``simulate_frames`` at 100k for comparison.

Run: ``.venv/bin/python benchmarks/bench_simulate.py [--quick]``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from data.simulate import simulate, simulate_frames
n, fmt, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = time.perf_counter()
if fmt == "memory":
    sim = simulate_frames(n, seed=0)
    rows = len(sim.tables["injections"])
else:
    rows = simulate(n, Path(out), seed=0, fmt=fmt).n_injections
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux -> MiB
print(json.dumps({"seconds": seconds, "peak_mib": peak, "injections": rows}))
"""


def _run(n: int, fmt: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(n), fmt, out],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _median(n: int, fmt: str, repeats: int) -> dict[str, float]:
    runs = [_run(n, fmt) for _ in range(repeats)]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mib": statistics.median(r["peak_mib"] for r in runs),
        "injections": runs[0]["injections"],
    }


def main() -> None:
    quick = "--quick" in sys.argv
    repeats = 1 if quick else 3
    rows = [
        ("100k parquet", _median(100_000, "parquet", repeats)),
        ("100k csv", _median(100_000, "csv", repeats)),
        ("100k in memory (simulate_frames)", _median(100_000, "memory", 1)),
    ]
    if not quick:
        rows.append(("1M parquet", _run(1_000_000, "parquet")))
    base = rows[0][1]
    print(f"{'run':<34}{'seconds':>9}{'peak MiB':>10}{'injections':>12}{'x time':>8}{'x peak':>8}")
    for name, r in rows:
        print(
            f"{name:<34}{r['seconds']:>9.2f}{r['peak_mib']:>10.0f}{int(r['injections']):>12,}"
            f"{r['seconds'] / base['seconds']:>8.2f}{r['peak_mib'] / base['peak_mib']:>8.2f}"
        )
    print(f"(median of {repeats} for the 100k file runs; ratios relative to 100k parquet)")


if __name__ == "__main__":
    main()
