"""Export stage: the fitted LightGBM models as an ONNX bundle with its manifest, parity-checked.

Two ONNX files, so that a request costs two session calls whatever it asks:

- ``treatment.onnx``: the nine difference quantile regressors merged into one graph over one
  ``features`` input, one named output per model, and the risk classifier as its per-feature
  contributions to its raw margin (``risk_contributions``, below), whose sum with the manifest's
  ``risk_contribution_base`` is that margin: the risk needs no output of its own;
- ``longevity.onnx``: the raw margin f(x) of the proportional-odds hazard booster over
  ``longevity`` rows (one per treated (region, side)); the hazard of bin k is
  sigmoid(baseline[region, k] + f(x)) with the manifest's ``hazard_baseline``
  (``bundle.postprocess.hazards_from_margin``).

The contributions are a path (Saabas) attribution exported as one more tree ensemble: the risk
trees with, at each leaf, instead of its value, the vector of what each feature's splits added on
the way from the root to that leaf. A node's value is the mean of its leaves weighted by their
training rows (the root's is LightGBM's TreeSHAP expected value), and each split hands the change
from a node's value to its child's to the split feature; per tree these add up to leaf - root,
so ``risk_contribution_base`` + a row's contributions = its raw margin, exactly. One traversal of
the risk trees answers the risk and every feature's share of it, where occluding groups of
features would cost a traversal per group. For trees of one split it equals LightGBM's TreeSHAP
(``pred_contrib``); deeper, it differs from TreeSHAP in how it shares the credit of interacting
splits.

Before anything is published the ONNX graphs are run with onnxruntime on the held-out rows and
compared with LightGBM; a deviation beyond tolerance raises ``ParityError`` and leaves nothing
behind (the bundle is written to a temporary sibling folder and renamed into place at the end).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import onnx
import onnx.compose
import onnxmltools
from onnx import TensorProto, helper, numpy_helper
from onnxmltools.convert.common.data_types import (
    FloatTensorType,
)

from bundle import postprocess
from bundle.manifest import (
    CONTRIBUTIONS_OUTPUT,
    FORMAT_VERSION,
    HAZARD_MARGIN_OUTPUT,
    INPUT_DTYPE,
    LONGEVITY_FILE,
    MANIFEST_FILE,
    TREATMENT_FILE,
    Calibration,
    Manifest,
    OnnxFile,
    Parity,
    TensorSpec,
    check_manifest,
    difference_output,
    sha256_bytes,
)
from bundle.predictor import open_session
from features.longevity import LONGEVITY_INDEX, LONGEVITY_NAMES, longevity_matrix
from features.spec import FEATURE_DTYPE, FEATURE_NAMES
from training.dataset import TrainingData
from training.models import DIFF_TARGETS, QUANTILES, FittedModels, LongevityModel

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TARGET_OPSET: Final = 15
"""ONNX default-domain opset of the bundle (onnxruntime >= 1.10 runs it)."""
FEATURES_INPUT: Final = "features"
LONGEVITY_INPUT: Final = "longevity"
PROBABILITY_ATOL: Final = 1e-5
"""Largest accepted |ONNX - LightGBM| of a probability (risk, hazard)."""
HAZARD_PARITY: Final = "hazard"
"""Parity key of the hazards computed from the ONNX margin and the baseline."""
RISK_PARITY: Final = "risk"
"""Parity key of the risk (before calibration) computed from the ONNX contributions."""
REGRESSION_RTOL: Final = 1e-4
"""Relative part of the accepted deviation of a difference quantile."""
REGRESSION_ATOL: Final = 1e-4
"""Absolute part (mm): ONNX sums the trees in float32, LightGBM in float64."""
LIBRARIES: Final = ("asym", "lightgbm", "numpy", "onnx", "onnxmltools", "onnxruntime")


class ParityError(Exception):
    """An ONNX output deviates from LightGBM beyond tolerance; nothing was published."""


@dataclass(frozen=True)
class _Head:
    """One converted regressor inside a merged graph: its output name and what it means."""

    booster: lgb.Booster
    output: str
    meaning: str


def _float32_thresholds(booster: lgb.Booster) -> lgb.Booster:
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


def _as_regression(booster: lgb.Booster) -> lgb.Booster:
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


def _convert(booster: lgb.Booster, input_name: str, width: int) -> onnx.ModelProto:
    model: onnx.ModelProto = onnxmltools.convert_lightgbm(
        _float32_thresholds(booster),
        initial_types=[(input_name, FloatTensorType([None, width]))],
        zipmap=False,
        target_opset=TARGET_OPSET,
    )
    return model


@dataclass(frozen=True)
class PathContributions:
    """A booster's path attribution: per tree, per leaf, what each feature's splits add.

    Attributes:
        tables: Per tree, (leaves, F): row k is the contribution of each feature to the margin
            of a row that lands in leaf k.
        base: Margin with nothing known: the sum over trees of the root's value.
    """

    tables: tuple[FloatArray, ...]
    base: float

    def of(self, leaves: npt.NDArray[np.integer]) -> FloatArray:
        """(n, F) contributions of rows given their leaf in each tree, (n, trees)."""
        width = self.tables[0].shape[1] if self.tables else 0
        out = np.zeros((len(leaves), width))
        for t, table in enumerate(self.tables):
            out += table[leaves[:, t]]
        return out


def _subtree(node: dict[str, Any]) -> tuple[float, float, list[tuple[int, dict[int, float]]]]:
    """(value, training rows, per leaf the feature -> contribution from this node down).

    A leaf's value is its output; a split's is the mean of its children's weighted by rows (both
    children without rows, which LightGBM never grows: their plain mean).
    """
    if "split_feature" not in node:
        return (
            float(node["leaf_value"]),
            float(node.get("leaf_count", 0)),
            [(int(node.get("leaf_index", 0)), {})],
        )
    children = [_subtree(node["left_child"]), _subtree(node["right_child"])]
    rows = children[0][1] + children[1][1]
    if rows > 0:
        value = sum(v * c for v, c, _ in children) / rows
    else:
        value = 0.5 * (children[0][0] + children[1][0])
    feature = int(node["split_feature"])
    leaves = []
    for child_value, _, paths in children:
        for leaf, path in paths:
            path[feature] = path.get(feature, 0.0) + (child_value - value)
            leaves.append((leaf, path))
    return value, rows, leaves


def path_contributions(booster: lgb.Booster) -> PathContributions:
    """The path (Saabas) attribution of a booster's raw margin, per tree and leaf.

    Args:
        booster: A fitted booster (one output per row).

    Returns:
        The tables and base: base + ``of(leaves).sum(axis=1)`` is the raw margin.
    """
    width = booster.num_feature()
    tables, base = [], 0.0
    for tree in booster.dump_model()["tree_info"]:
        root_value, _, leaves = _subtree(tree["tree_structure"])
        table = np.zeros((int(tree["num_leaves"]), width))
        for leaf, path in leaves:
            for feature, value in path.items():
                table[leaf, feature] = value
        tables.append(table)
        base += root_value
    return PathContributions(tuple(tables), base)


def _leaf_indexed(booster: lgb.Booster) -> lgb.Booster:
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


def _contributions_node(
    booster: lgb.Booster, paths: PathContributions, input_name: str, width: int
) -> onnx.NodeProto:
    """A tree ensemble with the booster's splits whose output is (n, F) path contributions."""
    converted = _convert(_leaf_indexed(_as_regression(booster)), input_name, width)
    trees = [n for n in converted.graph.node if n.op_type == "TreeEnsembleRegressor"]
    if len(trees) != 1 or list(trees[0].input) != [input_name]:
        found = [(n.op_type, list(n.input)) for n in converted.graph.node]
        raise RuntimeError(f"onnxmltools gave nodes {found}, expected one TreeEnsembleRegressor")
    attrs = {a.name: helper.get_attribute_value(a) for a in trees[0].attribute}
    tree_ids: list[int] = []
    node_ids: list[int] = []
    targets: list[int] = []
    weights: list[float] = []
    for tree, node, weight in zip(
        attrs["target_treeids"], attrs["target_nodeids"], attrs["target_weights"], strict=True
    ):
        leaf = int(weight)
        if leaf != weight or not 0 <= leaf < len(paths.tables[tree]):
            raise RuntimeError(f"tree {tree} node {node}: weight {weight} is not a leaf index")
        row = paths.tables[tree][leaf]
        features = np.flatnonzero(row).tolist() or [0]  # a leaf no split leads to: one zero
        tree_ids += [tree] * len(features)
        node_ids += [node] * len(features)
        targets += features
        weights += row[features].tolist()
    return helper.make_node(
        "TreeEnsembleRegressor",
        [input_name],
        [CONTRIBUTIONS_OUTPUT],
        name=CONTRIBUTIONS_OUTPUT,
        domain="ai.onnx.ml",
        n_targets=width,
        aggregate_function="SUM",
        post_transform="NONE",
        target_treeids=tree_ids,
        target_nodeids=node_ids,
        target_ids=targets,
        target_weights=weights,
        **{k: v for k, v in attrs.items() if k.startswith("nodes_")},
    )


def _needed(nodes: Sequence[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """The nodes the given outputs depend on, in their original (topological) order."""
    wanted = set(outputs)
    keep: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if wanted.intersection(node.output):
            keep.append(node)
            wanted.update(node.input)
    return keep[::-1]


def _merge(
    heads: Sequence[_Head],
    input_name: str,
    width: int,
    extra: Sequence[tuple[onnx.NodeProto, onnx.ValueInfoProto]] = (),
) -> onnx.ModelProto:
    """Convert each booster and merge them into one graph over one input, one output per head.

    Each converted graph gets its head's name as a prefix on every node, edge and initializer
    (not on the shared input), ends in a 1-D output (the regressor's value), and loses the
    converter's unused tail (identities). ``extra``
    nodes over the same input come last, each with its output.
    """
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = [
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "asym_flat"),
    ]
    outputs: list[onnx.ValueInfoProto] = []
    ml_opset, ir_version = 1, 0
    for head in heads:
        converted = _convert(head.booster, input_name, width)
        ir_version = max(ir_version, converted.ir_version)
        ml_opset = max(
            [ml_opset] + [o.version for o in converted.opset_import if o.domain == "ai.onnx.ml"]
        )
        prefix = f"{head.output}/"
        graph = onnx.compose.add_prefix_graph(converted.graph, prefix, rename_inputs=False)
        names = [o.name for o in graph.output]
        source = prefix + "variable"
        tail = helper.make_node("Reshape", [source, "asym_flat"], [head.output], name=head.output)
        if source not in names:
            raise RuntimeError(f"onnxmltools gave outputs {names}, expected {source}")
        part = _needed(list(graph.node), {source})
        used = {i for n in part for i in n.input}
        nodes += [*part, tail]
        initializers += [t for t in graph.initializer if t.name in used]
        outputs.append(helper.make_tensor_value_info(head.output, TensorProto.FLOAT, ["N"]))
    for node, output in extra:
        nodes.append(node)
        outputs.append(output)
    graph = helper.make_graph(
        nodes,
        "asym",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", width])],
        outputs,
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", TARGET_OPSET),
            helper.make_opsetid("ai.onnx.ml", ml_opset),
        ],
        producer_name="asym",
    )
    model.ir_version = ir_version
    onnx.checker.check_model(model, full_check=True)
    return model


def _treatment_heads(models: FittedModels) -> list[_Head]:
    heads = []
    for target in DIFF_TARGETS:
        for key, level in QUANTILES:
            heads.append(
                _Head(
                    models.differences.boosters[target][key],
                    difference_output(target, key),
                    f"{level:.0%} quantile of the post-treatment {target} (mm, left minus "
                    "right); sort the three quantiles per row so the interval never inverts",
                )
            )
    return heads


def _run(model: bytes, input_name: str, x: Float32Array) -> dict[str, FloatArray]:
    session = open_session(model)
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {input_name: x})
    return {n: np.asarray(v, dtype=np.float64) for n, v in zip(names, values, strict=True)}


def _held_out_longevity(data: TrainingData) -> Float32Array:
    """Longevity rows of the held-out treatments' observed (region, side) durations."""
    dur = data.registry.durations
    test_ids = set(data.treatment_ids[data.test])
    held = dur[dur["treatment_id"].isin(test_ids)] if test_ids else dur
    rows: Float32Array = longevity_matrix(
        data.features,
        data.rows(held["treatment_id"].to_numpy()),
        held["region"].cat.codes.to_numpy().astype(np.int64),
        held["side"].cat.codes.to_numpy().astype(np.int64),
    )
    return rows


def _compare(
    heads: Sequence[_Head], onnx_out: Mapping[str, FloatArray], x: Float32Array
) -> dict[str, float]:
    """Max |ONNX - LightGBM| per head; raises ParityError on the first beyond tolerance."""
    deviations: dict[str, float] = {}
    for head in heads:
        expected = np.asarray(head.booster.predict(x), dtype=np.float64)[:, None]
        deviations[head.output] = _refuse_beyond(
            f"ONNX output {head.output!r} deviates from LightGBM",
            onnx_out[head.output][:, None],
            expected,
            REGRESSION_ATOL + REGRESSION_RTOL * np.abs(expected),
            _REGRESSION_TOLERANCE,
        )
    return deviations


_REGRESSION_TOLERANCE: Final = f"{REGRESSION_RTOL:g} relative + {REGRESSION_ATOL:g} absolute"


def _refuse_beyond(
    what: str,
    got: FloatArray,
    expected: FloatArray,
    limit: FloatArray | float,
    tolerance: str,
    column: Callable[[int], str] | None = None,
) -> float:
    """Max |got - expected| of a (rows, columns) output; ParityError if one exceeds ``limit``.

    The error starts with ``what`` and names the worst cell (``column`` names its column, if
    there are several).
    """
    dev = np.abs(got - expected)
    worst = float(dev.max()) if dev.size else 0.0
    bad = dev > limit
    if bad.any() or not np.isfinite(got).all():
        i, k = np.unravel_index(int(np.argmax(dev)), dev.shape)
        where = f"row {i}" if column is None else f"row {i}, {column(int(k))}"
        raise ParityError(
            f"{what} by up to {worst:.3g} ({where}: ONNX {got[i, k]:.6g}, LightGBM "
            f"{expected[i, k]:.6g}; {int(bad.sum())} of {dev.size} beyond the tolerance "
            f"{tolerance})"
        )
    return worst


def _compare_contributions(
    booster: lgb.Booster, paths: PathContributions, got: FloatArray, x: Float32Array
) -> float:
    """Max |ONNX - path contributions of the LightGBM leaves|; ParityError beyond tolerance.

    The regression tolerance: both are sums over the trees, ONNX's in float32.
    """
    margin = np.asarray(booster.predict(x, raw_score=True), dtype=np.float64)
    expected = paths.of(np.asarray(booster.predict(x, pred_leaf=True), dtype=np.int64))
    # By construction the contributions split the margin exactly (up to float64 rounding).
    gap = np.abs(paths.base + expected.sum(axis=1) - margin)
    if len(gap) and gap.max() > 1e-6:
        raise RuntimeError(f"path contributions miss the margin by up to {gap.max():.3g}")
    return _refuse_beyond(
        f"ONNX output {CONTRIBUTIONS_OUTPUT!r} deviates from the LightGBM leaves' path "
        "contributions",
        got,
        expected,
        REGRESSION_ATOL + REGRESSION_RTOL * np.abs(expected),
        _REGRESSION_TOLERANCE,
        lambda f: f"feature {FEATURE_NAMES[f]}",
    )


def _compare_risk(
    booster: lgb.Booster, paths: PathContributions, got: FloatArray, x: Float32Array
) -> float:
    """Max |risk from the ONNX contributions - LightGBM's|; ParityError beyond PROBABILITY_ATOL.

    Both before calibration: sigmoid(base + the row's contributions) against the booster's
    probability.
    """
    risk = 1.0 / (1.0 + np.exp(-(paths.base + got.sum(axis=1))))
    return _refuse_beyond(
        f"the risk from ONNX output {CONTRIBUTIONS_OUTPUT!r} deviates from LightGBM",
        risk[:, None],
        np.asarray(booster.predict(x), dtype=np.float64)[:, None],
        PROBABILITY_ATOL,
        f"{PROBABILITY_ATOL:g} absolute",
    )


def _compare_hazards(lon: LongevityModel, onnx_margin: FloatArray, rows: Float32Array) -> float:
    """Max |hazard from the ONNX margin - LightGBM hazard|; ParityError beyond PROBABILITY_ATOL."""
    region = rows[:, LONGEVITY_INDEX["region"]].astype(np.int64)
    return _refuse_beyond(
        f"hazards from the ONNX output {HAZARD_MARGIN_OUTPUT!r} deviate from LightGBM",
        postprocess.hazards_from_margin(onnx_margin, lon.baseline, region),
        lon.hazards(rows),
        PROBABILITY_ATOL,
        f"{PROBABILITY_ATOL:g} absolute",
        lambda k: f"bin {k}",
    )


def _libraries() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # running from a checkout that is not installed
            out[name] = "unknown"
    return out


def _spec(stem: str, data: bytes, inp: TensorSpec, outputs: Sequence[TensorSpec]) -> OnnxFile:
    return OnnxFile(
        file=f"{stem}.onnx", sha256=sha256_bytes(data), input=inp, outputs=tuple(outputs)
    )


def check_out(out: Path) -> None:
    """Refuse a bundle folder that exists and is not empty (a bundle is never overwritten).

    Args:
        out: The bundle folder to be.

    Raises:
        FileExistsError: It is a file, or a folder with something in it.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: exists and is not an empty folder; export to a new one")


def _prepare_out(out: Path) -> None:
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)


def export_bundle(
    models: FittedModels,
    data: TrainingData,
    out: Path,
    *,
    model_name: str,
    model_version: str,
    run_id: str | None = None,
) -> Manifest:
    """Convert the fitted models to ONNX, check parity on held-out rows, write the bundle.

    Args:
        models: The run's fitted LightGBM models.
        data: The data they were fitted on; its held-out rows (``data.test``, or every row if
            none is held out) are the parity rows, and its fingerprint goes in the manifest.
        out: Bundle folder to create; must not exist or be empty.
        model_name: Registered model name.
        model_version: Model version recorded in the manifest (e.g. the MLflow run id).
        run_id: MLflow run that trained the models, if any.

    Returns:
        The manifest written as ``out/manifest.json`` (with the parity deviations).

    Raises:
        ParityError: An ONNX output deviates from LightGBM beyond tolerance; ``out`` is left as
            it was.
        FileExistsError: ``out`` exists and is not empty.
    """
    out = Path(out)
    _prepare_out(out)
    width = len(FEATURE_NAMES)
    lon = models.longevity
    x = data.features[data.test] if data.test.any() else data.features
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows = _held_out_longevity(data)

    heads = _treatment_heads(models)
    hazard = _Head(
        _as_regression(lon.booster),
        HAZARD_MARGIN_OUTPUT,
        "raw margin f(x) of the hazard booster (log-odds); the hazard of bin k is "
        "sigmoid(hazard_baseline[region][k] + f(x)), region row 0 if the baseline has one row "
        "(bundle.postprocess.hazards_from_margin)",
    )
    risk = models.risk.booster
    paths = path_contributions(risk)
    contributions = (
        _contributions_node(risk, paths, FEATURES_INPUT, width),
        helper.make_tensor_value_info(CONTRIBUTIONS_OUTPUT, TensorProto.FLOAT, ["N", width]),
    )
    treatment_bytes = _merge(heads, FEATURES_INPUT, width, [contributions]).SerializeToString()
    longevity_bytes = _merge([hazard], LONGEVITY_INPUT, rows.shape[1]).SerializeToString()

    treatment_out = _run(treatment_bytes, FEATURES_INPUT, x)
    deviations = _compare(heads, treatment_out, x)
    deviations[CONTRIBUTIONS_OUTPUT] = _compare_contributions(
        risk, paths, treatment_out[CONTRIBUTIONS_OUTPUT], x
    )
    deviations[RISK_PARITY] = _compare_risk(risk, paths, treatment_out[CONTRIBUTIONS_OUTPUT], x)
    margin = _run(longevity_bytes, LONGEVITY_INPUT, rows)
    deviations |= _compare([hazard], margin, rows)
    deviations[HAZARD_PARITY] = _compare_hazards(lon, margin[HAZARD_MARGIN_OUTPUT], rows)

    def output(head: _Head) -> TensorSpec:
        return TensorSpec(name=head.output, dtype=INPUT_DTYPE, shape=(None,), meaning=head.meaning)

    files = {
        TREATMENT_FILE: _spec(
            TREATMENT_FILE,
            treatment_bytes,
            TensorSpec(
                name=FEATURES_INPUT,
                dtype=INPUT_DTYPE,
                shape=(None, width),
                meaning="treatment features in feature_names order (NaN = missing)",
            ),
            [
                *(output(h) for h in heads),
                TensorSpec(
                    name=CONTRIBUTIONS_OUTPUT,
                    dtype=INPUT_DTYPE,
                    shape=(None, width),
                    meaning="per feature (feature_names order), its path contribution to the "
                    "risk model's raw margin (log-odds before calibration): "
                    "risk_contribution_base + the row's sum is that margin, and the risk "
                    "sigmoid(calibration.slope * margin + calibration.intercept)",
                ),
            ],
        ),
        LONGEVITY_FILE: _spec(
            LONGEVITY_FILE,
            longevity_bytes,
            TensorSpec(
                name=LONGEVITY_INPUT,
                dtype=INPUT_DTYPE,
                shape=(None, rows.shape[1]),
                meaning="longevity_features of one (treatment, region, side), in "
                "longevity_features order (NaN = missing)",
            ),
            [output(hazard)],
        ),
    }
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model_name=model_name,
        model_version=model_version,
        run_id=run_id,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        feature_names=FEATURE_NAMES,
        feature_dtype=FEATURE_DTYPE,
        input_dtype=INPUT_DTYPE,
        longevity_features=LONGEVITY_NAMES,
        diff_targets=DIFF_TARGETS,
        quantiles=tuple(key for key, _ in QUANTILES),
        files=files,
        calibration=Calibration(
            slope=models.risk.calibration[0], intercept=models.risk.calibration[1]
        ),
        risk_contribution_base=paths.base,
        bin_days=float(lon.bin_days),
        n_bins=int(lon.n_bins),
        hazard_baseline=tuple(tuple(float(a) for a in row) for row in lon.baseline),
        libraries=_libraries(),
        data_fingerprint=data.fingerprint,
        parity=Parity(
            rows={TREATMENT_FILE: len(x), LONGEVITY_FILE: len(rows)},
            max_abs_deviation=deviations,
            probability_atol=PROBABILITY_ATOL,
            regression_rtol=REGRESSION_RTOL,
            regression_atol=REGRESSION_ATOL,
        ),
    )
    _publish(
        out,
        {files[TREATMENT_FILE].file: treatment_bytes, files[LONGEVITY_FILE].file: longevity_bytes},
        manifest,
    )
    return manifest


def _publish(out: Path, blobs: Mapping[str, bytes], manifest: Manifest) -> None:
    """Write the files to a temporary sibling folder, check them as a server would, rename."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, blob in blobs.items():
            (tmp / name).write_bytes(blob)
        (tmp / MANIFEST_FILE).write_text(manifest.to_json())
        check_manifest(manifest, tmp)
        if out.exists():  # an empty folder (checked on entry): rename needs it gone
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
