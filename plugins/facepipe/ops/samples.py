"""Offline demo photos for facepipe, built only from images that packages ship.

The demo needs camera-like photos with real faces, but the project may not
download anything beyond PyPI packages.  scikit-image's bundled sample data has
what is needed; the statements below are quoted from the docstrings of
``skimage/data/_fetchers.py`` in scikit-image 0.26.0.  (``skimage/data/README.txt``
does not state licenses; it only says the folder holds a subset of the sample
data.)

* ``astronaut()``: Eileen Collins, from the NASA Great Images database
  (https://flic.kr/p/r9qvLn): "No known copyright restrictions, released into
  the public domain."  This is the person who gets "enrolled".
* ``lfw_subset()``: 100 faces (then 100 non-faces), 25x25 grayscale, "randomly
  selected from the LFW dataset", Labeled Faces in the Wild,
  http://vis-www.cs.umass.edu/lfw/ (Huang et al.).  The skimage docstring
  states no license for this subset; LFW photos come from news sites on the
  web.  Use them only for tests and demos, never as real people's data.  Each
  index stands for an unnamed "visitor".
* Backgrounds and no-face scenes: ``coffee()``: "No copyright restrictions.
  CC0 by the photographer (Rachel Michetti)."  ``rocket()``: SpaceX,
  "released in the public domain".  ``hubble_deep_field()``: NASA, "may be
  freely used in the public domain".
  ``grass()``, ``brick()``: "licensed under the Creative Commons CC0 License".

:func:`lay_out_demo_photos` writes ``dest/YYYY-MM-DD/*.jpg`` (the dated folder
is the arrival day).  Each photo carries EXIF DateTimeOriginal, OffsetTimeOriginal
and Model, and its mtime is set to the same moment.  :func:`enrolment_photos`
writes ``dest/<person>/*.jpg`` for the people the report DAG knows by name.
"""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image
from skimage import data as skdata

FRAME_W, FRAME_H = 1600, 1000
# 150 px faces are ~96 px after facepipe's default 1024 px downscale; dlib's
# HOG window is 80 px, and at 140 px it occasionally missed one.
FACE_MIN, FACE_MAX = 150, 260
JPEG_QUALITY = 90

# LFW subset indices (0-99 are the faces) that dlib's HOG frontal detector
# (get_frontal_face_detector(), upsample 0) finds reliably. Verified once,
# offline: each 25x25 face was upscaled with cv2.INTER_CUBIC to every even size
# from 150 to 260 px and put on a grey canvas with a 40 px border. Each canvas
# was tested at full size and again shrunk x0.64 with INTER_AREA (facepipe's
# default detect_max_side=1024 applied to a 1600 px frame). The faces kept here
# scored at least 0.5 (dlib's threshold is 0) in every one of those 112 cases.
# 23 faces that dlib also finds at 140/170/200/230/260 px were dropped because
# some in-between size brought them near 0; index 17, for example, scored 0.07.
# All 65 are also found by OpenCV's haarcascade_frontalface_default.
DETECTABLE_LFW_FACES: tuple[int, ...] = (
    0,
    1,
    2,
    3,
    5,
    6,
    7,
    8,
    10,
    11,
    14,
    15,
    18,
    19,
    20,
    24,
    25,
    27,
    31,
    33,
    34,
    35,
    37,
    38,
    39,
    40,
    41,
    42,
    45,
    46,
    48,
    49,
    50,
    51,
    53,
    55,
    56,
    58,
    60,
    61,
    62,
    63,
    65,
    66,
    72,
    73,
    74,
    75,
    77,
    78,
    79,
    80,
    81,
    85,
    86,
    87,
    89,
    90,
    91,
    92,
    93,
    95,
    97,
    98,
    99,
)

# The faces the demo uses: a subset of the list above whose faces look like
# *different* people. LFW sometimes has the same person more than once, and at
# 25 px many faces look alike. dlib_face_recognition_resnet_model_v1
# (face_recognition_models 0.3.0) embedded each face, upscaled to 200 px on
# grey. Every pair here is at least 0.62 apart in Euclidean distance, and every
# face is at least 0.62 from the astronaut. For comparison, one face at 200 px
# and the same face at 150 px mirrored are at most 0.28 apart. Across all 88
# faces dlib can find, 7% of pairs of different faces were closer than 0.6.
# The subset is the largest that a greedy pass found.
DEMO_FACE_POOL: tuple[int, ...] = (
    1,
    2,
    3,
    5,
    6,
    15,
    18,
    20,
    25,
    31,
    35,
    41,
    46,
    50,
    56,
    62,
    66,
    72,
    74,
    85,
    89,
    90,
    91,
    92,
    93,
    98,
    99,
)

VISITOR_INDEX = 66  # strongest dlib score in the pool; on every day, enrolled by name
VISITOR_NAME = f"visitor_{VISITOR_INDEX:03d}"
ASTRONAUT_NAME = "eileen_collins"
# dlib HOG box of the astronaut's face in skimage.data.astronaut() (512x512).
ASTRONAUT_FACE = (179, 83, 266, 170)  # left, top, right, bottom
# Only the head-and-shoulders strip is used: lower down (about y 320-430) dlib
# scores a second "face" near its threshold (-0.1 to +0.1 depending on scale
# and mirroring), which would make the photo's face count flaky.
ASTRONAUT_ROWS = 300
SCENE_WIDTH = 800  # no-face scenes at this width: 0 dlib and 0 Haar detections
N_RECURRING_OTHERS = 3  # besides the visitor; each is on two days out of every three

# Blurred crops of these gave 0 dlib and 0 Haar detections in 20 random tries
# each; gravel was dropped (its blurred texture gave Haar hits).
BACKGROUND_SCENES = ("coffee", "rocket", "hubble_deep_field", "grass", "brick")
# chelsea (a cat) was left out: Haar sometimes calls its face a face.
NO_FACE_SCENES = ("coffee", "rocket", "hubble_deep_field")
CORRUPT_NAME = "broken_upload.jpg"
# The demo's question: Eileen Collins out of focus. At this size and blur dlib-resnet-128 puts
# the face about 0.48 from her identity (0.49 from her nearest reference photo): within the
# same-person threshold (0.5), past the distance a night joins at (0.45), so the night asks
# "is this eileen_collins?" (a suggestion).
QUESTION_NAME = "DSC_blurry.jpg"
QUESTION_WIDTH = 700
QUESTION_BLUR = 5.0

Kind = Literal["group", "astronaut", "scene", "corrupt"]


@dataclass(frozen=True)
class FacePlacement:
    lfw_index: int
    x: int
    y: int
    size: int
    tint: tuple[float, float, float]  # RGB multipliers


@dataclass(frozen=True)
class AstronautPlacement:
    x: int
    y: int
    width: int
    height: int
    mirrored: bool
    brightness: float


@dataclass(frozen=True)
class PhotoPlan:
    name: str
    kind: Kind
    camera: int
    taken: datetime.datetime  # naive; written as UTC (OffsetTimeOriginal +00:00)
    scene: str
    noise_seed: int
    faces: tuple[FacePlacement, ...] = ()
    astronaut: AstronautPlacement | None = None
    blur: float = 0.0  # Gaussian sigma over each face: an out-of-focus shot


# --------------------------------------------------------------------------
# source images


@cache
def _lfw_faces() -> np.ndarray:
    """The 100 LFW faces as uint8 (100, 25, 25)."""
    faces = skdata.lfw_subset()[:100]
    return np.clip(np.rint(faces * 255.0), 0, 255).astype(np.uint8)


@cache
def _scene(name: str) -> np.ndarray:
    img = getattr(skdata, name)()
    return img if img.ndim == 3 else np.stack([img] * 3, axis=-1)


def lfw_face(index: int, size: int) -> np.ndarray:
    """One LFW face upscaled to ``size`` x ``size``, as RGB uint8."""
    up = cv2.resize(_lfw_faces()[index], (size, size), interpolation=cv2.INTER_CUBIC)
    return np.stack([up] * 3, axis=-1)


def _cover(img: np.ndarray, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Scale ``img`` to cover w x h, then take a random crop of that size."""
    scale = max(w / img.shape[1], h / img.shape[0]) * rng.uniform(1.0, 1.3)
    big = cv2.resize(
        img, (round(img.shape[1] * scale) + 1, round(img.shape[0] * scale) + 1), interpolation=cv2.INTER_LINEAR
    )
    x = int(rng.integers(0, big.shape[1] - w + 1))
    y = int(rng.integers(0, big.shape[0] - h + 1))
    return big[y : y + h, x : x + w]


def _background(scene: str, rng: np.random.Generator) -> np.ndarray:
    """Blurred, darkened scene; the blur removes any face-like structure."""
    bg = _cover(_scene(scene), FRAME_W, FRAME_H, rng).astype(np.float32)
    bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=12)
    return bg * rng.uniform(0.45, 0.65) + 25


def _add_noise(img: np.ndarray, rng: np.random.Generator, sigma: float = 2.5) -> np.ndarray:
    noisy = img.astype(np.float32) + rng.normal(0, sigma, img.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# planning (pure, seeded)


def _place_faces(indices: Sequence[int], rng: np.random.Generator) -> tuple[FacePlacement, ...]:
    """Non-overlapping squares (with a margin) inside the frame."""
    placed: list[FacePlacement] = []
    margin = 40
    for index in indices:
        for _ in range(500):
            size = int(rng.integers(FACE_MIN, FACE_MAX + 1))
            x = int(rng.integers(margin, FRAME_W - size - margin))
            y = int(rng.integers(margin, FRAME_H - size - margin))
            if all(
                x + size + margin <= p.x
                or p.x + p.size + margin <= x
                or y + size + margin <= p.y
                or p.y + p.size + margin <= y
                for p in placed
            ):
                break
        else:  # pragma: no cover - 4 faces always fit in 1600x1000
            raise RuntimeError("could not place faces without overlap")
        r, g, b = (round(float(t), 3) for t in rng.uniform(0.92, 1.08, 3))
        placed.append(FacePlacement(int(index), x, y, size, (r, g, b)))
    return tuple(placed)


def _capture_times(day: datetime.date, n: int, rng: np.random.Generator) -> list[datetime.datetime]:
    seconds = np.sort(rng.choice(np.arange(8 * 3600, 20 * 3600), size=n, replace=False))
    start = datetime.datetime.combine(day, datetime.time())
    return [start + datetime.timedelta(seconds=int(s)) for s in seconds]


class _OneOffQueue:
    """Faces that should appear only once; after the pool runs out it starts
    over in a fresh order."""

    def __init__(self, pool: Sequence[int], rng: np.random.Generator) -> None:
        self._pool, self._rng, self._queue = list(pool), rng, list[int]()

    def take(self, exclude: Sequence[int]) -> int:
        if not any(f not in exclude for f in self._queue):
            self._queue += [int(i) for i in self._rng.permutation(self._pool)]
        return self._queue.pop(next(k for k, f in enumerate(self._queue) if f not in exclude))


def _group_face_lists(
    recurring: Sequence[int], one_offs: _OneOffQueue, n_photos: int, rng: np.random.Generator
) -> list[list[int]]:
    """1-4 faces per photo (mostly 1-2); each recurring face goes in a different photo."""
    counts = [int(c) for c in rng.choice([1, 2, 3, 4], size=n_photos, p=[0.4, 0.3, 0.2, 0.1])]
    lists: list[list[int]] = [[] for _ in range(n_photos)]
    for photo, face in zip(rng.permutation(n_photos), recurring):
        lists[int(photo)].append(face)
    for faces, count in zip(lists, counts):
        while len(faces) < count:
            faces.append(one_offs.take(exclude=faces))
        rng.shuffle(faces)
    return lists


def plan_demo_photos(
    days: Sequence[datetime.date], *, seed: int = 7, with_corrupt: bool = True, with_question: bool = False
) -> dict[datetime.date, list[PhotoPlan]]:
    """Decide every photo of every day; :func:`lay_out_demo_photos` renders them.

    ``VISITOR_INDEX`` is on every day; three more identities each recur on
    two out of three days; the other 23 faces of ``DEMO_FACE_POOL`` are used
    once each, in day order. After about three days they run out and start to
    repeat.
    The astronaut is on even-numbered days and the last day. ``with_question`` (the demo's):
    the last day also has an out-of-focus photo of Eileen Collins (``QUESTION_NAME``), a face a
    little too far from hers for the night to join it, so the night asks (a suggestion); the
    other photos stay byte-identical.
    """
    days = sorted(set(days))
    rng = np.random.default_rng(seed)
    pool = [int(i) for i in rng.permutation(DEMO_FACE_POOL) if i != VISITOR_INDEX]
    others = pool[:N_RECURRING_OTHERS]
    one_offs = _OneOffQueue(pool[N_RECURRING_OTHERS:], rng)
    plans: dict[datetime.date, list[PhotoPlan]] = {}
    for n, day in enumerate(days):
        recurring = [VISITOR_INDEX, others[n % 3], others[(n + 1) % 3]]
        has_astronaut = n % 2 == 0 or n == len(days) - 1
        n_group = int(rng.integers(5, 7)) - int(has_astronaut)
        corrupt = with_corrupt and n == len(days) - 1
        face_lists = _group_face_lists(recurring, one_offs, n_group, rng)
        times = iter(_capture_times(day, n_group + int(has_astronaut) + 1 + int(corrupt), rng))
        ymd = day.strftime("%Y%m%d")
        photos = [
            PhotoPlan(
                name=f"IMG_{ymd}_{k + 1:03d}.jpg",
                kind="group",
                camera=int(rng.integers(1, 3)),
                taken=next(times),
                scene=str(rng.choice(BACKGROUND_SCENES)),
                noise_seed=int(rng.integers(2**31)),
                faces=_place_faces(faces, rng),
            )
            for k, faces in enumerate(face_lists)
        ]
        if has_astronaut:
            width = int(rng.integers(820, 1025))
            height = round(width * ASTRONAUT_ROWS / 512)
            photos.append(
                PhotoPlan(
                    name=f"DSC_{ymd}_{n + 1:03d}.jpg",
                    kind="astronaut",
                    camera=3,
                    taken=next(times),
                    scene=str(rng.choice(BACKGROUND_SCENES)),
                    noise_seed=int(rng.integers(2**31)),
                    astronaut=AstronautPlacement(
                        x=int(rng.integers(0, FRAME_W - width + 1)),
                        y=int(rng.integers(0, FRAME_H - height + 1)),
                        width=width,
                        height=height,
                        mirrored=bool(rng.integers(2)),
                        brightness=round(float(rng.uniform(0.85, 1.15)), 3),
                    ),
                )
            )
        scene = NO_FACE_SCENES[n % len(NO_FACE_SCENES)]
        photos.append(
            PhotoPlan(
                name=f"{scene} {ymd}.jpg",
                kind="scene",
                camera=2,
                taken=next(times),
                scene=scene,
                noise_seed=int(rng.integers(2**31)),
            )
        )
        if corrupt:
            photos.append(
                PhotoPlan(
                    name=CORRUPT_NAME,
                    kind="corrupt",
                    camera=1,
                    taken=next(times),
                    scene=str(rng.choice(BACKGROUND_SCENES)),
                    noise_seed=int(rng.integers(2**31)),
                    faces=_place_faces(rng.choice(DEMO_FACE_POOL, 2, replace=False), rng),
                )
            )
        if with_question and n == len(days) - 1:
            photos.append(
                PhotoPlan(
                    name=QUESTION_NAME,
                    kind="astronaut",
                    camera=3,
                    taken=datetime.datetime.combine(day, datetime.time(23, 30)),
                    scene="grass",
                    noise_seed=seed,
                    astronaut=AstronautPlacement(
                        x=500,
                        y=300,
                        width=QUESTION_WIDTH,
                        height=round(QUESTION_WIDTH * ASTRONAUT_ROWS / 512),
                        mirrored=False,
                        brightness=1.0,
                    ),
                    blur=QUESTION_BLUR,
                )
            )
        photos.sort(key=lambda p: p.taken)
        plans[day] = photos
    return plans


# --------------------------------------------------------------------------
# rendering


def _paste_faces(canvas: np.ndarray, faces: Sequence[FacePlacement]) -> None:
    for f in faces:
        face = lfw_face(f.lfw_index, f.size).astype(np.float32) * np.asarray(f.tint, np.float32)
        canvas[f.y : f.y + f.size, f.x : f.x + f.size] = face


def _astronaut_strip(mirrored: bool = False) -> np.ndarray:
    strip = _scene("astronaut")[:ASTRONAUT_ROWS]
    return np.ascontiguousarray(strip[:, ::-1] if mirrored else strip)


def _paste_astronaut(canvas: np.ndarray, a: AstronautPlacement) -> None:
    img = cv2.resize(_astronaut_strip(a.mirrored), (a.width, a.height), interpolation=cv2.INTER_CUBIC)
    canvas[a.y : a.y + a.height, a.x : a.x + a.width] = img.astype(np.float32) * a.brightness


def render_photo(plan: PhotoPlan) -> np.ndarray:
    """The RGB uint8 pixels of one planned photo."""
    rng = np.random.default_rng(plan.noise_seed)
    if plan.kind == "scene":
        img = _scene(plan.scene)
        height = round(img.shape[0] * SCENE_WIDTH / img.shape[1])
        img = cv2.resize(img, (SCENE_WIDTH, height), interpolation=cv2.INTER_AREA)
        return _add_noise(img, rng, sigma=1.5)
    canvas = _background(plan.scene, rng)
    _paste_faces(canvas, plan.faces)
    for f in plan.faces if plan.blur else ():
        region = canvas[f.y : f.y + f.size, f.x : f.x + f.size]
        canvas[f.y : f.y + f.size, f.x : f.x + f.size] = cv2.GaussianBlur(region, (0, 0), plan.blur)
    if plan.astronaut is not None:
        _paste_astronaut(canvas, plan.astronaut)
        a = plan.astronaut
        if plan.blur:
            region = canvas[a.y : a.y + a.height, a.x : a.x + a.width]
            canvas[a.y : a.y + a.height, a.x : a.x + a.width] = cv2.GaussianBlur(region, (0, 0), plan.blur)
    return _add_noise(canvas, rng)


def jpeg_bytes(rgb: np.ndarray, *, taken: datetime.datetime | None = None, camera: int | None = None) -> bytes:
    """Encode as JPEG with EXIF DateTimeOriginal (+00:00) and Model, if given."""
    exif = Image.Exif()
    if camera is not None:
        exif[0x010F] = "facepipe"  # Make
        exif[0x0110] = f"facepipe-demo-cam-{camera}"  # Model
    if taken is not None:
        stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
        exif[0x0132] = stamp  # DateTime
        sub = exif.get_ifd(0x8769)  # Exif IFD
        sub[0x9003] = stamp  # DateTimeOriginal
        sub[0x9011] = "+00:00"  # OffsetTimeOriginal
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, exif=exif.tobytes())
    return buf.getvalue()


def _write(path: Path, payload: bytes, taken: datetime.datetime) -> Path:
    path.write_bytes(payload)
    ts = taken.replace(tzinfo=datetime.UTC).timestamp()
    os.utime(path, (ts, ts))
    return path


def lay_out_demo_photos(
    dest: Path,
    days: Sequence[datetime.date],
    *,
    seed: int = 7,
    with_corrupt: bool = True,
    with_question: bool = False,
) -> dict[datetime.date, list[Path]]:
    """Write the demo photos to ``dest/YYYY-MM-DD/`` and return them per day.

    The same ``seed`` and ``days`` give byte-identical files. Existing files
    with the same names are overwritten, and nothing else is removed. With
    ``with_corrupt`` the last day also gets ``broken_upload.jpg``, which is the
    first half of a real JPEG.
    """
    out: dict[datetime.date, list[Path]] = {}
    for day, plans in plan_demo_photos(days, seed=seed, with_corrupt=with_corrupt, with_question=with_question).items():
        folder = Path(dest) / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for plan in plans:
            payload = jpeg_bytes(render_photo(plan), taken=plan.taken, camera=plan.camera)
            if plan.kind == "corrupt":
                payload = payload[: len(payload) // 2]
            paths.append(_write(folder / plan.name, payload, plan.taken))
        out[day] = paths
    return out


# --------------------------------------------------------------------------
# enrolment


def _astronaut_crop(side_factor: float) -> np.ndarray:
    """Square crop around the astronaut's face, ``side_factor`` x face size, kept in bounds."""
    left, top, right, bottom = ASTRONAUT_FACE
    side = round((right - left) * side_factor)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    x = min(max(cx - side // 2, 0), 512 - side)
    y = min(max(cy - side // 2, 0), 512 - side)
    return _scene("astronaut")[y : y + side, x : x + side]


def _scaled(img: np.ndarray, side: int, brightness: float = 1.0) -> np.ndarray:
    out = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return np.clip(np.rint(out * brightness), 0, 255).astype(np.uint8)


def _face_portrait(
    index: int, face_size: int, side: int, *, mirrored: bool = False, brightness: float = 1.0
) -> np.ndarray:
    """An LFW face centred on a plain grey square."""
    canvas = np.full((side, side, 3), 118, np.uint8)
    face = lfw_face(index, face_size)
    face = face[:, ::-1] if mirrored else face
    off = (side - face_size) // 2
    canvas[off : off + face_size, off : off + face_size] = np.clip(
        np.rint(face.astype(np.float32) * brightness), 0, 255
    ).astype(np.uint8)
    return canvas


def enrolment_images() -> dict[str, dict[str, np.ndarray]]:
    """Person name -> file name -> RGB pixels of each enrolment photo."""
    return {
        ASTRONAUT_NAME: {
            "closeup.jpg": _scaled(_astronaut_crop(3.0), 360),
            "mirrored.jpg": _astronaut_strip(mirrored=True),
            "dim.jpg": _scaled(_astronaut_crop(3.4), 480, brightness=0.7),
        },
        VISITOR_NAME: {
            "front.jpg": _face_portrait(VISITOR_INDEX, 220, 440),
            "mirrored dim.jpg": _face_portrait(VISITOR_INDEX, 180, 400, mirrored=True, brightness=0.85),
        },
    }


def enrolment_photos(dest: Path) -> dict[str, list[Path]]:
    """Write ``dest/<person_name>/*.jpg``; return the paths per person."""
    out: dict[str, list[Path]] = {}
    for person, images in enrolment_images().items():
        folder = Path(dest) / person
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, rgb in images.items():
            path = folder / name
            path.write_bytes(jpeg_bytes(rgb))
            paths.append(path)
        out[person] = paths
    return out


# --------------------------------------------------------------------------
# group photos at phone sizes, with their true face boxes


# Real, unblurred textures from scikit-image (CC0 / public domain, see the
# module docstring and skimage.data): a group photo's background is a mosaic of
# them at 1-2.5x their native resolution, so detectors see real edges and clutter.
TEXTURE_SCENES = (
    "brick",
    "grass",
    "gravel",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "coins",
    "moon",
    "clock",
    "page",
    "text",
    "immunohistochemistry",
    "retina",
)


@dataclass(frozen=True)
class TrueFace:
    """Where a face was put in a generated photo: a square of ``size`` px at (x, y)."""

    x: int
    y: int
    size: int
    face: str  # "lfw:<index>" or "astronaut"


def _texture_mosaic(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    canvas = np.empty((height, width, 3), np.float32)
    y = 0
    while y < height:
        row_h = int(rng.integers(300, 900))
        x = 0
        while x < width:
            tile = _scene(str(rng.choice(TEXTURE_SCENES)))
            scale = float(rng.uniform(1.0, 2.5))
            tile = cv2.resize(
                tile, (round(tile.shape[1] * scale), round(tile.shape[0] * scale)), interpolation=cv2.INTER_LINEAR
            )
            w = int(min(width - x, rng.integers(300, 1000), tile.shape[1]))
            h = min(height - y, row_h)
            part = tile[:h, :w]
            if part.shape[0] < h:  # a short tile repeats downwards
                part = np.concatenate([part] * (h // part.shape[0] + 1))[:h]
            canvas[y : y + h, x : x + w] = part.astype(np.float32) * float(rng.uniform(0.6, 1.1))
            x += w
        y += row_h
    return canvas


def _astronaut_face(size: int) -> np.ndarray:
    left, top, right, bottom = ASTRONAUT_FACE
    face = _scene("astronaut")[top:bottom, left:right]
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)


def group_photo(
    width: int, height: int, n_faces: int, face_px: tuple[int, int], *, seed: int
) -> tuple[np.ndarray, list[TrueFace]]:
    """A photo of ``n_faces`` real faces of ``face_px`` (min, max) pixels on real textures.

    Sizes are drawn log-uniformly; faces do not overlap (a gap of a quarter face).
    The faces are the LFW faces that dlib finds at 150-260 px
    (DETECTABLE_LFW_FACES) and the astronaut's: frontal faces, upscaled from 25 px
    (LFW) or 87 px (astronaut), so they are softer than a phone's. Each is
    blended into the background over a few pixels, not pasted with hard edges.
    """
    rng = np.random.default_rng(seed)
    canvas = _texture_mosaic(width, height, rng)
    pool = [f"lfw:{i}" for i in DETECTABLE_LFW_FACES] + ["astronaut"]
    lo, hi = np.log(face_px[0]), np.log(face_px[1])
    placed: list[TrueFace] = []
    for _ in range(n_faces):
        for _try in range(2000):
            s = int(round(np.exp(rng.uniform(lo, hi))))
            x, y = int(rng.integers(0, width - s)), int(rng.integers(0, height - s))
            gap = s // 4
            if all(
                x + s + gap <= p.x or p.x + p.size + gap <= x or y + s + gap <= p.y or p.y + p.size + gap <= y
                for p in placed
            ):
                break
        else:
            raise ValueError(f"{n_faces} faces of {face_px} px do not fit in {width}x{height}")
        name = str(rng.choice(pool))
        face = (_astronaut_face(s) if name == "astronaut" else lfw_face(int(name.split(":")[1]), s)).astype(np.float32)
        face *= rng.uniform(0.9, 1.1, 3).astype(np.float32)
        ramp = np.minimum(np.arange(s) + 1, np.arange(s)[::-1] + 1) / max(2.0, s * 0.04)
        alpha = np.clip(np.minimum.outer(ramp, ramp), 0, 1)[..., None].astype(np.float32)
        region = canvas[y : y + s, x : x + s]
        canvas[y : y + s, x : x + s] = alpha * face + (1 - alpha) * region
        placed.append(TrueFace(x, y, s, name))
    canvas += rng.normal(0, 2.5, canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), placed
