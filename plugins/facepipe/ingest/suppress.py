"""A shard's result with what was forgotten taken out, before anything is staged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from facepipe.core.suppression import FORGOTTEN, Box, distances, same_face


def drop_suppressed(
    result,
    suppressed: dict[str, list[tuple[Box, float | None] | None]],
    templates: list[tuple[np.ndarray, float]] = (),
    op: str = "<->",
):
    """The shard's result without forgotten photos (they become rejects, reason
    ``forgotten``), without faces whose box overlaps a forgotten one, and without faces
    within a blocked person's threshold of their template (block_future). A video's face
    is a forgotten one only if its track's span also holds the forgotten frame time."""
    from facepipe.ingest.process import RejectRecord, ShardResult

    if not suppressed and not templates:
        return result
    whole = {im.image_id for im in result.images if None in suppressed.get(im.content_sha256, ())}
    boxes = {im.image_id: [b for b in suppressed.get(im.content_sha256, ()) if b is not None] for im in result.images}
    blocked = np.zeros(len(result.faces), dtype=bool)
    if len(result.faces):
        for template, threshold in templates:
            blocked |= distances(op, result.embeddings, template) < threshold
    keep = [
        i
        for i, f in enumerate(result.faces)
        if f.image_id not in whole
        and not blocked[i]
        and not any(
            same_face((f.box.x, f.box.y, f.box.w, f.box.h), f.first_s, f.last_s, b, t) for b, t in boxes[f.image_id]
        )
    ]
    kept_per_image: dict = {}
    for i in keep:
        kept_per_image[result.faces[i].image_id] = kept_per_image.get(result.faces[i].image_id, 0) + 1
    out = ShardResult(rejects=list(result.rejects))
    for im in result.images:
        if im.image_id in whole:
            out.rejects.append(
                RejectRecord(
                    im.uri,
                    FORGOTTEN,
                    "this file was forgotten (facepipe forget photo): it is not indexed again",
                    im.bytes,
                    im.arrived_at,
                )
            )
        elif im.status == "loaded" and kept_per_image.get(im.image_id, 0) != im.face_count:
            out.images.append(replace(im, face_count=kept_per_image.get(im.image_id, 0)))
        else:
            out.images.append(im)
    out.faces = [result.faces[i] for i in keep]
    out.embeddings = (
        result.embeddings[keep] if result.embeddings is not None and len(result.faces) else result.embeddings
    )
    return out
