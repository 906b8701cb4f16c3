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
The file does not record how the residual blocks are wired (dlib's tag and skip
layers are types, not data): the wiring here is anet_type's, and the layer
names, their order and every tensor size are checked against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# input_rgb_image_sized<150>: (pixel - mean) / 256 per channel, RGB order.
CHIP_SIZE = 150
LAYER_NAME = re.compile(rb"(con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2)")
ANY_NAME = re.compile(rb"[a-z][a-z_]{2,}")  # a layer name's letters (its version digit and the flags after vary)


class _Reader:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def str(self) -> str:
        size = self.int()
        value = self.data[self.pos : self.pos + size].decode("ascii")
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
    """The input means and every layer with its parameters, input first.

    Raises ValueError for anything that is not this kind of network: another
    input, a layer type the face network does not have, sizes that do not add
    up, or a cut-off file.
    """
    try:
        return _read_layers(data)
    except (IndexError, OverflowError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a readable dlib network file ({type(exc).__name__})") from None


def _read_layers(data: bytes) -> tuple[np.ndarray, list[Layer]]:
    start = data.find(b"input_rgb_image_sized")
    if start < 2:
        raise ValueError("not a dlib network with an input_rgb_image_sized layer")
    head = _Reader(data, start - 2)
    if head.str() != "input_rgb_image_sized":
        raise ValueError("not a dlib network with an input_rgb_image_sized layer")
    mean = np.array([head.float(), head.float(), head.float()], np.float32)
    if (head.int(), head.int()) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError("expected a 150x150 input layer")
    layers = []
    pos = head.pos
    # Each layer is its name (length-prefixed) and fields; between two layers
    # there are only flags and empty tensors, never text. Any other name found
    # on the way is a layer this network does not have.
    while (letters := ANY_NAME.search(data, pos)) is not None:
        found = LAYER_NAME.match(data, letters.start())
        if found is None:
            raise ValueError(f"dlib network: unexpected layer {letters.group().decode()!r}")
        kind = found.group().decode()
        r = _Reader(data, found.start() - 2)
        if r.str() != kind:
            raise ValueError(f"dlib network: malformed layer {kind!r}")
        params: dict = {}
        if kind == "con_4":
            values = r.tensor()
            filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
            inputs, extra = divmod(values.size - filters, filters * nr * nc)
            if extra or inputs < 1:
                raise ValueError("dlib network: convolution weights of the wrong size")
            weight = values[: filters * inputs * nr * nc].reshape(filters, inputs, nr, nc)
            params = dict(weight=weight, bias=values[weight.size :], stride=(sy, sx), pad=(py, px))
        elif kind == "affine_":
            values = r.tensor()
            if values.size % 2:
                raise ValueError("dlib network: affine parameters of the wrong size")
            params = dict(gamma=values[: values.size // 2], beta=values[values.size // 2 :])
            for _ in range(10):  # gamma and beta aliases: version + 4 dimensions each
                r.int()
            if r.int() != 0:
                raise ValueError("only convolution-mode affine layers are supported")
        elif kind in ("max_pool_2", "avg_pool_2"):
            nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
            params = dict(window=(nr, nc), stride=(sy, sx), pad=(py, px))
        elif kind == "fc_2":
            outputs, inputs = r.int(), r.int()
            values = r.tensor()
            if values.size != inputs * outputs:  # fc_no_bias: weights only
                raise ValueError("dlib network: a fully connected layer with a bias or of the wrong size")
            params = dict(weight=values.reshape(inputs, outputs))
        layers.append(Layer(kind, params))
        pos = r.pos
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
        f, channels, kh, kw = p["weight"].shape
        if channels != shape[0]:
            raise ValueError(f"dlib network: a convolution over {channels} channels where there are {shape[0]}")
        (sy, sx), (py, px) = p["stride"], p["pad"]
        y = self.op(
            "Conv",
            [x, self._const(p["weight"]), self._const(p["bias"])],
            kernel_shape=[kh, kw],
            strides=[sy, sx],
            pads=[py, px, py, px],
        )
        h = (shape[1] + 2 * py - kh) // sy + 1
        w = (shape[2] + 2 * px - kw) // sx + 1
        return y, (f, h, w)

    def affine(self, x, shape):
        p = self._next("affine_")
        if p["gamma"].size != shape[0]:
            raise ValueError(f"dlib network: {p['gamma'].size} affine parameters for {shape[0]} channels")
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
    if fc["weight"].shape != (shape[0], 128):
        raise ValueError(f"dlib network: a {fc['weight'].shape} output layer, expected ({shape[0]}, 128)")
    g.nodes.append(helper.make_node("MatMul", [x, g._const(fc["weight"])], ["descriptors"]))
    if next(g.layers, None) is not None:
        raise ValueError("dlib network: more layers than anet_type has")
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, [None, CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, [None, 128])],
        initializer=g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    checker.check_model(model)
    return model.SerializeToString()
