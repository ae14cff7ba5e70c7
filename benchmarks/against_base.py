"""This checkout against another commit of asym, interleaved in one run: training, predict, serving.

A restructure must not cost speed or model quality. Give a worktree of the other commit
(``git worktree add ../base COMMIT``); both run with this venv, the other through
``PYTHONPATH``, each on bundles it trained itself (bundle formats may differ), alternating run
by run so that the shared machine's load falls on both alike:

* ``asym train`` on 20k simulated treatments per simulator seed (wall time, and the held-out
  figures it logs: risk AUC, Brier, their oracle ratios, longevity C-index and its ratio);
* ``asym predict`` on 100k treatments (wall time, median of ``--repeats``);
* ``benchmarks/bench_serve.py`` of each side (p50/p99 of ``/v1/predict``, batch throughput).

    .venv/bin/python benchmarks/against_base.py --base ../base [--seeds 0 1 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient

FIGURES = (
    "risk_auc",
    "risk_brier",
    "risk_auc_ratio_to_oracle",
    "risk_brier_ratio_to_oracle",
    "longevity_c_index",
    "longevity_c_index_ratio_to_oracle",
)
SERVE = (
    ("p50 /v1/predict (ms)", "predict latency p50, 1 worker (ms)"),
    ("p99 /v1/predict (ms)", "predict latency p99, 1 worker (ms)"),
    ("req/s, 2 workers, concurrency 16", "predict req/s, 2 workers, concurrency 16"),
    ("batch, 2 workers (treatments/s)", "batch treatments/s, 2 workers, 8 calls at once"),
)
"""Our label, and the line of bench_serve.py's table it is read from (its first number)."""


def _env(root: Path | None) -> dict[str, str]:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    if root is not None:
        env["PYTHONPATH"] = str(root)
    return env


def _asym(root: Path | None, *args: str) -> float:
    """Run an asym command with one side's code; its wall time in seconds."""
    started = time.perf_counter()
    code = "from asym_cli import app; app()"
    cwd = root or Path.cwd()
    subprocess.run(
        [sys.executable, "-c", code, *args], check=True, env=_env(root), cwd=cwd,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def _figures(uri: str, experiment: str) -> dict[str, float]:
    client = MlflowClient(uri)
    (exp,) = [e for e in client.search_experiments() if e.name == experiment]
    (run,) = client.search_runs([exp.experiment_id])
    return {k: run.data.metrics[k] for k in FIGURES if k in run.data.metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="worktree of the other commit")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--treatments", type=int, default=20_000)
    parser.add_argument("--predict-treatments", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-predict", action="store_true")
    parser.add_argument("--skip-serve", action="store_true")
    args = parser.parse_args()
    sides: dict[str, Path | None] = {"base": args.base.resolve(), "this": None}
    work = Path(tempfile.mkdtemp(prefix="against-base-"))
    print(f"work folder {work}", flush=True)

    train_s: dict[str, list[float]] = {s: [] for s in sides}
    figures: dict[tuple[str, int], dict[str, float]] = {}
    for seed in args.seeds:
        registry = work / f"registry{seed}"
        _asym(None, "simulate", "--treatments", str(args.treatments), "--seed", str(seed),
              "--out", str(registry))  # fmt: skip
        for side, root in sides.items():
            uri = f"sqlite:///{work / side}.db"
            train_s[side].append(
                _asym(
                    root,
                    "train",
                    "--registry",
                    str(registry),
                    "--out",
                    str(work / f"bundle-{side}-{seed}"),
                    "--tracking-uri",
                    uri,
                    "--experiment",
                    f"seed{seed}",
                )
            )
            figures[side, seed] = _figures(uri, f"seed{seed}")
            print(f"train seed {seed} {side}: {train_s[side][-1]:.1f} s", flush=True)

    big = work / "registry-predict"
    repeats = 0 if args.skip_predict else args.repeats
    if repeats:
        _asym(None, "simulate", "--treatments", str(args.predict_treatments), "--out", str(big))
    predict_s: dict[str, list[float]] = {s: [] for s in sides}
    for _ in range(repeats):
        for side, root in sides.items():
            bundle = work / f"bundle-{side}-{args.seeds[0]}"
            out = work / f"predicted-{side}"
            predict_s[side].append(
                _asym(
                    root,
                    "predict",
                    "--model",
                    str(bundle),
                    "--registry",
                    str(big),
                    "--out",
                    str(out),
                )
            )

    serve: dict[str, dict[str, list[float]]] = {s: {k: [] for k, _ in SERVE} for s in sides}
    for _ in range(0 if args.skip_serve else 2):
        for side, root in sides.items():
            script = (root or Path.cwd()) / "benchmarks" / "bench_serve.py"
            bundle = work / f"bundle-{side}-{args.seeds[0]}"
            text = subprocess.run(
                [sys.executable, str(script), "--model", str(bundle), "--skip-mlflow",
                 "--rounds", "3"],
                check=True, env=_env(root), cwd=script.parent, capture_output=True, text=True,
            ).stdout  # fmt: skip
            for label, line in SERVE:
                found = re.search(re.escape(line) + r"\s+([\d.]+)", text)
                if found:
                    serve[side][label].append(float(found.group(1)))

    print(f"\n{'':42s}{'base':>12s}{'this':>12s}{'this/base':>11s}")
    label = f"asym train {args.treatments // 1000}k (s), median"
    rows = [(label, {s: statistics.median(v) for s, v in train_s.items()})]
    if repeats:
        rows.append(
            (
                f"asym predict {args.predict_treatments // 1000}k (s), median",
                {s: statistics.median(v) for s, v in predict_s.items()},
            )
        )
    for label, _ in SERVE:
        if all(serve[s][label] for s in sides):
            rows.append((label, {s: statistics.median(serve[s][label]) for s in sides}))
    for label, v in rows:
        print(f"{label:42s}{v['base']:12.2f}{v['this']:12.2f}{v['this'] / v['base']:11.3f}")
    print(f"\n{'seed  figure':42s}{'base':>12s}{'this':>12s}{'this-base':>11s}")
    for seed in args.seeds:
        for name in FIGURES:
            b, t = figures["base", seed].get(name), figures["this", seed].get(name)
            if b is not None and t is not None:
                print(f"{seed:<6d}{name:36s}{b:12.4f}{t:12.4f}{t - b:+11.4f}")


if __name__ == "__main__":
    main()
