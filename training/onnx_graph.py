"""LightGBM boosters as ONNX graphs: one converted booster per output, merged over one input.

A bundle file answers several models in one onnxruntime call: each booster is converted with
onnxmltools (``convert``, thresholds made float32-exact first) and the graphs are merged into one
over a shared input, one named output per booster (``merge``), with extra nodes (the path
contributions) appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import onnx
import onnx.compose
import onnxmltools
from onnx import TensorProto, helper, numpy_helper
from onnxmltools.convert.common.data_types import FloatTensorType

from bundle.predictor import open_session
from training.model_string import float32_thresholds

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]

TARGET_OPSET: Final = 15
"""ONNX default-domain opset of the bundle (onnxruntime >= 1.10 runs it)."""


@dataclass(frozen=True)
class Converted:
    """One booster inside a merged graph: its ONNX output name and what the output means."""

    booster: lgb.Booster
    output: str
    meaning: str


def convert(booster: lgb.Booster, input_name: str, width: int) -> onnx.ModelProto:
    """The booster as an ONNX graph over one float32 input ``(N, width)``."""
    model: onnx.ModelProto = onnxmltools.convert_lightgbm(
        float32_thresholds(booster),
        initial_types=[(input_name, FloatTensorType([None, width]))],
        zipmap=False,
        target_opset=TARGET_OPSET,
    )
    return model


def _needed(nodes: Sequence[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """The nodes the given outputs depend on, in their original (topological) order."""
    wanted = set(outputs)
    keep: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if wanted.intersection(node.output):
            keep.append(node)
            wanted.update(node.input)
    return keep[::-1]


def merge(
    heads: Sequence[Converted],
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
        converted = convert(head.booster, input_name, width)
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


def run(model: bytes, input_name: str, x: Float32Array) -> dict[str, FloatArray]:
    """Every output of an ONNX model on ``x``, by name, as float64."""
    session = open_session(model)
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {input_name: x})
    return {n: np.asarray(v, dtype=np.float64) for n, v in zip(names, values, strict=True)}
