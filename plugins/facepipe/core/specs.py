"""What facepipe knows about each detector and embedding model, without loading any."""

from __future__ import annotations

from dataclasses import dataclass

DETECTORS = ("mtcnn", "haar", "hog")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    dim: int
    vector_type: str  # pgvector column type: vector or halfvec
    opclass: str  # HNSW operator class
    distance_op: str  # the SQL operator that matches opclass
    match_threshold: float  # same person below this distance
    norm_range: tuple[float, float]  # plausible L2 norms, checked by validation

    @property
    def column_type(self) -> str:
        return f"{self.vector_type}({self.dim})"


MODELS = {
    # dlib's ResNet face descriptor: a face-identity model, L2 distance,
    # same person about 0.3-0.45 apart, different people above 0.6; facepipe
    # reports a match below 0.5, trading a little recall for fewer false matches.
    "dlib-resnet-128": ModelSpec("dlib-resnet-128", 128, "vector", "vector_l2_ops", "<->", 0.5, (0.5, 2.0)),
    # imgbeddings' CLIP ViT-B/32 ONNX graph: a general image model. Vectors are
    # L2-normalised and stored as halfvec so that a row stays inline (not TOAST).
    "imgbeddings-clip-768": ModelSpec(
        "imgbeddings-clip-768", 768, "halfvec", "halfvec_cosine_ops", "<=>", 0.12, (0.99, 1.01)
    ),
}


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown embedding model {name!r}; choose one of {sorted(MODELS)}") from None


def check_detector(name: str) -> str:
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of {list(DETECTORS)}")
    return name
