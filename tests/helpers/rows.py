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


def assert_tallies_true(db, schema: str) -> None:
    """day_tallies (what Days and status read) equal the tables counted now, for every day."""
    kept = q(
        db,
        schema,
        "SELECT day, source, images, duplicates, videos, faces, video_faces, rejects FROM {s}.day_tallies"
        " ORDER BY 1, 2",
    )
    counted = q(
        db,
        schema,
        "WITH im AS (SELECT day, source, count(*) FILTER (WHERE status = 'loaded') AS images,"
        " count(*) FILTER (WHERE status = 'duplicate') AS duplicates,"
        " count(*) FILTER (WHERE status = 'loaded' AND media = 'video') AS videos FROM {s}.images GROUP BY 1, 2),"
        " fa AS (SELECT day, source, count(*) AS faces, count(*) FILTER (WHERE frame_s IS NOT NULL) AS video_faces"
        " FROM {s}.faces GROUP BY 1, 2),"
        " rj AS (SELECT day, source, count(*) AS rejects FROM {s}.rejects GROUP BY 1, 2)"
        " SELECT coalesce(im.day, rj.day, fa.day), coalesce(im.source, rj.source, fa.source),"
        " coalesce(im.images, 0), coalesce(im.duplicates, 0), coalesce(im.videos, 0), coalesce(fa.faces, 0),"
        " coalesce(fa.video_faces, 0), coalesce(rj.rejects, 0)"
        " FROM im FULL JOIN rj ON (rj.day, rj.source) = (im.day, im.source)"
        " FULL JOIN fa ON (fa.day, fa.source) = (coalesce(im.day, rj.day), coalesce(im.source, rj.source))"
        " ORDER BY 1, 2",
    )
    assert kept == counted, (kept, counted)
    assert counted, "no day to count: the check proves nothing"
