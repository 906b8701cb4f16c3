"""People: every loaded face belongs to at most one identity, kept across re-runs.

An identity is an enrolled person (people) or a group of unnamed faces. After
each day's load, ``assign_day`` gives the day's new faces an identity:

1. Faces of the day that the load drew again with a slightly different box keep
   their identity: old and new boxes of the same image are matched by overlap
   (IoU >= 0.5); assignments whose face is gone are dropped.
2. A new face joins an identity only when it is clearly that identity's
   (``PeopleSettings``; distances as fractions of the model's threshold): the
   nearest identity's centroid (exact: every new face against every centroid) is within
   ``join`` and within the identity's own radius (its newest members' largest
   distance to the centroid, plus ``radius_slack``), one of its
   ``members`` newest faces or an enrolled reference photo is within ``join``,
   and the next identity is at least ``margin`` farther than the nearest. A face
   that is within the threshold of an identity but not clearly its own is
   *unsure*: it joins nothing (a wrong join names a stranger, and a forget would
   delete a stranger's face) and waits in the pool.
3. The rest wait in ``identity_pool`` (the last ``pool_days`` days). A new face
   with at least ``min_faces`` pooled faces within the threshold (itself
   included, as DBSCAN's core points) starts a new identity with them; cores link,
   and border faces join a core, only within ``join``; a group whose centre is
   within ``duplicate`` of an identity's centroid is that identity's unsure faces,
   not a second identity; pooled faces stay there and are tried again by later
   nights' faces.

Two faces of one photo never join one identity. A night does a bounded number
of index searches per new face, so it costs in proportion to the day's faces.

The people operations (name, merge, move) are one transaction each, take the
same lock as the nightly assignment and are recorded in ``audit``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.db import load_sql
from facepipe.core.deployment import settings
from facepipe.core.specs import ModelSpec
from facepipe.core.suppression import iou
from facepipe.core.text import plural

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
FaceKey = tuple[dt.date, uuid.UUID, Box]  # (day, image_id, box): what face_identity is keyed by
CANDIDATES = 3  # identities examined per new face (by centroid, and by reference photo)
RADIUS_MIN_FACES = 20  # an identity's own radius counts from this many faces on
MIN_IOU = 0.5  # a re-run's box is the same face when it overlaps the old one this much


class PeopleError(ValueError):
    """A people operation that cannot be done as asked; nothing was changed."""


@dataclass(frozen=True)
class PeopleSettings:
    min_faces: int  # a new identity needs this many close unassigned faces (DBSCAN's minPts)
    pool_days: int  # unassigned faces wait this many days for a group
    neighbours: int  # pooled faces examined per new face
    # Joining an identity; distances are fractions of the model's threshold (dlib: 0.5).
    join: float = 0.9  # centroid, and nearest member or reference photo, at most this far
    margin: float = 0.1  # the next identity's centroid at least this much farther than the nearest
    radius_slack: float = 0.3  # at most the identity's radius (its farthest newest member) plus this
    members: int = 32  # newest faces of the nearest identity compared with the new face
    duplicate: float = 0.5  # a new group whose centre is this near an identity's centroid is not made

    @classmethod
    def from_env(cls) -> PeopleSettings:
        """The deployment's people_* settings (facepipe.core.config)."""
        s = settings()
        return cls(**{f.name: getattr(s, f"people_{f.name}") for f in dataclasses.fields(cls)})


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def _lock(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:people'))")


def _record(
    conn,
    schema: str,
    op: str,
    identity_id: int | None,
    other_id: int | None = None,
    detail: dict | None = None,
    actor: str | None = None,
) -> None:
    audit.record(conn, schema, op, identity_id=identity_id, other_id=other_id, detail=detail, actor=actor)


def match_boxes(old: list[Box], new: list[Box], min_iou: float = MIN_IOU) -> list[tuple[Box, Box]]:
    """Old and new boxes of one image paired one to one, best overlap first."""
    pairs = sorted(((iou(o, n), i, j) for i, o in enumerate(old) for j, n in enumerate(new)), reverse=True)
    used_old, used_new, out = set(), set(), []
    for score, i, j in pairs:
        if score < min_iou:
            break
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            out.append((old[i], new[j]))
    return out


class _Groups:
    """Union-find over face keys."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        self.parent[self.find(a)] = self.find(b)


# --- the nightly assignment -------------------------------------------------------


def _rekey(conn, schema: str, day: dt.date) -> dict:
    """Step 1: keep identities of faces the day's new load drew again (box overlap)."""
    old, new = defaultdict(list), defaultdict(list)
    for side, image_id, _face_no, *box in conn.execute(load_sql("people_orphans.sql", schema=schema), {"day": day}):
        (old if side == "old" else new)[image_id].append(tuple(box))
    kept = dropped = 0
    touched: set[int] = set()
    fi = _t(schema, "face_identity")
    for image_id, boxes in old.items():
        pairs = match_boxes(boxes, new.get(image_id, []))
        for o, n in pairs:
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET box_x = %s, box_y = %s, box_w = %s, box_h = %s"
                    " WHERE day = %s AND image_id = %s AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
                ).format(fi),
                (*n, day, image_id, *o),
            )
        kept += len(pairs)
        for o in set(boxes) - {o for o, _ in pairs}:
            (identity_id,) = conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE day = %s AND image_id = %s AND (box_x, box_y, box_w, box_h)"
                    " = (%s, %s, %s, %s) RETURNING identity_id"
                ).format(fi),
                (day, image_id, *o),
            ).fetchone()
            touched.add(identity_id)
            dropped += 1
    if kept:
        touched |= {
            r[0] for r in conn.execute(sql.SQL("SELECT DISTINCT identity_id FROM {} WHERE day = %s").format(fi), (day,))
        }
    return {"kept_by_overlap": kept, "dropped": dropped, "touched": touched}


def _link_people(conn, schema: str, model: ModelSpec, threshold: float) -> int:
    """Every enrolled person gets an identity: the unnamed one their reference photos
    are nearest to (it gets their name), else a new, empty one."""
    linked = 0
    for person_id, identity_id, distance in conn.execute(
        load_sql("people_link_persons.sql", schema=schema, op=model.distance_op), {"threshold": threshold}
    ).fetchall():
        taken = (
            identity_id is not None
            and conn.execute(
                sql.SQL(
                    "UPDATE {} SET person_id = %s, updated_at = now() WHERE identity_id = %s AND person_id IS NULL"
                ).format(_t(schema, "identities")),
                (person_id, identity_id),
            ).rowcount
        )
        if taken:
            _record(conn, schema, "link", identity_id, detail={"person_id": str(person_id), "distance": distance})
            linked += 1
        else:
            conn.execute(
                sql.SQL("INSERT INTO {} (person_id) VALUES (%s)").format(_t(schema, "identities")), (person_id,)
            )
    return linked


def _taken_by_image(conn, schema: str, day: dt.date) -> dict[uuid.UUID, set[int]]:
    taken: dict[uuid.UUID, set[int]] = defaultdict(set)
    for image_id, identity_id in conn.execute(
        sql.SQL("SELECT image_id, identity_id FROM {} WHERE day = %s").format(_t(schema, "face_identity")), (day,)
    ):
        taken[image_id].add(identity_id)
    return taken


def _insert_assignments(conn, schema: str, rows: list[tuple]) -> None:
    """rows: (day, image_id, box, identity_id, how, distance)."""
    if not rows:
        return
    with conn.cursor().copy(
        sql.SQL("COPY {} (day, image_id, box_x, box_y, box_w, box_h, identity_id, how, distance) FROM STDIN").format(
            _t(schema, "face_identity")
        )
    ) as copy:
        for day, image_id, box, identity_id, how, distance in rows:
            copy.write_row((day, image_id, *box, identity_id, how, distance))


def _recompute(conn, schema: str, ids) -> None:
    ids = sorted(ids)
    if ids:
        conn.execute(load_sql("people_recompute.sql", schema=schema), {"ids": ids})


def recompute_identities(conn, schema: str, ids) -> int:
    """Face counts and centroids of identities that lost faces (a forget, retention);
    the unnamed ones left without a face are deleted. Returns how many were deleted."""
    ids = sorted(i for i in ids if i is not None)
    if not ids:
        return 0
    _recompute(conn, schema, ids)
    return conn.execute(
        sql.SQL(
            "DELETE FROM {i} AS i WHERE i.identity_id = ANY(%s) AND i.person_id IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM {fi} AS a WHERE a.identity_id = i.identity_id)"
        ).format(i=_t(schema, "identities"), fi=_t(schema, "face_identity")),
        (ids,),
    ).rowcount


def _members(conn, schema: str, ids: list[int], m: int) -> dict[int, np.ndarray]:
    """The ``m`` newest faces' embeddings of each identity, and its enrolled reference photos."""
    import numpy as np

    out: dict[int, list] = defaultdict(list)
    for identity_id, embedding in _binary(conn, load_sql("people_members.sql", schema=schema), {"ids": ids, "m": m}):
        out[identity_id].append(_as_array(embedding))
    return {i: np.asarray(v, dtype=np.float32) for i, v in out.items()}


def _identity_vectors(conn, schema: str) -> dict[str, tuple]:
    """Every identity's centroid, and every enrolled reference photo with its person's
    identity: {"identity": (ids, vectors), "reference": (ids, vectors)}."""
    import numpy as np

    out = {}
    for how, query in (
        (
            "identity",
            sql.SQL("SELECT identity_id, centroid FROM {} WHERE centroid IS NOT NULL").format(_t(schema, "identities")),
        ),
        (
            "reference",
            sql.SQL("SELECT i.identity_id, r.embedding FROM {} AS r JOIN {} AS i USING (person_id)").format(
                _t(schema, "person_refs"), _t(schema, "identities")
            ),
        ),
    ):
        rows = _binary(conn, query, None)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.stack([_as_array(r[1]).astype(np.float32) for r in rows]) if rows else None
        out[how] = (ids, vectors)
    return out


def _candidates(faces: dict, known: dict[str, tuple], model: ModelSpec, k: int, limit: float) -> dict:
    """For each new face: its ``k`` nearest identities by centroid and its ``k`` nearest by
    enrolled reference photo (``known``: _identity_vectors), those nearer than ``limit``:
    {face: {identity: (distance, how)}}. Exact, in numpy: every face against every centroid
    (10,000 identities and 33,000 faces take a few seconds; the HNSW search it replaced took
    55 s at ef_search 100, and could miss the second-nearest identity the margin rule needs)."""
    import numpy as np

    from facepipe.core.suppression import distances

    cands: dict = defaultdict(dict)
    keys = list(faces)
    queries = np.stack([faces[key] for key in keys])
    for how, (ids, vectors) in known.items():
        if vectors is None:
            continue
        step = max(64, 8_000_000 // len(ids))  # a distance block of at most 64 MB
        for start in range(0, len(keys), step):
            block = distances(model.distance_op, queries[start : start + step], vectors)
            for row, d in zip(range(start, start + len(block)), block):
                near = np.flatnonzero(d < limit)
                best: dict[int, float] = {}
                for j in near[np.argsort(d[near], kind="stable")]:
                    if len(best) == k and int(ids[j]) not in best:
                        break
                    best.setdefault(int(ids[j]), float(d[j]))  # a person's nearest reference photo
                for identity_id, distance in best.items():
                    if identity_id not in cands[keys[row]] or distance < cands[keys[row]][identity_id][0]:
                        cands[keys[row]][identity_id] = (distance, how)
    return cands


@dataclass(frozen=True)
class Unsure:
    """A face within the threshold of an identity that did not clearly join it (why: the test it failed)."""

    day: dt.date
    image_id: uuid.UUID
    box: Box
    identity_id: int
    distance: float  # to the identity's centroid (or nearest reference photo)
    nearest_member: float | None
    next_distance: float | None  # the next identity's centroid
    why: str
    next_id: int | None = None  # the next identity


def _join_clear(
    conn,
    schema: str,
    day: dt.date,
    model: ModelSpec,
    threshold: float,
    ps: PeopleSettings,
    taken: dict[uuid.UUID, set[int]],
) -> tuple[list[tuple], list[Unsure]]:
    """Step 2: new faces join their nearest identity when it is clearly theirs (see the module's doc),
    never one that already holds a face of the same photo. Returns (joined rows, unsure faces)."""
    import numpy as np

    from facepipe.core.suppression import distances
    from facepipe.people.suggestions import refused_faces

    join, margin = ps.join * threshold, ps.margin * threshold
    refused = refused_faces(conn, schema, day)
    faces = {
        (image_id, (x, y, w, h)): _as_array(e).astype(np.float32)
        for image_id, x, y, w, h, e in _binary(conn, load_sql("people_new_faces.sql", schema=schema), {"day": day})
    }
    if not faces:
        return [], []
    known = _identity_vectors(conn, schema)
    cands = _candidates(faces, known, model, CANDIDATES, threshold + margin)
    ranked = {k: sorted((d, how, i) for i, (d, how) in c.items()) for k, c in cands.items()}
    best_ids = sorted({r[0][2] for r in ranked.values() if r[0][0] < threshold})
    members = _members(conn, schema, best_ids, ps.members) if best_ids else {}
    ids, vectors = known["identity"]
    row_of = {int(i): n for n, i in enumerate(ids)}
    centroids = {i: vectors[row_of[i]] for i in best_ids if i in row_of}
    radius = {}
    for i, m in members.items():
        if i in centroids and len(m) >= RADIUS_MIN_FACES:
            radius[i] = float(distances(model.distance_op, m, centroids[i]).max()) + ps.radius_slack * threshold
    tried = []  # (distance, face, identity, how, nearest member, next distance)
    unsure: list[Unsure] = []
    for key, r in ranked.items():
        d1, how, identity_id = r[0]
        if d1 >= threshold:
            continue
        d2, next_id = next(((d, i) for d, _, i in r[1:] if i != identity_id), (None, None))
        if (day, *key, identity_id) in refused:  # a person said no: never joined, never asked again
            continue
        m = members.get(identity_id)
        dm = float(distances(model.distance_op, m, faces[key]).min()) if m is not None and len(m) else None
        why = None
        if d1 > join:
            why = "far"
        elif identity_id in radius and d1 > radius[identity_id]:
            why = "outside its radius"
        elif dm is not None and dm > join:  # none at all: only while a re-cluster runs the days again
            why = "no close member"
        elif d2 is not None and d2 - d1 < margin:
            why = "another identity as near"
        if why is None:
            tried.append((d1, key, identity_id, how, dm, d2))
        else:
            unsure.append(Unsure(day, key[0], key[1], identity_id, d1, dm, d2, why, next_id))
    rows = []
    for d1, (image_id, box), identity_id, how, dm, d2 in sorted(tried, key=lambda t: t[0]):
        if identity_id in taken[image_id]:
            unsure.append(Unsure(day, image_id, box, identity_id, d1, dm, d2, "its photo has a face in it"))
            continue
        taken[image_id].add(identity_id)
        rows.append((day, image_id, box, identity_id, how, d1))
    _insert_assignments(conn, schema, rows)
    return rows, unsure


def _cluster_pool(
    conn,
    schema: str,
    day: dt.date,
    model: ModelSpec,
    threshold: float,
    ps: PeopleSettings,
    taken: dict[uuid.UUID, set[int]],
) -> tuple[int, int, list[Unsure]]:
    """Step 3: dense groups of pooled faces around the day's unassigned faces become
    new identities, unless the group's centre is within ``duplicate`` of an identity's
    centroid: then they are that identity's unsure faces (a second identity of one person
    would make every later face of theirs unsure). Returns (identities made, faces in
    them, faces of groups not made)."""
    conn.execute(load_sql("people_pool_fill.sql", schema=schema), {"day": day})
    near: dict[FaceKey, list[tuple[float, FaceKey]]] = defaultdict(list)
    for image_id, x, y, w, h, nday, nimage, nx, ny, nw, nh, distance in conn.execute(
        load_sql("people_pool_neighbours.sql", schema=schema, op=model.distance_op),
        {"day": day, "k": ps.neighbours, "threshold": threshold},
    ):
        near[(day, image_id, (x, y, w, h))].append((float(distance), (nday, nimage, (nx, ny, nw, nh))))
    # Core faces: at least min_faces pooled faces (itself included) within the threshold,
    # counting at most one face per photo (two faces of one photo are two people).
    core = {k for k, ns in near.items() if len({n[1] for _, n in ns}) >= ps.min_faces}
    groups = _Groups()
    # Cores link within ``join`` only: two look-alikes' dense groups a little closer than the
    # threshold stay two groups.
    link = ps.join * threshold
    for k in core:
        groups.find(k)
        for d, n in near[k]:
            if n in core and n[1] != k[1] and d <= link:
                groups.union(k, n)
    # Every core's neighbours join its group (DBSCAN's border points), nearest core first.
    claims = sorted((d, groups.find(k), n) for k in core for d, n in near[k] if d <= link)
    members: dict = defaultdict(dict)  # group -> {face key: distance}
    placed, images_of = set(), defaultdict(set)
    for d, g, n in claims:
        if n in placed or n[1] in images_of[g]:
            continue
        placed.add(n)
        images_of[g].add(n[1])
        members[g][n] = d
    made = faces = 0
    blocked: list[Unsure] = []
    pool = _t(schema, "identity_pool")
    for faces_of in members.values():
        if len(faces_of) < ps.min_faces:
            continue
        keys = list(faces_of)
        near_id = conn.execute(
            load_sql("people_group_nearest.sql", schema=schema, op=model.distance_op),
            {
                "days": [k[0] for k in keys],
                "image_ids": [k[1] for k in keys],
                "x": [k[2][0] for k in keys],
                "y": [k[2][1] for k in keys],
                "w": [k[2][2] for k in keys],
                "h": [k[2][3] for k in keys],
            },
        ).fetchone()
        if near_id is not None and near_id[1] is not None and near_id[1] < ps.duplicate * threshold:
            blocked += [
                Unsure(k[0], k[1], k[2], near_id[0], float(near_id[1]), None, None, "group like it") for k in keys
            ]
            continue
        (identity_id,) = conn.execute(
            sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING identity_id").format(_t(schema, "identities"))
        ).fetchone()
        rows = [(k[0], k[1], k[2], identity_id, "cluster", d) for k, d in faces_of.items()]
        _insert_assignments(conn, schema, rows)
        for k in faces_of:
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE day = %s AND image_id = %s"
                    " AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
                ).format(pool),
                (k[0], k[1], *k[2]),
            )
            if k[0] == day:
                taken[k[1]].add(identity_id)
        _recompute(conn, schema, [identity_id])
        made += 1
        faces += len(rows)
    return made, faces, blocked


def _ask(conn, schema: str, model: ModelSpec, threshold: float, unsure: list[Unsure]) -> dict:
    """Step 4: the night's doubts become suggestions (facepipe.people.suggestions): a 'face'
    question per unsure face, a 'merge' question per pair of identities a face could not
    tell apart whose centroids are within the threshold; questions whose face has an
    identity now are dropped."""
    from facepipe.core.db import table_exists
    from facepipe.people import suggestions

    if not table_exists(conn, schema, "suggestions"):
        return {}
    pairs: dict[tuple[int, int], dict] = {}
    for u in unsure:
        if u.why == "another identity as near" and u.next_id is not None:
            a, b = sorted((u.identity_id, u.next_id))
            e = pairs.setdefault((a, b), {"faces_between": 0, "closest_face_distances": None})
            e["faces_between"] += 1
            if e["closest_face_distances"] is None or u.distance < e["closest_face_distances"][0]:
                e["closest_face_distances"] = [round(u.distance, 4), round(u.next_distance or 0.0, 4)]
    return {
        "asked_faces": suggestions.ask_faces(conn, schema, unsure),
        "asked_merges": suggestions.ask_merges(conn, schema, pairs, threshold, model.distance_op),
        "questions_settled": suggestions.settle(conn, schema),
    }


def _binary(conn, query, params) -> list[tuple]:
    """Rows with their vectors in binary (at 1M faces the join reads 320,000 member
    vectors: 22 s parsed from text, 6 s binary)."""
    with conn.cursor(binary=True) as cur:
        return cur.execute(query, params).fetchall()


def _as_array(value):
    import numpy as np

    return value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value)


def _add_to_centroids(conn, schema: str, model: ModelSpec, rows: list[tuple]) -> None:
    """Centroids of the identities that gained faces tonight, updated with those faces
    only: (centroid * n + sum of the new faces) / (n + k)."""
    from facepipe.core.db import vector_value

    if not rows:
        return
    sums = _binary(
        conn,
        sql.SQL("""
        SELECT n.identity_id, count(*), sum(f.embedding)
        FROM unnest(%(image_id)s::uuid[], %(x)s::int[], %(y)s::int[], %(w)s::int[], %(h)s::int[], %(ids)s::bigint[])
             AS n (image_id, box_x, box_y, box_w, box_h, identity_id)
        JOIN {faces} AS f ON f.day = %(day)s AND f.image_id = n.image_id
         AND (f.box_x, f.box_y, f.box_w, f.box_h) = (n.box_x, n.box_y, n.box_w, n.box_h)
        GROUP BY n.identity_id""").format(faces=_t(schema, "faces")),
        {
            "day": rows[0][0],
            "image_id": [r[1] for r in rows],
            "x": [r[2][0] for r in rows],
            "y": [r[2][1] for r in rows],
            "w": [r[2][2] for r in rows],
            "h": [r[2][3] for r in rows],
            "ids": [r[3] for r in rows],
        },
    )
    now = {
        i: (n, c)
        for i, n, c in _binary(
            conn,
            sql.SQL("SELECT identity_id, faces, centroid FROM {} WHERE identity_id = ANY(%s)").format(
                _t(schema, "identities")
            ),
            ([r[0] for r in sums],),
        )
    }
    updates = []
    for identity_id, k, total in sums:
        n, centroid = now[identity_id]
        total = _as_array(total).astype("float64")
        mean = total / k if centroid is None or n == 0 else (_as_array(centroid) * n + total) / (n + k)
        updates.append((n + k, vector_value(model, mean.astype("float32")), identity_id))
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("UPDATE {} SET faces = %s, centroid = %s, updated_at = now() WHERE identity_id = %s").format(
                _t(schema, "identities")
            ),
            updates,
        )


def assign_day(
    conn: psycopg.Connection,
    schema: str,
    day: dt.date,
    model: ModelSpec,
    threshold: float,
    ps: PeopleSettings | None = None,
) -> dict:
    """Give the day's faces their identities, in one transaction (see the module's doc)."""
    ps = ps or PeopleSettings.from_env()
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(step: str) -> None:
        now = time.perf_counter()
        seconds[step] = round(now - clock[0], 2)
        clock[0] = now

    with conn.transaction():
        _lock(conn)
        conn.execute("SET LOCAL hnsw.ef_search = 100")
        conn.execute(sql.SQL("DELETE FROM {} WHERE day = %s").format(_t(schema, "identity_pool")), (day,))
        re = _rekey(conn, schema, day)
        linked = _link_people(conn, schema, model, threshold)
        taken = _taken_by_image(conn, schema, day)
        lap("rekey")
        joined, unsure = _join_clear(conn, schema, day, model, threshold, ps, taken)
        lap("join")
        _add_to_centroids(conn, schema, model, joined)
        lap("centroids")
        made, clustered, blocked = _cluster_pool(conn, schema, day, model, threshold, ps, taken)
        unsure += blocked
        lap("cluster")
        asked = _ask(conn, schema, model, threshold, unsure)
        # Faces that joined a cluster left the pool; the rest of the day's faces are in it.
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE day < %s").format(_t(schema, "identity_pool")),
            (day - dt.timedelta(days=ps.pool_days),),
        )
        _recompute(conn, schema, re["touched"])
        emptied = conn.execute(
            sql.SQL(
                "DELETE FROM {i} AS i WHERE i.person_id IS NULL AND i.identity_id = ANY(%s)"
                " AND NOT EXISTS (SELECT 1 FROM {fi} AS a WHERE a.identity_id = i.identity_id)"
            ).format(i=_t(schema, "identities"), fi=_t(schema, "face_identity")),
            (sorted(re["touched"]),),
        ).rowcount
        pooled = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE day = %s").format(_t(schema, "identity_pool")), (day,)
        ).fetchone()[0]
        counts = {
            "day": day.isoformat(),
            "kept_by_overlap": re["kept_by_overlap"],
            "dropped": re["dropped"],
            "joined": len(joined),
            "unsure": sum(1 for u in unsure if u.day == day),  # the day's faces not clearly one identity
            "unsure_why": dict(Counter(u.why for u in unsure if u.day == day)),
            "unsure_older": sum(1 for u in unsure if u.day != day),  # pooled faces of groups like an identity
            **asked,
            "new_identities": made,
            "clustered": clustered,
            "pooled": pooled,
            "people_linked": linked,
            "empty_identities_removed": emptied,
        }
        lap("finish")
        counts["seconds"] = seconds
        _record(conn, schema, "assign", None, detail=counts)
    log.info("identities for %s: %s", day, counts)
    return counts


# --- people operations ------------------------------------------------------------


def list_identities(
    conn: psycopg.Connection,
    schema: str,
    *,
    named: bool | None = None,
    min_faces: int = 1,
    identity_id: int | None = None,
    limit: int = 1000,
    hidden: bool = True,
) -> list[dict]:
    """Identities with their counts; ``hidden``: hidden ones too (facepipe.people.hiding)."""
    cur = conn.execute(
        load_sql("people_list.sql", schema=schema),
        {"named": named, "min_faces": min_faces, "identity_id": identity_id, "limit": limit, "hidden": hidden},
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def identity_faces(
    conn: psycopg.Connection, schema: str, identity_id: int, limit: int = 1000, offset: int = 0
) -> list[dict]:
    cur = conn.execute(
        load_sql("people_faces.sql", schema=schema), {"identity_id": identity_id, "limit": limit, "offset": offset}
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _identity(conn, schema: str, identity_id: int) -> tuple[int, uuid.UUID | None, str | None]:
    row = conn.execute(
        sql.SQL(
            "SELECT i.identity_id, i.person_id, p.name FROM {i} AS i LEFT JOIN {p} AS p"
            " USING (person_id) WHERE i.identity_id = %s FOR UPDATE OF i"
        ).format(i=_t(schema, "identities"), p=_t(schema, "people")),
        (identity_id,),
    ).fetchone()
    if row is None:
        raise PeopleError(
            f"no identity {identity_id} (`facepipe people list` and the Faces view's People page show them)"
        )
    return row


def _shared_photos(conn, schema: str, a: int, b: int) -> list[str]:
    """Photos with a face in identity a and another in identity b."""
    return [
        u
        for (u,) in conn.execute(
            sql.SQL(
                "SELECT DISTINCT i.uri FROM {fi} AS x JOIN {fi} AS y USING (day, image_id)"
                " JOIN {im} AS i USING (day, image_id) WHERE x.identity_id = %s AND y.identity_id = %s ORDER BY 1 LIMIT 5"
            ).format(fi=_t(schema, "face_identity"), im=_t(schema, "images")),
            (a, b),
        )
    ]


def _merge(conn, schema: str, into: int, other: int) -> int:
    hidden = {
        i
        for (i,) in conn.execute(
            sql.SQL("SELECT identity_id FROM {} WHERE identity_id = ANY(%s) AND hidden_at IS NOT NULL").format(
                _t(schema, "identities")
            ),
            ([into, other],),
        )
    }
    if other in hidden and into not in hidden:  # its faces (and name) would be shown again, unasked
        raise PeopleError(
            f"identity {other} is hidden: merging it into {into}, which is not, would show its faces again."
            f" Show it again first (people unhide {other}), or merge {into} into it"
        )
    shared = _shared_photos(conn, schema, into, other)
    if shared:
        raise PeopleError(
            f"identities {into} and {other} both have a face in the same photo ({shared[0]}"
            f"{f' and {len(shared) - 1} more' if len(shared) > 1 else ''}): two faces of one photo"
            " are two people. Move the wrong face out first (people move)."
        )
    moved = conn.execute(
        sql.SQL("UPDATE {} SET identity_id = %s WHERE identity_id = %s").format(_t(schema, "face_identity")),
        (into, other),
    ).rowcount
    conn.execute(sql.SQL("DELETE FROM {} WHERE identity_id = %s").format(_t(schema, "identities")), (other,))
    _recompute(conn, schema, [into])
    return moved


def merge(conn: psycopg.Connection, schema: str, into: int, other: int, actor: str | None = None) -> dict:
    """Move every face of ``other`` into ``into`` and delete ``other``. Refused when
    both are named after different people, or when they share a photo."""
    if into == other:
        raise PeopleError("an identity cannot be merged with itself")
    with conn.transaction():
        _lock(conn)
        _, person_a, name_a = _identity(conn, schema, into)
        _, person_b, name_b = _identity(conn, schema, other)
        if person_a and person_b:
            raise PeopleError(
                f"identity {into} is {name_a} and {other} is {name_b}: merging would lose a person."
                " Move the faces that are wrong instead (people move)."
            )
        if person_b:  # the name goes with the merged faces
            conn.execute(
                sql.SQL("UPDATE {} SET person_id = NULL WHERE identity_id = %s").format(_t(schema, "identities")),
                (other,),
            )
            conn.execute(
                sql.SQL("UPDATE {} SET person_id = %s, updated_at = now() WHERE identity_id = %s").format(
                    _t(schema, "identities")
                ),
                (person_b, into),
            )
        undo = before_merge(conn, schema, other, person_b)  # what facepipe.people.unmerge needs
        moved = _merge(conn, schema, into, other)
        detail = {"faces_moved": moved, "name": name_a or name_b}
        op_no = audit.record(
            conn, schema, "merge", identity_id=into, other_id=other, detail={**detail, "undo": undo}, actor=actor
        )
    return {"identity_id": into, "merged": other, **detail, "op_no": op_no, "undoable": undo is not None}


def name(conn: psycopg.Connection, schema: str, identity_id: int, new_name: str, actor: str | None = None) -> dict:
    """Name an identity: it becomes a person (people), its faces sightings. A name
    that is already a person's: the identity is merged into that person's."""
    from facepipe.people.names import name_problem
    from facepipe.people.names import person_id as person_id_of

    new_name = new_name.strip()
    if (why := name_problem(new_name)) is not None:
        raise PeopleError(why)
    with conn.transaction():
        _lock(conn)
        _, person, old_name = _identity(conn, schema, identity_id)
        if old_name == new_name:
            return {"identity_id": identity_id, "name": new_name, "changed": False}
        row = conn.execute(
            sql.SQL(
                "SELECT p.person_id, i.identity_id FROM {p} AS p LEFT JOIN {i} AS i USING (person_id) WHERE p.name = %s"
            ).format(p=_t(schema, "people"), i=_t(schema, "identities")),
            (new_name,),
        ).fetchone()
        detail: dict = {"name": new_name, "was": old_name}
        target = identity_id
        if row is not None and row[1] is not None:  # that person already has an identity: one person, one identity
            if person is not None:
                raise PeopleError(
                    f"identity {identity_id} is {old_name} and {new_name} is identity {row[1]}:"
                    f" to make them one, merge them (people merge {row[1]} {identity_id})"
                )
            detail["faces_moved"] = _merge(conn, schema, row[1], identity_id)
            detail["merged_into"] = target = row[1]
        elif row is not None:  # an enrolled person with no identity yet
            conn.execute(
                sql.SQL("UPDATE {} SET person_id = %s, updated_at = now() WHERE identity_id = %s").format(
                    _t(schema, "identities")
                ),
                (row[0], identity_id),
            )
        elif person is not None:  # a rename
            refs = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE person_id = %s").format(_t(schema, "person_refs")), (person,)
            ).fetchone()[0]
            if refs:
                raise PeopleError(
                    f"{old_name} is enrolled from the people folder ({plural(refs, 'photo')}): rename the"
                    " folder and enrol again, or it comes back under its old name"
                )
            pid = person_id_of(new_name)
            conn.execute(load_sql("enrol_person.sql", schema=schema), {"person_id": pid, "name": new_name})
            conn.execute(
                sql.SQL("UPDATE {} SET person_id = %s, updated_at = now() WHERE identity_id = %s").format(
                    _t(schema, "identities")
                ),
                (pid, identity_id),
            )
            conn.execute(sql.SQL("DELETE FROM {} WHERE person_id = %s").format(_t(schema, "people")), (person,))
        else:
            pid = person_id_of(new_name)
            conn.execute(load_sql("enrol_person.sql", schema=schema), {"person_id": pid, "name": new_name})
            conn.execute(
                sql.SQL("UPDATE {} SET person_id = %s, updated_at = now() WHERE identity_id = %s").format(
                    _t(schema, "identities")
                ),
                (pid, identity_id),
            )
        _record(conn, schema, "name", target, identity_id if target != identity_id else None, detail, actor)
    return {"identity_id": target, "name": new_name, "changed": True, **detail}


def move(
    conn: psycopg.Connection,
    schema: str,
    day: dt.date,
    image_id: uuid.UUID,
    face_no: int,
    to: int | None = None,
    actor: str | None = None,
) -> dict:
    """Move one face (its day, image and face_no, as the reports show them) out of its
    identity: into identity ``to``, or into a new identity of its own. The nightly
    assignment never moves it back (its assignment is manual)."""
    with conn.transaction():
        _lock(conn)
        face = conn.execute(
            sql.SQL(
                "SELECT f.box_x, f.box_y, f.box_w, f.box_h, a.identity_id FROM {f} AS f LEFT JOIN {fi} AS a"
                " ON a.day = f.day AND a.image_id = f.image_id"
                " AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h)"
                " WHERE f.day = %s AND f.image_id = %s AND f.face_no = %s"
            ).format(f=_t(schema, "faces"), fi=_t(schema, "face_identity")),
            (day, image_id, face_no),
        ).fetchone()
        if face is None:
            raise PeopleError(f"no face {face_no} of image {image_id} on {day}")
        box, old = tuple(face[:4]), face[4]
        if to is not None:
            _identity(conn, schema, to)
            if to == old:
                raise PeopleError(f"the face is already in identity {to}")
            clash = conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE day = %s AND image_id = %s AND identity_id = %s").format(
                    _t(schema, "face_identity")
                ),
                (day, image_id, to),
            ).fetchone()
            if clash:
                raise PeopleError(
                    f"identity {to} already has a face in this photo: two faces of one photo are two people"
                )
        else:
            (to,) = conn.execute(
                sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING identity_id").format(_t(schema, "identities"))
            ).fetchone()
        key = (day, image_id, *box)
        conn.execute(
            sql.SQL(
                "DELETE FROM {} WHERE day = %s AND image_id = %s AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
            ).format(_t(schema, "face_identity")),
            key,
        )
        conn.execute(
            sql.SQL(
                "DELETE FROM {} WHERE day = %s AND image_id = %s AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
            ).format(_t(schema, "identity_pool")),
            key,
        )
        _insert_assignments(conn, schema, [(day, image_id, box, to, "manual", None)])
        recompute_identities(conn, schema, [old, to])  # the face's old identity goes if that left it empty
        detail = {"day": day, "image_id": str(image_id), "face_no": face_no, "box": list(box)}
        _record(conn, schema, "move", to, old, detail, actor)
    return {"identity_id": to, "from": old, **detail}


def ops(conn: psycopg.Connection, schema: str, limit: int = 50) -> list[dict]:
    """The newest audit rows (people operations, forgets, retention)."""
    return audit.entries(conn, schema, limit)


# --- what undoing a merge needs (facepipe.people.unmerge) ---

UNDO_MAX_FACES = 5000  # a larger merge is not recorded for undo (its audit row would be large)


def before_merge(conn, schema: str, other: int, person_b) -> dict | None:
    """What undoing the merge of ``other`` needs, read before its faces move."""
    (created,) = conn.execute(
        sql.SQL("SELECT created_at FROM {} WHERE identity_id = %s").format(_t(schema, "identities")), (other,)
    ).fetchone()
    faces = conn.execute(
        sql.SQL(
            "SELECT day, image_id, box_x, box_y, box_w, box_h, how, distance, assigned_at FROM {}"
            " WHERE identity_id = %s ORDER BY day, image_id, box_x, box_y LIMIT %s"
        ).format(_t(schema, "face_identity")),
        (other, UNDO_MAX_FACES + 1),
    ).fetchall()
    if len(faces) > UNDO_MAX_FACES:
        return None
    return {
        "created_at": created.isoformat(),
        "person_id": str(person_b) if person_b else None,
        "faces": [[str(f[0]), str(f[1]), *f[2:6], f[6], f[7], f[8].isoformat()] for f in faces],
    }
