"""Reading a test schema's rows: one helper for every test file."""

from __future__ import annotations

import datetime as dt

from psycopg import sql


def q(db, schema: str, query: str, *params):
    """Run ``query`` with ``{s}`` bound to the schema identifier; all rows."""
    return db.execute(sql.SQL(query).format(s=sql.Identifier(schema)), params).fetchall()


def snapshot(db, schema: str, day: dt.date) -> dict:
    """Every row a day holds in images, faces and rejects, in a stable order."""
    return {
        "images": q(db, schema, "SELECT * FROM {s}.images WHERE day = %s ORDER BY image_id", day),
        "faces": q(
            db,
            schema,
            "SELECT day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector,"
            " det_score, model, embedding::text FROM {s}.faces WHERE day = %s"
            " ORDER BY image_id, face_no",
            day,
        ),
        "rejects": q(db, schema, "SELECT * FROM {s}.rejects WHERE day = %s ORDER BY uri", day),
    }
