"""The forget's dry run in people's terms, for the Faces view: who (a name and some crops),
the photos, faces, days and reports that change, and what stays so that a re-run does not
bring them back (facepipe.privacy.forget's preview of its dry run)."""

from __future__ import annotations

CROPS_SHOWN = 12  # faces shown of the person
PHOTOS_SHOWN = 12  # photos shown as thumbnails


def shape(result: dict) -> dict:
    preview = result.get("preview") or {}
    faces = [{"day": d, "image_id": i, "face_no": n} for d, i, n in preview.get("faces", [])]
    photos: list[dict] = []
    seen = set()
    for d, i in [(f["day"], f["image_id"]) for f in faces] + [tuple(p) for p in preview.get("photos", [])]:
        if (d, i) not in seen:
            seen.add((d, i))
            photos.append({"day": d, "image_id": i})
    rows = result.get("rows", {})
    return {
        "identity_id": preview.get("identity_id"),
        "name": preview.get("name"),
        "enrolled": bool(preview.get("enrolled")),
        "crops": faces[:CROPS_SHOWN],
        "faces": rows.get("faces", len(faces)),
        "photos": photos[:PHOTOS_SHOWN],
        "photos_n": max(rows.get("images", 0), len(photos)),
        "photos_with_faces": len(seen),
        "days": preview.get("days", []),
        "reports": result.get("report_days", []),
        "suppressions": rows.get("suppressions", 0),
        "suggestions": rows.get("suggestions", 0),
        "references": rows.get("person_refs", 0),
    }
