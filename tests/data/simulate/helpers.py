"""Shared by the simulator tests: sizes, per-injection doses, statistics, the contract check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from data.atlas import UNIT_FACTOR
from data.contract import (
    MIDLINE_MUSCLES,
    MIDLINE_REGIONS,
    MUSCLE_REGION,
    PRODUCTS,
    TABLES,
    Kind,
)
from data.frames import dtype
from data.simulate import Simulated

N_STATS = 60_000  # ~23k patients; enough for ~1e-3 standard errors on rates near 1-2%


def u_eq(sim: Simulated) -> pd.DataFrame:
    """Injections with their U_eq and region."""
    inj = sim.tables["injections"]
    product = sim.tables["treatments"].set_index("treatment_id")["product"]
    factor = product.map({p: UNIT_FACTOR[p] for p in PRODUCTS}).astype(float)
    out = inj.assign(
        u_eq=inj["units"] * inj["treatment_id"].map(factor).to_numpy(),
        region=inj["muscle"].map(dict(MUSCLE_REGION)).astype(str),
    )
    return out


def treated(sim: Simulated, region: str) -> pd.Index:
    inj = u_eq(sim)
    return pd.Index(inj.loc[inj["region"] == region, "treatment_id"].unique())


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney AUC (average ranks for ties)."""
    ranks = pd.Series(score).rank().to_numpy()
    n1 = int(label.sum())
    n0 = len(label) - n1
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def km_median(days: np.ndarray, returned: np.ndarray) -> float:
    """Kaplan-Meier median (ties broken by order, fine for a median on this grid)."""
    order = np.argsort(days, kind="stable")
    d, e = days[order], returned[order]
    at_risk = len(d) - np.arange(len(d))
    surv = np.cumprod(1.0 - e / at_risk)
    below = np.flatnonzero(surv <= 0.5)
    return float(d[below[0]]) if len(below) else float("nan")


def check_contract(sim: Simulated) -> None:
    for name, table in TABLES.items():
        frame = sim.tables[name]
        assert list(frame.columns) == list(table.names), name
        for c in table.columns:
            s = frame[c.name]
            assert s.dtype == dtype(c), (name, c.name, s.dtype)
            if not c.nullable:
                assert s.notna().all(), (name, c.name)
            values = s.dropna()
            if c.kind in (Kind.FLOAT, Kind.INT) and len(values):
                if c.minimum is not None:
                    low_ok = values > c.minimum if c.exclusive_minimum else values >= c.minimum
                    assert low_ok.all(), (name, c.name, values.min())
                if c.maximum is not None:
                    assert (values <= c.maximum).all(), (name, c.name, values.max())
            if c.kind is Kind.ENUM:
                assert set(values.astype(str)) <= set(c.values), (name, c.name)
        if table.key:
            assert not frame.duplicated(subset=list(table.key)).any(), name
        if table.parent:
            parent = sim.tables[table.parent]["treatment_id"]
            assert frame["treatment_id"].isin(parent).all(), name
    inj = sim.tables["injections"]
    midline = inj["side"] == "midline"
    assert inj.loc[midline, "muscle"].astype(str).isin(MIDLINE_MUSCLES).all()
    dur = sim.tables["durations"]
    assert dur.loc[dur["side"] == "midline", "region"].astype(str).isin(MIDLINE_REGIONS).all()


def digests(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }
