"""Embedding models: dlib's ResNet face descriptor and imgbeddings' CLIP graph.

Each embedder turns (image, box) into a model input (``prepare``) and embeds a
list of inputs at once (``embed``), so a shard's faces go through in batches.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from facepipe.core.specs import model_spec
from facepipe.models.detect import Box
from facepipe.models.onnx import _onnx_session

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
CLIP_REPO, CLIP_FILE = "minimaxir/imgbeddings", "patch32_v1.onnx"


class DlibResnetEmbedder:
    """dlib's face-recognition ResNet: 5-landmark alignment by dlib, the network
    on onnxruntime (same weights, read from dlib's file by facepipe.models.dlib_onnx;
    18x faster than dlib's own CPU code in the ``dlib-bin`` wheel)."""

    spec = model_spec("dlib-resnet-128")

    def __init__(self, batch_size: int = 32, threads: int | None = None):
        import dlib
        import face_recognition_models as frm

        self._dlib = dlib
        self._shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self._session = _onnx_session(_dlib_resnet_onnx(frm.face_recognition_model_location()), threads)
        self.batch_size = batch_size

    def prepare(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """A 150x150 chip aligned on the five landmarks, as the network was trained."""
        rect = self._dlib.rectangle(box.x, box.y, box.x + box.w - 1, box.y + box.h - 1)
        return self._dlib.get_face_chip(rgb, self._shape(rgb, rect), size=150, padding=0.25)

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        out = [np.zeros((0, self.spec.dim), np.float32)]
        for i in range(0, len(chips), self.batch_size):
            batch = np.stack(chips[i : i + self.batch_size])
            out.append(self._session.run(["descriptors"], {"chips": batch})[0])
        return np.concatenate(out).astype(np.float32, copy=False)


@functools.lru_cache(maxsize=1)
def _dlib_resnet_onnx(weights_path: str) -> bytes:
    from facepipe.models.dlib_onnx import build_onnx

    with open(weights_path, "rb") as f:
        return build_onnx(f.read())


class ClipOnnxEmbedder:
    """imgbeddings' model contract on onnxruntime.

    Input ``pixel_values`` (N, 3, 224, 224): the crop padded to a square with
    black, resized to 224 (bicubic), scaled to [0, 1] and normalised with CLIP's
    mean and std, no centre crop. Output ``embeddings`` (N, 768), which
    facepipe L2-normalises for cosine distance.
    """

    spec = model_spec("imgbeddings-clip-768")

    def __init__(self, model_path: str | None = None, batch_size: int = 16, threads: int | None = None):
        path = model_path or resolve_clip_weights()
        self._session = _onnx_session(path, threads)
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if "pixel_values" not in inputs or "embeddings" not in outputs:
            raise ValueError(f"{path} is not an imgbeddings graph: inputs {inputs}, outputs {outputs}")
        self.batch_size = batch_size

    def prepare(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        from PIL import Image

        margin = round(0.2 * max(box.w, box.h))
        h, w = rgb.shape[:2]
        crop = rgb[
            max(0, box.y - margin) : min(h, box.y + box.h + margin),
            max(0, box.x - margin) : min(w, box.x + box.w + margin),
        ]
        return preprocess_clip(Image.fromarray(crop))

    def embed(self, inputs: list[np.ndarray]) -> np.ndarray:
        out = [np.zeros((0, self.spec.dim), np.float32)]
        for i in range(0, len(inputs), self.batch_size):
            batch = np.stack(inputs[i : i + self.batch_size])
            out.append(self._session.run(["embeddings"], {"pixel_values": batch})[0].astype(np.float32))
        vectors = np.concatenate(out)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def preprocess_clip(image) -> np.ndarray:
    """imgbeddings' preprocessing for one PIL image: (3, 224, 224) float32."""
    from PIL import Image

    image = image.convert("RGB")
    side = max(image.size)
    square = Image.new("RGB", (side, side), (0, 0, 0))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    pixels = np.asarray(square.resize((224, 224), Image.BICUBIC), np.float32) / 255.0
    return ((pixels - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1).copy()


def resolve_clip_weights() -> str:
    """FACEPIPE_CLIP_MODEL_PATH, else the file from the Hugging Face repo."""
    from facepipe.core.config import process_settings

    path = process_settings().clip_model_path
    if path:
        path = str(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"FACEPIPE_CLIP_MODEL_PATH={path} is not a file")
        return path
    from huggingface_hub import hf_hub_download

    return hf_hub_download(CLIP_REPO, CLIP_FILE)


def make_embedder(name: str):
    model_spec(name)
    return DlibResnetEmbedder() if name == "dlib-resnet-128" else ClipOnnxEmbedder()
