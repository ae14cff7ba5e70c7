"""The plan advisor judged by the simulator's truth, beside the oracle advisor, per scenario.

    .venv/bin/python benchmarks/advisor_quality.py [--treatments 20000] [--seed 0]
        [--scenario literature --scenario seed-claims] [--registry DIR --bundle DIR]

Per scenario: simulates a registry, trains the models on its earlier 80% (``asym train``:
``training.train.train``, into a temporary MLflow store), and for the held-out treatments runs
two advisors under the same default constraints: the model advisor (``serving.recommend.
recommend``: the search scored by the bundle) and the oracle advisor (the same search,
``serving.advisor.search``, scored by the simulator's truth of each plan,
``data.simulate.truth.plan_truth``: the ceiling). Every plan is then judged by the truth: the
original, the model's suggestion and the oracle's. On the treatments the model puts in the
moderate or high band it prints: the mean true risk of each; the model advisor's mean true-risk
reduction as a share of the oracle advisor's (goal >= 60%); the share of cases made worse (true
risk up by more than 0.01; goal <= 3%); the share where the model said no_safer_plan but the
oracle found one; that every suggestion passed its checks; the true ptosis risks and medians.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from bundle.predictor import Predictor
from data.simulate import simulate
from data.simulate.truth import Plans, SimulatedTruth, plan_truth, read_truth
from data.simulate.types import SCENARIOS, Scenario
from features.inputs import FeatureInput
from features.tables import registry_inputs
from serving.advisor import (
    LONGEVITY_DAYS,
    Candidates,
    Constraints,
    PlanPoints,
    Scorer,
    Scores,
    Suggestion,
    search,
)
from serving.recommend import Recommendation, recommend
from training.dataset import load_training_data
from training.settings import training_settings
from training.train import train

WORSE: Final = 0.01
"""A suggestion made things worse when its true risk exceeds the plan's by more than this."""
CHUNK: Final = 250
"""Treatments searched in lockstep at once (bounds the candidates of one scorer call)."""


def truth_scorer(
    truth: SimulatedTruth, rows: npt.NDArray[np.int64], inputs: FeatureInput
) -> Scorer:
    """The simulator's truth as the advisor's scorer of candidates of n treatments' plans.

    Args:
        truth: The registry's hidden state.
        rows: (n,) each treatment's row in ``truth``.
        inputs: The n treatments (their product, dilution and plan).
    """
    plans = PlanPoints.all_of(inputs)

    def scorer(batches: Sequence[tuple[int, Candidates]], longevity: bool) -> list[Scores]:
        # The truth's medians cost little: always given.
        got = plan_truth(truth, _plans(rows, inputs, plans, batches))
        out, row, done = [], 0, 0
        for _, c in batches:
            n = len(c)
            width = int(np.count_nonzero(got.plan == row))
            out.append(
                Scores(
                    risk=got.p_visible[row : row + n],
                    eyelid_ptosis=got.p_eyelid[row : row + n],
                    brow_ptosis=got.p_brow[row : row + n],
                    median_days=got.median_days[done : done + n * width].reshape(n, width),
                )
            )
            row, done = row + n, done + n * width
        return out

    return scorer


def _plans(
    rows: npt.NDArray[np.int64],
    inputs: FeatureInput,
    plans: Sequence[PlanPoints],
    batches: Sequence[tuple[int, Candidates]],
) -> Plans:
    """Candidate sets as ``Plans`` of the simulated treatments (NaN place: the planned one)."""
    counts = np.array([len(c) for _, c in batches])
    k = np.array([len(plans[i].units) for i, _ in batches])
    owner = np.repeat([i for i, _ in batches], counts)
    return Plans(
        treatment=rows[owner],
        product=inputs.product[owner],
        dilution_ml_per_100u=inputs.dilution[owner],
        plan=np.repeat(np.arange(counts.sum()), np.repeat(k, counts)),
        position=np.concatenate([np.tile(np.arange(a), b) for a, b in zip(k, counts, strict=True)]),
        muscle=np.concatenate([np.tile(plans[i].muscle, len(c)) for i, c in batches]),
        side=np.concatenate([np.tile(plans[i].side, len(c)) for i, c in batches]),
        units=np.concatenate([c.units.ravel() for _, c in batches]),
        x_mm=np.concatenate([c.x_mm.ravel() for _, c in batches]),
        y_mm=np.concatenate([c.y_mm.ravel() for _, c in batches]),
    )


def _trained(scenario: Scenario, n: int, seed: int, folder: Path) -> tuple[Path, Path]:
    """Simulate a registry into ``folder`` and train on its earlier 80%: (registry, bundle)."""
    simulate(n, folder / "registry", seed=seed, scenario=scenario)
    started = time.perf_counter()
    train(
        training_settings(
            registry=folder / "registry",
            out=folder / "bundle",
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        ),
        echo=lambda _: None,
    )
    print(f"\n== {scenario}: {n:,} treatments, seed {seed}; trained in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    return folder / "registry", folder / "bundle"


def _advise(
    predictor: Predictor, truth: SimulatedTruth, ids: npt.NDArray[np.object_], held: FeatureInput
) -> tuple[list[Recommendation], list[Suggestion], float, float]:
    """Both advisors on every held-out treatment, ``CHUNK`` at a time, and their seconds."""
    plans = PlanPoints.all_of(held)
    model: list[Recommendation] = []
    oracle: list[Suggestion] = []
    model_s = oracle_s = 0.0
    for a in range(0, len(plans), CHUNK):
        part = np.arange(a, min(a + CHUNK, len(plans)))
        inputs = held.take(part)
        constraints = [Constraints()] * len(part)
        started = time.perf_counter()
        model += recommend(predictor, inputs, plans[a : a + CHUNK], constraints)[0]
        model_s += time.perf_counter() - started
        started = time.perf_counter()
        scorer = truth_scorer(truth, truth.rows(ids[part]), inputs)
        oracle += search(plans[a : a + CHUNK], constraints, scorer)[0]
        oracle_s += time.perf_counter() - started
    return model, oracle, model_s, oracle_s


def _judge(registry: Path, bundle: Path) -> None:
    """Both advisors on the held-out treatments of ``registry``, judged by its truth."""
    data = load_training_data(registry)
    truth = read_truth(registry)
    predictor = Predictor.load(bundle, intra_op_threads=1)
    rows = np.flatnonzero(data.test)
    held = registry_inputs(data.registry.tables).take(rows)
    ids = data.treatment_ids[rows]
    model, oracle, model_s, oracle_s = _advise(predictor, truth, ids, held)

    # Judge the three plans of every treatment by the truth.
    judge = truth_scorer(truth, truth.rows(ids), held)
    originals = [
        Candidates(p.units[None], p.x_mm[None], p.y_mm[None]) for p in PlanPoints.all_of(held)
    ]
    before, by_model, by_oracle = (
        judge(list(enumerate(plans)), True)
        for plans in (originals, [r.suggestion.plan for r in model], [s.plan for s in oracle])
    )
    status = np.array([r.suggestion.status for r in model])
    band: npt.NDArray[np.bool_] = np.asarray(status != "already_low", dtype=np.bool_)
    judged = {"plan": before, "model": by_model, "oracle": by_oracle}

    def truly(attr: str, scores: list[Scores]) -> npt.NDArray[np.float64]:
        values: npt.NDArray[np.float64] = np.array([getattr(s, attr)[0] for s in scores])
        return values[band]

    risk = {name: truly("risk", scores) for name, scores in judged.items()}
    cut_model, cut_oracle = risk["plan"] - risk["model"], risk["plan"] - risk["oracle"]
    said = status[band]
    print(f"moderate or high by the model: {int(band.sum()):,} of {len(ids):,} held-out treatments")
    print(f"{'true, mean over them':34s}{'plan':>9s}{'model':>9s}{'oracle':>9s}")
    for label, attr in (
        ("P(visible asymmetry)", "risk"),
        ("P(eyelid ptosis)", "eyelid_ptosis"),
        ("P(brow ptosis)", "brow_ptosis"),
    ):
        print(f"{label:34s}" + "".join(f"{truly(attr, s).mean():9.4f}" for s in judged.values()))

    def shortest(s: Scores, b: Scores) -> float:
        assert s.median_days is not None and b.median_days is not None
        return float((s.median_days[0] - b.median_days[0]).min())

    change = [
        np.array([shortest(s, b) for s, b in zip(scores, before, strict=True)])[band]
        for scores in judged.values()
    ]
    print(f"{'worst true median change, days':34s}" + "".join(f"{v.min():9.1f}" for v in change))
    print(
        f"{'shorter by > 14 days (truth), share':34s}"
        + "".join(f"{(v < -LONGEVITY_DAYS).mean():9.2%}" for v in change)
    )
    ratio = cut_model.mean() / cut_oracle.mean() if cut_oracle.mean() > 0 else float("nan")
    print(
        f"mean true-risk reduction: model {cut_model.mean():.4f}, oracle {cut_oracle.mean():.4f}:"
        f" {ratio:.1%} of the oracle's (goal >= 60%)"
    )
    improved = said == "improved"
    print(
        f"model said improved: {improved.mean():.1%} ({improved.sum()}); of those, truly lower by"
        f" > {WORSE}: {(cut_model[improved] > WORSE).mean():.1%}, mean true fall "
        f"{cut_model[improved].mean() if improved.any() else 0:.4f}"
    )
    worse = cut_model < -WORSE
    print(f"made worse (true risk up > {WORSE}): {worse.mean():.2%} ({worse.sum()}) (goal <= 3%)")
    found = np.array([s.status for s in oracle])[band] == "improved"
    missed = (said == "no_safer_plan") & found
    print(
        f"model said no_safer_plan, the oracle found one: {missed.mean():.1%} ({missed.sum()});"
        f" the oracle improved {found.mean():.1%}"
    )
    passed = [r.checks["passed"] for r in model]
    in_support = [r.support["in_support"] is True for r in np.array(model, dtype=object)[band]]
    print(
        f"suggestions passing their checks: {np.mean(passed):.1%} of {len(passed):,}; searched "
        f"ones in the training plans' range: {np.mean(in_support):.1%}"
    )
    per = 1000.0 / len(ids)
    print(f"search time per held-out treatment: model {model_s * per:.1f} ms, oracle "
          f"{oracle_s * per:.1f} ms (lockstep, {CHUNK} at a time)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--treatments", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument(
        "--registry", type=Path, help="judge on this simulated export (with --bundle) instead"
    )
    parser.add_argument("--bundle", type=Path, help="a bundle trained on --registry's earlier 80%%")
    args = parser.parse_args()
    if args.registry is not None:
        print(f"\n== {args.registry} with {args.bundle}")
        _judge(args.registry, args.bundle)
        return
    with tempfile.TemporaryDirectory(prefix="advisor-quality-") as tmp:
        for scenario in args.scenario or SCENARIOS:
            _judge(*_trained(scenario, args.treatments, args.seed, Path(tmp) / scenario))


if __name__ == "__main__":
    main()
