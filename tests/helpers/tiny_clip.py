"""A tiny ONNX graph with imgbeddings' signature, for tests that cannot download CLIP.

Input ``pixel_values`` float32 [batch, 3, 224, 224], output ``embeddings``
float32 [batch, 768], like minimaxir/imgbeddings' patch32_v1.onnx. The vector is
a fixed random projection of the per-channel means plus a 7x7 thumbnail of the
image, so different images give different vectors and the same image always
gives the same one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIM = 768
OPSET = 17
IR_VERSION = 10  # onnxruntime 1.31 reads IR <= 11; onnx 1.23 would write 12 by default


def build_tiny_clip(
    path, *, broken: bool = False, input_name: str = "pixel_values", output_name: str = "embeddings", seed: int = 1234
) -> Path:
    """Write the graph to ``path`` and return it.

    ``broken=True`` multiplies the output by zero, so every embedding is the zero
    vector (a model that loads and runs but produces garbage). ``input_name`` and
    ``output_name`` make graphs that do not have the imgbeddings signature.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w_mean = rng.standard_normal((3, DIM)).astype(np.float32)
    w_thumb = (rng.standard_normal((3 * 7 * 7, DIM)) / np.sqrt(3 * 7 * 7)).astype(np.float32)
    gain = np.array(0.0 if broken else 1.0, np.float32)

    inits = [
        numpy_helper.from_array(w_mean, "w_mean"),
        numpy_helper.from_array(w_thumb, "w_thumb"),
        numpy_helper.from_array(gain, "gain"),
    ]
    nodes = [
        # per-channel means -> (batch, 3) -> (batch, 768)
        helper.make_node("GlobalAveragePool", [input_name], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["gap_flat"], axis=1),
        helper.make_node("MatMul", ["gap_flat", "w_mean"], ["from_mean"]),
        # 7x7 thumbnail -> (batch, 147) -> (batch, 768)
        helper.make_node("AveragePool", [input_name], ["thumb"], kernel_shape=[32, 32], strides=[32, 32]),
        helper.make_node("Flatten", ["thumb"], ["thumb_flat"], axis=1),
        helper.make_node("MatMul", ["thumb_flat", "w_thumb"], ["from_thumb"]),
        helper.make_node("Add", ["from_mean", "from_thumb"], ["raw"]),
        helper.make_node("Mul", ["raw", "gain"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_clip",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", DIM])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facepipe-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
