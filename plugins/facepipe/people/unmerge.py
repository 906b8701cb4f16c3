"""Undo a merge: both identities as they were before it (members, names, assignment
sources), while nothing else changed to either since.

``merge`` records in its audit row (detail ``undo``) what it needs: the merged identity's
number, creation time and person, and each of its faces' keys with how and when they were
assigned (no vector, no name). ``unmerge`` puts them back in one transaction under the
people lock, recorded in audit (op 'unmerge', detail ``merge_op``). It is refused when the
merge was undone already, when any later audit row names either identity, or when the
identity merged into changed since (its ``updated_at`` is the merge's own transaction time
until a night, a move, a forget or retention changes it). Open questions about the merged
identity were deleted with it and do not come back.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.people.identities import PeopleError, _lock, _recompute


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def unmerge(conn: psycopg.Connection, schema: str, merge_op: int, actor: str | None = None) -> dict:
    """Undo the merge recorded as audit row ``merge_op`` (see the module's doc)."""
    a = _t(schema, "audit")
    with conn.transaction():
        _lock(conn)
        row = conn.execute(
            sql.SQL("SELECT identity_id, other_id, at, detail FROM {} WHERE op_no = %s AND op = 'merge'").format(a),
            (merge_op,),
        ).fetchone()
        if row is None:
            raise PeopleError("there is no such merge")
        into, other, at, detail = row
        if conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE op = 'unmerge' AND (detail->>'merge_op')::bigint = %s").format(a),
            (merge_op,),
        ).fetchone():
            raise PeopleError("this merge was undone already")
        undo = detail.get("undo")
        if not undo:
            raise PeopleError("this merge cannot be undone: it was too large to record, or made by an older facepipe")
        later = conn.execute(
            sql.SQL(
                "SELECT op FROM {} WHERE op_no > %s AND (identity_id = ANY(%s) OR other_id = ANY(%s))"
                " ORDER BY op_no LIMIT 1"
            ).format(a),
            (merge_op, [into, other], [into, other]),
        ).fetchone()
        now = conn.execute(
            sql.SQL("SELECT updated_at FROM {} WHERE identity_id = %s FOR UPDATE").format(_t(schema, "identities")),
            (into,),
        ).fetchone()
        if later is not None or now is None or now[0] != at:
            raise PeopleError(
                f"identity #{into} changed since the merge ({later[0] if later else 'faces added or removed'}):"
                " undo is only possible while nothing else changed"
            )
        faces = undo["faces"]
        keys = (
            [f[0] for f in faces],
            [f[1] for f in faces],
            [f[2] for f in faces],
            [f[3] for f in faces],
            [f[4] for f in faces],
            [f[5] for f in faces],
        )
        (still,) = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {} AS x JOIN unnest(%s::date[], %s::uuid[], %s::int[], %s::int[], %s::int[],"
                " %s::int[]) AS k (day, image_id, box_x, box_y, box_w, box_h) ON x.day = k.day AND x.image_id = k.image_id"
                " AND (x.box_x, x.box_y, x.box_w, x.box_h) = (k.box_x, k.box_y, k.box_w, k.box_h)"
                " WHERE x.identity_id = %s"
            ).format(_t(schema, "face_identity")),
            (*keys, into),
        ).fetchone()
        if still != len(faces):
            raise PeopleError(f"some faces of the merge are no longer in identity #{into}: nothing was undone")
        person = undo.get("person_id")
        if person:  # the name had gone with the merged faces: it comes back with them
            conn.execute(
                sql.SQL("UPDATE {} SET person_id = NULL WHERE identity_id = %s").format(_t(schema, "identities")),
                (into,),
            )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (identity_id, person_id, created_at) OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s)"
            ).format(_t(schema, "identities")),
            (other, person, undo["created_at"]),
        )
        conn.execute(
            sql.SQL(
                "UPDATE {} AS x SET identity_id = %s, how = k.how, distance = k.distance, assigned_at = k.assigned_at"
                " FROM unnest(%s::date[], %s::uuid[], %s::int[], %s::int[], %s::int[], %s::int[], %s::text[],"
                " %s::real[], %s::timestamptz[]) AS k (day, image_id, box_x, box_y, box_w, box_h, how, distance,"
                " assigned_at)"
                " WHERE x.day = k.day AND x.image_id = k.image_id"
                " AND (x.box_x, x.box_y, x.box_w, x.box_h) = (k.box_x, k.box_y, k.box_w, k.box_h)"
            ).format(_t(schema, "face_identity")),
            (other, *keys, [f[6] for f in faces], [f[7] for f in faces], [f[8] for f in faces]),
        )
        _recompute(conn, schema, [into, other])
        audit.record(
            conn,
            schema,
            "unmerge",
            identity_id=other,
            other_id=into,
            detail={"merge_op": merge_op, "faces_moved": len(faces)},
            actor=actor,
        )
    return {"identity_id": into, "restored": other, "faces_moved": len(faces)}
