"""What a training run records for its model report beyond its metrics: data, flow, missing values.

The report (``training.report``) is rendered from the MLflow run alone, so that ``asym report``
can write it again later; what it needs and no metric holds is logged with the run as
``report/summary.json`` by ``data_summary``. ``c_index_interval`` adds the longevity C-index's
interval to the run's metrics.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

from bundle.heads import OUTCOMES
from data.contract import TABLES
from features.spec import FEATURES
from training.baseline import PLAIN_NAMES
from training.dataset import TrainingData
from training.longevity_eval import LongevityReport
from training.survival import c_index

BoolArray = npt.NDArray[np.bool_]

SUMMARY_ARTIFACT: Final = "report/summary.json"
"""Where in the run's artifacts the summary lies."""
C_INDEX_RESAMPLES: Final = 100
"""Bootstrap resamples behind the C-index's interval (fixed seed)."""
C_INDEX_ROWS: Final = 2000
"""Rows per resample: lifelines' C-index takes ~0.2 s on 10k rows, so the interval is an
m-out-of-n bootstrap: the spread of C over resamples of this many rows, scaled by
sqrt(rows / held-out rows) (the C-index is a ratio of U-statistics: its sd falls as 1/sqrt(n))."""


def _share_missing(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].isna().mean()) if len(frame) else float("nan")


def _characteristics(treatments: pd.DataFrame, injections: pd.DataFrame) -> dict[str, float]:
    """Who was treated and how: age, sex, ancestry, product, points (TRIPOD+AI 20b)."""
    out = {
        "treatments": float(len(treatments)),
        "patients": float(treatments["patient_id"].nunique()),
        "clinics": float(treatments["clinic_id"].nunique()),
        "age mean (years)": float(treatments["age_years"].mean()),
        "male (share)": float((treatments["sex"] == "male").mean()),
        "points per treatment (mean)": len(injections) / max(len(treatments), 1),
        "points with coordinates (share)": float(injections["x_mm"].notna().mean()),
    }
    for column in ("ancestry", "product"):
        shares = treatments[column].astype(object).fillna("(missing)").value_counts(normalize=True)
        out |= {f"{column}: {k} (share)": float(v) for k, v in shares.items()}
    return out


def data_summary(data: TrainingData) -> dict[str, Any]:
    """The report's facts about the data that no metric holds (JSON-ready).

    Keys: ``source`` (folder, fingerprint, the simulator's record), ``dates`` (first and last
    treatment per set), ``flow`` (counts from the export to each set), ``events`` (per outcome
    and set), ``missing`` (share of empty values per nullable contract column and set),
    ``characteristics`` (per set), ``predictors`` (features per group, the baseline's count).

    Args:
        data: The run's training data.
    """
    reg = data.registry
    t = reg.treatments
    sets: dict[str, BoolArray] = {"development": data.train, "evaluation": data.test}
    ids = {name: set(t.loc[mask, "treatment_id"]) for name, mask in sets.items()}

    parts = {
        (table, name): frame[frame["treatment_id"].isin(ids[name])]
        for table, frame in reg.tables.items()
        for name in sets
    }

    def rows_of(table: str, name: str) -> pd.DataFrame:
        return parts[table, name]

    rejected = reg.rejects.drop_duplicates(["table", "row"])["table"].value_counts()
    flow: dict[str, float] = {
        "valid treatments": float(len(t)),
        "patients": float(t["patient_id"].nunique()),
        **{f"rejected {table} rows": float(rejected.get(table, 0)) for table in TABLES},
        "development treatments": float(data.train.sum()),
        "evaluation treatments (latest period)": float(data.test.sum()),
        "earlier treatments of evaluation patients (in neither)": float(
            (~data.train & ~data.test).sum()
        ),
    }
    for name in sets:
        flow[f"{name} reviews"] = float(len(rows_of("followups", name)))
        flow[f"{name} durations rows"] = float(len(rows_of("durations", name)))
    events = {
        o.target: {name: float(rows_of("followups", name)[o.target].sum()) for name in sets}
        for o in OUTCOMES
    }
    missing = {
        f"{table.name}.{c.name}": {
            name: _share_missing(rows_of(table.name, name), c.name) for name in sets
        }
        for table in TABLES.values()
        for c in table.columns
        if c.nullable
    }
    dates = {
        name: [
            f"{t.loc[mask, 'treatment_date'].min():%Y-%m-%d}",
            f"{t.loc[mask, 'treatment_date'].max():%Y-%m-%d}",
        ]
        for name, mask in sets.items()
        if mask.any()
    }
    return {
        "source": {
            "registry": str(data.source),
            "fingerprint": data.fingerprint,
            "simulation": dict(data.oracle.simulation) if data.oracle is not None else None,
        },
        "dates": dates,
        "flow": flow,
        "events": events,
        "missing": missing,
        "characteristics": {
            name: _characteristics(
                t[t["treatment_id"].isin(ids[name])], rows_of("injections", name)
            )
            for name in sets
        },
        "predictors": {
            **{f"{group} features": n for group, n in Counter(f.group for f in FEATURES).items()},
            "plain baseline inputs": len(PLAIN_NAMES),
        },
    }


def c_index_interval(report: LongevityReport) -> dict[str, float]:
    """95% interval of the longevity model's held-out C-index (m-out-of-n bootstrap).

    Returns:
        ``longevity_c_index_ci_low`` and ``_ci_high``: C +- 1.96 times the bootstrap sd of C on
        ``C_INDEX_ROWS``-row resamples, scaled to the held-out rows.
    """
    n = len(report.days)
    m = min(n, C_INDEX_ROWS)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(C_INDEX_RESAMPLES):
        i = rng.integers(0, n, m)
        draws.append(c_index(report.days[i], report.returned[i], report.predicted_median[i]))
    centre = report.metrics["longevity_c_index"]
    half = float(norm.ppf(0.975)) * float(np.std(draws, ddof=1)) * np.sqrt(m / n)
    return {"longevity_c_index_ci_low": centre - half, "longevity_c_index_ci_high": centre + half}
