"""One day of awkward input for face_ingest, made in the test, with what must happen to each file.

``make_bad_inputs(day_dir, outside)`` writes the files into ``day_dir`` (the
dated folder of one day under a source root) and a target file into
``outside`` (a folder outside the source root, for the escaping symlink), and
returns, per file name in ``day_dir``, an :class:`Expect`: loaded (with an
exact face count, a lower bound, or none) or rejected with a reason code.

Faces are real: Eileen Collins from ``skimage.data.astronaut()`` (public
domain) and LFW faces through ``facepipe.ops.samples``. Every photo has its own
noise seed and placement, so no two files share content (which would make
them duplicates of each other).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps
from skimage import data as skdata

from facepipe.ops.samples import (
    ASTRONAUT_FACE,
    ASTRONAUT_ROWS,
    DEMO_FACE_POOL,
    AstronautPlacement,
    FacePlacement,
    PhotoPlan,
    jpeg_bytes,
    render_photo,
)

TAKEN = dt.datetime(2026, 11, 20, 12, 0, 0)


@dataclass(frozen=True)
class Expect:
    """What face_ingest must do with one file."""

    outcome: str  # "loaded" or "rejected"
    faces: int | None = None  # exact face count (loaded)
    at_least: int | None = None  # or a lower bound
    reason: str | None = None  # reject reason code (rejected)
    size: tuple[int, int] | None = None  # upright (width, height) the images row must hold
    face_box: tuple[int, int, int, int] | None = None  # (x, y, w, h) where the face is in the upright image
    who: str | None = None  # whose face it is (all faces of one person must embed close together)

    @staticmethod
    def loaded(
        faces: int | None = None, *, at_least: int | None = None, size=None, face_box=None, who: str | None = None
    ) -> Expect:
        return Expect("loaded", faces=faces, at_least=at_least, size=size, face_box=face_box, who=who)

    @staticmethod
    def rejected(reason: str) -> Expect:
        return Expect("rejected", reason=reason)

    def face_count_ok(self, n: int) -> bool:
        if self.faces is not None:
            return n == self.faces
        if self.at_least is not None:
            return n >= self.at_least
        return True


# ------------------------------------------------------------------ pixels


def astronaut_photo(
    seed: int,
    width: int = 1400,
    height: int = 900,
    face_width: int = 700,
    at: tuple[int, int] | None = None,
    scene: str = "coffee",
):
    """A photo with Eileen Collins' head and shoulders; returns (rgb, face_box) in its pixels.

    ``face_width`` is the width of the pasted 512 x 300 astronaut strip; the
    face is where dlib finds it in skimage's astronaut() (ASTRONAUT_FACE), scaled.
    """
    strip_h = round(face_width * ASTRONAUT_ROWS / 512)
    rng = np.random.default_rng(seed)
    x, y = (
        at
        if at is not None
        else (int(rng.integers(0, width - face_width + 1)), int(rng.integers(0, height - strip_h + 1)))
    )
    if (width, height) == (1600, 1000):  # the demo frame: use the demo's own renderer
        rgb = render_photo(
            PhotoPlan(
                name="x",
                kind="astronaut",
                camera=1,
                taken=TAKEN,
                scene=scene,
                noise_seed=seed,
                astronaut=AstronautPlacement(
                    x=x, y=y, width=face_width, height=strip_h, mirrored=False, brightness=1.0
                ),
            )
        )
    else:
        rgb = _plain_background(width, height, rng)
        strip = cv2.resize(
            skdata.astronaut()[:ASTRONAUT_ROWS],
            (face_width, strip_h),
            interpolation=cv2.INTER_AREA if face_width < 512 else cv2.INTER_CUBIC,
        )
        rgb[y : y + strip_h, x : x + face_width] = strip
    s = face_width / 512
    left, top, right, bottom = ASTRONAUT_FACE
    box = (round(x + left * s), round(y + top * s), round((right - left) * s), round((bottom - top) * s))
    return rgb, box


def _plain_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A soft two-way gradient with a little noise: no face-like structure."""
    gx = np.linspace(60, 150, width, dtype=np.float32)[None, :, None]
    gy = np.linspace(0, 50, height, dtype=np.float32)[:, None, None]
    tint = np.asarray(rng.uniform(0.8, 1.2, 3), np.float32)[None, None, :]
    base = (gx + gy) * tint
    noise = rng.integers(-3, 4, (height, width, 1), dtype=np.int16).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def group_photo(seed: int, lfw: tuple[int, ...]) -> np.ndarray:
    """The demo's 1600 x 1000 frame with LFW faces (from DEMO_FACE_POOL) at fixed places."""
    places = [(120, 150), (620, 520), (1150, 200), (900, 100)]
    faces = tuple(FacePlacement(i, x, y, 200, (1.0, 1.0, 1.0)) for i, (x, y) in zip(lfw, places))
    return render_photo(
        PhotoPlan(name="g", kind="group", camera=1, taken=TAKEN, scene="grass", noise_seed=seed, faces=faces)
    )


def no_face_photo(seed: int) -> np.ndarray:
    return render_photo(PhotoPlan(name="s", kind="scene", camera=2, taken=TAKEN, scene="rocket", noise_seed=seed))


# ------------------------------------------------------------------ encoders


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG header that declares width x height RGB pixels, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def rotated_jpeg(upright: np.ndarray, orientation: int) -> bytes:
    """JPEG whose stored pixels are ``upright`` turned so that EXIF ``orientation`` (6 or 8) shows it upright."""
    stored = {6: Image.ROTATE_90, 8: Image.ROTATE_270}[orientation]  # PIL's ROTATE_90 is counter-clockwise
    img = Image.fromarray(upright).transpose(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0110] = "facepipe-rotated-cam"
    data = _save(img, "JPEG", quality=90, exif=exif.tobytes())
    # the file must really be what a viewer shows upright
    check = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert check.size == (upright.shape[1], upright.shape[0])
    return data


# ------------------------------------------------------------------ the data set

EILEEN = "eileen_collins"  # the astronaut: every face of hers must embed close to the others

# Names from outside: spaces, quotes, emoji, SQL, unicode; all valid photos with a face.
ODD_NAMES = (
    "holiday photo 2026.jpg",
    'it\'s "me" 😀.jpg',
    "x'); DROP TABLE faces;--.jpg",
    "ünïcødé 名前.jpg",
)

# Every file make_bad_inputs writes, known before it runs (tests are parametrized on it).
FILE_NAMES = (
    "empty.jpg",
    "truncated.jpg",
    "notes.jpg",
    "bomb.png",
    "cmyk.jpg",
    "sixteen_bit.png",
    "grayscale.jpg",
    "rgba.png",
    "palette.png",
    "animated.gif",
    "photo.webp",
    "rotated_6.jpg",
    "rotated_8.jpg",
    "no_face.jpg",
    "twenty_megapixel.jpg",
    "group.jpg",
    *ODD_NAMES,
    "link_outside.jpg",
    "dangling_link.jpg",
)


def make_bad_inputs(day_dir: Path, outside: Path) -> dict[str, Expect]:
    """Write one day of awkward files into ``day_dir``; return what must happen to each, by file name."""
    day_dir.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    expect: dict[str, Expect] = {}

    def put(name: str, payload: bytes, what: Expect) -> None:
        (day_dir / name).write_bytes(payload)
        expect[name] = what

    def eileen(box) -> Expect:
        return Expect.loaded(1, face_box=box, who=EILEEN)

    # --- refused ---------------------------------------------------------
    put("empty.jpg", b"", Expect.rejected("empty"))
    whole = jpeg_bytes(astronaut_photo(1)[0])
    put("truncated.jpg", whole[: len(whole) // 2], Expect.rejected("truncated"))
    put("notes.jpg", b"Shopping list:\n- milk\n- eggs\n\nThis is not a photo.\n", Expect.rejected("not_an_image"))
    put("bomb.png", png_declaring(50_000, 50_000), Expect.rejected("too_large"))

    # --- formats and colour models, each with Eileen's face ----------------------
    rgb, box = astronaut_photo(2)
    put("cmyk.jpg", _save(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=92), eileen(box))
    rgb, box = astronaut_photo(3)
    ok, png16 = cv2.imencode(".png", rgb[..., ::-1].astype(np.uint16) * 257)
    assert ok
    put("sixteen_bit.png", png16.tobytes(), eileen(box))
    rgb, box = astronaut_photo(4)
    put("grayscale.jpg", _save(Image.fromarray(rgb).convert("L"), "JPEG", quality=90), eileen(box))
    rgb, box = astronaut_photo(5, at=(600, 300))
    rgba = Image.fromarray(rgb).convert("RGBA")
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :120] = 0  # a transparent margin, away from the face
    rgba.putalpha(Image.fromarray(alpha))
    put("rgba.png", _save(rgba, "PNG"), eileen(box))
    rgb, box = astronaut_photo(6)
    put("palette.png", _save(Image.fromarray(rgb).quantize(256), "PNG"), eileen(box))
    rgb, box = astronaut_photo(7)
    frames = [
        Image.fromarray(rgb).quantize(256),
        Image.fromarray(no_face_photo(8)).resize((rgb.shape[1], rgb.shape[0])).quantize(256),
    ]
    put(
        "animated.gif",
        _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=500, loop=0),
        eileen(box),
    )  # the first frame has the face, the second none
    rgb, box = astronaut_photo(9)
    put("photo.webp", _save(Image.fromarray(rgb), "WEBP", quality=90), eileen(box))

    # --- EXIF orientation: the stored box must be in the upright image --------
    # A phone's portrait photo (12 MP, stored landscape, orientation 6), and a small one turned the other way.
    for orientation, seed, (w, h), face_width, at in (
        (6, 10, (3024, 4032), 2200, (400, 2400)),
        (8, 11, (1000, 1400), 760, (150, 820)),
    ):
        upright, box = astronaut_photo(seed, width=w, height=h, face_width=face_width, at=at)
        put(
            f"rotated_{orientation}.jpg",
            rotated_jpeg(upright, orientation),
            Expect.loaded(1, size=(w, h), face_box=box, who=EILEEN),
        )

    # --- content ------------------------------------------------------------
    put("no_face.jpg", jpeg_bytes(no_face_photo(12), taken=TAKEN, camera=2), Expect.loaded(0))
    big, box = astronaut_photo(13, width=5472, height=3648, face_width=3000, at=(1800, 1200))
    put(
        "twenty_megapixel.jpg",
        jpeg_bytes(big, taken=TAKEN, camera=1),
        Expect.loaded(1, size=(5472, 3648), face_box=box, who=EILEEN),
    )
    put("group.jpg", jpeg_bytes(group_photo(14, DEMO_FACE_POOL[:3]), taken=TAKEN, camera=1), Expect.loaded(3))

    # --- names from outside ---------------------------------------------------
    for k, name in enumerate(ODD_NAMES):
        rgb, box = astronaut_photo(20 + k, width=1600, height=1000, face_width=820)
        put(name, jpeg_bytes(rgb, taken=TAKEN, camera=1), eileen(box))

    # --- a link out of the source folder --------------------------------------
    secret = outside / "not_yours.jpg"
    secret.write_bytes(jpeg_bytes(astronaut_photo(30)[0]))
    os.symlink(secret, day_dir / "link_outside.jpg")
    expect["link_outside.jpg"] = Expect.rejected("outside_source")
    os.symlink(day_dir / "deleted since.jpg", day_dir / "dangling_link.jpg")  # points at nothing
    expect["dangling_link.jpg"] = Expect.rejected("unreadable")

    assert tuple(expect) == FILE_NAMES, "FILE_NAMES is out of date"
    return expect
