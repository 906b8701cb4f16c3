"""Re-cluster: the nightly assignment run again over history, keeping every decision.

``facepipe people recluster [--since DAY] [--dry-run]``: the faces of the days from
``since`` on that a night assigned (how: identity, reference, cluster) are taken out of
their identities and assigned again, day by day, by today's ``assign_day``. What a
person decided stays:

- manual assignments (people move, a face suggestion answered yes, the faces of a merge
  answered yes) are never taken out;
- names: an identity that lost its faces takes back the new identity that holds most of
  them (its number, name and suggestions stay; the new one is folded into it);
- a suggestion answered no: the face is never put back in that identity, and two
  identities said to be two people are never folded into one.

One transaction; ``dry_run`` rolls it back after saying what would change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict

import psycopg
from psycopg import sql

from facepipe.core import audit
from facepipe.core.specs import ModelSpec


class _DryRun(Exception):
    pass


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def _assignments(conn, schema: str, since: dt.date) -> dict:
    return {
        (d, i, (x, y, w, h)): (ident, how)
        for d, i, x, y, w, h, ident, how in conn.execute(
            sql.SQL(
                "SELECT day, image_id, box_x, box_y, box_w, box_h, identity_id, how FROM {} WHERE day >= %s"
            ).format(_t(schema, "face_identity")),
            (since,),
        )
    }


def _set_identity(conn, schema: str, keys: list, identity_id: int | None) -> None:
    """Put faces (day, image_id, box) in ``identity_id``, or take them out (None)."""
    fi = _t(schema, "face_identity")
    with conn.cursor() as cur:
        if identity_id is None:
            cur.executemany(
                sql.SQL(
                    "DELETE FROM {} WHERE day = %s AND image_id = %s AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
                ).format(fi),
                [(d, i, *b) for d, i, b in keys],
            )
        else:
            cur.executemany(
                sql.SQL(
                    "UPDATE {} SET identity_id = %s WHERE day = %s AND image_id = %s"
                    " AND (box_x, box_y, box_w, box_h) = (%s, %s, %s, %s)"
                ).format(fi),
                [(identity_id, d, i, *b) for d, i, b in keys],
            )


def recluster(
    conn: psycopg.Connection,
    schema: str,
    model: ModelSpec,
    threshold: float,
    ps=None,
    since: dt.date | None = None,
    dry_run: bool = False,
    actor: str | None = None,
) -> dict:
    from facepipe.people.identities import PeopleSettings, _lock, assign_day, recompute_identities
    from facepipe.people.suggestions import refused_faces, refused_pairs

    ps = ps or PeopleSettings.from_env()
    out: dict = {}
    try:
        with conn.transaction():
            _lock(conn)
            first = conn.execute(sql.SQL("SELECT min(day) FROM {}").format(_t(schema, "faces"))).fetchone()[0]
            if first is None:
                return {"days": [], "faces_changed": 0, "dry_run": dry_run}
            since = max(since or first, first)
            days = [
                d
                for (d,) in conn.execute(
                    sql.SQL("SELECT DISTINCT day FROM {} WHERE day >= %s ORDER BY day").format(_t(schema, "faces")),
                    (since,),
                )
            ]
            before = _assignments(conn, schema, since)
            named = {
                i
                for (i,) in conn.execute(
                    sql.SQL("SELECT identity_id FROM {} WHERE person_id IS NOT NULL").format(_t(schema, "identities"))
                )
            }
            # 1. the nights' assignments of these days out, and the pool of these days
            auto = [k for k, (_, how) in before.items() if how != "manual"]
            _set_identity(conn, schema, auto, None)
            conn.execute(sql.SQL("DELETE FROM {} WHERE day >= %s").format(_t(schema, "identity_pool")), (since,))
            # Identities keep their centroids while the days run again (the faces join what they
            # joined before when clearly theirs); counts and centroids are exact again at the end.
            # 2. every day again, in order
            quiet = logging.getLogger("facepipe.people.identities")
            level = quiet.level
            quiet.setLevel(logging.WARNING)  # one line per day would bury what the command says
            try:
                nights = [assign_day(conn, schema, d, model, threshold, ps) for d in days]
            finally:
                quiet.setLevel(level)
            after = _assignments(conn, schema, since)
            # 3. each old identity takes back the new identity holding most of its old faces
            old_faces: dict[int, list] = defaultdict(list)
            for k, (ident, _) in before.items():
                old_faces[ident].append(k)
            existing = {v[0] for v in before.values()}
            new_ids = {v[0] for v in after.values()} - existing
            refused = refused_pairs(conn, schema)
            claimed: dict[int, int] = {}  # new identity -> old identity that takes it back
            order = sorted(old_faces, key=lambda i: (i not in named, -len(old_faces[i]), i))
            for old in order:
                votes = Counter(after[k][0] for k in old_faces[old] if k in after and after[k][0] in new_ids)
                for new, _n in votes.most_common():
                    if new not in claimed:
                        claimed[new] = old
                        break
            folded = 0
            for new, old in claimed.items():
                keys = [k for k, v in after.items() if v[0] == new]
                _set_identity(conn, schema, keys, old)
                for k in keys:
                    after[k] = (old, after[k][1])
                folded += 1
            # 4. answers of no hold: a face never in an identity it was said not to be; two
            # identities said to be two people keep their own old faces apart
            back_out = [
                k for k in refused_faces(conn, schema) if k[0] >= since and after.get(k[:3], (None,))[0] == k[3]
            ]
            _set_identity(conn, schema, [k[:3] for k in back_out], None)
            for k in back_out:
                after.pop(k[:3], None)
            split = []
            for a, b in refused:
                for k in old_faces.get(b, []):
                    if after.get(k, (None,))[0] == a:
                        split.append(k)
                        after[k] = (b, after[k][1])
            _set_identity(conn, schema, split, None)
            if split:
                with conn.cursor() as cur:
                    cur.executemany(
                        sql.SQL(
                            "INSERT INTO {} (day, image_id, box_x, box_y, box_w, box_h, identity_id, how)"
                            " SELECT %s, %s, %s, %s, %s, %s, %s, 'identity'"
                        ).format(_t(schema, "face_identity")),
                        [(d, i, *b, after[(d, i, b)][0]) for d, i, b in split],
                    )
            touched = {v[0] for v in before.values()} | {v[0] for v in after.values()}
            removed = recompute_identities(conn, schema, touched)
            changed = [k for k in set(before) | set(after) if before.get(k, (None,))[0] != after.get(k, (None,))[0]]
            left = {k for k in before if k not in after}
            joined = {k for k in after if k not in before}
            gone_ids = existing - {
                i
                for (i,) in conn.execute(
                    sql.SQL("SELECT identity_id FROM {} WHERE identity_id = ANY(%s)").format(_t(schema, "identities")),
                    (sorted(existing),),
                )
            }
            out = {
                "since": since.isoformat(),
                "days": [d.isoformat() for d in days],
                "faces_before": len(before),
                "faces_after": len(after),
                "faces_changed": len(changed),
                "faces_left_identities": len(left),
                "faces_given_identities": len(joined),
                "faces_moved_between": len(changed) - len(left) - len(joined),
                "identities_removed": len(gone_ids),
                "identities_new": len({v[0] for v in after.values()} - existing),
                "identities_taken_back": folded,
                "names_kept": len(named & {v[0] for v in after.values()}),
                "names": len(named),
                "manual_kept": sum(1 for _, how in before.values() if how == "manual"),
                "refused_faces_kept_out": len(back_out),
                "refused_pairs_kept_apart": len(split),
                "empty_removed": removed,
                "unsure": sum(n.get("unsure", 0) for n in nights),
                "asked_faces": sum(n.get("asked_faces", 0) for n in nights),
                "asked_merges": sum(n.get("asked_merges", 0) for n in nights),
                "changed_identities": sorted(
                    {before[k][0] for k in changed if k in before} | {after[k][0] for k in changed if k in after}
                ),
                "dry_run": dry_run,
            }
            if dry_run:
                raise _DryRun
            audit.record(
                conn,
                schema,
                "recluster",
                detail={k: v for k, v in out.items() if k != "changed_identities"},
                actor=actor,
            )
    except _DryRun:
        pass
    return out
