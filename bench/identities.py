"""Section 7: people. A night's identity assignment at scale, and how well it groups faces.

Synthetic 128-d faces with known identities, in bench/ann.py's geometry: identity
centres on the unit sphere around a common direction, faces = centre + noise
(FACE_NOISE 0.28: two faces of one person about 0.4 apart; dlib's threshold, 0.5,
is the model's and is used unchanged). Photos hold 1-4 faces of different people.
Each row goes in facepipe's own tables (facepipe.core.schema.require, day partitions) by COPY;
the assignment is facepipe.people.identities.assign_day, the reports facepipe.reports.report.build_reports.

quality: a few thousand faces over 10 days, every night assigned in order, for
several distances between identities; BCubed and pairwise precision and recall of
the identities against the true labels (a face with no identity counts as a
cluster of its own), the share of recurring people's faces that got an identity.

night: --faces over --days days already loaded, recurring people's faces already
in their identities and one-off faces in the pool (made from the true labels, not by
29 nights of assignment: that would take hours), then the last day's faces
(faces / days) are loaded and assigned, and the day's reports built, each timed.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter

import numpy as np
from common import connect, copy_images, drop_schema, log
from psycopg import sql

DIM = 128
FACE_NOISE = 0.28
DAY0 = dt.date(2026, 3, 1)
# geometry "dlib": calibrated (by simulation) to real dlib ResNet distances from real photos
DLIB_TARGETS = {"same_median": 0.39, "same_p95": 0.50, "diff_p1": 0.65, "diff_median": 0.89}
DLIB_LOOK_DIMS = 8  # the low-dimensional part of a face's centre: people who look alike
DLIB_LOOK = 0.46
DLIB_OWN = 0.35  # the individual part of a face's centre
DLIB_NOISE = 0.27  # a face's distance from its person's centre, median
DLIB_NOISE_LOG_SD = 0.2  # its spread from photo to photo (lognormal)
ID_OFFSET = 1 << 65


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


class Faces:
    """n faces over ``days`` days: a share of one-off strangers, the rest from ``people`` recurring identities;
    grouped into photos of 1-4 faces of different people within each day.

    geometry "sphere": identity centres on the unit sphere around a common direction at ``spread``,
    faces = centre + FACE_NOISE, every recurring person equally often (the first figures of section 7).
    geometry "dlib": calibrated to real dlib distances (DLIB_TARGETS): a person's centre is a point of a
    low-dimensional "look" space (DLIB_LOOK_DIMS, scale DLIB_LOOK) plus an individual part (DLIB_OWN), so
    that some pairs of different people look alike; a face is its centre plus noise whose size varies per
    face (photo quality: lognormal around DLIB_NOISE); how often a person is seen is Zipf-like
    (weight 1 / rank^zipf: a few people very often, most rarely). ``spread`` is unused there.
    """

    def __init__(
        self,
        n: int,
        days: int,
        people: int,
        spread: float,
        oneoff: float = 0.3,
        seed: int = 7,
        geometry: str = "sphere",
        zipf: float = 1.0,
    ):
        rng = np.random.default_rng(seed)
        n_rec = int(n * (1 - oneoff))
        self.geometry = geometry
        if geometry == "dlib":
            weights = 1.0 / np.arange(1, people + 1) ** zipf
            rec_labels = rng.choice(people, n_rec, p=weights / weights.sum())
        else:
            rec_labels = rng.integers(0, people, n_rec)
        self.label = np.concatenate([rec_labels, people + np.arange(n - n_rec)])
        self.day = rng.integers(0, days, n)
        order = np.lexsort((rng.random(n), self.day))
        self.label, self.day = self.label[order], self.day[order]
        self.vectors = np.empty((n, DIM), np.float32)
        if geometry == "dlib":
            look = np.linalg.qr(rng.standard_normal((DIM, DLIB_LOOK_DIMS)))[0]

            def centres_of(k: int) -> np.ndarray:
                return (
                    DLIB_LOOK / np.sqrt(DLIB_LOOK_DIMS) * rng.standard_normal((k, DLIB_LOOK_DIMS)) @ look.T
                    + DLIB_OWN * rng.standard_normal((k, DIM)) / np.sqrt(DIM)
                ).astype(np.float32)

            centres = centres_of(people)
            for i in range(0, n, 100_000):
                lab = self.label[i : i + 100_000]
                c = np.where((lab < people)[:, None], centres[np.minimum(lab, people - 1)], centres_of(len(lab)))
                noise = DLIB_NOISE * np.exp(DLIB_NOISE_LOG_SD * rng.standard_normal((len(lab), 1)))
                self.vectors[i : i + len(lab)] = c + noise * rng.standard_normal((len(lab), DIM)) / np.sqrt(DIM)
        else:
            common = _unit(rng.standard_normal((1, DIM)))
            centres = _unit(common + spread * _unit(rng.standard_normal((people, DIM)))).astype(np.float32)
            for i in range(0, n, 100_000):
                lab = self.label[i : i + 100_000]
                c = np.where(
                    (lab < people)[:, None],
                    centres[np.minimum(lab, people - 1)],
                    _unit(common + spread * _unit(rng.standard_normal((len(lab), DIM)))),
                )
                v = _unit(c + FACE_NOISE * _unit(rng.standard_normal((len(lab), DIM))))
                self.vectors[i : i + len(lab)] = v * rng.uniform(0.9, 1.1, (len(lab), 1))
        self.people = people
        # Photos: consecutive faces of a day, 1-4 to a photo, never one person twice.
        self.photo = np.empty(n, np.int64)
        self.slot = np.empty(n, np.int16)
        photo, slot, size, in_photo = -1, 0, 0, set()
        for i in range(n):
            if slot >= size or (i and self.day[i] != self.day[i - 1]) or self.label[i] in in_photo:
                photo, slot, size, in_photo = photo + 1, 0, int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1])), set()
            self.photo[i], self.slot[i] = photo, slot
            in_photo.add(self.label[i])
            slot += 1
        if people > 1:
            d = np.linalg.norm(centres[:200, None] - centres[None, :200], axis=2)
            np.fill_diagonal(d, np.inf)
            self.nearest_other = float(np.median(d.min(axis=1)))
        else:
            self.nearest_other = float("nan")

    def distances(self, pairs: int = 200_000, seed: int = 11) -> dict:
        """Measured quantiles of the generated faces: same-person pairs (two faces of one recurring person)
        and different-person pairs (faces of two different people, strangers included)."""
        rng = np.random.default_rng(seed)
        rec = np.flatnonzero(self.label < self.people)
        rec = rec[np.argsort(self.label[rec], kind="stable")]
        labs, starts, counts = np.unique(self.label[rec], return_index=True, return_counts=True)
        multi = np.flatnonzero(counts > 1)
        # one pair per person drawn, people weighted equally (a frequent person would dominate otherwise)
        who = multi[rng.integers(0, len(multi), pairs)]
        a = rec[starts[who] + rng.integers(0, counts[who])]
        b = rec[starts[who] + rng.integers(0, counts[who])]
        keep = a != b
        same = np.linalg.norm(self.vectors[a[keep]] - self.vectors[b[keep]], axis=1)
        i, j = rng.integers(0, len(self.label), pairs), rng.integers(0, len(self.label), pairs)
        keep = self.label[i] != self.label[j]
        diff = np.linalg.norm(self.vectors[i[keep]] - self.vectors[j[keep]], axis=1)
        q = lambda a, p: round(float(np.quantile(a, p)), 3)  # noqa: E731
        return {
            "same_median": q(same, 0.5),
            "same_p95": q(same, 0.95),
            "same_p99": q(same, 0.99),
            "diff_p0.1": q(diff, 0.001),
            "diff_p1": q(diff, 0.01),
            "diff_median": q(diff, 0.5),
            "targets": DLIB_TARGETS,
        }

    def box(self, i: int) -> tuple[int, int, int, int]:
        return (100 + 500 * int(self.slot[i]), 100, 400, 400)


def _load_days(conn, schema: str, f: Faces, rows: np.ndarray) -> None:
    from facepipe.core.db import ensure_partitions

    days = sorted({int(d) for d in f.day[rows]})
    for d in days:
        ensure_partitions(conn, schema, DAY0 + dt.timedelta(days=d))
    arrived = {d: dt.datetime.combine(DAY0 + dt.timedelta(days=d), dt.time(12), dt.UTC) for d in days}
    photos = {}
    for i in rows:
        photos.setdefault(int(f.photo[i]), (int(f.day[i]), 0))
        photos[int(f.photo[i])] = (int(f.day[i]), photos[int(f.photo[i])][1] + 1)
    with conn.transaction():
        copy_images(
            conn,
            schema,
            (
                (
                    DAY0 + dt.timedelta(days=d),
                    uuid.UUID(int=ID_OFFSET + p),
                    f"s3://bench/{p}.jpg",
                    f"{p:064x}",
                    2_000_000,
                    4032,
                    3024,
                    "cam",
                    arrived[d],
                    "loaded",
                    k,
                )
                for p, (d, k) in photos.items()
            ),
        )
        with conn.cursor().copy(
            sql.SQL(
                "COPY {} (day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector, det_score, model,"
                " embedding) FROM STDIN (FORMAT BINARY)"
            ).format(sql.Identifier(schema, "faces"))
        ) as cp:
            cp.set_types(
                ["date", "uuid", "int2", "int4", "int4", "int4", "int4", "text", "text", "float4", "text", "vector"]
            )
            for i in rows:
                cp.write_row(
                    (
                        DAY0 + dt.timedelta(days=int(f.day[i])),
                        uuid.UUID(int=ID_OFFSET + int(f.photo[i])),
                        int(f.slot[i]),
                        *f.box(i),
                        "cam",
                        "mtcnn",
                        0.99,
                        "dlib-resnet-128",
                        f.vectors[i],
                    )
                )


def _key(f: Faces, i: int):
    return (DAY0 + dt.timedelta(days=int(f.day[i])), uuid.UUID(int=ID_OFFSET + int(f.photo[i])), f.box(i))


def bcubed(labels: list, clusters: list) -> dict:
    """BCubed and pairwise precision / recall of ``clusters`` against ``labels`` (one entry per face)."""
    by_cluster, by_label, both = Counter(clusters), Counter(labels), Counter(zip(clusters, labels))
    p = sum(both[(c, n)] / by_cluster[c] for c, n in zip(clusters, labels)) / len(labels)
    r = sum(both[(c, n)] / by_label[n] for c, n in zip(clusters, labels)) / len(labels)
    pairs = lambda counts: sum(k * (k - 1) // 2 for k in counts.values())  # noqa: E731
    tp, pred, true = pairs(both), pairs(by_cluster), pairs(by_label)
    return {
        "bcubed_precision": round(p, 4),
        "bcubed_recall": round(r, 4),
        "bcubed_f1": round(2 * p * r / (p + r), 4),
        "pair_precision": round(tp / pred, 4) if pred else None,
        "pair_recall": round(tp / true, 4) if true else None,
    }


def _assess(uri: str, schema: str, f: Faces, faces: int, days: int, people: int) -> dict:
    """Load ``f`` into ``schema``, assign every night in order (assign_day), and score the identities."""
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.people.identities import PeopleSettings, assign_day

    spec = model_spec("dlib-resnet-128")
    drop_schema(uri, schema)
    nights = []
    with connect(uri) as conn:
        require(conn, schema, spec, may_upgrade=True)
        _load_days(conn, schema, f, np.arange(faces))
        for table in ("faces", "images"):
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
        for d in range(days):
            t = time.perf_counter()
            counts = assign_day(
                conn, schema, DAY0 + dt.timedelta(days=d), spec, spec.match_threshold, PeopleSettings.from_env()
            )
            nights.append(
                {
                    "night": d,
                    "history_faces": int((f.day < d).sum()),
                    "faces": int((f.day == d).sum()),
                    "seconds": round(time.perf_counter() - t, 2),
                    "counts": counts,
                }
            )
            log(
                f"  night {d}: {nights[-1]['faces']} faces over {nights[-1]['history_faces']} in {nights[-1]['seconds']}s"
            )
        got = {
            (day, image_id, (x, y, w, h)): ident
            for day, image_id, x, y, w, h, ident in conn.execute(
                sql.SQL("SELECT day, image_id, box_x, box_y, box_w, box_h, identity_id FROM {}").format(
                    sql.Identifier(schema, "face_identity")
                )
            )
        }
        unsure = None
        if conn.execute("SELECT to_regclass(%s)", (f"{schema}.suggestions",)).fetchone()[0]:
            unsure = conn.execute(
                sql.SQL(
                    "SELECT count(DISTINCT (day, image_id, box_x, box_y, box_w, box_h)) FROM {} WHERE kind = 'face'"
                ).format(sql.Identifier(schema, "suggestions"))
            ).fetchone()[0]
            merges = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE kind = 'merge'").format(sql.Identifier(schema, "suggestions"))
            ).fetchone()[0]
    clusters = [got.get(_key(f, i), ("none", i)) for i in range(faces)]
    labels = [int(x) for x in f.label]
    rec = f.label < people
    assigned = np.array([_key(f, i) in got for i in range(faces)])
    same_photo = Counter((_key(f, i)[:2], got[_key(f, i)]) for i in range(faces) if assigned[i])
    seen = Counter(int(x) for x in f.label[rec])
    row = {
        "geometry": f.geometry,
        "faces": faces,
        "days": days,
        "people": people,
        "people_seen": len(seen),
        "people_seen_3_or_more": sum(1 for c in seen.values() if c >= 3),
        "strangers": int((~rec).sum()),
        **bcubed(labels, clusters),
        "recurring_assigned": round(float(assigned[rec].mean()), 4),
        "oneoff_assigned": round(float(assigned[~rec].mean()), 4),
        "faces_unsure_at_their_night": sum(n["counts"].get("unsure", 0) for n in nights),
        "faces_unsure": unsure,
        "faces_unsure_share": None if unsure is None else round(unsure / faces, 4),
        "merge_suggestions": None if unsure is None else merges,
        "identities": len(set(got.values())),
        "same_photo_violations": sum(1 for v in same_photo.values() if v > 1),
        "assign_s_per_night": round(sum(n["seconds"] for n in nights) / days, 2),
        "last_night": {k: nights[-1][k] for k in ("history_faces", "faces", "seconds")}
        | {"steps": nights[-1]["counts"].get("seconds")},
        "nights": nights,
    }
    drop_schema(uri, schema)
    return row


def sample_distances() -> dict:
    """dlib distances on the real faces the package ships (facepipe.ops.samples): the 100 LFW
    faces of scikit-image's lfw_subset (25 px, upscaled to 200) found by dlib's HOG, every pair
    counted as two people (the subset may repeat a person), and the enrolment photos of each
    demo person (crops of one photo: same-person pairs from one sitting, so an upper bound on
    how alike). Cheap: about 100 faces."""
    from itertools import combinations

    from facepipe.models.detect import make_detector
    from facepipe.models.embed import DlibResnetEmbedder
    from facepipe.ops.samples import enrolment_images, lfw_face

    emb, hog = DlibResnetEmbedder(), make_detector("hog")

    def vector(rgb):
        boxes = hog.detect(rgb)
        if not boxes:
            return None
        box = max(boxes, key=lambda b: b.w * b.h)
        return emb.embed([emb.prepare(rgb, box)])[0]

    lfw = []
    for i in range(100):
        face = lfw_face(i, 200)
        canvas = np.full((400, 400, 3), 128, np.uint8)
        canvas[100:300, 100:300] = face
        v = vector(canvas)
        if v is not None:
            lfw.append(v)
    diff = np.array([np.linalg.norm(a - b) for a, b in combinations(lfw, 2)])
    same = []
    for photos in enrolment_images().values():
        vs = [v for v in (vector(np.ascontiguousarray(img)) for img in photos.values()) if v is not None]
        same += [float(np.linalg.norm(a - b)) for a, b in combinations(vs, 2)]
    q = lambda a, p: round(float(np.quantile(a, p)), 3) if len(a) else None  # noqa: E731
    return {
        "lfw_faces_found": len(lfw),
        "different_pairs": len(diff),
        "diff_p1": q(diff, 0.01),
        "diff_p5": q(diff, 0.05),
        "diff_median": q(diff, 0.5),
        "share_below_0.6": round(float((diff < 0.6).mean()), 3) if len(diff) else None,
        "same_pairs_enrolment": len(same),
        "same_max_enrolment": round(max(same), 3) if same else None,
        "same_median_enrolment": q(np.array(same), 0.5),
        "targets": DLIB_TARGETS,
    }


def quality(uri: str, faces: int, days: int, people: int, spreads: list[float]) -> list[dict]:
    out = []
    for spread in spreads:
        f = Faces(faces, days, people, spread)
        row = {"spread": spread, "nearest_other_centre": round(f.nearest_other, 3)}
        row |= _assess(uri, f"bench_people_q{int(spread * 100)}", f, faces, days, people)
        row.pop("nights")
        log(f"people quality: {row}")
        out.append(row)
    return out


def populations(uri: str, faces: int, days: int, sizes: list[int], zipf: float, oneoff: float = 0.3) -> list[dict]:
    """Geometry "dlib": ``faces`` faces over ``days`` nights for each population size (recurring people,
    Zipf-like), plus ``oneoff`` one-off strangers, every night assigned in order."""
    out = []
    for people in sizes:
        t = time.perf_counter()
        f = Faces(faces, days, people, 0.0, oneoff=oneoff, geometry="dlib", zipf=zipf)
        dist = f.distances()
        log(f"people population {people:,}: generated in {time.perf_counter() - t:.0f}s; distances {dist}")
        row = {"zipf": zipf, "distances": dist} | _assess(uri, f"bench_people_pop{people}", f, faces, days, people)
        log(f"people population {people:,}: { {k: v for k, v in row.items() if k != 'nights'} }")
        out.append(row)
    return out


def night(uri: str, faces: int, days: int, people: int, spread: float = 0.75, keep: bool = False) -> dict:
    """The last night of ``days`` with everything before it loaded and assigned. keep: the
    history stays for the next run (which reuses it when it holds the same faces) and the
    night itself is rolled back, so a change to the assignment can be measured again on it."""
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec

    spec = model_spec("dlib-resnet-128")
    schema = "bench_people_night"
    t0 = time.perf_counter()
    f = Faces(faces, days, people, spread)
    log(f"people night: {faces:,} faces generated in {time.perf_counter() - t0:.0f}s")
    last = days - 1
    history, tonight = np.flatnonzero(f.day < last), np.flatnonzero(f.day == last)
    res: dict = {
        "faces": faces,
        "days": days,
        "people": people,
        "history_faces": len(history),
        "night_faces": len(tonight),
    }
    with connect(uri) as conn:
        reuse = keep and _history_faces(conn, schema) == len(history)
    if not reuse:
        drop_schema(uri, schema)
    with connect(uri) as conn:
        require(conn, schema, spec, may_upgrade=True)
        if reuse:
            log(f"people night: reusing the kept history of {len(history):,} faces")
            res["history_reused"] = True
            _night(conn, schema, spec, f, tonight, last, people, res, keep)
            return res
        t = time.perf_counter()
        _load_days(conn, schema, f, history)
        res["history_copy_s"] = round(time.perf_counter() - t, 1)
        log(f"people night: history loaded in {res['history_copy_s']}s")
        ident = sql.Identifier
        rec = history[f.label[history] < people]
        one = history[f.label[history] >= people]
        t = time.perf_counter()
        with conn.transaction():
            conn.execute(sql.SQL("DROP INDEX {}").format(ident(schema, "identities_centroid_hnsw")))
            conn.execute(sql.SQL("DROP INDEX {}").format(ident(schema, "identity_pool_embedding_hnsw")))
            sums = np.zeros((people, DIM))
            np.add.at(sums, f.label[rec], f.vectors[rec])
            counts = np.bincount(f.label[rec], minlength=people)
            with conn.cursor().copy(
                sql.SQL("COPY {} (identity_id, faces, centroid) FROM STDIN (FORMAT BINARY)").format(
                    ident(schema, "identities")
                )
            ) as cp:
                cp.set_types(["int8", "int4", "vector"])
                for p in np.flatnonzero(counts):
                    cp.write_row((int(p) + 1, int(counts[p]), (sums[p] / counts[p]).astype(np.float32)))
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'identity_id'), %s)").format(
                    sql.Literal(f'"{schema}".identities')
                ),
                (people + 1,),
            )
            with conn.cursor().copy(
                sql.SQL(
                    "COPY {} (day, image_id, box_x, box_y, box_w, box_h, identity_id, how, distance) FROM STDIN"
                ).format(ident(schema, "face_identity"))
            ) as cp:
                for i in rec:
                    day, image_id, box = _key(f, i)
                    cp.write_row((day, image_id, *box, int(f.label[i]) + 1, "identity", 0.3))
            with conn.cursor().copy(
                sql.SQL(
                    "COPY {} (day, image_id, box_x, box_y, box_w, box_h, embedding) FROM STDIN (FORMAT BINARY)"
                ).format(ident(schema, "identity_pool"))
            ) as cp:
                cp.set_types(["date", "uuid", "int4", "int4", "int4", "int4", "vector"])
                for i in one:
                    day, image_id, box = _key(f, i)
                    cp.write_row((day, image_id, *box, f.vectors[i]))
            conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
            conn.execute("SET LOCAL max_parallel_maintenance_workers = 2")
            for table, index, column in (
                ("identities", "identities_centroid_hnsw", "centroid"),
                ("identity_pool", "identity_pool_embedding_hnsw", "embedding"),
            ):
                conn.execute(
                    sql.SQL(
                        "CREATE INDEX {} ON {} USING hnsw ({} vector_l2_ops) WITH (m = 16, ef_construction = 64)"
                    ).format(ident(index), ident(schema, table), ident(column))
                )
        for table in ("faces", "images", "identities", "face_identity", "identity_pool"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident(schema, table)))
        res["history_people_state_s"] = round(time.perf_counter() - t, 1)
        res["history_identities"] = int((counts > 0).sum())
        res["history_pool"] = len(one)
        log(
            f"people night: {res['history_identities']:,} identities, {len(one):,} pooled faces set up in"
            f" {res['history_people_state_s']}s"
        )
        _night(conn, schema, spec, f, tonight, last, people, res, keep)
    if not keep:
        drop_schema(uri, schema)
    return res


def _history_faces(conn, schema: str) -> int:
    from facepipe.core.db import table_exists

    if not table_exists(conn, schema, "identity_pool"):
        return -1
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "faces"))).fetchone()[0]


class _RollBack(Exception):
    pass


def _night(conn, schema: str, spec, f: Faces, tonight, last: int, people: int, res: dict, keep: bool) -> None:
    """The night's load, assignment and reports (rolled back when keep)."""
    try:
        with conn.transaction():
            _night_steps(conn, schema, spec, f, tonight, last, people, res)
            if keep:
                raise _RollBack
    except _RollBack:
        for table in ("identities", "identity_pool", "face_identity"):  # the night's dead rows and index entries
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(schema, table)))
        log("people night: rolled back (--keep-history)")


def _night_steps(conn, schema: str, spec, f: Faces, tonight, last: int, people: int, res: dict) -> None:
    from facepipe.people.identities import PeopleSettings, assign_day
    from facepipe.reports.report import ReportParams, build_reports

    ident = sql.Identifier
    t = time.perf_counter()
    _load_days(conn, schema, f, tonight)
    conn.execute(sql.SQL("ANALYZE {}").format(ident(schema, f"faces_p{DAY0 + dt.timedelta(days=last):%Y%m%d}")))
    res["night_copy_s"] = round(time.perf_counter() - t, 1)
    day = DAY0 + dt.timedelta(days=last)
    t = time.perf_counter()
    counts_night = assign_day(conn, schema, day, spec, spec.match_threshold, PeopleSettings.from_env())
    res["assign_s"] = round(time.perf_counter() - t, 1)
    res["assign"] = counts_night
    log(f"people night: assign_day {res['assign_s']}s: {counts_night}")
    t = time.perf_counter()
    res["reports"] = build_reports(conn, schema, day, spec, ReportParams(threshold=spec.match_threshold))
    res["reports_s"] = round(time.perf_counter() - t, 1)
    log(f"people night: build_reports {res['reports_s']}s: {res['reports']}")
    t = time.perf_counter()
    conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE day = %s").format(ident(schema, "face_identity")), (day,))
    got = {
        tuple(k): v
        for *k, v in conn.execute(
            sql.SQL("SELECT day, image_id, box_x, box_y, box_w, box_h, identity_id FROM {} WHERE day = %s").format(
                ident(schema, "face_identity")
            ),
            (day,),
        )
    }
    ok = sum(
        1
        for i in tonight
        if f.label[i] < people and got.get((_key(f, i)[0], _key(f, i)[1], *_key(f, i)[2])) == int(f.label[i]) + 1
    )
    res["night_recurring_faces"] = int((f.label[tonight] < people).sum())
    res["night_recurring_to_their_identity"] = ok


def run(uri: str, faces: int, days: int, people: int | None, quality_faces: int, spreads: list[float]) -> dict:
    out = {"quality": quality(uri, quality_faces, 10, max(20, quality_faces // 20), spreads)}
    out["night"] = night(uri, faces, days, people or max(100, faces // 100))
    return out


if __name__ == "__main__":
    import argparse
    import json
    import os
    import sys
    from pathlib import Path

    sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "plugins"))
    from common import RESULTS, machine, setup_env, start_db, write_result

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--people", type=int, default=None, help="recurring identities (default faces / 100)")
    p.add_argument("--quality-faces", type=int, default=4000)
    p.add_argument("--spreads", default="0.75,0.5,0.4,0.35,0.3,0.25")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument(
        "--geometry",
        choices=("sphere", "dlib"),
        default="sphere",
        help="quality: sphere (centres spread on a sphere, --spreads) or dlib (calibrated to real dlib distances,"
        " --populations)",
    )
    p.add_argument("--populations", default="1000,5000,20000", help="geometry dlib: recurring people per run")
    p.add_argument("--zipf", type=float, default=1.0, help="geometry dlib: how often person r is seen ~ 1/r^zipf")
    p.add_argument("--check-samples", action="store_true", help="dlib distances on the package's real sample faces")
    p.add_argument("--tag", default="", help="added to the result file's name (e.g. before, after)")
    p.add_argument("--skip-night", action="store_true")
    p.add_argument(
        "--keep-history",
        action="store_true",
        help="night: keep the loaded history for the next run (reused when it holds the same faces); roll the night back",
    )
    p.add_argument("--nice", type=int, default=10)
    a = p.parse_args()
    os.nice(a.nice)
    loadavg_start = os.getloadavg()
    state = RESULTS / "state"
    setup_env(state)
    uri = start_db(state)
    res: dict = {"command": "bench/identities.py " + " ".join(sys.argv[1:]), "machine": machine()}
    if a.check_samples:
        res["samples"] = sample_distances()
        log(f"sample faces: {res['samples']}")
    if not a.skip_quality and a.geometry == "dlib":
        res["populations"] = populations(uri, a.quality_faces, 10, [int(x) for x in a.populations.split(",")], a.zipf)
    elif not a.skip_quality:
        res["quality"] = quality(
            uri, a.quality_faces, 10, max(20, a.quality_faces // 20), [float(x) for x in a.spreads.split(",")]
        )
    if not a.skip_night:
        res["night"] = night(uri, a.faces, a.days, a.people or max(100, a.faces // 100), keep=a.keep_history)
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["machine"]["loadavg_start"] = loadavg_start
    name = "identities" if not a.skip_night else "identities_quality"
    if a.geometry == "dlib":
        name = "identities_populations"
    path = write_result(name + (f"_{a.tag}" if a.tag else ""), res)
    print(json.dumps(res, indent=1, default=str))
    log(f"-> {path}")
