"""Do the models hold beyond our own simulator? Every world variant, at 20k and 100k treatments.

For each world (``data.simulate.worlds.WORLDS``) and size: simulate it (same seed, so the same
random draws under other physics and habits), load it as ``asym train`` does, fit what the
goals are stated on as ``asym train`` fits it, two at a time (the asymmetry risk, its plain
baseline, the longevity hazard model and its naive baseline), and score the latest period (other
patients) against that world's oracle. Printed side by side per world and size: risk AUC and
Brier as ratios to the oracle for the model and the plain baseline, the model's AUC gain and
Brier ratio over the baseline (goals: >= +0.005, <= 0.99), its calibration slope (0.9-1.1), the
longevity C-index beside the naive baseline's (goal: not below it), and the fit time.

    .venv/bin/python benchmarks/robustness.py [--worlds default anatomy] [--sizes 20000 100000]
        [--seed 0] [--cache DIR]

Registries are kept under --cache (reused when there) or simulated into a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bundle.heads import OUTCOMES
from data.simulate import simulate
from data.simulate.worlds import WORLDS
from training.baseline import BEAT_AUC_MARGIN, BEAT_BRIER_RATIO, evaluate_plain, fit_plain
from training.dataset import load_training_data
from training.longevity import fit_longevity, fit_naive_longevity
from training.longevity_eval import evaluate_longevity
from training.risk import evaluate_risk, fit_risk
from training.train import FIT_WORKERS

SLOPE = (0.9, 1.1)
HEAD = (
    f"{'world':<10}{'n':>8}{'AUC/or':>8}{'plain':>7}{'gain':>8}{'Br/or':>7}{'plain':>7}"
    f"{'Br x':>7}{'slope':>7}{'C':>7}{'naive':>7}{'trees':>6}{'fit s':>7}  goals"
)


def _registry(cache: Path, world: str, n: int, seed: int) -> Path:
    folder = cache / f"{world}-{n}-seed{seed}"
    if not (folder / "oracle" / "simulation.json").is_file():
        simulate(n, folder, seed=seed, world=world)
    return folder


def _row(folder: Path, world: str, n: int, seed: int) -> tuple[str, list[str]]:
    data = load_training_data(folder)
    start = time.perf_counter()
    with ThreadPoolExecutor(FIT_WORKERS) as pool:
        risk_fit = pool.submit(fit_risk, data, seed, OUTCOMES[0])
        plain_fit = pool.submit(fit_plain, data, seed)
        longevity_fit = pool.submit(fit_longevity, data, seed=seed)
        naive_fit = pool.submit(fit_naive_longevity, data, seed=seed)
        risk, plain = risk_fit.result(), plain_fit.result()
        longevity, naive = longevity_fit.result(), naive_fit.result()
    seconds = time.perf_counter() - start
    report = evaluate_risk(risk, data)
    m = report.metrics | evaluate_plain(plain, data, report)
    m |= evaluate_longevity(longevity, naive, data).metrics
    gain, ratio, slope = (
        m["risk_auc_minus_plain"],
        m["risk_brier_ratio_to_plain"],
        m["risk_calibration_slope"],
    )
    c, naive_c = m["longevity_c_index"], m["longevity_naive_c_index"]
    misses = []
    if gain < BEAT_AUC_MARGIN:
        misses.append(f"AUC gain {gain:+.4f} < +{BEAT_AUC_MARGIN}")
    if ratio > BEAT_BRIER_RATIO:
        misses.append(f"Brier x{ratio:.3f} > x{BEAT_BRIER_RATIO}")
    if not SLOPE[0] <= slope <= SLOPE[1]:
        misses.append(f"slope {slope:.2f} outside {SLOPE[0]}-{SLOPE[1]}")
    if c < naive_c:
        misses.append(f"C-index {c:.4f} < naive {naive_c:.4f}")
    line = (
        f"{world:<10}{n:>8,}{m['risk_auc_ratio_to_oracle']:>8.3f}"
        f"{m['plain_risk_auc_ratio_to_oracle']:>7.3f}{gain:>+8.4f}"
        f"{m['risk_brier_ratio_to_oracle']:>7.3f}{m['plain_risk_brier_ratio_to_oracle']:>7.3f}"
        f"{ratio:>7.3f}{slope:>7.2f}{c:>7.3f}{naive_c:>7.3f}{risk.booster.num_trees():>6}"
        f"{seconds:>7.0f}  {'met' if not misses else 'MISSED: ' + '; '.join(misses)}"
    )
    return line, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[20_000, 100_000])
    parser.add_argument("--seed", type=int, default=0, help="simulator and fit seed")
    parser.add_argument("--cache", type=Path, help="keep (and reuse) the registries here")
    args = parser.parse_args()
    print(
        "risk AUC and Brier as ratios to the world's oracle (model, plain baseline); gain: AUC "
        "minus the baseline's; Br x: Brier over the baseline's; C: longevity C-index\n"
    )
    print(HEAD)
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        for n in args.sizes:
            for world in args.worlds:
                line, misses = _row(_registry(cache, world, n, args.seed), world, n, args.seed)
                missed += bool(misses)
                print(line, flush=True)
    cells = len(args.sizes) * len(args.worlds)
    print(f"\ngoals met in {cells - missed} of {cells} (world, size) cells")


if __name__ == "__main__":
    main()
