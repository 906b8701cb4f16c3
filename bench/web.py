"""Section 10: the Faces view. Server time of the People grid and of an identity's page at
--faces faces / --people identities, and search by upload of a 12 MP photo, end to end.

The faces are bench/identities.py's synthetic 128-d faces (its geometry and photos of
1-4 faces), loaded into facepipe's own tables by COPY over --days day partitions, every
recurring face in its identity (identities, face_identity, as the nightly assignment
leaves them) and the search structure over every day trained, as face_search leaves it. The pages are
the app's own routes (facepipe.web.app) called in process through Starlette's
TestClient, with Airflow's auth replaced by a fixed user: what is timed is the route
(its SQL, its template), not the network. Crops are separate requests and not timed
here (the photos are synthetic). Search: a 4000x3000 JPEG (the sample photos' faces
pasted into a 12 MP frame) posted to /search as a browser posts it, through decoding,
detection, embedding, the search over 30 days (facepipe.search.ivf) and the page.

    .venv/bin/python bench/web.py [--faces 1000000] [--people 30000] [--days 30] [--rounds 30]
        [--unassigned 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import connect, log, machine, pct, setup_env, start_db, write_result
from psycopg import sql

SCHEMA = "bench_web"


def load(uri: str, faces: int, people: int, days: int) -> dict:
    """The synthetic history, as nights leave it: faces, identities, face_identity, indexes."""
    from identities import DIM, Faces, _key, _load_days

    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    t = time.perf_counter()
    f = Faces(faces, days, people, spread=0.75)
    rows = np.arange(faces)
    with connect(uri) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.faces",)).fetchone()[0] is not None:
            n = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, "faces"))).fetchone()[0]
            if n == faces:
                log(f"web: {faces:,} faces already loaded in {SCHEMA}")
                return {"reused": True}
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))
        require(conn, SCHEMA, spec, may_upgrade=True)
        _load_days(conn, SCHEMA, f, rows)
        rec = rows[f.label < people]
        ident = sql.Identifier
        with conn.transaction():
            sums = np.zeros((people, DIM))
            np.add.at(sums, f.label[rec], f.vectors[rec])
            counts = np.bincount(f.label[rec], minlength=people)
            with conn.cursor().copy(
                sql.SQL("COPY {} (identity_id, faces, centroid) FROM STDIN (FORMAT BINARY)").format(
                    ident(SCHEMA, "identities")
                )
            ) as cp:
                cp.set_types(["int8", "int4", "vector"])
                for p in np.flatnonzero(counts):
                    cp.write_row((int(p) + 1, int(counts[p]), (sums[p] / counts[p]).astype(np.float32)))
            with conn.cursor().copy(
                sql.SQL(
                    "COPY {} (day, image_id, box_x, box_y, box_w, box_h, identity_id, how, distance) FROM STDIN"
                ).format(ident(SCHEMA, "face_identity"))
            ) as cp:
                for i in rec:
                    day, image_id, box = _key(f, i)
                    cp.write_row((day, image_id, *box, int(f.label[i]) + 1, "identity", 0.3))
        from facepipe.ingest.store import index_day

        for day in sorted({int(d) for d in f.day}):
            import datetime as dt

            from identities import DAY0

            index_day(conn, SCHEMA, DAY0 + dt.timedelta(days=day), spec)
        from facepipe.core.days import refresh_tallies

        refresh_tallies(conn, SCHEMA, None)  # what a night's load counts (the faces went in by COPY)
        for table in ("faces", "images", "identities", "face_identity", "people", "day_tallies"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident(SCHEMA, table)))
        # the search structure over every day, as face_search trains it (the faces went in by COPY)
        from facepipe.search import ivf

        ivf.build(conn, SCHEMA, spec, reason="bench")
    return {"reused": False, "load_s": round(time.perf_counter() - t, 1), "identities": int((counts > 0).sum())}


def unassigned(uri: str, client, rounds: int, most: int) -> dict:
    """The Unassigned page: the newest ``most`` faces without an identity in the pool (as a night
    leaves the ones of its last people_pool_days days), grouped once as after a night (timed: its
    cost grows with the pool squared), then pages of groups read (timed)."""
    from facepipe.core.specs import model_spec
    from facepipe.people.identities import PeopleSettings
    from facepipe.people.unassigned import regroup

    spec = model_spec("dlib-resnet-128")
    ident = sql.Identifier
    with connect(uri) as conn:
        conn.execute(sql.SQL("DELETE FROM {}").format(ident(SCHEMA, "identity_pool")))
        conn.execute(
            sql.SQL(
                "INSERT INTO {p} SELECT f.day, f.image_id, f.box_x, f.box_y, f.box_w, f.box_h, f.embedding FROM {f} AS f"
                " WHERE NOT EXISTS (SELECT 1 FROM {a} AS a WHERE a.day = f.day AND a.image_id = f.image_id"
                " AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h))"
                " ORDER BY f.day DESC, f.image_id, f.face_no LIMIT %s"
            ).format(p=ident(SCHEMA, "identity_pool"), f=ident(SCHEMA, "faces"), a=ident(SCHEMA, "face_identity")),
            (most,),
        )
        conn.execute(sql.SQL("ANALYZE {}").format(ident(SCHEMA, "identity_pool")))
        t = time.perf_counter()
        grouped = regroup(conn, SCHEMA, spec, spec.match_threshold, PeopleSettings.from_env())
        seconds = round(time.perf_counter() - t, 1)
        conn.execute(sql.SQL("ANALYZE {}").format(ident(SCHEMA, "unassigned_members")))
    deep = max(2, min(50, grouped["groups"] // 12))  # a page well past the first (12 groups to a page)
    pages = [timed(client, "GET", "/unassigned", rounds), timed(client, "GET", f"/unassigned?page={deep}", rounds)]
    return {"pool": grouped["faces"], "groups": grouped["groups"], "regroup_s": seconds, "pages": pages}


def photo_12mp() -> bytes:
    """A 4000x3000 JPEG with a sample face in it (scikit-image's astronaut, scaled up)."""
    import cv2

    from facepipe.ops.samples import enrolment_photos

    tmp = Path(os.environ["FACEPIPE_HOME"]) / "bench-web-people"
    if not tmp.exists():
        enrolment_photos(tmp)
    src = cv2.imread(str(sorted((tmp / "eileen_collins").iterdir())[0]))
    frame = np.full((3000, 4000, 3), 128, np.uint8)
    face = cv2.resize(src, (1200, round(1200 * src.shape[0] / src.shape[1])))
    frame[600 : 600 + face.shape[0], 1400 : 1400 + face.shape[1]] = face[: 3000 - 600, : 4000 - 1400]
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return jpeg.tobytes()


def timed(client, method: str, path: str, rounds: int, **kw) -> dict:
    client.request(method, path, **kw)  # warm: first use loads modules, models, plans
    ms = []
    for _ in range(rounds):
        t = time.perf_counter()
        r = client.request(method, path, **kw)
        ms.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[-300:])
    return {
        "path": path,
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(pct(ms, 95), 1),
        "n": rounds,
        "load_average": [round(v, 1) for v in os.getloadavg()],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=30_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--unassigned", type=int, default=100_000, help="faces without an identity in the pool")
    ap.add_argument("--state", default=str(Path(__file__).resolve().parent.parent / ".facepipe-bench"))
    args = ap.parse_args()
    state = Path(args.state)
    setup_env(state)
    uri = start_db(state)
    os.environ["FACEPIPE_DB_SCHEMA"] = SCHEMA
    os.environ["FACEPIPE_EMBEDDED_DB"] = "1"
    res: dict = {"machine": machine(), "faces": args.faces, "people": args.people, "days": args.days}
    res["load"] = load(uri, args.faces, args.people, args.days)
    from facepipe.core.schema import upgrade
    from facepipe.core.specs import model_spec

    with connect(uri) as conn:  # a state loaded by an older facepipe: its schema up to this code's
        upgrade(SCHEMA, model_spec("dlib-resnet-128"), like=conn)
    from fastapi.testclient import TestClient

    from facepipe.web.app import create_app
    from facepipe.web.auth import Access, access

    app = create_app()
    app.dependency_overrides[access] = lambda: Access(user="bench", can_edit=True, by_cookie=False)
    client = TestClient(app, headers={"Origin": "http://testserver"})
    with connect(uri) as conn:
        big = conn.execute(
            sql.SQL("SELECT identity_id, faces FROM {} ORDER BY faces DESC LIMIT 1").format(
                sql.Identifier(SCHEMA, "identities")
            )
        ).fetchone()
        median = conn.execute(
            sql.SQL(
                "SELECT identity_id, faces FROM {} ORDER BY faces LIMIT 1 OFFSET (SELECT count(*) / 2 FROM {})"
            ).format(sql.Identifier(SCHEMA, "identities"), sql.Identifier(SCHEMA, "identities"))
        ).fetchone()
        first, last = conn.execute(
            sql.SQL("SELECT min(day), max(day) FROM {}").format(sql.Identifier(SCHEMA, "faces"))
        ).fetchone()
    with connect(uri) as conn:
        (n_ids,) = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, "identities"))
        ).fetchone()
    late_page = max(1, min(250, -(-n_ids // 60)))  # page 250 of 30,000 identities; the last of fewer
    res["grid"] = [
        timed(client, "GET", "/people", args.rounds),
        timed(client, "GET", f"/people?page={late_page}", args.rounds),
        timed(client, "GET", f"/people?show=unnamed&min_faces=40&since={last}", args.rounds),
    ]
    res["identity"] = [
        {**timed(client, "GET", f"/people/{big[0]}", args.rounds), "faces": big[1]},
        {**timed(client, "GET", f"/people/{median[0]}", args.rounds), "faces": median[1]},
    ]
    res["unassigned"] = unassigned(uri, client, args.rounds, args.unassigned)
    photo = photo_12mp()
    res["search_photo_bytes"] = len(photo)
    res["search"] = timed(
        client,
        "POST",
        "/search",
        max(5, args.rounds // 3),
        files={"photo": ("12mp.jpg", photo, "image/jpeg")},
        data={"since": str(first), "until": str(last), "k": "12"},
    )
    # the photo searched again for another of its faces (a click on its box): the page's own state
    import re

    page = client.post(
        "/search",
        files={"photo": ("12mp.jpg", photo, "image/jpeg")},
        data={"since": str(first), "until": str(last), "k": "12"},
    ).text
    state = re.search(r'name="state" value="([^"]+)"', page).group(1)
    res["search_face"] = timed(
        client,
        "POST",
        "/search/face",
        max(5, args.rounds // 3),
        data={"state": state, "face": "0", "since": str(first), "until": str(last), "k": "12"},
    )
    res["search_face"]["state_bytes"] = len(state)
    # Days (every day from the start date, with Airflow's runs: none here), a day, its report
    from facepipe.core.specs import model_spec as _spec
    from facepipe.reports.report import ReportParams, build_reports

    with connect(uri) as conn:
        t = time.perf_counter()
        spec = _spec("dlib-resnet-128")
        build_reports(conn, SCHEMA, last, spec, ReportParams(threshold=spec.match_threshold))
        res["report_build_s"] = round(time.perf_counter() - t, 1)
        face = conn.execute(
            sql.SQL(
                "SELECT f.day, f.image_id, f.face_no FROM {} a JOIN {} f ON f.day = a.day AND f.image_id = a.image_id"
                " AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)"
                " WHERE a.identity_id = %s LIMIT 1"
            ).format(sql.Identifier(SCHEMA, "face_identity"), sql.Identifier(SCHEMA, "faces")),
            (big[0],),
        ).fetchone()
    with connect(uri) as conn:  # what Days counts (day_tallies) against the tables counted now
        kept, counted = conn.execute(
            sql.SQL("SELECT (SELECT sum(faces) FROM {}), (SELECT count(*) FROM {})").format(
                sql.Identifier(SCHEMA, "day_tallies"), sql.Identifier(SCHEMA, "faces")
            )
        ).fetchone()
    res["days_faces"] = {"day_tallies": int(kept or 0), "faces": int(counted), "agree": int(kept or 0) == counted}
    log(f"web: Days counts {int(kept or 0):,} faces, the tables hold {counted:,}")
    res["days"] = [
        timed(client, "GET", f"/days?until={last}", args.rounds),
        timed(client, "GET", f"/days?since={last - dt.timedelta(days=365)}&until={last}", args.rounds),
        timed(client, "GET", f"/days/{last}", args.rounds),
        timed(client, "GET", f"/days/{last}/report", args.rounds),
    ]
    res["photo"] = timed(client, "GET", f"/photos/{face[0]}/{face[1]}?face={face[2]}", args.rounds)
    res["move_pick"] = timed(
        client,
        "GET",
        f"/faces/move/pick?day={face[0]}&image_id={face[1]}&face_no={face[2]}&back={big[0]}",
        args.rounds,
    )
    # A rename rebuilds the day reports of every day the identity was seen, in the request
    # (one truth): the worst case is the largest identity, seen on every day.
    renames = []
    for i in range(3):
        t = time.perf_counter()
        r = client.post(f"/people/{big[0]}/name", data={"name": f"Bench Person {i}"})
        renames.append(round((time.perf_counter() - t) * 1000, 1))
        assert r.status_code == 200, r.text[-300:]
    with connect(uri) as conn:
        (days_seen,) = conn.execute(
            sql.SQL("SELECT count(DISTINCT day) FROM {} WHERE identity_id = %s").format(
                sql.Identifier(SCHEMA, "face_identity")
            ),
            (big[0],),
        ).fetchone()
    res["rename"] = {
        "path": f"/people/{big[0]}/name (POST)",
        "faces": big[1],
        "days_seen": days_seen,  # the bench builds no reports: none is rebuilt here
        "ms": renames,
        "p50_ms": sorted(renames)[1],
        "p95_ms": max(renames),
        "load_average": os.getloadavg(),
    }
    path = write_result("web", res)
    log(f"web: unassigned faces grouped: {res['unassigned']['pool']:,} faces in {res['unassigned']['regroup_s']} s")
    for row in (
        res["grid"]
        + res["identity"]
        + res["unassigned"]["pages"]
        + [res["search"], res["search_face"]]
        + res["days"]
        + [
            res["photo"],
            res["move_pick"],
            res["rename"],
        ]
    ):
        log(f"web: {row['path'][:60]:<60} p50 {row['p50_ms']:>8} ms  p95 {row['p95_ms']:>8} ms")
    log(f"web: figures in {path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
