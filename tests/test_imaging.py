"""facepipe.models.imaging.decode on images made in the test: formats, EXIF, limits, rejects."""

from __future__ import annotations

import datetime as dt
import io
import struct
import time
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from facepipe.core.sources import Unreadable
from facepipe.models.imaging import MAX_PIXELS, decode

W, H = 160, 120
LEFT, RIGHT = (200, 40, 40), (40, 160, 220)


def two_colour(w: int = W, h: int = H) -> np.ndarray:
    """Left half one colour, right half another: easy to check after any decode."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = LEFT
    arr[:, w // 2 :] = RIGHT
    return arr


def noise(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG that declares width x height RGB but carries a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + png_chunk(b"IEND", b"")
    )


def reason_of(data: bytes, **kw) -> str:
    with pytest.raises(Unreadable) as info:
        decode(data, **kw)
    return info.value.reason


def assert_rgb(d, width: int, height: int):
    assert d.rgb.dtype == np.uint8
    assert d.rgb.ndim == 3 and d.rgb.shape[2] == 3
    assert (d.width, d.height) == (width, height)
    assert d.rgb.flags["C_CONTIGUOUS"]


def assert_two_colour(rgb: np.ndarray, tol: int = 12):
    h, w = rgb.shape[:2]
    left = rgb[h // 2, w // 4].astype(int)
    right = rgb[h // 2, 3 * w // 4].astype(int)
    assert np.abs(left - LEFT).max() <= tol, left
    assert np.abs(right - RIGHT).max() <= tol, right


# ---------------------------------------------------------------- rejects


def test_zero_bytes_is_empty():
    assert reason_of(b"") == "empty"


def test_text_file_is_not_an_image():
    assert reason_of(b"name,age\nalice,31\nbob,42\n" * 20) == "not_an_image"


def test_truncated_jpeg():
    data = save(Image.fromarray(noise(640, 480)), "JPEG", quality=90)
    assert len(data) > 20_000  # noise keeps the entropy-coded part long
    assert reason_of(data[: len(data) // 2]) == "truncated"


def test_huge_png_header_is_too_large_without_allocating():
    data = png_header_only(50_000, 50_000)
    assert len(data) < 200
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        assert reason_of(data) == "too_large"
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 50000 x 50000 x 3 bytes would be 7.5 GB; refusing from the header costs nothing.
    assert elapsed < 1.0
    assert peak < 20_000_000


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_png_over_max_pixels_but_under_pillow_bomb_limit_is_too_large():
    # 11000^2 = 121 M: above facepipe's MAX_PIXELS, below Pillow's hard 179 M limit.
    side = 11_000
    assert side * side > MAX_PIXELS
    assert reason_of(png_header_only(side, side)) == "too_large"


# ---------------------------------------------------------------- formats


def test_cmyk_jpeg():
    data = save(Image.fromarray(two_colour()).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    d = decode(data)
    assert_rgb(d, W, H)
    assert d.rgb.shape == (H, W, 3)
    assert_two_colour(d.rgb)


def test_16_bit_png():
    arr16 = two_colour().astype(np.uint16) * 257  # 8-bit value v -> 16-bit v*257
    ok, buf = cv2.imencode(".png", arr16[:, :, ::-1].copy())  # cv2 wants BGR
    assert ok
    assert Image.open(io.BytesIO(buf.tobytes())).mode.startswith(("I", "RGB"))
    d = decode(buf.tobytes())
    assert_rgb(d, W, H)
    assert np.array_equal(d.rgb, two_colour())


def test_16_bit_grayscale_png():
    gray16 = np.arange(W, dtype=np.uint16)[None, :].repeat(H, 0) * 257
    ok, buf = cv2.imencode(".png", gray16)
    assert ok
    d = decode(buf.tobytes())
    assert_rgb(d, W, H)
    assert np.array_equal(d.rgb[:, :, 0], (gray16 >> 8).astype(np.uint8))
    assert np.array_equal(d.rgb[:, :, 0], d.rgb[:, :, 2])


def test_grayscale_png():
    gray = np.tile(np.arange(W, dtype=np.uint8), (H, 1))
    d = decode(save(Image.fromarray(gray, "L"), "PNG"))
    assert_rgb(d, W, H)
    for c in range(3):
        assert np.array_equal(d.rgb[:, :, c], gray)


def test_grayscale_jpeg():
    gray = np.tile(np.arange(W, dtype=np.uint8), (H, 1))
    d = decode(save(Image.fromarray(gray, "L"), "JPEG", quality=95))
    assert_rgb(d, W, H)
    assert np.abs(d.rgb[:, :, 1].astype(int) - gray).max() <= 6


def test_rgba_png_opaque_pixels_keep_their_colour():
    rgba = np.dstack([two_colour(), np.full((H, W), 255, np.uint8)])
    d = decode(save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert_rgb(d, W, H)
    assert np.array_equal(d.rgb, two_colour())


def test_palette_png():
    img = Image.fromarray(two_colour()).quantize(colors=4)
    assert img.mode == "P"
    d = decode(save(img, "PNG"))
    assert_rgb(d, W, H)
    assert np.array_equal(d.rgb, np.asarray(img.convert("RGB")))
    assert_two_colour(d.rgb, tol=3)


def test_animated_gif_gives_the_first_frame():
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    frames = [Image.fromarray(np.full((H, W, 3), c, np.uint8)) for c in colours]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    d = decode(data)
    assert_rgb(d, W, H)
    assert np.abs(d.rgb.reshape(-1, 3).astype(int) - colours[0]).max() <= 2


@pytest.mark.parametrize("lossless", [False, True])
def test_webp(lossless):
    d = decode(save(Image.fromarray(two_colour()), "WEBP", lossless=lossless, quality=95))
    assert_rgb(d, W, H)
    if lossless:
        assert np.array_equal(d.rgb, two_colour())
    else:
        assert_two_colour(d.rgb)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_other_lossless_formats(fmt):
    d = decode(save(Image.fromarray(two_colour()), fmt))
    assert_rgb(d, W, H)
    assert np.array_equal(d.rgb, two_colour())


def test_grayscale_with_alpha_png():
    gray = np.tile(np.arange(W, dtype=np.uint8), (H, 1))
    la = Image.fromarray(np.dstack([gray, np.full((H, W), 255, np.uint8)]), "LA")
    d = decode(save(la, "PNG"))
    assert_rgb(d, W, H)
    assert np.array_equal(d.rgb[:, :, 0], gray)


# ---------------------------------------------------------------- EXIF orientation


def orientation_exif(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def left_band_image(w: int = 1200, h: int = 400, band: int = 100) -> np.ndarray:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, :band] = 255
    return arr


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_6_is_applied(fmt):
    """1200x400 stored, 'rotate 90 CW' to view: upright it is 400x1200, left band on top."""
    data = save(Image.fromarray(left_band_image()), fmt, exif=orientation_exif(6).tobytes())
    d = decode(data, max_side=1024)
    assert (d.width, d.height) == (400, 1200)
    assert d.rgb.shape[:2] == (1024, 341)
    assert d.scale == pytest.approx(1200 / 1024)
    band = round(100 / d.scale)  # 85 rows
    assert d.rgb[: band - 4].min() >= 240  # top rows white
    assert d.rgb[band + 4 :].max() <= 15  # the rest black


@pytest.mark.parametrize(
    "orientation, white",
    [
        (1, "left"),
        (3, "right"),
        (6, "top"),
        (8, "bottom"),
    ],
)
def test_exif_orientations_put_the_band_where_a_viewer_sees_it(orientation, white):
    data = save(
        Image.fromarray(left_band_image(600, 200, 50)), "JPEG", quality=95, exif=orientation_exif(orientation).tobytes()
    )
    d = decode(data)
    rgb = d.rgb.astype(int)
    edges = {"left": rgb[:, :30], "right": rgb[:, -30:], "top": rgb[:30], "bottom": rgb[-30:]}
    for edge, pixels in edges.items():
        if edge == white:
            assert pixels.mean() > 240, edge
        elif {edge, white} not in ({"left", "right"}, {"top", "bottom"}):
            pass  # a perpendicular edge crosses the band
        else:
            assert pixels.mean() < 15, edge


def test_exif_orientation_6_tiff_reports_upright_size():
    data = save(Image.fromarray(left_band_image()), "TIFF", exif=orientation_exif(6))
    d = decode(data, max_side=1024)
    assert d.rgb.shape[:2] == (1024, 341)  # pixels are upright (cv2 applies the tag) ...
    assert (d.width, d.height) == (400, 1200)  # ... and so must the full size be


# ---------------------------------------------------------------- size reduction


def test_large_jpeg_is_reduced_to_max_side():
    arr = np.zeros((4000, 6000, 3), np.uint8)
    arr[1000:2000, 3000:4000] = 255  # a white square at a known full-size place
    data = save(Image.fromarray(arr), "JPEG", quality=85)
    d = decode(data, max_side=1024)
    assert_rgb(d, 6000, 4000)
    assert max(d.rgb.shape[:2]) == 1024
    assert d.rgb.shape[:2] == (683, 1024)
    assert d.scale == pytest.approx(6000 / 1024)
    # the square lands at full-size coordinates / scale
    x0, y0, x1, y1 = (round(v / d.scale) for v in (3000, 1000, 4000, 2000))
    assert d.rgb[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3].min() > 230
    assert d.rgb[: y0 - 3].max() < 25 and d.rgb[y1 + 3 :].max() < 25
    assert d.rgb[:, : x0 - 3].max() < 25 and d.rgb[:, x1 + 3 :].max() < 25


@pytest.mark.parametrize(
    "size, expected",
    [
        ((1920, 1080), (540, 960)),  # libjpeg's 1/2 is within a quarter of max_side: used as it is
        ((4032, 3024), (756, 1008)),  # 1/4
        ((3000, 2000), (683, 1024)),  # 1/4 would be 750 (< 768): 1/2 then resized to 1024
        ((1200, 800), (683, 1024)),  # 1/2 would be 600: full size, resized
    ],
)
def test_jpeg_reduced_decode_is_used_as_is_when_close_to_max_side(size, expected):
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[size[1] // 4 : size[1] // 2, size[0] // 2 : 3 * size[0] // 4] = 255
    d = decode(save(Image.fromarray(arr), "JPEG", quality=85), max_side=1024)
    assert_rgb(d, *size)
    assert d.rgb.shape[:2] == expected
    assert d.scale == pytest.approx(size[0] / expected[1])
    # the white square is where full-size coordinates / scale put it
    y, x = round(size[1] * 3 / 8 / d.scale), round(size[0] * 5 / 8 / d.scale)
    assert d.rgb[y, x].min() > 230 and d.rgb[2, 2].max() < 25


def test_small_image_is_not_upscaled():
    d = decode(save(Image.fromarray(two_colour()), "PNG"), max_side=1024)
    assert d.rgb.shape == (H, W, 3)
    assert d.scale == 1.0


def test_large_png_is_reduced_too():
    arr = np.zeros((1000, 3000, 3), np.uint8)
    d = decode(save(Image.fromarray(arr), "PNG", compress_level=1), max_side=500)
    assert_rgb(d, 3000, 1000)
    assert d.rgb.shape[:2] == (167, 500)
    assert d.scale == pytest.approx(6.0)


# ---------------------------------------------------------------- EXIF facts


def test_exif_datetime_original_and_model():
    exif = Image.Exif()
    exif[0x0110] = "Canon EOS R5"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2026:11:20 14:03:05"  # DateTimeOriginal
    d = decode(save(Image.fromarray(two_colour()), "JPEG", exif=exif))
    assert d.captured_at == dt.datetime(2026, 11, 20, 14, 3, 5)
    assert d.camera == "Canon EOS R5"


def test_no_exif_gives_none():
    d = decode(save(Image.fromarray(two_colour()), "JPEG"))
    assert d.captured_at is None and d.camera is None


def test_bad_exif_date_is_ignored_not_fatal():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"  # what some cameras write when unset
    d = decode(save(Image.fromarray(two_colour()), "JPEG", exif=exif))
    assert d.captured_at is None
    assert (d.width, d.height) == (W, H)


def test_complete_jpeg_with_long_trailer_is_not_truncated():
    data = save(Image.fromarray(two_colour()), "JPEG") + b"\x00\x00\x00\x18ftypmp42" + bytes(8000)
    d = decode(data)
    assert_two_colour(d.rgb)


def test_png_with_corrupt_pixel_data_is_rejected():
    data = bytearray(save(Image.fromarray(noise(300, 200)), "PNG"))
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(200)
    assert reason_of(bytes(data)) == "corrupt"


def test_truncated_png_is_rejected():
    data = save(Image.fromarray(noise(300, 200)), "PNG")
    assert reason_of(data[: len(data) // 2]) in ("corrupt", "truncated")


# ---------------------------------------------------------------- issue 12: one bad file is a reject


def test_camera_model_with_nul_and_control_bytes_is_cleaned():
    from helpers.hostile import jpeg_with_camera

    from facepipe.models.imaging import decode

    rgb = np.full((120, 160, 3), 128, np.uint8)
    img = decode(jpeg_with_camera(rgb, "Canon\x00EOS\x1b[31m R5\x7f"))
    assert img.camera == "CanonEOS[31m R5"
    assert decode(jpeg_with_camera(rgb, "\x00\x00\x00")).camera is None


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda h: h.progressive_jpeg_with_scans(20_000), "too_complex"),
        (lambda h: h.gif_declaring(9_000, 9_000), "too_large"),
        (lambda h: h.avif_declaring(10_900, 10_900), "too_large"),
    ],
    ids=["jpeg_20000_scans", "gif_81_megapixels", "heif_10900_square"],
)
def test_hostile_files_are_refused_before_decoding(make, reason):
    import time
    import tracemalloc

    from helpers import hostile

    from facepipe.core.sources import Unreadable
    from facepipe.models.imaging import decode

    data = make(hostile)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(Unreadable) as info:
            decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == reason, info.value.detail
    assert time.monotonic() - started < 1.0
    assert peak < 16 * 2**20 + 2 * len(data)


def test_an_ordinary_progressive_jpeg_and_a_motion_photo_trailer_still_decode():
    from facepipe.models.imaging import MAX_JPEG_SCANS, _jpeg_first_scan, _jpeg_scan_count, decode

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(5).integers(0, 255, (300, 400, 3), np.uint8)).save(
        buf, "JPEG", progressive=True
    )
    data = buf.getvalue()
    scans = _jpeg_scan_count(data, _jpeg_first_scan(data))
    assert 2 <= scans <= 12
    trailer = bytes(np.random.default_rng(6).integers(0, 256, 200_000, np.uint8))  # a video after EOI
    assert trailer.count(b"\xff\xda") > 0
    assert _jpeg_scan_count(data + trailer, _jpeg_first_scan(data)) == scans
    assert decode(data + trailer).width == 400
    assert MAX_JPEG_SCANS >= 50
