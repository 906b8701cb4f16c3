"""facepipe.models.embed: dlib's face descriptor on real faces, CLIP preprocessing, and the
CLIP ONNX embedder on a tiny stand-in graph (the real weights cannot be downloaded here).

Thresholds for dlib, measured on this data (dlib-bin 20.0.1, HOG boxes):
  astronaut vs its mirror image / 0.6x / 0.75x / 1.5x copies: L2 0.07 - 0.19
  astronaut vs LFW faces 0, 1, 2, 3, 5 (25 px, upscaled to 150): L2 0.80 - 0.91
  (over all 94 LFW faces HOG finds, the closest is 0.61)
so "same" is asserted below 0.30 and "different" above 0.70, both about 0.1
from the measured values and on either side of the model's match threshold 0.6.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers.tiny_clip import build_tiny_clip
from PIL import Image
from skimage import data

from facepipe.core.specs import model_spec
from facepipe.models.detect import Box
from facepipe.models.embed import (
    CLIP_MEAN,
    CLIP_STD,
    ClipOnnxEmbedder,
    DlibResnetEmbedder,
    make_embedder,
    preprocess_clip,
    resolve_clip_weights,
)

SAME_MAX = 0.30
DIFFERENT_MIN = 0.70
LFW_FACES = (0, 1, 2, 3, 5)


def best_box(hog, rgb) -> Box:
    boxes = hog.detect(rgb)
    assert boxes, "no face found"
    return max(boxes, key=lambda b: b.score)


def embed_face(embedder, hog, rgb) -> np.ndarray:
    rgb = np.ascontiguousarray(rgb)
    return embedder.embed([embedder.prepare(rgb, best_box(hog, rgb))])[0]


@pytest.fixture(scope="module")
def astronaut_vector(dlib_embedder, hog):
    return embed_face(dlib_embedder, hog, data.astronaut())


def lfw_canvas(i: int) -> np.ndarray:
    import cv2

    face = (data.lfw_subset()[i] * 255).round().astype(np.uint8)
    face = cv2.resize(face, (150, 150), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((300, 300, 3), 128, np.uint8)
    canvas[75:225, 75:225] = face[:, :, None]
    return canvas


# ---------------------------------------------------------------- dlib ResNet


def test_dlib_vector_shape_and_norm(astronaut_vector):
    assert astronaut_vector.shape == (128,)
    assert astronaut_vector.dtype == np.float32
    lo, hi = model_spec("dlib-resnet-128").norm_range
    assert lo <= np.linalg.norm(astronaut_vector) <= hi


def test_dlib_prepare_gives_an_aligned_150_chip(dlib_embedder, hog):
    rgb = data.astronaut()
    chip = dlib_embedder.prepare(rgb, best_box(hog, rgb))
    assert chip.shape == (150, 150, 3)
    assert chip.dtype == np.uint8
    assert chip.std() > 20  # a face, not a blank


def test_dlib_same_face_mirrored(dlib_embedder, hog, astronaut_vector):
    mirrored = data.astronaut()[:, ::-1]
    d = np.linalg.norm(embed_face(dlib_embedder, hog, mirrored) - astronaut_vector)
    assert d < SAME_MAX, d


@pytest.mark.parametrize("factor", [0.6, 1.5])
def test_dlib_same_face_rescaled(dlib_embedder, hog, astronaut_vector, factor):
    import cv2

    rgb = cv2.resize(
        data.astronaut(), None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    )
    d = np.linalg.norm(embed_face(dlib_embedder, hog, rgb) - astronaut_vector)
    assert d < SAME_MAX, d


def test_dlib_other_people_are_far(dlib_embedder, hog, astronaut_vector):
    distances = {
        i: float(np.linalg.norm(embed_face(dlib_embedder, hog, lfw_canvas(i)) - astronaut_vector)) for i in LFW_FACES
    }
    assert min(distances.values()) > DIFFERENT_MIN, distances
    assert SAME_MAX < model_spec("dlib-resnet-128").match_threshold < DIFFERENT_MIN


def test_dlib_batch_equals_one_by_one(dlib_embedder, hog):
    rgb = data.astronaut()
    chips = [
        dlib_embedder.prepare(rgb, best_box(hog, rgb)),
        dlib_embedder.prepare(lfw_canvas(1), best_box(hog, lfw_canvas(1))),
    ]
    together = dlib_embedder.embed(chips)
    assert together.shape == (2, 128)
    for chip, row in zip(chips, together):
        assert np.allclose(dlib_embedder.embed([chip])[0], row, atol=1e-5)


def test_onnx_port_gives_dlibs_own_descriptors(dlib_embedder, hog):
    """The network facepipe runs on onnxruntime is dlib's, weight for weight:
    dlib's compute_face_descriptor on the same chips gives the same vectors."""
    import dlib
    import face_recognition_models as frm

    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    images = [data.astronaut(), data.astronaut()[:, ::-1]] + [lfw_canvas(i) for i in LFW_FACES]
    chips = [
        dlib_embedder.prepare(np.ascontiguousarray(rgb), best_box(hog, np.ascontiguousarray(rgb))) for rgb in images
    ]
    ours = dlib_embedder.embed(chips)
    theirs = np.asarray(net.compute_face_descriptor(chips), np.float32)
    assert np.abs(ours - theirs).max() < 1e-4  # measured here: 5e-7 (float32 rounding, other kernels)
    # and they are not all the same vector (a constant graph would pass the line above only by accident)
    assert np.linalg.norm(ours[0] - ours[2]) > DIFFERENT_MIN


def test_onnx_port_refuses_what_is_not_dlibs_resnet():
    import face_recognition_models as frm

    from facepipe.models.dlib_onnx import build_onnx

    with pytest.raises(ValueError, match="input_rgb_image_sized"):
        build_onnx(b"not a dlib model")
    # a dlib file of another kind (the landmark predictor) is not taken for the network
    with open(frm.pose_predictor_five_point_model_location(), "rb") as f:
        with pytest.raises(ValueError):
            build_onnx(f.read())
    weights = open(frm.face_recognition_model_location(), "rb").read()
    cut = weights.rindex(b"fc_2")  # the network without its last layer
    with pytest.raises(ValueError, match="expected fc_2"):
        build_onnx(weights[: cut - 2])
    # a layer type this network does not have is refused, not skipped
    i = weights.index(b"relu_", len(weights) // 2)
    with pytest.raises(ValueError, match="unexpected layer 'tanh_'"):
        build_onnx(weights[:i] + b"tanh_" + weights[i + 5 :])
    # a file cut inside a layer's weights
    with pytest.raises(ValueError):
        build_onnx(weights[: len(weights) // 2])


def test_dlib_embed_nothing(dlib_embedder):
    out = dlib_embedder.embed([])
    assert out.shape == (0, 128) and out.dtype == np.float32


# ---------------------------------------------------------------- CLIP preprocessing


def normalised(rgb) -> np.ndarray:
    return (np.asarray(rgb, np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD


def test_preprocess_clip_shape_and_dtype():
    out = preprocess_clip(Image.fromarray(data.astronaut()))
    assert out.shape == (3, 224, 224)
    assert out.dtype == np.float32
    assert out.flags["C_CONTIGUOUS"]


def test_preprocess_clip_uniform_colour_matches_hand_computation():
    colour = (200, 100, 50)
    out = preprocess_clip(Image.new("RGB", (64, 64), colour))  # square: no padding
    expected = normalised(colour)  # per channel
    for c in range(3):
        assert np.allclose(out[c], expected[c], atol=1e-5), (c, out[c].min(), out[c].max(), expected[c])


def test_preprocess_clip_wide_image_is_padded_top_and_bottom_with_black():
    out = preprocess_clip(Image.new("RGB", (200, 100), (255, 255, 255)))
    black, white = normalised((0, 0, 0)), normalised((255, 255, 255))
    # 200x100 pasted at y=50 on a 200x200 black square: rows 0-55 and 168-223 of 224 are padding
    for c in range(3):
        assert np.allclose(out[c, :52], black[c], atol=1e-5)
        assert np.allclose(out[c, -52:], black[c], atol=1e-5)
        assert np.allclose(out[c, 60:164], white[c], atol=1e-5)
    # no padding at the sides
    assert np.allclose(out[:, 112, :], white[:, None], atol=1e-5)


def test_preprocess_clip_tall_image_is_padded_left_and_right():
    out = preprocess_clip(Image.new("RGB", (50, 200), (255, 0, 0)))
    black, red = normalised((0, 0, 0)), normalised((255, 0, 0))
    assert np.allclose(out[:, :, :80], black[:, None, None], atol=1e-5)
    assert np.allclose(out[:, :, -80:], black[:, None, None], atol=1e-5)
    assert np.allclose(out[:, :, 100:124], red[:, None, None], atol=1e-5)


def test_preprocess_clip_converts_grayscale_and_rgba():
    grey = preprocess_clip(Image.new("L", (30, 30), 128))
    assert grey.shape == (3, 224, 224)
    assert np.allclose(grey, normalised((128, 128, 128))[:, None, None], atol=1e-5)
    rgba = preprocess_clip(Image.new("RGBA", (30, 30), (10, 20, 30, 255)))
    assert np.allclose(rgba, normalised((10, 20, 30))[:, None, None], atol=1e-5)


# ---------------------------------------------------------------- CLIP ONNX embedder (tiny graph)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny.onnx")


def random_inputs(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        preprocess_clip(Image.fromarray(rng.integers(0, 256, (40 + 7 * i, 60, 3), dtype=np.uint8))) for i in range(n)
    ]


def test_tiny_clip_has_the_imgbeddings_signature(tiny_clip):
    model = onnx.load(str(tiny_clip))
    onnx.checker.check_model(model)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "pixel_values" and out.name == "embeddings"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 224, 224]
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert dims == ["batch", 768]
    assert model.ir_version == 10


def test_clip_embeddings_are_unit_vectors(tiny_clip):
    emb = ClipOnnxEmbedder(model_path=str(tiny_clip))
    out = emb.embed(random_inputs(3))
    assert out.shape == (3, 768)
    assert out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # different images, different vectors
    assert abs(float(out[0] @ out[1])) < 0.99


def test_clip_batching_gives_the_same_vectors(tiny_clip):
    inputs = random_inputs(5)
    batched = ClipOnnxEmbedder(model_path=str(tiny_clip), batch_size=2).embed(inputs)
    single = ClipOnnxEmbedder(model_path=str(tiny_clip), batch_size=1)
    one_by_one = np.concatenate([single.embed([x]) for x in inputs])
    assert batched.shape == one_by_one.shape == (5, 768)
    assert np.allclose(batched, one_by_one, atol=1e-6)
    # and the order is kept
    assert np.allclose(single.embed(inputs[::-1]), batched[::-1], atol=1e-6)


def test_clip_embed_nothing(tiny_clip):
    out = ClipOnnxEmbedder(model_path=str(tiny_clip)).embed([])
    assert out.shape == (0, 768)


def test_clip_prepare_crops_around_the_box(tiny_clip):
    emb = ClipOnnxEmbedder(model_path=str(tiny_clip))
    rgb = data.astronaut()
    face = emb.prepare(rgb, Box(175, 76, 91, 91, 1.0))
    corner = emb.prepare(rgb, Box(0, 0, 60, 60, 1.0))  # margin clipped at the border
    assert face.shape == corner.shape == (3, 224, 224)
    assert not np.allclose(face, corner)
    a, b = emb.embed([face, corner])
    assert float(a @ b) < 0.999


def test_broken_clip_graph_gives_zero_vectors_not_nan(tmp_path):
    emb = ClipOnnxEmbedder(model_path=str(build_tiny_clip(tmp_path / "broken.onnx", broken=True)))
    out = emb.embed(random_inputs(2))
    assert out.shape == (2, 768)
    assert not np.isnan(out).any()
    assert np.all(out == 0)  # left for validation to catch (norm outside norm_range)


@pytest.mark.parametrize("names", [{"input_name": "input_ids"}, {"output_name": "last_hidden_state"}])
def test_graph_without_the_imgbeddings_signature_is_refused(tmp_path, names):
    path = build_tiny_clip(tmp_path / "other.onnx", **names)
    with pytest.raises(ValueError, match="not an imgbeddings graph"):
        ClipOnnxEmbedder(model_path=str(path))


def test_resolve_clip_weights_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPIPE_CLIP_MODEL_PATH", str(tmp_path / "nope.onnx"))
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        resolve_clip_weights()


def test_resolve_clip_weights_from_env(monkeypatch, tiny_clip):
    monkeypatch.setenv("FACEPIPE_CLIP_MODEL_PATH", str(tiny_clip))
    assert resolve_clip_weights() == str(tiny_clip)
    emb = make_embedder("imgbeddings-clip-768")
    assert isinstance(emb, ClipOnnxEmbedder)
    assert emb.embed(random_inputs(1)).shape == (1, 768)


def test_make_embedder_unknown_model():
    with pytest.raises(ValueError, match="unknown embedding model"):
        make_embedder("resnet-9000")


def test_make_embedder_dlib():
    emb = make_embedder("dlib-resnet-128")
    assert isinstance(emb, DlibResnetEmbedder)
    assert emb.spec.dim == 128
