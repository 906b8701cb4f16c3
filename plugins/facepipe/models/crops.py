"""A face's crop: its box and a margin from the photo's upright pixels, as a small JPEG
(the Faces view cuts them on request; a person's export holds them)."""

from __future__ import annotations

CROP_HEIGHT = 160  # pixels of the crop sent (the box and a quarter of its size around it)


def crop_jpeg(data: bytes, box: tuple[int, int, int, int], long_side: int, height: int = CROP_HEIGHT) -> bytes:
    """A JPEG of the face's box (full-size upright pixels) with a margin, ``height`` px high."""
    import cv2

    from facepipe.models.imaging import decode

    x, y, w, h = box
    # decode no larger than needed for the crop (libjpeg's reduced decode makes this cheap)
    max_side = max(256, min(long_side or 4096, round((long_side or 4096) * 1.5 * height / max(1, h))))
    img = decode(data, max_side=max_side)
    x, y, w, h = (round(v / img.scale) for v in box)
    m = round(0.25 * max(w, h))
    H, W = img.rgb.shape[:2]
    crop = img.rgb[max(0, y - m) : min(H, y + h + m), max(0, x - m) : min(W, x + w + m)]
    if crop.size == 0:
        raise ValueError("the face's box lies outside its photo")
    scale = height / max(1, crop.shape[0])
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), height), interpolation=interp)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("the crop could not be encoded")
    return jpeg.tobytes()
