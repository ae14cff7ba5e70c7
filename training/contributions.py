"""Path (Saabas) attribution of a booster's margin, exported as one more ONNX tree ensemble.

The risk trees are exported a second way: the same splits, with each leaf holding, instead of its
value, the vector of what each feature's splits added on the way from the root to that leaf. A
node's value is the mean of its leaves weighted by their training rows (the root's is LightGBM's
TreeSHAP expected value), and each split hands the change from a node's value to its child's to
the split feature; per tree these add up to leaf - root, so base + a row's contributions = its
raw margin, exactly. One traversal answers the margin and every feature's share of it, where
occluding groups of features would cost a traversal per group. For trees of one split it equals
TreeSHAP (``pred_contrib``); deeper, it differs in how it shares the credit of interacting
splits.

Reference: A. Saabas, "Interpreting random forests" (2014, the ``treeinterpreter`` method);
S. M. Lundberg et al., "From local explanations to global understanding with explainable AI for
trees", Nature Machine Intelligence 2 (2020), section "Saabas" and TreeSHAP, for the comparison.
Neither LightGBM's ``pred_contrib`` nor ``shap`` can be exported to ONNX, hence this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper

from training.model_string import as_regression, leaf_indexed
from training.onnx_graph import convert

FloatArray = npt.NDArray[np.float64]


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


def contributions_node(
    booster: lgb.Booster, paths: PathContributions, input_name: str, width: int, output: str
) -> onnx.NodeProto:
    """A tree ensemble with the booster's splits whose output ``output`` is (n, F) contributions.

    Args:
        booster: The booster (binary or regression: its raw margin is attributed).
        paths: Its ``path_contributions``.
        input_name: The graph input the trees read.
        width: Number of features.
        output: Name of the node's output (and of the node).

    Returns:
        The node.

    Raises:
        RuntimeError: onnxmltools converted the trees into something else than one ensemble.
    """
    converted = convert(leaf_indexed(as_regression(booster)), input_name, width)
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
        [output],
        name=output,
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
