"""LightGBM model-string surgery: the same trees, changed where onnxmltools needs it.

onnxmltools converts a LightGBM booster from its model string; three things the bundle needs are
not in the converter, so the string is edited and reloaded (``lgb.Booster(model_str=...)``):
split thresholds rounded to float32 the way ONNX compares them, a binary objective read as a
regression (its output is then the raw margin), and leaf values replaced by leaf indexes (to map
converted leaves back to LightGBM's). The format is LightGBM's text model format (``Tree=``
blocks with ``threshold=``, ``decision_type=``, ``leaf_value=`` lines; LightGBM docs,
"Model format", and ``src/io/tree.cpp``); it is the most version-fragile code here, so
tests/training/test_model_string.py pins each edit's effect on the installed LightGBM.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np


def float32_thresholds(booster: lgb.Booster) -> lgb.Booster:
    """The same model with every numerical split threshold rounded down to a float32 value.

    LightGBM compares a float32 input, widened to double, with a double threshold; the ONNX tree
    ensemble compares float32 with the threshold rounded to the *nearest* float32. When that
    rounds up and an input equals the rounded value, the two take different branches (seen on
    simulated data: 0.008 mm on 2 of 400 rows). For a float32 input ``v``, ``v <= t`` holds
    exactly when ``v <= t32`` with ``t32`` the largest float32 not above ``t``, so with such
    thresholds the booster decides the same for every float32 input and the conversion is exact.
    Categorical splits (decision_type bit 0) keep their thresholds: they index category lists.
    """
    lines = booster.model_to_string().split("\n")
    at: int | None = None
    for i, line in enumerate(lines):
        if line.startswith("tree_sizes="):
            lines[i] = ""  # byte sizes of the tree blocks, which change; LightGBM then scans
        elif line.startswith("Tree="):
            at = None
        elif line.startswith("threshold="):
            at = i
        elif line.startswith("decision_type=") and at is not None:
            kinds = [int(k) for k in line.removeprefix("decision_type=").split()]
            tokens = lines[at].removeprefix("threshold=").split()
            for j, kind in enumerate(kinds):
                if kind & 1:
                    continue
                t = float(tokens[j])
                with np.errstate(over="ignore"):  # beyond float32: inf, stepped back below
                    t32 = np.float32(t)
                if float(t32) > t:
                    t32 = np.nextafter(t32, np.float32(-np.inf))
                tokens[j] = repr(float(t32))
            lines[at] = "threshold=" + " ".join(tokens)
    return lgb.Booster(model_str="\n".join(lines))


def as_regression(booster: lgb.Booster) -> lgb.Booster:
    """The same trees with the objective set to regression: its prediction is the raw margin.

    A binary booster's converted graph ends in a sigmoid (ONNX ``post_transform``); the margin
    is wanted instead. Taking the logit of the float32 probability would lose the margin where
    the probability is near 0 or 1, so the trees are converted as a regressor, whose output is
    their sum, the margin LightGBM gives with ``raw_score=True`` (summed in float32).
    """
    lines = booster.model_to_string().split("\n")
    swapped = 0
    for i, line in enumerate(lines):
        if line.startswith("objective="):  # what LightGBM predicts with
            lines[i], swapped = "objective=regression", swapped + 1
        elif line.startswith("[objective: "):  # the parameters, which onnxmltools reads
            lines[i], swapped = "[objective: regression]", swapped + 1
    if swapped != 2:
        raise RuntimeError(f"{swapped} objective lines in the LightGBM model string, expected 2")
    return lgb.Booster(model_str="\n".join(lines))


def leaf_indexed(booster: lgb.Booster) -> lgb.Booster:
    """The same trees with each leaf's value replaced by its index in its tree.

    Converted, the ONNX ensemble's leaf weights then say which LightGBM leaf each ONNX leaf is,
    whatever node numbering the converter chose (small integers are exact in float32).
    """
    lines = booster.model_to_string().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("tree_sizes="):
            lines[i] = ""  # byte sizes of the tree blocks, which change
        elif line.startswith("leaf_value="):
            count = len(line.removeprefix("leaf_value=").split())
            lines[i] = "leaf_value=" + " ".join(str(k) for k in range(count))
    return lgb.Booster(model_str="\n".join(lines))
