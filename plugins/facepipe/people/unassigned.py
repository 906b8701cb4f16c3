"""Unassigned faces, grouped by likeness, for a person to decide on (the Faces view's
Unassigned page): name a group, add it (or some of its faces) to an identity, or dismiss
faces that are not faces.

The faces are the pool's (``identity_pool``: the faces of the last ``people_pool_days``
days that joined no identity, the ones each night tries to group). ``regroup`` links two
pooled faces when they are within ``join`` of each other (the distance at which the
nightly assignment links faces), nearest pairs first, never two faces of one photo into
one group (single linkage with that one constraint). Unlike the nightly clustering there
is no minimum size: two lone faces that look alike are offered as a group, and a lone face
too. Each group keeps the identity nearest its centre (by centroid, or by an enrolled
person's reference photo) when it is within the model's threshold ("looks like X?"). The groups are stored (``unassigned_groups``,
``unassigned_members``; revision 0012) so that a page reads one page of groups and their
faces, never the whole pool; each member goes with its pool row (ON DELETE CASCADE), so a
face assigned or forgotten since the grouping is never offered. ``regroup`` runs after each
night's assignment, and from the page when the groups are older than the audit trail and the
pool is small (``REGROUP_ON_PAGE``).

Its cost is exact distances between all pooled faces, in blocks: O(pool²·dimensions); a
face links through at most its ``NEAREST`` nearest (a crowd of one unnamed person's faces
stays a few edges per face). Measured on this 2-core machine while others ran (load 4-5,
128-d): 5,000 pooled faces 0.5 s, 20,000 6.5-8 s, 60,000 (a third in 200 crowds) 67 s, so
minutes at 100,000 (in face_report's assign task). A page's cost does not depend on the pool.
An incremental grouping (the night's new faces linked through the neighbours the nightly
clustering already finds) is the way past a few 100,000.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.db import load_sql
from facepipe.core.specs import ModelSpec
from facepipe.core.text import plural
from facepipe.people.identities import (
    PeopleError,
    PeopleSettings,
    _as_array,
    _binary,
    _identity,
    _identity_vectors,
    _insert_assignments,
    _lock,
    recompute_identities,
)

NEAREST = 16  # a face links through at most its 16 nearest pooled faces within the join distance
REGROUP_ON_PAGE = 5_000  # a page regroups a stale pool itself up to this many faces (about 0.3 s)
FaceRef = tuple[dt.date, uuid.UUID, int]  # (day, image_id, face_no): how the view names a face


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def _last_op(conn, schema: str) -> int:
    return conn.execute(sql.SQL("SELECT coalesce(max(op_no), 0) FROM {}").format(_t(schema, "audit"))).fetchone()[0]


def built(conn, schema: str) -> dict | None:
    row = conn.execute(
        sql.SQL("SELECT op_no, faces, built_at FROM {}").format(_t(schema, "unassigned_built"))
    ).fetchone()
    return None if row is None else {"op_no": row[0], "faces": row[1], "built_at": row[2]}


def stale(conn, schema: str) -> bool:
    b = built(conn, schema)
    return b is None or _last_op(conn, schema) > b["op_no"]


def pool_size(conn, schema: str) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_t(schema, "identity_pool"))).fetchone()[0]


def group_faces(keys: list, vectors, images: list, op: str, link: float) -> list[list[int]]:
    """Indexes of ``vectors`` grouped: pairs within ``link`` joined nearest first (single
    linkage), never two of one image (``images[i]``) in one group. Largest groups first."""
    import numpy as np

    from facepipe.core.suppression import distances

    n = len(keys)
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    sq = (v * v).sum(axis=1)
    unit = v / np.maximum(np.sqrt(sq), 1e-12)[:, None]
    k = min(NEAREST, n - 1)
    found_i, found_j = [], []
    step = max(16, 8_000_000 // max(n, 1))  # a distance block of at most 32 MB (float32)
    for start in range(0, n if k > 0 else 0, step):
        q = v[start : start + step]
        if op == "<->":  # squared distances by one matrix product (float32 BLAS)
            block = sq[start : start + step, None] + sq[None, :] - 2.0 * (q @ v.T)
            limit = (link * 1.01) ** 2
        elif op == "<=>":
            block = 1.0 - unit[start : start + step] @ unit.T
            limit = link * 1.01
        else:
            block = distances(op, q, v).astype(np.float32)
            limit = link
        rows = np.arange(len(q))
        block[rows, start + rows] = np.inf  # not itself
        r, c = np.nonzero(block <= limit)
        counts = np.bincount(r, minlength=len(q))
        if (counts > k).any():  # a dense crowd: each face links through its NEAREST nearest only
            keep = np.ones(len(r), dtype=bool)
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))
            for row in np.flatnonzero(counts > k):
                span = slice(first[row], first[row] + counts[row])
                far = np.argsort(block[row, c[span]], kind="stable")[k:]
                keep[first[row] + far] = False
            r, c = r[keep], c[keep]
        found_i.append(r + start)
        found_j.append(c)
    if found_i:
        ii, jj = np.concatenate(found_i), np.concatenate(found_j)
    else:
        ii = jj = np.zeros(0, dtype=np.int64)
    dd = _pair_distances(op, v[ii], v[jj]) if len(ii) else np.zeros(0)
    keep = dd <= link
    order = np.argsort(dd[keep], kind="stable")
    edges = zip(dd[keep][order].tolist(), ii[keep][order].tolist(), jj[keep][order].tolist())
    parent = list(range(n))
    photos = [{images[i]} for i in range(n)]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _d, i, j in edges:
        a, b = find(i), find(j)
        if a == b or photos[a] & photos[b]:
            continue
        if len(photos[a]) < len(photos[b]):
            a, b = b, a
        parent[b] = a
        photos[a] |= photos[b]
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), keys[g[0]]))


def _pair_distances(op: str, a, b):
    """pgvector's distance ``op`` between each row of ``a`` and the same row of ``b`` (float64)."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if op == "<->":
        return np.sqrt(((a - b) ** 2).sum(axis=1))
    if op == "<=>":
        return 1 - (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return -(a * b).sum(axis=1)


def _nearest_identities(centres, known: dict, op: str, threshold: float):
    """Each group centre's nearest identity within ``threshold`` (by centroid or an enrolled
    reference photo): identity ids (-1: none) and distances. Blocks of centres against all the
    known vectors at once (a matrix product a block, at most 32 MB of distances): a loop of one
    centre at a time copied every vector once per group (27 minutes for 100,000 groups and
    30,000 identities, bench/web.py)."""
    import numpy as np

    from facepipe.core.suppression import distances

    g = len(centres)
    near = np.full(g, -1, dtype=np.int64)
    near_d = np.full(g, np.inf)
    for ids, found in known.values():
        if found is None or not len(found):
            continue
        f64 = np.asarray(found, np.float64)
        ids = np.asarray(ids, dtype=np.int64)
        step = max(1, 4_000_000 // len(f64))
        for start in range(0, g, step):
            d = distances(op, centres[start : start + step], f64)  # (block, known)
            j = np.argmin(d, axis=1)
            dj = d[np.arange(len(j)), j]
            better = (dj < threshold) & (dj < near_d[start : start + step])
            near[start : start + step][better] = ids[j[better]]
            near_d[start : start + step][better] = dj[better]
    return near, near_d


def regroup(conn: psycopg.Connection, schema: str, model: ModelSpec, threshold: float, ps: PeopleSettings) -> dict:
    """Group the pool again (see the module's doc), in one transaction under the people lock."""
    import numpy as np

    with conn.transaction():
        _lock(conn)
        rows = _binary(
            conn,
            sql.SQL(
                "SELECT day, image_id, box_x, box_y, box_w, box_h, embedding FROM {} ORDER BY day, image_id, box_x, box_y"
            ).format(_t(schema, "identity_pool")),
            None,
        )
        conn.execute(sql.SQL("DELETE FROM {}").format(_t(schema, "unassigned_groups")))  # members go with them
        made = 0
        if rows:
            keys = [(r[0], r[1], (r[2], r[3], r[4], r[5])) for r in rows]
            vectors = np.stack([_as_array(r[6]).astype(np.float32) for r in rows])
            groups = group_faces(keys, vectors, [k[1] for k in keys], model.distance_op, ps.join * threshold)
            known = _identity_vectors(conn, schema)  # centroids, and enrolled reference photos
            near, near_d = _nearest_identities(
                np.stack([vectors[g].mean(axis=0) for g in groups]), known, model.distance_op, threshold
            )
            heads, members = [], []
            for gid, g in enumerate(groups, start=1):
                found = near[gid - 1] >= 0
                heads.append(
                    (gid, len(g), int(near[gid - 1]) if found else None, float(near_d[gid - 1]) if found else None)
                )
                members += [(keys[i][0], keys[i][1], *keys[i][2], gid) for i in g]
            with conn.cursor().copy(
                sql.SQL("COPY {} (group_id, size, near_identity, near_distance) FROM STDIN").format(
                    _t(schema, "unassigned_groups")
                )
            ) as copy:
                for h in heads:
                    copy.write_row(h)
            with conn.cursor().copy(
                sql.SQL("COPY {} (day, image_id, box_x, box_y, box_w, box_h, group_id) FROM STDIN").format(
                    _t(schema, "unassigned_members")
                )
            ) as copy:
                for m in members:
                    copy.write_row(m)
            made = len(heads)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (op_no, faces) VALUES (%s, %s)"
                " ON CONFLICT (one) DO UPDATE SET op_no = excluded.op_no, faces = excluded.faces, built_at = now()"
            ).format(_t(schema, "unassigned_built")),
            (_last_op(conn, schema), len(rows)),
        )
    return {"faces": len(rows), "groups": made}


def regroup_if_stale(conn, schema: str, model: ModelSpec, threshold: float, ps: PeopleSettings) -> bool:
    """The page's call: regroup when the groups are older than the audit trail and the pool is
    small enough to group in a page's time, and no night holds the people lock. True if done."""
    if not stale(conn, schema) or pool_size(conn, schema) > REGROUP_ON_PAGE:
        return False
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(hashtext('facepipe:people'))").fetchone()[0]
        if not got:
            return False
        regroup(conn, schema, model, threshold, ps)
    return True


def _faces(conn, schema: str, refs: list[FaceRef]) -> list[tuple]:
    """(day, image_id, face_no, box) of each face asked for, checked: it exists, has no
    identity, is not dismissed. PeopleError names what changed since the page was shown."""
    if not refs:
        raise PeopleError("choose at least one face")
    if len(set(refs)) != len(refs):
        raise PeopleError("a face was chosen twice")
    rows = conn.execute(
        load_sql("unassigned_faces_check.sql", schema=schema),
        {"days": [r[0] for r in refs], "image_ids": [r[1] for r in refs], "face_nos": [r[2] for r in refs]},
    ).fetchall()
    found = {(r[0], r[1], r[2]): r for r in rows}
    out = []
    for ref in refs:
        r = found.get(ref)
        if r is None:
            raise PeopleError("a chosen face is no longer there (forgotten, or its day loaded again)")
        if r[7] is not None:
            raise PeopleError("a chosen face has an identity now: the page was older than the latest change")
        if r[8]:
            raise PeopleError("a chosen face was dismissed as not a face already")
        out.append((r[0], r[1], r[2], tuple(r[3:7])))
    by_photo = defaultdict(int)
    for f in out:
        by_photo[f[1]] += 1
    if any(n > 1 for n in by_photo.values()):
        raise PeopleError("two of the chosen faces are in the same photo: two faces of one photo are two people")
    return out


def _keep_groups_current(conn, schema: str, before: int) -> None:
    """The groups stay current after this change (its faces left them with their pool rows)
    if they were current before it (``before``: the audit's newest op_no then)."""
    conn.execute(
        sql.SQL("UPDATE {} SET op_no = %s WHERE op_no >= %s").format(_t(schema, "unassigned_built")),
        (_last_op(conn, schema), before),
    )


def _unpool(conn, schema: str, faces: list[tuple]) -> None:
    conn.execute(
        sql.SQL(
            "DELETE FROM {} AS p USING unnest(%s::date[], %s::uuid[], %s::int[], %s::int[], %s::int[], %s::int[])"
            " AS k (day, image_id, box_x, box_y, box_w, box_h)"
            " WHERE p.day = k.day AND p.image_id = k.image_id"
            " AND (p.box_x, p.box_y, p.box_w, p.box_h) = (k.box_x, k.box_y, k.box_w, k.box_h)"
        ).format(_t(schema, "identity_pool")),
        _columns(faces),
    )


def _columns(faces: list[tuple]) -> tuple:
    return (
        [f[0] for f in faces],
        [f[1] for f in faces],
        [f[3][0] for f in faces],
        [f[3][1] for f in faces],
        [f[3][2] for f in faces],
        [f[3][3] for f in faces],
    )


def _detail(faces: list[tuple]) -> dict:
    return {
        "faces": len(faces),
        "keys": [{"day": f[0], "image_id": str(f[1]), "face_no": f[2], "box": list(f[3])} for f in faces[:500]],
    }


def add_faces(
    conn: psycopg.Connection,
    schema: str,
    refs: list[FaceRef],
    to: int | None = None,
    new_name: str | None = None,
    actor: str | None = None,
) -> dict:
    """Unassigned faces into identity ``to``, or into a new identity named ``new_name`` (as
    naming does: a name that is a person's already joins that person's identity). One
    transaction, recorded in audit (op 'add_faces', then 'name' when named)."""
    from facepipe.people.identities import name
    from facepipe.people.names import name_problem

    if (to is None) == (new_name is None):
        raise ValueError("give either an identity or a name")
    if new_name is not None:
        new_name = new_name.strip()
        if (why := name_problem(new_name)) is not None:
            raise PeopleError(why)
    with conn.transaction():
        _lock(conn)
        before = _last_op(conn, schema)
        faces = _faces(conn, schema, refs)
        to_name = None
        if to is not None:
            try:
                to_name = _identity(conn, schema, to)[2]
            except PeopleError:
                raise PeopleError(f"there is no identity #{to} now (merged or forgotten since)") from None
            clash = conn.execute(
                sql.SQL(
                    "SELECT 1 FROM {} WHERE identity_id = %s AND day = ANY(%s) AND image_id = ANY(%s) LIMIT 1"
                ).format(_t(schema, "face_identity")),
                (to, [f[0] for f in faces], [f[1] for f in faces]),
            ).fetchone()
            if clash:
                raise PeopleError(
                    f"identity #{to} already has a face in the photo of a chosen face: two faces of one photo are two people"
                )
        else:
            (to,) = conn.execute(
                sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING identity_id").format(_t(schema, "identities"))
            ).fetchone()
        _unpool(conn, schema, faces)
        _insert_assignments(conn, schema, [(f[0], f[1], f[3], to, "manual", None) for f in faces])
        recompute_identities(conn, schema, [to])
        audit.record(conn, schema, "add_faces", identity_id=to, detail=_detail(faces), actor=actor)
        result = {"identity_id": to, "name": to_name, "faces": len(faces), "days": sorted({f[0] for f in faces})}
        if new_name is not None:
            named = name(conn, schema, to, new_name, actor=actor)
            result = {
                **result,
                "identity_id": named["identity_id"],
                "name": new_name,
                "new": "merged_into" not in named,
            }
        _keep_groups_current(conn, schema, before)
    return result


def dismiss(conn: psycopg.Connection, schema: str, refs: list[FaceRef], actor: str | None = None) -> dict:
    """Unassigned faces marked as not a face: out of the pool and the groups, never joined or
    offered again, their open questions dropped; the faces' rows stay. Audited (op 'dismiss')."""
    with conn.transaction():
        _lock(conn)
        before = _last_op(conn, schema)
        faces = _faces(conn, schema, refs)
        who = actor or audit.who()
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (day, image_id, box_x, box_y, box_w, box_h, dismissed_by)"
                " SELECT k.*, %s FROM unnest(%s::date[], %s::uuid[], %s::int[], %s::int[], %s::int[], %s::int[]) AS k"
                " ON CONFLICT DO NOTHING"
            ).format(_t(schema, "dismissed_faces")),
            (who, *_columns(faces)),
        )
        _unpool(conn, schema, faces)
        conn.execute(
            sql.SQL(
                "DELETE FROM {} AS s USING unnest(%s::date[], %s::uuid[], %s::int[], %s::int[], %s::int[], %s::int[])"
                " AS k (day, image_id, box_x, box_y, box_w, box_h)"
                " WHERE s.kind = 'face' AND s.state = 'open' AND s.day = k.day AND s.image_id = k.image_id"
                " AND (s.box_x, s.box_y, s.box_w, s.box_h) = (k.box_x, k.box_y, k.box_w, k.box_h)"
            ).format(_t(schema, "suggestions")),
            _columns(faces),
        )
        audit.record(conn, schema, "dismiss", detail=_detail(faces), actor=who)
        _keep_groups_current(conn, schema, before)
    return {"faces": len(faces), "days": sorted({f[0] for f in faces})}


def describe(result: dict, op: str) -> str:
    """What a change did, in words."""
    n = plural(result["faces"], "face")
    if op == "dismiss":
        return f"{n} dismissed as not a face."
    if result.get("new"):
        return f"{n} named {result['name']}."
    if result.get("name"):
        return f"{n} added to {result['name']}."
    return f"{n} added to identity #{result['identity_id']}."
