"""Face crops cut on request from the photo store, and the uploaded photo's face.

A crop is only ever cut for a face that exists in the tables: its photo is read
through the photo's own source (which keeps to its folder or bucket prefix), by the
URI the tables hold; nothing from the request reaches a path. Nothing is cached or
written: each crop is decoded, cut and sent (no-store).
"""

from __future__ import annotations

from functools import cache

from facepipe.models.crops import CROP_HEIGHT, crop_jpeg  # noqa: F401  (the view's and the export's)

PHOTO_SIDE = 1600  # the long side of a whole photo sent for its page


def photo_jpeg(data: bytes, side: int = PHOTO_SIDE) -> bytes:
    """The whole photo upright (EXIF orientation applied, as ingest decodes it), ``side`` px on
    its long side at most: the boxes, in upright full-size pixels, fall where they are."""
    import cv2

    from facepipe.models.imaging import decode

    img = decode(data, max_side=side)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(img.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("the photo could not be encoded")
    return jpeg.tobytes()


@cache
def _models(detector: str, model: str, haar_scale_factor: float):
    """The detector and embedder, loaded once per api-server process."""
    from facepipe.models.detect import make_detector
    from facepipe.models.embed import make_embedder

    return make_detector(detector, haar_scale_factor=haar_scale_factor), make_embedder(model)


def embed_upload(data: bytes, detector: str, model: str, min_face: int, haar_scale_factor: float = 1.1):
    """The largest face of an uploaded photo, read as ingest reads photos (decode's bounds
    and refusals: facepipe.core.sources.Unreadable); None when it has no face."""
    from facepipe.models.detect import FaceSizing
    from facepipe.models.faces import embed_largest_face

    det, emb = _models(detector, model, haar_scale_factor)
    found = embed_largest_face(data, det, emb, FaceSizing.of(detector, min_face))
    return None if found is None else found[1]


SEARCH_PREVIEW_SIDE = 800  # the long side of an uploaded search photo shown back with its faces


def embed_upload_faces(data: bytes, detector: str, model: str, min_face: int, haar_scale_factor: float = 1.1):
    """An uploaded photo's faces, largest first: (width, height, [(box, vector)], preview JPEG),
    the box in upright full-size pixels, the preview the photo upright at SEARCH_PREVIEW_SIDE.
    Read as ingest reads photos (decode's bounds and refusals: facepipe.core.sources.Unreadable)."""
    import cv2

    from facepipe.models.detect import FaceSizing
    from facepipe.models.faces import embed_faces

    det, emb = _models(detector, model, haar_scale_factor)
    img, faces = embed_faces(data, det, emb, FaceSizing.of(detector, min_face))
    rgb = img.rgb
    scale = SEARCH_PREVIEW_SIDE / max(rgb.shape[:2])
    if scale < 1:
        rgb = cv2.resize(
            rgb,
            (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("the photo could not be encoded")
    return img.width, img.height, faces, jpeg.tobytes()
