"""Files that one bad upload can be, made small: each declares or holds something
that would cost the worker a whole day if it were decoded (issue 12)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg_with_camera(rgb: np.ndarray, model: str) -> bytes:
    """A JPEG whose EXIF Model holds ``model`` as it is (NUL bytes and all)."""
    exif = Image.Exif()
    exif[0x0110] = model
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def progressive_jpeg_with_scans(scans: int, side: int = 1024) -> bytes:
    """A progressive JPEG whose last scan is repeated until it holds ``scans`` scans
    (a flat image: each scan is a few bytes, and each costs a pass over every block)."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (90, 120, 150)).save(buf, "JPEG", quality=80, progressive=True)
    data = buf.getvalue()
    last = data.rfind(b"\xff\xda")
    body, tail = data[:last], data[last:-2]  # tail: the last scan, without EOI
    have = data.count(b"\xff\xda")  # the encoder writes few scans, none inside other segments
    return body + tail * (scans - have + 1) + b"\xff\xd9"


def gif_declaring(width: int, height: int) -> bytes:
    """A tiny GIF whose logical screen is ``width`` x ``height`` (Pillow decodes the screen)."""
    buf = io.BytesIO()
    Image.new("P", (8, 8), 1).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return bytes(data)


def avif_declaring(width: int, height: int) -> bytes:
    """A small AVIF (or HEIF when no AV1 encoder is built in) whose 'ispe' box declares
    ``width`` x ``height``: the size a reader allocates before decoding."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    img = Image.new("RGB", (64, 64), (120, 90, 60))
    buf = io.BytesIO()
    try:
        from pillow_heif import register_avif_opener

        register_avif_opener()
        img.save(buf, "AVIF", quality=50)
    except Exception:
        buf = io.BytesIO()
        img.save(buf, "HEIF", quality=50)
    data = bytearray(buf.getvalue())
    at = data.find(b"ispe")
    assert at > 0
    # ispe: size, 'ispe', version/flags (4 bytes), width (4), height (4)
    data[at + 8 : at + 16] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    return bytes(data)


def deep_file(parent, names: list[str], content: bytes) -> bytes:
    """Write ``content`` at parent/names[0]/.../names[-1] (the last name is the file), even
    past PATH_MAX, by walking folder descriptors; returns the file's whole path as bytes."""
    import os

    fd = os.open(parent, os.O_RDONLY)
    try:
        for name in names[:-1]:
            try:
                os.mkdir(name, dir_fd=fd)
            except FileExistsError:
                pass
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open(names[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            f.write(content)
    finally:
        os.close(fd)
    return os.path.join(os.fsencode(parent), *(os.fsencode(n) for n in names))
