"""`/v1/predict` latency of several checkouts of asym side by side, interleaved in one run.

Each side is a checkout (a git worktree of another commit) and a bundle it trained itself
(bundle formats differ between commits). Each side's `asym serve` (one worker, no auth, its own
SQLite log) runs from its checkout through ``PYTHONPATH``, with this venv; rounds of sequential
requests (the same 12-point plan, ``bench_serve.plan_request``) go to each side in turn, the
order rotated round by round so that the shared machine's load falls on all alike. Prints each
side's median p50 and p99 over the rounds and their ratios to the first side's.

    .venv/bin/python benchmarks/serve_against.py NAME=CHECKOUT:BUNDLE ... [--rounds 9]

Run it from outside the checkouts (``python -c`` puts the working folder first on the path).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

import bench_serve as bs  # benchmarks/ (this script's folder) is on the path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sides", nargs="+", help="NAME=CHECKOUT:BUNDLE, the first the reference")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=1000, help="requests a round and side")
    args = parser.parse_args()
    sides: dict[str, tuple[str, str]] = {}
    for spec in args.sides:
        name, _, rest = spec.partition("=")
        root, _, bundle = rest.partition(":")
        sides[name] = (str(Path(root).resolve()), str(Path(bundle).resolve()))
    request = bs.plan_request()
    p50: dict[str, list[float]] = {s: [] for s in sides}
    p99: dict[str, list[float]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        ports = {}
        for name, (root, bundle) in sides.items():
            ports[name] = port = bs._free_port()
            cmd = [sys.executable, "-c", "from asym_cli import app; app()", "serve", "--no-auth",
                   "--model", bundle, "--log-url", f"sqlite:///{tmp}/{name}.db",
                   "--port", str(port), "--workers", "1"]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": root}
            stack.enter_context(bs._server(cmd, f"http://127.0.0.1:{port}/readyz", env))
        order = list(sides)
        for r in range(args.rounds):
            k = r % len(order)
            for name in order[k:] + order[:k]:
                lat = bs._latency(ports[name], "/v1/predict", request, args.requests, 100)
                p50[name].append(bs._pct(lat, 50))
                p99[name].append(bs._pct(lat, 99))
    first = order[0]
    ref50, ref99 = statistics.median(p50[first]), statistics.median(p99[first])
    print(f"{'side':<10}{'p50 ms':>9}{'p99 ms':>9}{'p50 x':>8}{'p99 x':>8}")
    for name in order:
        m50, m99 = statistics.median(p50[name]), statistics.median(p99[name])
        print(f"{name:<10}{m50:>9.3f}{m99:>9.3f}{m50 / ref50:>8.3f}{m99 / ref99:>8.3f}")


if __name__ == "__main__":
    main()
