"""Where one part's seconds go: a part of a partitioned registry scored as a Dask worker does.

A worker of ``asym predict --dask`` has one thread and opens the sessions with one onnxruntime
thread; this runs the same functions on one part in this process, the same way (median of 3,
each stage timed alone): reading and validating it (``data.partitioned.read_part``),
featurising it, scoring it (``serving.predict.answer_tables``: the two ONNX sessions, the
longevity rows and the post-processing: survival curves, late asymmetry, the schedule) and
writing its three Parquet files. The sessions' time is read from a profile of one scoring run.

Their share says what two one-thread workers gain over one process on two cores from the cores
alone: the one process runs the sessions on both cores and the rest on one, so two workers doing
the same work are ``2 - share`` times faster. Measured, they gain more: the one process does more
work for the same rows (docs/scale.md).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_part.py --model BUNDLE_DIR \
        --registry PARTS_DIR [--part 0]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from timing import median_seconds  # benchmarks/timing.py

from bundle.predictor import Predictor
from data.partitioned import cross_part_rules, find_parts, read_part
from features.build import build_features
from features.longevity import treated_region_sides
from features.tables import registry_inputs
from serving.predict import answer_tables


def _session_seconds(profile: cProfile.Profile) -> float:
    """Seconds spent inside onnxruntime's session runs in a profile."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return float(
        sum(v[2] for k, v in stats.items() if "onnxruntime" in k[2] and k[2].endswith(".run>"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="Bundle folder.")
    parser.add_argument("--registry", type=Path, required=True, help="Partitioned registry.")
    parser.add_argument("--part", type=int, default=0, help="Which part to score.")
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":  # read by numpy's BLAS as it loads
        parser.error("run with OMP_NUM_THREADS=1, as distributed's nanny starts a worker")
    predictor = Predictor.load(args.model, intra_op_threads=1)
    parts = find_parts(args.registry)
    cross = cross_part_rules(parts)
    part = parts[args.part]

    reg = read_part(part, cross, args.part)
    read = median_seconds(lambda: read_part(part, cross, args.part))

    def featurise() -> None:
        inputs = registry_inputs(reg.tables)
        build_features(inputs).astype(np.float32)
        treated_region_sides(inputs.plan)

    features = median_seconds(featurise)
    answers = answer_tables(predictor, reg)
    scored = median_seconds(lambda: answer_tables(predictor, reg)) - features
    profile = cProfile.Profile()
    profile.runcall(answer_tables, predictor, reg)
    sessions = _session_seconds(profile)
    with tempfile.TemporaryDirectory() as tmp:

        def write() -> None:
            for name, table in answers.by_file().items():
                pq.write_table(table, Path(tmp) / name)

        written = median_seconds(write)

    total = read + features + scored + written
    print(f"{part.name}: {answers.risk.num_rows:,} treatments, {answers.longevity.num_rows:,} "
          f"treated sides; one thread, median of 3")  # fmt: skip
    for name, seconds in (
        ("read + validate", read),
        ("featurise", features),
        ("score: the two ONNX sessions", sessions),
        ("score: longevity rows, post-processing, tables", scored - sessions),
        ("write 3 Parquet files", written),
        ("total", total),
    ):
        print(f"  {name:48s} {seconds:6.2f} s  {seconds / total:5.0%}")
    share = sessions / total
    print(f"two one-thread workers against one process with 2-thread sessions, on 2 cores, the "
          f"same work: x{2 - share:.2f} (sessions' share {share:.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
