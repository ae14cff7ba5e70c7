"""Scale: `asym predict` and `asym train` in one process beside two Dask workers, same registry.

Simulates each registry once (plain, and the same seed cut into parts of ~62,500 treatments with
``--partitions``; kept in ``--work`` for the next run), then runs each command as the user would,
a subprocess, sampling the resident memory of its process tree every 0.2 s:

* predict at each ``--sizes`` (one process only up to ``--local-max``: it holds the whole
  registry, ~9 GB at 1M, more than this machine has at 5M): wall time, one process's peak, each
  Dask worker's peak; the speed-up of two workers, and how time and memory grow with size;
* train at ``--train-size``: wall time, one process's peak, each Dask worker's peak and the
  client's (``asym train --dask`` keeps the held-out period and a sample in the client).

Then the per-part costs that docs/scale.md's arithmetic starts from. The machine may be shared:
the ratios are of one run, each command run once.

    .venv/bin/python benchmarks/bench_scale.py --model BUNDLE_DIR [--sizes 100000 1000000 5000000]
        [--train-size 1000000] [--only predict|train] [--work /tmp/asym-scale]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psutil

PART_TREATMENTS: Final = 62_500
"""Treatments per part of the partitioned registries."""
WORKERS: Final = 2
"""Dask workers: the machine's two cores."""
ASYM: Final = [sys.executable, "-c", "from asym_cli import app; app()"]


@dataclass
class Run:
    """One command: its wall time, and the peak resident memory and CPU time of its processes."""

    seconds: float = 0.0
    part_seconds: float = 0.0
    peaks: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of all its processes."""
        return sum(self.cpu.values())

    def peak(self, kind: str) -> int:
        """Largest peak among the processes of one kind (client, worker)."""
        return max((v for k, v in self.peaks.items() if self.names[k] == kind), default=0)


def _kind(proc: psutil.Process, root: int) -> str:
    if proc.pid == root:
        return "client"
    cmd = " ".join(proc.cmdline())
    return "worker" if "spawn_main" in cmd else "other"


def _run(cmd: list[str], log: Path) -> Run:
    """Run ``cmd``, sampling its process tree's memory; fail loudly if it fails."""
    run = Run()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with log.open("w") as out:
        t0 = time.perf_counter()
        # In the work folder: an SQLite MLflow store keeps its artifacts in ./mlruns.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        stop = threading.Event()

        def sample() -> None:
            root = psutil.Process(proc.pid)
            while not stop.wait(0.2):
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    return
                for p in tree:
                    try:
                        rss = p.memory_info().rss
                        # CPU seconds, as of the last sample (a process's last 0.2 s is missed):
                        # the work done, whatever share of the cores the others' work left it.
                        times = p.cpu_times()
                        run.cpu[p.pid] = times.user + times.system
                        if p.pid not in run.names:
                            run.names[p.pid] = _kind(p, proc.pid)
                    except psutil.NoSuchProcess:
                        continue
                    run.peaks[p.pid] = max(run.peaks.get(p.pid, 0), rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        run.seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed (exit {code}); see {log}")
    return run


def _registries(work: Path, n: int, plain_too: bool = True) -> tuple[Path, Path]:
    """The plain and partitioned registries of ``n`` treatments (simulated if not there)."""
    plain, parts = work / f"registry-{n}", work / f"registry-{n}-parts"
    k = max(WORKERS, round(n / PART_TREATMENTS))
    todo = [(parts, ["--partitions", str(k)])]
    if plain_too:
        todo.insert(0, (plain, []))
    for folder, extra in todo:
        if not (folder / "oracle" / "simulation.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            print(f"  simulating {n:,} treatments {' '.join(extra)} ...", flush=True)
            _run([*ASYM, "simulate", "--treatments", str(n), "--out", str(folder), *extra],
                 work / "simulate.log")  # fmt: skip
    return plain, parts


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _predict(args: argparse.Namespace, work: Path) -> None:
    rows = []
    for n in args.sizes:
        plain, parts = _registries(work, n, plain_too=n <= args.local_max)
        local = None
        if n <= args.local_max:
            print(f"  asym predict, one process, {n:,} ...", flush=True)
            cmd = [*ASYM, "predict", "--model", str(args.model), "--registry", str(plain),
                   "--out", str(work / "out-local")]  # fmt: skip
            local = _run(cmd, work / f"predict-local-{n}.log")
        print(f"  asym predict --dask local:{WORKERS}, {n:,} ...", flush=True)
        dask = _run([*ASYM, "predict", "--model", str(args.model), "--registry", str(parts),
                     "--out", str(work / "out-dask"), "--dask", f"local:{WORKERS}"],
                    work / f"predict-dask-{n}.log")  # fmt: skip
        n_parts = len(list((parts / "treatments").iterdir()))
        found = re.search(r"read ([\d.]+) s, score ([\d.]+) s, write ([\d.]+) s",
                          (work / f"predict-dask-{n}.log").read_text())  # fmt: skip
        assert found, "asym predict --dask printed no timings"
        dask.part_seconds = sum(float(v) for v in found.groups()) / n_parts
        rows.append((n, n_parts, local, dask))
    print(f"\npredict (wall time, peak resident memory), {WORKERS} Dask workers")
    print(f"{'treatments':>11} {'parts':>5} {'1 process':>10} {'peak':>10} {'cpu':>7} "
          f"{'dask':>8} {'speed-up':>8} {'worker peak':>12} {'client peak':>12} {'cpu':>7} "
          f"{'s/part':>7}")  # fmt: skip
    # s/part: a worker's seconds reading, featurising, scoring and writing one part (summed by
    # the command over the parts, divided by their number): the cost docs/scale.md scales.
    # cpu: CPU seconds of every process of the command (client, scheduler, nannies, workers).
    for n, k, local, dask in rows:
        one = " " * 29
        if local:
            peak = _gib(local.peak("client"))
            one = f"{local.seconds:>9.1f}s {peak:>10} {local.cpu_seconds:>6.0f}s"
        ratio = f"x{local.seconds / dask.seconds:.2f}" if local else "-"
        peaks = f"{_gib(dask.peak('worker')):>12} {_gib(dask.peak('client')):>12}"
        after = f"{dask.cpu_seconds:>6.0f}s {dask.part_seconds:>6.1f}s"
        print(f"{n:>11,} {k:>5} {one} {dask.seconds:>7.1f}s {ratio:>8} {peaks} {after}")
    for (n0, _, l0, d0), (n1, _, l1, d1) in itertools.pairwise(rows):
        grow = f"{n1 / n0:.0f}x treatments: dask time x{d1.seconds / d0.seconds:.2f}, "
        grow += f"worker peak x{d1.peak('worker') / d0.peak('worker'):.2f}"
        if l0 and l1:
            grow += (f"; one process time x{l1.seconds / l0.seconds:.2f}, "
                     f"peak x{l1.peak('client') / l0.peak('client'):.2f}")  # fmt: skip
        print(f"{n0:,} -> {n1:,} ({grow})")


def _train(args: argparse.Namespace, work: Path) -> None:
    n = args.train_size
    plain, parts = _registries(work, n)
    runs = {}
    for name, registry, extra in (("one process", plain, []),
                                  ("dask", parts, ["--dask", f"local:{WORKERS}"])):  # fmt: skip
        out = work / f"bundle-{name.replace(' ', '-')}"
        shutil.rmtree(out, ignore_errors=True)
        print(f"  asym train {' '.join(extra)} on {n:,} ...", flush=True)
        cmd = [*ASYM, "train", "--registry", str(registry), "--out", str(out),
               "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}", "--experiment", "scale",
               *extra]  # fmt: skip
        runs[name] = _run(cmd, work / f"train-{name.replace(' ', '-')}.log")
    local, dask = runs["one process"], runs["dask"]
    print(f"\ntrain on {n:,} treatments")
    print(f"one process: {local.seconds:.0f} s, peak {_gib(local.peak('client'))}")
    print(f"dask, {WORKERS} workers: {dask.seconds:.0f} s; peak per worker "
          f"{', '.join(_gib(v) for k, v in dask.peaks.items() if dask.names[k] == 'worker')}; "
          f"client {_gib(dask.peak('client'))}")  # fmt: skip
    ratio = dask.peak("worker") / local.peak("client")
    print(f"largest worker peak / one-process peak: {ratio:.2f} (goal <= 0.50: "
          f"{'met' if ratio <= 0.5 else 'missed'})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="Bundle folder to predict with.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--local-max", type=int, default=1_000_000)
    parser.add_argument("--train-size", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["predict", "train"])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir(), "asym-scale"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "predict"):
        _predict(args, args.work)
    if args.only in (None, "train"):
        _train(args, args.work)


if __name__ == "__main__":
    main()
