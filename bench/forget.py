"""Section 8: what a forget costs, and whether it finds the person's faces.

    bench/forget.py [--faces 300000] [--days 10] [--state bench/results/state]

Synthetic 128-d faces with known identities (bench/identities.py's Faces: two faces of
one person about 0.4 apart, dlib's threshold 0.5 unchanged), loaded into facepipe's
day partitions and HNSW-indexed day by day as a night leaves them. One recurring person
is enrolled with three of their faces as reference photos, then forgotten
(facepipe.privacy.forget.forget_person, no report folder).

Quality: of that person's faces, the share the forget removed (recall), and how many
faces of other people it removed with them (over-removal).

Speed, as a ratio against a baseline run side by side on the same schema: the forget's
wall time against re-indexing the days it touched (facepipe.ingest.store.index_day after
dropping each day's HNSW index), since most of a forget is rewriting those days'
partitions with their index (VACUUM FULL). The forget is split into its transaction
(finding, deleting, suppressing) and what follows the commit (rewrites, statistics).
A forget of one photo is timed the same way against re-indexing its one day.
Figures go to bench/results/forget.json; the script prints the table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
from common import RESULTS, connect, drop_schema, log, machine, setup_env, start_db, write_result
from identities import DAY0, ID_OFFSET, Faces, _load_days
from psycopg import sql

SCHEMA = "bench_forget"


def _reindex(conn, schema: str, days: list[dt.date], spec) -> float:
    from facepipe.core.db import partition_name
    from facepipe.ingest.store import index_day

    t = time.perf_counter()
    for day in days:
        conn.execute(
            sql.SQL("DROP INDEX IF EXISTS {}").format(
                sql.Identifier(schema, partition_name("faces", day) + "_embedding_hnsw")
            )
        )
        index_day(conn, schema, day, spec)
    return time.perf_counter() - t


def run(uri: str, faces: int, days: int, people: int) -> dict:
    import facepipe.privacy.forget as privacy
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.ingest.store import index_day

    spec = model_spec("dlib-resnet-128")
    drop_schema(uri, SCHEMA)
    f = Faces(faces, days, people, spread=0.75)
    person = int(np.bincount(f.label[f.label < people]).argmax())  # the most frequent recurring person
    theirs = np.flatnonzero(f.label == person)
    res: dict = {
        "faces": faces,
        "days": days,
        "people": people,
        "person_faces": len(theirs),
        "person_days": len({int(d) for d in f.day[theirs]}),
    }
    with connect(uri) as conn:
        require(conn, SCHEMA, spec, may_upgrade=True)
        t = time.perf_counter()
        _load_days(conn, SCHEMA, f, np.arange(faces))
        all_days = [DAY0 + dt.timedelta(days=d) for d in range(days)]
        for day in all_days:
            index_day(conn, SCHEMA, day, spec)
        res["load_and_index_s"] = round(time.perf_counter() - t, 1)
        log(f"forget bench: {faces:,} faces loaded and indexed in {res['load_and_index_s']} s")
        pid = "00000000-0000-0000-0000-00000000f0f0"
        conn.execute(
            sql.SQL("INSERT INTO {} (person_id, name) VALUES (%s, 'bench person')").format(
                sql.Identifier(SCHEMA, "people")
            ),
            (pid,),
        )
        for k, i in enumerate(theirs[:3]):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (person_id, content_sha256, uri, box_x, box_y, box_w, box_h, model,"
                    " embedding) VALUES (%s, %s, %s, 0, 0, 100, 100, %s, %s)"
                ).format(sql.Identifier(SCHEMA, "person_refs")),
                (pid, f"{k:064x}", f"/people/bench/{k}.jpg", spec.name, f.vectors[i]),
            )
        touched = sorted({DAY0 + dt.timedelta(days=int(d)) for d in f.day[theirs]})
        baseline = _reindex(conn, SCHEMA, touched, spec)  # side by side, before and after the forget
        timings = {}
        real_after = privacy._after_commit

        def timed_after(*args, **kw):
            t0 = time.perf_counter()
            real_after(*args, **kw)
            timings["after_commit_s"] = time.perf_counter() - t0

        privacy._after_commit = timed_after
        try:
            t = time.perf_counter()
            out = privacy.forget_person(conn, SCHEMA, "bench person", spec)
            forget_s = time.perf_counter() - t
        finally:
            privacy._after_commit = real_after
        baseline = (baseline + _reindex(conn, SCHEMA, touched, spec)) / 2
        left = {
            (d, iid, x)
            for d, iid, x in conn.execute(
                sql.SQL("SELECT day, image_id, box_x FROM {}").format(sql.Identifier(SCHEMA, "faces"))
            )
        }
        key = lambda i: (DAY0 + dt.timedelta(days=int(f.day[i])), uuid_of(f, i), f.box(i)[0])  # noqa: E731
        removed_theirs = sum(1 for i in theirs if key(i) not in left)
        removed_total = faces - len(left)
        res.update(
            {
                "touched_days": len(touched),
                "recall": round(removed_theirs / len(theirs), 4),
                "other_faces_removed": removed_total - removed_theirs,
                "forget_s": round(forget_s, 2),
                "transaction_s": round(forget_s - timings["after_commit_s"], 2),
                "after_commit_s": round(timings["after_commit_s"], 2),
                "reindex_touched_days_s": round(baseline, 2),
                "forget_vs_reindex": round(forget_s / baseline, 2),
                "rows": out.rows,
            }
        )
        log(f"forget bench: person {res}")
        # one photo, one day
        day, image_id = conn.execute(
            sql.SQL("SELECT day, image_id FROM {} ORDER BY day DESC, image_id LIMIT 1").format(
                sql.Identifier(SCHEMA, "images")
            )
        ).fetchone()
        sha = conn.execute(
            sql.SQL("SELECT content_sha256 FROM {} WHERE day = %s AND image_id = %s").format(
                sql.Identifier(SCHEMA, "images")
            ),
            (day, image_id),
        ).fetchone()[0]
        base1 = _reindex(conn, SCHEMA, [day], spec)
        t = time.perf_counter()
        privacy.forget_photo(conn, SCHEMA, sha, spec)
        photo_s = time.perf_counter() - t
        base1 = (base1 + _reindex(conn, SCHEMA, [day], spec)) / 2
        res["photo"] = {
            "forget_s": round(photo_s, 2),
            "reindex_day_s": round(base1, 2),
            "forget_vs_reindex": round(photo_s / base1, 2),
            "faces_that_day": faces // days,
        }
        log(f"forget bench: photo {res['photo']}")
    drop_schema(uri, SCHEMA)
    return res


def uuid_of(f: Faces, i: int):
    import uuid

    return uuid.UUID(int=ID_OFFSET + int(f.photo[i]))


def table(res: dict) -> str:
    p = res["photo"]
    return "\n".join(
        [
            f"{res['faces']:,} faces over {res['days']} days ({res['faces'] // res['days']:,} a day, {res['people']:,}"
            f" recurring people); the person forgotten has {res['person_faces']} faces on {res['touched_days']} days.",
            "",
            "| forget | recall of their faces | other faces removed | wall s (transaction + after commit) |"
            " baseline: re-index the touched days, s | ratio |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| a person | {res['recall']} | {res['other_faces_removed']} | {res['forget_s']} ({res['transaction_s']} +"
            f" {res['after_commit_s']}) | {res['reindex_touched_days_s']} | {res['forget_vs_reindex']}x |",
            f"| one photo | - | - | {p['forget_s']} | {p['reindex_day_s']} (one day) | {p['forget_vs_reindex']}x |",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=int, default=300_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--people", type=int, default=5_000)
    ap.add_argument("--state", default=str(RESULTS / "state"))
    args = ap.parse_args()
    state = Path(args.state)
    setup_env(state)
    uri = start_db(state)
    res = run(uri, args.faces, args.days, args.people)
    res["machine"] = machine()
    path = write_result("forget", res)
    print(table(res))
    print(f"\n(figures in {path})")


if __name__ == "__main__":
    main()
