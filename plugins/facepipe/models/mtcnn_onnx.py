"""MTCNN (Zhang et al., 2016) on onnxruntime, with the weights the ``mtcnn`` package ships.

MTCNN is a cascade of three small networks: PNet slides a 12x12 window over an
image pyramid and proposes boxes, RNet (24x24) and ONet (48x48) re-score and
refine them. Its smallest window is 12 px, against about 80-90 px for dlib's
HOG and CNN detectors and 24 px for the Haar cascade, so it finds the small
faces of a group photo on a modest copy of the photo.

The ``mtcnn`` package (ipazc/mtcnn 1.0.0, MIT) needs TensorFlow to run; facepipe
only reads its weight files (numpy arrays in Keras layout, joblib + lz4) without
importing the package, and builds the same three networks as ONNX graphs in
memory. The steps between the networks follow the package's stages: thresholds
0.6 / 0.7 / 0.9 (the package: 0.8), pyramid step 0.709, NMS 0.5 per scale then 0.7 (union), 0.7
after RNet, 0.7 ("min") after ONet; inputs are RGB scaled to (x - 127.5) / 128.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np

PYRAMID_STEP = 0.709
# The package's thresholds are 0.6 / 0.7 / 0.8. ONet's is 0.9 here: on bench/groups.py's
# 24 phone photos (944 faces) its two false positives (gravel, a head on a coin) scored
# 0.88, and 6 of 915 true faces scored 0.8-0.9.
THRESHOLDS = (0.6, 0.7, 0.9)
WINDOW = 12  # PNet's window, px


def weights_dir() -> Path:
    """The package's weights folder, found without importing the package (it imports TensorFlow)."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the mtcnn package is not installed (pip install mtcnn==1.0.0): it carries the weights")
    return Path(list(spec.submodule_search_locations)[0]) / "assets" / "weights"


def load_weights(name: str) -> list[np.ndarray]:
    import joblib

    path = weights_dir() / f"{name}.lz4"
    arrays = joblib.load(path)
    if not isinstance(arrays, list) or not all(isinstance(a, np.ndarray) for a in arrays):
        raise ValueError(f"{path} is not a list of weight arrays")
    return arrays


# --------------------------------------------------------------------------
# the three networks as ONNX graphs

# (kind, args) per layer; weights are consumed in order from the package's list.
_LAYERS = {
    "pnet": [
        ("conv", 10, "VALID"),
        ("prelu",),
        ("pool", 2, 2, "SAME_UPPER"),
        ("conv", 16, "VALID"),
        ("prelu",),
        ("conv", 32, "VALID"),
        ("prelu",),
        ("heads_conv", 4, 2),
    ],
    "rnet": [
        ("conv", 28, "VALID"),
        ("prelu",),
        ("pool", 3, 2, "SAME_UPPER"),
        ("conv", 48, "VALID"),
        ("prelu",),
        ("pool", 3, 2, "VALID"),
        ("conv", 64, "VALID"),
        ("prelu",),
        ("flatten",),
        ("dense",),
        ("prelu",),
        ("heads_dense", 4, 2),
    ],
    "onet": [
        ("conv", 32, "VALID"),
        ("prelu",),
        ("pool", 3, 2, "SAME_UPPER"),
        ("conv", 64, "VALID"),
        ("prelu",),
        ("pool", 3, 2, "VALID"),
        ("conv", 64, "VALID"),
        ("prelu",),
        ("pool", 2, 2, "SAME_UPPER"),
        ("conv", 128, "VALID"),
        ("prelu",),
        ("flatten",),
        ("dense",),
        ("prelu",),
        ("heads_dense", 4, 10, 2),
    ],
}


def build_onnx(name: str, weights: list[np.ndarray]) -> bytes:
    """The network ``name`` (pnet, rnet, onet) as a serialised ONNX model.

    Input ``image`` (N, 3, H, W) float32; outputs ``boxes`` (regression) and
    ``prob`` (face probability, softmax over 2 classes), and for ONet ``landmarks``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    it = iter(weights)
    x = "image"
    n = 0

    def const(arr: np.ndarray) -> str:
        nonlocal n
        n += 1
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), f"w{n}"))
        return f"w{n}"

    def node(op: str, inputs: list[str], **attrs) -> str:
        nonlocal n
        n += 1
        out = f"t{n}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def take(shape_rank: int) -> np.ndarray:
        try:
            arr = next(it)
        except StopIteration:
            raise ValueError(f"{name}: fewer weight arrays than layers") from None
        if arr.ndim != shape_rank:
            raise ValueError(f"{name}: expected a {shape_rank}-d weight array, got shape {arr.shape}")
        return arr

    outputs = []
    for layer in _LAYERS[name]:
        kind = layer[0]
        if kind == "conv":
            kernel, bias = take(4), take(1)  # Keras HWIO
            if kernel.shape[3] != layer[1]:
                raise ValueError(f"{name}: conv with {kernel.shape[3]} filters, expected {layer[1]}")
            x = node("Conv", [x, const(kernel.transpose(3, 2, 0, 1)), const(bias)], auto_pad=layer[2])
        elif kind == "prelu":
            after_conv = nodes[-1].op_type == "Conv"
            alpha = take(3 if after_conv else 1)  # Keras: (1, 1, C) shared over H, W; or (C,)
            slope = alpha.reshape(-1, 1, 1) if after_conv else alpha
            x = node("PRelu", [x, const(slope)])
        elif kind == "pool":
            x = node("MaxPool", [x], kernel_shape=[layer[1]] * 2, strides=[layer[2]] * 2, auto_pad=layer[3])
        elif kind == "flatten":
            # Keras permutes (H, W, C) to (W, H, C) before flattening (Caffe's order).
            x = node("Flatten", [node("Transpose", [x], perm=[0, 3, 2, 1])], axis=1)
        elif kind == "dense":
            w, b = take(2), take(1)
            x = node("Add", [node("MatMul", [x, const(w)]), const(b)])
        elif kind in ("heads_conv", "heads_dense"):
            for width in layer[1:]:
                if kind == "heads_conv":
                    k, b = take(4), take(1)
                    head = node("Conv", [x, const(k.transpose(3, 2, 0, 1)), const(b)])
                else:
                    k, b = take(2), take(1)
                    head = node("Add", [node("MatMul", [x, const(k)]), const(b)])
                if k.shape[-1] != width:
                    raise ValueError(f"{name}: head of width {k.shape[-1]}, expected {width}")
                outputs.append((head, width))
    if next(it, None) is not None:
        raise ValueError(f"{name}: more weight arrays than layers")

    names = ["boxes", "landmarks", "prob"] if len(outputs) == 3 else ["boxes", "prob"]
    graph_outputs = []
    for (head, width), out_name in zip(outputs, names):
        if out_name == "prob":
            nodes.append(helper.make_node("Softmax", [head], [out_name], axis=1))
        else:
            nodes.append(helper.make_node("Identity", [head], [out_name]))
        shape = ["N", width, "H", "W"] if name == "pnet" else ["N", width]
        graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, shape))
    size = ["H", "W"] if name == "pnet" else [{"rnet": 24, "onet": 48}[name]] * 2
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, *size])], graph_outputs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facepipe")
    model.ir_version = 8  # onnxruntime 1.31 reads up to 13; opset 17 needs 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@functools.lru_cache(maxsize=1)
def _models() -> dict[str, bytes]:
    return {name: build_onnx(name, load_weights(name)) for name in ("pnet", "rnet", "onet")}


# --------------------------------------------------------------------------
# the cascade


def _normalise(rgb: np.ndarray) -> np.ndarray:
    return ((rgb.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]


def nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices of boxes (x1, y1, x2, y2, score, ...) kept by greedy non-maximum suppression."""
    if len(boxes) == 0:
        return np.zeros(0, int)
    x1, y1, x2, y2, score = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    order = np.argsort(-score, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        overlap = np.where(denom > 0, inter / np.maximum(denom, 1e-9), 0)
        order = rest[overlap <= threshold]
    return np.asarray(keep, int)


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _refine(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0:4] += offsets * np.stack([w, h, w, h], axis=1)
    return out


def _patches(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Each box cut from the image (outside it: mid grey, i.e. 0 after normalising), resized to size x size."""
    h, w = rgb.shape[:2]
    out = np.empty((len(boxes), 3, size, size), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(np.rint(boxes[:, :4]).astype(int)):
        x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
        patch = np.full((y2 - y1, x2 - x1, 3), 127.5, np.float32)
        sx0, sy0, sx1, sy1 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y1 : sy1 - y1, sx0 - x1 : sx1 - x1] = rgb[sy0:sy1, sx0:sx1]
        patch = cv2.resize(
            patch, (size, size), interpolation=cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
        )
        out[k] = ((patch - 127.5) / 128.0).transpose(2, 0, 1)
    return out


class Mtcnn:
    """The three networks in onnxruntime sessions, and the cascade between them."""

    def __init__(self, threads: int | None = None, thresholds: tuple[float, float, float] = THRESHOLDS):
        from facepipe.models.onnx import _onnx_session

        models = _models()
        self._pnet = _onnx_session(models["pnet"], threads)
        self._rnet = _onnx_session(models["rnet"], threads)
        self._onet = _onnx_session(models["onet"], threads)
        self.thresholds = thresholds

    def detect(self, rgb: np.ndarray, min_face: float) -> np.ndarray:
        """Faces of at least ``min_face`` px in ``rgb``: rows of (x1, y1, x2, y2, score)."""
        boxes = self._propose(rgb, max(float(min_face), WINDOW))
        for net, size, threshold, overlap, method in (
            (self._rnet, 24, self.thresholds[1], 0.7, "union"),
            (self._onet, 48, self.thresholds[2], 0.7, "min"),
        ):
            if not len(boxes):
                break
            offsets, prob = [], []
            for i in range(0, len(boxes), 256):
                out = dict(
                    zip(
                        ("boxes", "prob"),
                        net.run(["boxes", "prob"], {"image": _patches(rgb, boxes[i : i + 256], size)}),
                    )
                )
                offsets.append(out["boxes"])
                prob.append(out["prob"][:, 1])
            boxes = boxes.copy()
            boxes[:, 4] = np.concatenate(prob)
            boxes = _refine(boxes, np.concatenate(offsets))
            boxes = boxes[boxes[:, 4] > threshold]
            boxes = boxes[nms(boxes, overlap, method)]
            if size == 24:
                boxes = _square(boxes)
        return boxes

    def _propose(self, rgb: np.ndarray, min_face: float) -> np.ndarray:
        h, w = rgb.shape[:2]
        scale = WINDOW / min_face
        found = []
        level = rgb
        while min(h, w) * scale >= WINDOW:
            sw, sh = max(WINDOW, round(w * scale)), max(WINDOW, round(h * scale))
            # The first level from the photo (area average), each next one from the level
            # before (bilinear, a 0.709 step): a third of the cost of resizing the photo each time.
            level = cv2.resize(level, (sw, sh), interpolation=cv2.INTER_AREA if level is rgb else cv2.INTER_LINEAR)
            reg, prob = self._pnet.run(["boxes", "prob"], {"image": _normalise(level)})
            ys, xs = np.nonzero(prob[0, 1] > self.thresholds[0])
            if len(ys):
                r = reg[0][:, ys, xs]  # (4, n): x1, y1, x2, y2 offsets in windows
                cell = np.stack([xs * 2, ys * 2, xs * 2 + WINDOW, ys * 2 + WINDOW], axis=1).astype(np.float32)
                b = np.column_stack([(cell + r.T * WINDOW) / scale, prob[0, 1, ys, xs]])
                found.append(b[nms(b, 0.5)])
            scale *= PYRAMID_STEP
        if not found:
            return np.zeros((0, 5), np.float32)
        boxes = np.concatenate(found)
        return _square(boxes[nms(boxes, 0.7)])
