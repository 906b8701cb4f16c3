"""dlib's face-recognition ResNet, read from its own weights file, run by onnxruntime.

dlib (the ``dlib-bin`` wheel, built without BLAS) spends about 75 ms a face in
``compute_face_descriptor`` on this kind of CPU. The network is small (29
convolutions over a 150x150 chip, about 0.3 GMAC), so the same weights run
several times faster on onnxruntime's convolution kernels. This module reads
``dlib_face_recognition_resnet_model_v1.dat`` (dlib's serialisation of the
``anet_type`` network in dlib's ``dnn_face_recognition_ex.cpp``), checks that
the layers are the ones that network has, and builds the equivalent ONNX graph
in memory. The vectors match dlib's to within float rounding (tested).

dlib's serialisation, as far as this file needs it: integers are one byte
(low nibble = byte count, bit 7 = sign) and that many little-endian bytes;
strings are a length then bytes; floats are mantissa and base-2 exponent as
two integers; a tensor is version 2, four dimensions, then little-endian
float32 values. Layers are written input first, each as its name and fields.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# input_rgb_image_sized<150>: (pixel - mean) / 256 per channel, RGB order.
CHIP_SIZE = 150
LAYER_NAME = re.compile(rb"(con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2)")


class _Reader:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def str(self) -> str:
        size = self.int()
        value = self.data[self.pos:self.pos + size].decode("ascii")
        self.pos += size
        return value

    def float(self) -> float:
        mantissa = self.int()
        return mantissa * 2.0 ** self.int()

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise ValueError("unknown dlib tensor version")
        shape = [self.int() for _ in range(4)]
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return values


@dataclass
class Layer:
    kind: str
    params: dict


def read_layers(data: bytes) -> tuple[np.ndarray, list[Layer]]:
    """The input means and every layer with its parameters, input first."""
    start = data.find(b"input_rgb_image_sized")
    if start < 0:
        raise ValueError("not a dlib network with an input_rgb_image_sized layer")
    head = _Reader(data, start - 2)
    head.str()
    mean = np.array([head.float(), head.float(), head.float()], np.float32)
    if (head.int(), head.int()) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError("expected a 150x150 input layer")
    layers = []
    # A name is preceded by its length; the bookkeeping between layers holds
    # only empty tensors and flags, so scanning for the next name is safe.
    for match in LAYER_NAME.finditer(data, head.pos):
        r = _Reader(data, match.start() - 2)
        if r.str() != match.group().decode():
            continue
        kind = match.group().decode()
        if kind == "con_4":
            values = r.tensor()
            filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
            inputs = (values.size - filters) // (filters * nr * nc)
            weight = values[:filters * inputs * nr * nc].reshape(filters, inputs, nr, nc)
            params = dict(weight=weight, bias=values[weight.size:], stride=(sy, sx), pad=(py, px))
        elif kind == "affine_":
            values = r.tensor()
            half = values.size // 2
            params = dict(gamma=values[:half], beta=values[half:])
            r.int(), r.int(), r.int(), r.int(), r.int()  # gamma alias: version + shape
            r.int(), r.int(), r.int(), r.int(), r.int()  # beta alias
            if r.int() != 0:
                raise ValueError("only convolution-mode affine layers are supported")
        elif kind in ("max_pool_2", "avg_pool_2"):
            nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
            params = dict(window=(nr, nc), stride=(sy, sx), pad=(py, px))
        elif kind == "fc_2":
            outputs, inputs = r.int(), r.int()
            values = r.tensor()
            params = dict(weight=values[:inputs * outputs].reshape(inputs, outputs))
        else:
            params = {}
        layers.append(Layer(kind, params))
    return mean, layers


class _Graph:
    """Builds the ONNX graph of dlib's anet_type, layer by layer, tracking shapes."""

    def __init__(self, layers: list[Layer]):
        from onnx import helper

        self.helper = helper
        self.layers = iter(layers)
        self.nodes, self.weights = [], []
        self.count = 0

    def _next(self, kind: str) -> dict:
        layer = next(self.layers, None)
        if layer is None or layer.kind != kind:
            raise ValueError(f"dlib network: expected {kind}, found {layer and layer.kind}")
        return layer.params

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def _const(self, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self._name("w")
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def con(self, x, shape):
        p = self._next("con_4")
        f, _, kh, kw = p["weight"].shape
        (sy, sx), (py, px) = p["stride"], p["pad"]
        y = self.op("Conv", [x, self._const(p["weight"]), self._const(p["bias"])],
                    kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
        h = (shape[1] + 2 * py - kh) // sy + 1
        w = (shape[2] + 2 * px - kw) // sx + 1
        return y, (f, h, w)

    def affine(self, x, shape):
        p = self._next("affine_")
        x = self.op("Mul", [x, self._const(p["gamma"].reshape(-1, 1, 1))])
        return self.op("Add", [x, self._const(p["beta"].reshape(-1, 1, 1))]), shape

    def relu(self, x, shape):
        self._next("relu_")
        return self.op("Relu", [x]), shape

    def pool(self, op_type, x, shape):
        p = self._next("max_pool_2" if op_type == "MaxPool" else "avg_pool_2")
        (kh, kw), (sy, sx), (py, px) = p["window"], p["stride"], p["pad"]
        y = self.op(op_type, [x], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
        return y, (shape[0], (shape[1] + 2 * py - kh) // sy + 1, (shape[2] + 2 * px - kw) // sx + 1)

    def add(self, a, a_shape, b, b_shape):
        """dlib's add_prev: tensors of different sizes are added into the larger
        size, the missing parts taken as zeros (top-left aligned)."""
        self._next("add_prev_")
        out = tuple(max(i, j) for i, j in zip(a_shape, b_shape))
        padded = []
        for x, shape in ((a, a_shape), (b, b_shape)):
            if shape != out:
                pads = np.array([0, 0, 0, 0, 0, *(o - s for o, s in zip(out, shape))], np.int64)
                x = self.op("Pad", [x, self._const(pads)])
            padded.append(x)
        return self.op("Add", padded), out

    def block(self, x, shape, down: bool):
        y, s = self.con(x, shape)
        y, s = self.affine(y, s)
        y, s = self.relu(y, s)
        y, s = self.con(y, s)
        y, s = self.affine(y, s)
        skip, skip_shape = self.pool("AveragePool", x, shape) if down else (x, shape)
        y, s = self.add(y, s, skip, skip_shape)
        return self.relu(y, s)


def build_onnx(data: bytes) -> bytes:
    """The ONNX model (bytes) of dlib_face_recognition_resnet_model_v1.dat.

    Input ``chips``: uint8 (N, 150, 150, 3) RGB chips from dlib.get_face_chip;
    output ``descriptors``: float32 (N, 128).
    """
    from onnx import TensorProto, checker, helper

    mean, layers = read_layers(data)
    g = _Graph(layers)
    x = g.op("Cast", ["chips"], to=TensorProto.FLOAT)
    x = g.op("Sub", [x, g._const(mean.reshape(1, 1, 1, 3))])
    x = g.op("Mul", [x, g._const(np.array(1 / 256, np.float32))])
    x = g.op("Transpose", [x], perm=[0, 3, 1, 2])
    shape = (3, CHIP_SIZE, CHIP_SIZE)
    x, shape = g.con(x, shape)
    x, shape = g.affine(x, shape)
    x, shape = g.relu(x, shape)
    x, shape = g.pool("MaxPool", x, shape)
    # anet_type: levels of 32, 64, 128, 256, 256 filters; each level after the
    # first starts with a down-sampling block.
    for down, blocks in ((False, 3), (True, 4), (True, 3), (True, 3), (True, 1)):
        for i in range(blocks):
            x, shape = g.block(x, shape, down and i == 0)
    everything = g._next("avg_pool_2")
    if everything["window"] != (0, 0):
        raise ValueError("dlib network: expected avg_pool_everything")
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x])
    fc = g._next("fc_2")
    g.nodes.append(helper.make_node("MatMul", [x, g._const(fc["weight"])], ["descriptors"]))
    if next(g.layers, None) is not None:
        raise ValueError("dlib network: more layers than anet_type has")
    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, [None, CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, [None, 128])],
        initializer=g.weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    checker.check_model(model)
    return model.SerializeToString()
