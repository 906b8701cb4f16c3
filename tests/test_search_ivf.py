"""The search structure over every day (facepipe.search.ivf, an inverted file facepipe keeps
itself) against an exact search over ``faces``, through every change the tables see: a load,
a re-run and a Clear of a day's load, a forget of a photo and of a person (and the scrub of the
partitions that held them), retention, another model, and loads and forgets while new centroids
are being built.

Days are loaded as a night loads them (write_manifest, write_shard, load_day, index_day). With
every list probed the IVF's answer must equal the exact answer row for row; with fewer, it
must still give k faces whenever k exist.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
from psycopg import sql

DAY0 = dt.date(2026, 9, 1)
LISTS = 12
EVERY = {"probes": LISTS, "exact_max_rows": 0}  # every list; never the exact path


def _load(conn, schema, spec, day, source, rng, centres, *, n=40, run=None, vectors=None) -> list[str]:
    """One (day, source) load as a night does it; returns the photos' SHA-256s."""
    from facepipe.core.sources import Arrival
    from facepipe.ingest.process import FaceRecord, ImageRecord, ShardResult
    from facepipe.ingest.store import index_day, load_day, write_manifest, write_shard
    from facepipe.models.detect import Box

    run_id = run or f"r-{source}-{uuid.uuid4().hex[:6]}"
    arrived = dt.datetime.combine(day, dt.time(12), dt.UTC)
    images = [
        ImageRecord(
            image_id=uuid.uuid5(uuid.NAMESPACE_URL, f"/{source}/{day}/{i}.jpg"),
            uri=f"/{source}/{day}/{i}.jpg",
            content_sha256=uuid.uuid4().hex + uuid.uuid4().hex,
            bytes=1,
            width=640,
            height=480,
            captured_at=None,
            camera=None,
            arrived_at=arrived,
            status="loaded",
            duplicate_of=None,
            face_count=1,
        )
        for i in range(n)
    ]
    write_manifest(conn, schema, day, run_id, source, [Arrival(im.uri, 1, arrived) for im in images], shard_size=n)
    if vectors is None:
        vectors = centres[rng.integers(0, len(centres), n)] + rng.normal(scale=0.15, size=(n, 128))
    result = ShardResult(
        images=images,
        embeddings=np.asarray(vectors, np.float32),
        faces=[FaceRecord(im.image_id, 0, Box(10, 10, 50, 50, 1.0), 640, 480) for im in images],
    )
    write_shard(conn, schema, spec, day=day, run_id=run_id, shard=0, source=source, detector="hog", result=result)
    load_day(conn, schema, day=day, run_id=run_id, detector="hog", model=spec, allow_shrink=True)
    index_day(conn, schema, day, spec)
    return [im.content_sha256 for im in images]


def _exact(conn, schema, query, k, since, until, source=None):
    """The k nearest faces by reading every face of the range: (day, image_id, face_no, distance)."""
    rows = conn.execute(
        sql.SQL(
            "SELECT day, image_id::text, face_no, embedding <-> %s AS d FROM {} WHERE day BETWEEN %s AND %s"
            " AND (%s::text IS NULL OR source = %s::text) ORDER BY d, day, image_id, face_no LIMIT %s"
        ).format(sql.Identifier(schema, "faces")),
        (np.asarray(query, np.float32), since, until, source, source, k),
    ).fetchall()
    return [(d, i, f, round(x, 4)) for d, i, f, x in rows]


def _found(matches):
    return [(m.day, m.image_id, m.face_no, round(m.distance, 4)) for m in matches]


def _found(matches):
    return [(m.day, m.image_id, m.face_no, round(m.distance, 4)) for m in matches]


def _check(conn, schema, spec, rng, centres, *, since, until, path="ivf", source=None, n=8, extra=(), args=EVERY):
    """Queries (near random identities, plus ``extra``) answered as the exact search answers them."""
    from facepipe.search.query import explain_search, search_faces

    queries = [centres[rng.integers(0, len(centres))] + rng.normal(scale=0.15, size=128) for _ in range(n)]
    for query in [*queries, *extra]:
        query = np.asarray(query, np.float32)
        kw = {"k": 10, "since": since, "until": until, "source": source, **args}
        taken, _ = explain_search(conn, schema, spec, query, **kw)
        assert taken == path
        assert _found(search_faces(conn, schema, spec, query, **kw)) == _exact(
            conn, schema, query, 10, since, until, source
        )


def _keys(db, schema, table) -> list:
    return db.execute(
        sql.SQL("SELECT day, image_id, face_no, source FROM {} ORDER BY 1, 2, 3").format(sql.Identifier(schema, table))
    ).fetchall()


def _in_step(db, schema) -> bool:
    """The current version holds every face of ``faces``, once, and no other row."""
    from facepipe.search import ivf

    return _keys(db, schema, ivf.current(db, schema).table) == _keys(db, schema, "faces")


@pytest.fixture
def loaded(schema, db, monkeypatch):
    """Six days of two sources loaded, and the first centroids trained (partitions of about 100
    faces, so that a forget's scrub and a search's pruning have several to choose from)."""
    from pgvector.psycopg import register_vector

    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.search import ivf

    spec = model_spec("dlib-resnet-128")
    require(db, schema, spec, may_upgrade=True)
    register_vector(db)
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(40, 128)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    shas = {}
    for i in range(6):
        for source in ("cam0", "cam1"):
            shas[(DAY0 + dt.timedelta(days=i), source)] = _load(
                db, schema, spec, DAY0 + dt.timedelta(days=i), source, rng, centres
            )
    state = ivf.state(db, schema)
    assert state.version is None and state.faces_now == 480
    assert state.due(2.0) is None and state.due(2.0, min_faces=480) == "first version"
    assert state.summary().startswith("no centroids yet: searches read every face of their range (480 faces")
    monkeypatch.setattr(ivf, "PARTITION_FACES", 100)
    built = ivf.build(db, schema, spec, reason="test", lists=LISTS)
    assert built["faces"] == 480 and built["lists"] == LISTS and built["dropped"] is None
    assert 2 <= built["partitions"] <= 3  # whole cells (round(sqrt(12)) of them), about 100 faces each
    assert _in_step(db, schema)
    return schema, spec, rng, centres, shas


def test_the_ivf_answers_as_the_exact_search_through_loads_reruns_and_clears(loaded, db):
    from facepipe.search import ivf
    from facepipe.search.query import explain_search

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    v = ivf.current(db, schema)
    # the plan: only the partitions of the probed lists, each by an index-only scan of its lists
    path, plan = explain_search(db, schema, spec, centres[0], k=10, since=DAY0, until=last, probes=1, exact_max_rows=0)
    assert path == "ivf" and len(re.findall(rf"Scan .* on {v.table}_p[0-9]+ ", plan)) == 1, plan[:300]
    _check(db, schema, spec, rng, centres, since=DAY0, until=last)
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, source="cam1")
    _check(db, schema, spec, rng, centres, since=DAY0 + dt.timedelta(days=2), until=DAY0 + dt.timedelta(days=3))
    # few faces in the range: the exact path (the default threshold)
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, path="exact", args={})

    # a new night: its faces are searched at once, in the load's own transaction
    new = last + dt.timedelta(days=1)
    _load(db, schema, spec, new, "cam0", rng, centres)
    assert _in_step(db, schema)
    _check(db, schema, spec, rng, centres, since=DAY0, until=new)

    # a re-run of a day with other faces (a new run), then a Clear of its load (the same run
    # loads again): the old rows are gone from the search, the new ones there once
    day = DAY0 + dt.timedelta(days=2)
    old = db.execute(
        sql.SQL("SELECT embedding FROM {} WHERE day = %s AND source = 'cam0'").format(sql.Identifier(schema, "faces")),
        (day,),
    ).fetchall()
    _load(db, schema, spec, day, "cam0", rng, centres, n=30, run="rerun")
    assert _in_step(db, schema)
    _check(db, schema, spec, rng, centres, since=DAY0, until=new, extra=[v.to_numpy() for (v,) in old[:5]])
    _load(db, schema, spec, day, "cam0", rng, centres, n=30, run="rerun")  # the Clear: same run, same day
    assert _in_step(db, schema)
    _check(db, schema, spec, rng, centres, since=DAY0, until=new, extra=[v.to_numpy() for (v,) in old[:5]])
    assert ivf.current(db, schema).version == v.version  # no rebuild: the rows changed in place


def test_the_lists_hold_halfvec_and_a_search_re_ranks_by_the_exact_vectors(loaded, db):
    """The search table's vectors are halfvec; a search's distances are the exact ones from
    faces (a halfvec's differ by about 1e-4). Revision 0014's downgrade gives the table back the
    exact vectors of faces (a facepipe before it ranks by them), its upgrade converts them again."""
    from facepipe.core import schema as versions
    from facepipe.search import ivf
    from facepipe.search.query import search_faces

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    assert ivf.current(db, schema).vector_type == "halfvec(128)" == ivf.search_type(spec)

    def distances_exact() -> None:
        for who in range(5):
            query = np.asarray(centres[who] + rng.normal(scale=0.15, size=128), np.float32)
            found = search_faces(db, schema, spec, query, k=10, since=DAY0, until=last, **EVERY)
            want = db.execute(
                sql.SQL(
                    "SELECT day, image_id::text, face_no, embedding <-> %s FROM {} ORDER BY 4, 1, 2, 3 LIMIT 10"
                ).format(sql.Identifier(schema, "faces")),
                (query,),
            ).fetchall()
            assert [(m.day, m.image_id, m.face_no) for m in found] == [r[:3] for r in want]
            assert max(abs(m.distance - r[3]) for m, r in zip(found, want)) < 1e-6

    distances_exact()
    table = ivf.current(db, schema).table
    files = db.execute("SELECT pg_relation_filenode(%s::regclass)", (f'"{schema}".{table}_p0',)).fetchone()
    versions.downgrade(schema, spec, "0013")
    assert ivf.current(db, schema).vector_type == "vector(128)"
    (differ,) = db.execute(
        sql.SQL(
            "SELECT count(*) FROM {} AS s JOIN {} AS f USING (day, image_id, face_no) WHERE s.embedding <> f.embedding"
        ).format(sql.Identifier(schema, table), sql.Identifier(schema, "faces"))
    ).fetchone()
    assert differ == 0
    _check(db, schema, spec, rng, centres, since=DAY0, until=last)  # the old type: ranked without a re-rank
    distances_exact()
    versions.upgrade(schema, spec)
    assert ivf.current(db, schema).vector_type == "halfvec(128)"
    assert db.execute("SELECT pg_relation_filenode(%s::regclass)", (f'"{schema}".{table}_p0',)).fetchone() != files
    assert _in_step(db, schema)
    distances_exact()
    _check(db, schema, spec, rng, centres, since=DAY0, until=last)


def test_few_probes_still_give_k_faces_and_a_narrow_filter_is_complete(loaded, db):
    """One list probed holds fewer than k faces of a source and a day: the search reads every
    face of the range instead (k come back whenever k exist); with more faces it stays on the IVF."""
    from facepipe.search import ivf
    from facepipe.search.query import search_faces

    schema, spec, rng, centres, shas = loaded
    day = DAY0 + dt.timedelta(days=3)
    query = np.asarray(centres[0], np.float32)
    v = ivf.current(db, schema)
    (nearest,) = ivf.nearest_lists(ivf.centroids(db, schema, v), query, 1)
    (held,) = db.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE list_id = %s AND day = %s AND source = 'cam1'").format(
            sql.Identifier(schema, v.table)
        ),
        (nearest, day),
    ).fetchone()
    assert held < 30  # the one list probed cannot give 30 faces of the day's cam1
    found = search_faces(db, schema, spec, query, k=30, since=day, until=day, source="cam1", probes=1, exact_max_rows=0)
    assert _found(found) == _exact(db, schema, query, 30, day, day, "cam1") and len(found) == 30
    # recall at few probes over every day: measured, not exact, but k rows nearest first
    found = search_faces(db, schema, spec, query, k=10, since=DAY0, until=day, probes=2, exact_max_rows=0)
    assert len(found) == 10 and [m.distance for m in found] == sorted(m.distance for m in found)
    truth = {r[:3] for r in _exact(db, schema, query, 10, DAY0, day)}
    assert len(truth & {r[:3] for r in _found(found)}) >= 5


def test_a_filter_reads_its_range_exactly_where_that_costs_at_most_twice_the_lists(loaded, db):
    """A source of two keeps half the faces: the IVF reads twice the lists for it. The exact path
    reads the source's 240 faces; the widened lists 80 a probe (480 faces / 12 lists x 2): at 1
    probe (160) the IVF, at 2 (320, at least 240 / EXACT_COST_RATIO) the exact path and its answer."""
    from facepipe.search.query import EXACT_COST_RATIO, explain_search, search_faces

    schema, spec, rng, centres, shas = loaded
    assert EXACT_COST_RATIO == 2.0
    query = np.asarray(centres[3], np.float32)
    kw = {"k": 10, "since": DAY0, "until": DAY0 + dt.timedelta(days=5), "source": "cam0", "exact_max_rows": 1}
    assert explain_search(db, schema, spec, query, probes=1, **kw)[0] == "ivf"
    assert explain_search(db, schema, spec, query, probes=2, **kw)[0] == "exact"
    found = search_faces(db, schema, spec, query, probes=2, **kw)
    assert _found(found) == _exact(db, schema, query, 10, kw["since"], kw["until"], "cam0")


def test_an_upload_with_markup_or_a_huge_k_is_refused(loaded, db):
    from facepipe.search.query import search_faces

    schema, spec, rng, centres, shas = loaded
    with pytest.raises(ValueError, match="k must be between 1 and 1000"):
        search_faces(db, schema, spec, centres[0], k=5000, since=DAY0, until=DAY0)
    # a range before every day, and one after: no rows, no error
    assert search_faces(db, schema, spec, centres[0], since=dt.date(2000, 1, 1), until=dt.date(2000, 1, 2)) == []


def _enrol_ada(db, schema, spec, centre) -> None:
    """A person 'ada' with one reference photo whose vector is ``centre``."""
    person = uuid.uuid4()
    db.execute(
        sql.SQL("INSERT INTO {} (person_id, name) VALUES (%s, 'ada')").format(sql.Identifier(schema, "people")),
        (person,),
    )
    db.execute(
        sql.SQL(
            "INSERT INTO {} (person_id, content_sha256, uri, box_x, box_y, box_w, box_h, model, embedding)"
            " VALUES (%s, 'ref', '/ref.jpg', 0, 0, 9, 9, %s, %s)"
        ).format(sql.Identifier(schema, "person_refs")),
        (person, spec.name, centre),
    )


def test_forget_removes_from_the_search_at_once_and_scrubs_its_partitions(loaded, db):
    """A forget deletes her faces from the search in its transaction, then rewrites only the
    partitions that held them: when it reports done her vectors are in no table or index file
    of the schema and in no pg_stats row, and searches answer as the exact search."""
    from facepipe.privacy.forget import forget_person, forget_photo
    from facepipe.search import ivf

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    faces = sql.Identifier(schema, "faces")
    v = ivf.current(db, schema)

    def files() -> dict[str, int]:
        return dict(
            db.execute(
                "SELECT c.relname, c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname LIKE %s AND c.relkind = 'r'",
                (schema, v.table + "_p%"),
            ).fetchall()
        )

    # a photo: its face goes in the forget's transaction; its one partition is rewritten
    sha = shas[(DAY0 + dt.timedelta(days=1), "cam1")][3]
    (vector,) = db.execute(
        sql.SQL("SELECT f.embedding FROM {} f JOIN {} i USING (day, image_id) WHERE i.content_sha256 = %s").format(
            faces, sql.Identifier(schema, "images")
        ),
        (sha,),
    ).fetchone()
    before = files()
    dry = forget_photo(db, schema, sha, spec, dry_run=True)
    assert dry.rows["search_lists"] == 1 and files() == before  # what it would delete; nothing rewritten
    out = forget_photo(db, schema, sha, spec)
    assert out.rows["search_lists"] == 1 and out.files["search_partitions_rewritten"] == 1
    after = files()
    assert sum(before[t] != after[t] for t in before) == 1  # one partition's files are new, no other's
    assert _in_step(db, schema)
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, extra=[vector.to_numpy()])

    # a person (an enrolled reference photo): every face within the threshold of it goes
    centre = centres[5]
    hers = []
    for day in (DAY0 + dt.timedelta(days=2), DAY0 + dt.timedelta(days=4)):
        mine = (centre + rng.normal(scale=0.01, size=(4, 128))).astype(np.float32)
        others = centres[rng.integers(6, len(centres), 36)] + rng.normal(scale=0.15, size=(36, 128))
        _load(db, schema, spec, day, "cam2", rng, centres, vectors=np.vstack([mine, others]))
        hers += list(mine)
    db.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, v.table)))
    # her vectors as faces holds them (float32) and as the search's lists do (halfvec)
    needles = [np.asarray(x, kind).tobytes()[:64] for x in hers for kind in (np.float32, np.float16)]
    # before: the check can fail (her vectors in the search's heap and covering btree)
    held = _in_schema_files(db, schema, needles)
    assert any(t.startswith(v.table + "_p") and t.endswith("_idx") for t in held), held  # the covering btree
    _enrol_ada(db, schema, spec, centre)
    holding = {
        t
        for (t,) in db.execute(
            sql.SQL("SELECT DISTINCT tableoid::regclass::text FROM {} WHERE embedding <-> %s < %s").format(
                sql.Identifier(schema, v.table)
            ),
            (centre, spec.match_threshold),
        ).fetchall()
    }
    before = files()
    out = forget_person(db, schema, "ada", spec, threshold=spec.match_threshold)
    assert out.rows["faces"] >= 8 and out.rows["search_lists"] == out.rows["faces"]
    assert out.files["search_partitions_rewritten"] == len(holding)
    after = files()
    assert {f"{schema}.{t}" for t in before if before[t] != after[t]} == holding  # those, and no other
    assert _in_schema_files(db, schema, needles) == []
    assert _stats_holding(db, schema, hers, atol=1e-4) == []
    # the rewritten partitions are all-visible again: a search's index-only scans of them read
    # no heap page (after a bare VACUUM FULL, every face's row would be fetched)
    from facepipe.search.query import explain_search

    _, plan = explain_search(
        db, schema, spec, centre, k=10, since=DAY0, until=last, probes=LISTS, exact_max_rows=0, analyze=True
    )
    fetches = {t: int(n) for t, n in re.findall(r" on (\w+) s_\d+ [^\n]*\n(?:[^\n]*\n)*?\s+Heap Fetches: (\d+)", plan)}
    rewritten = {t.split(".")[-1] for t in holding}
    assert rewritten <= set(fetches) and {fetches[t] for t in rewritten} == {0}, fetches
    used = set(re.findall(r"Scan using (\w+) on", plan))
    assert used and all("_list_id_" in i for i in used), used  # only the lists' btree, never the key's
    assert _in_step(db, schema) and ivf.current(db, schema).version == v.version
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, extra=[centre, centre + 0.01])


def _in_schema_files(db, schema: str, needles: list[bytes]) -> list[str]:
    """The schema's table and index files (dead rows and free pages included, after a
    checkpoint) holding one of ``needles``."""
    db.execute("CHECKPOINT")
    data_dir = Path(db.execute("SHOW data_directory").fetchone()[0])
    found = []
    for name, path in db.execute(
        "SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'i', 't')",
        (schema,),
    ).fetchall():
        if any(any(n in seg.read_bytes() for n in needles) for seg in sorted(data_dir.glob(path + "*"))):
            found.append(name)
    return found


def _stats_holding(db, schema: str, vectors, atol: float) -> list[str]:
    """The schema's relations (tables, and indexes on an expression: the halfvec one) whose
    pg_stats hold one of ``vectors``, to ``atol`` (halfvec keeps about 3 digits)."""
    found = []
    for name, text in db.execute(
        "SELECT tablename, coalesce(histogram_bounds::text, '') || coalesce(most_common_vals::text, '')"
        " FROM pg_stats WHERE schemaname = %s",
        (schema,),
    ).fetchall():
        for x in text.replace('"', "").strip("{}").replace("],[", "]|[").split("|"):
            if x.startswith("[") and x.count(",") == 127:
                s = np.array(x.strip("[]").split(","), dtype=np.float64)
                if any(np.allclose(s, v, atol=atol) for v in vectors):
                    found.append(name)
    return found


def test_retention_removes_expired_days_from_the_search(loaded, db, tmp_path):
    from facepipe.privacy.retention import expire
    from facepipe.search import ivf

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    result = expire(db, schema, last, 3, tmp_path)  # keeps the last 4 days
    assert result["rows"]["search_lists"] == 2 * 2 * 40
    assert _in_step(db, schema)
    assert ivf.state(db, schema).faces == 320
    _check(db, schema, spec, rng, centres, since=DAY0, until=last)


def test_another_model_is_refused_and_leaves_the_search_as_it_was(loaded, db, monkeypatch):
    from facepipe.core.db import ModelMismatch
    from facepipe.search import ivf
    from facepipe.search.tasks import maintain

    schema, spec, rng, centres, shas = loaded
    v = ivf.current(db, schema)
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", schema)
    monkeypatch.setenv("FACEPIPE_MODEL", "imgbeddings-clip-768")
    with pytest.raises(ModelMismatch):
        maintain(force=True)
    assert ivf.current(db, schema) == v
    _check(db, schema, spec, rng, centres, since=DAY0, until=DAY0 + dt.timedelta(days=5))
    monkeypatch.setenv("FACEPIPE_MODEL", spec.name)
    monkeypatch.setenv("FACEPIPE_SEARCH_LISTS", "6")
    result = maintain(force=True)
    assert result["built"] and result["build"]["lists"] == 6 and result["build"]["dropped"] == v.version
    assert db.execute("SELECT to_regclass(%s)", (f"{schema}.{v.table}",)).fetchone()[0] is None
    assert _in_step(db, schema)


def test_loads_and_forgets_during_a_build_reach_the_new_version(loaded, db, pg_uri, monkeypatch):
    """While new centroids fill their table day by day, a night loads a new day, a re-run replaces
    a day already copied, and a forget deletes a photo of a day copied and one not yet copied:
    the version swapped in holds exactly the faces, and the forgotten ones in no file."""
    import psycopg

    from facepipe.privacy.forget import forget_photo
    from facepipe.search import ivf

    schema, spec, rng, centres, shas = loaded
    v = ivf.current(db, schema)
    real, real_swap = ivf._insert, ivf._swap_lock
    copies, workers = [], []
    landed = threading.Event()
    forgotten = []

    def meanwhile():
        with psycopg.connect(pg_uri, autocommit=True) as other:
            from pgvector.psycopg import register_vector

            register_vector(other)
            _load(other, schema, spec, DAY0 + dt.timedelta(days=9), "cam0", rng, centres)  # a new night
            _load(other, schema, spec, DAY0, "cam0", rng, centres, n=20, run="rerun")  # a day copied already
            for key in ((DAY0, "cam1"), (DAY0 + dt.timedelta(days=5), "cam1")):  # copied, and not yet
                sha = shas[key][0]
                (vec,) = other.execute(
                    sql.SQL(
                        "SELECT f.embedding FROM {} f JOIN {} i USING (day, image_id) WHERE i.content_sha256 = %s"
                    ).format(sql.Identifier(schema, "faces"), sql.Identifier(schema, "images")),
                    (sha,),
                ).fetchone()
                forgotten.append(vec.to_numpy())
                forget_photo(other, schema, sha, spec)
        landed.set()

    def copying(conn, schema_, version, cents, day, rows):
        copies.append(version.version)
        n = real(conn, schema_, version, cents, day, rows)
        if version.state == "building" and len(copies) == 2:  # the build, its second day copied
            workers.append(threading.Thread(target=meanwhile))
            workers[0].start()
        return n

    def swap_after_them(conn, *args, **kwargs):
        for worker in workers:
            worker.join(120)
        return real_swap(conn, *args, **kwargs)

    monkeypatch.setattr(ivf, "_insert", copying)
    monkeypatch.setattr(ivf, "_swap_lock", swap_after_them)
    # the build's copies are the only inserts in this thread; the other thread's loads call it too
    built = ivf.build(db, schema, spec, reason="test", lists=LISTS)
    assert landed.is_set() and workers  # they ran while the build copied
    monkeypatch.undo()
    assert built["dropped"] == v.version and ivf.current(db, schema).version == built["version"]
    assert _in_step(db, schema)
    needles = [np.asarray(x, kind).tobytes()[:64] for x in forgotten for kind in (np.float32, np.float16)]
    assert _in_schema_files(db, schema, needles) == []
    _check(db, schema, spec, rng, centres, since=DAY0, until=DAY0 + dt.timedelta(days=9))


def test_a_failed_build_leaves_no_table_and_the_old_version_serves(loaded, db, monkeypatch):
    from facepipe.search import ivf

    schema, spec, rng, centres, shas = loaded
    v = ivf.current(db, schema)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ivf, "_swap_lock", broken)
    with pytest.raises(RuntimeError, match="disk is full"):
        ivf.build(db, schema, spec, reason="test", lists=LISTS)
    monkeypatch.undo()
    states = db.execute(
        sql.SQL("SELECT version, state FROM {} ORDER BY version").format(sql.Identifier(schema, "search_ivf"))
    ).fetchall()
    assert states == [(v.version, "current"), (v.version + 1, "discarded")]
    assert db.execute("SELECT to_regclass(%s)", (f"{schema}.{ivf.lists_table(v.version + 1)}",)).fetchone()[0] is None
    assert ivf.current(db, schema) == v and _in_step(db, schema)
    _check(db, schema, spec, rng, centres, since=DAY0, until=DAY0 + dt.timedelta(days=5))


def test_a_schema_made_anew_is_searched_with_its_own_centroids(loaded, db):
    """A process that searched a schema keeps its centroids; the schema dropped and made again
    (a downgrade, a restore) numbers its first version 1 again, with other centroids. Found by
    bench/search_ivf.py's second shape: every query read the first shape's lists (recall 0)."""
    from facepipe.core.schema import require
    from facepipe.search import ivf
    from facepipe.search.query import search_faces

    schema, spec, rng, centres, shas = loaded
    first = ivf.current(db, schema)
    ivf.centroids(db, schema, first)  # cached
    db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    require(db, schema, spec, may_upgrade=True)
    others = rng.normal(size=(40, 128)).astype(np.float32)
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    for i in range(6):
        _load(db, schema, spec, DAY0 + dt.timedelta(days=i), "cam0", rng, others, n=80)
    ivf.build(db, schema, spec, reason="test", lists=LISTS)
    again = ivf.current(db, schema)
    assert again.version == first.version and again.table_oid != first.table_oid
    stored = np.stack(
        [
            np.frombuffer(bytes(c), "<f4")
            for (c,) in db.execute(
                sql.SQL("SELECT centroid FROM {} WHERE version = %s ORDER BY list_id").format(
                    sql.Identifier(schema, "search_centroids")
                ),
                (again.version,),
            )
        ]
    )
    assert np.array_equal(ivf.centroids(db, schema, again), stored)
    # a stored face, searched with one probe: its own list is the nearest, so it comes first
    day, image_id, vector = db.execute(
        sql.SQL("SELECT day, image_id::text, embedding FROM {} ORDER BY image_id LIMIT 1").format(
            sql.Identifier(schema, "faces")
        )
    ).fetchone()
    found = search_faces(
        db, schema, spec, vector.to_numpy(), k=1, since=DAY0, until=DAY0 + dt.timedelta(days=5),
        probes=1, exact_max_rows=0,
    )  # fmt: skip
    assert [(m.day, m.image_id) for m in found] == [(day, image_id)]


def test_growth_trains_new_centroids(loaded, db):
    from facepipe.search import ivf

    schema, spec, rng, centres, shas = loaded
    state = ivf.state(db, schema)
    assert state.growth == 1.0 and state.due(2.0) is None
    assert "480 faces in 12 lists" in state.summary() and "largest list" in state.summary()
    for i in range(6, 12):
        _load(db, schema, spec, DAY0 + dt.timedelta(days=i), "cam0", rng, centres, n=80)
    state = ivf.state(db, schema)
    assert state.faces == state.faces_now == 960
    assert state.due(2.0) == "the faces grew 2.0x since its centroids were trained (>= 2x)"
    result = ivf.maintain(db, schema, spec, growth=2.0, lists=LISTS)
    assert result["built"] and result["after"]["trained_faces"] == 960
    assert ivf.maintain(db, schema, spec, growth=2.0, lists=LISTS)["built"] is False
    assert _in_step(db, schema)


def test_the_ivf_centroids_and_lists_in_numpy():
    """The two-level k-means: every list used, contiguous per coarse cell, and the nearest
    lists of a point its own list first."""
    from facepipe.search import ivf

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(50, 16)).astype(np.float32)
    x = centres[rng.integers(0, 50, 5000)] + rng.normal(scale=0.05, size=(5000, 16)).astype(np.float32)
    cents, bounds, sizes = ivf.train(x, 64)
    assert cents.shape == (64, 16) and bounds[0] == 0 and list(bounds) == sorted(bounds)
    assert len(bounds) == round(64**0.5) and sum(sizes) == len(x)
    # partitions: whole cells, about PARTITION_FACES faces each
    assert ivf.partition_bounds(bounds, sizes, 5000) == (0,)
    parts = ivf.partition_bounds(bounds, sizes, 4 * ivf.PARTITION_FACES)
    assert len(parts) == 4 and set(parts) <= set(bounds) and parts[0] == 0
    ids = ivf.assign(x, cents)
    assert set(ids.tolist()) == set(range(64))  # no empty list
    for point in x[:50]:
        own = int(ivf.assign(point[None, :], cents)[0])
        assert own in ivf.nearest_lists(cents, point, 1)
    assert ivf.nearest_lists(cents, x[0], 500) == list(range(64))
    # a face's list at a load and in a build: its exact nearest centroid (faiss), as numpy finds it
    cn = np.einsum("ij,ij->i", cents, cents)
    assert (ivf.assign_lists(x, cents, bounds) == np.argmin(cn[None, :] - 2.0 * (x @ cents.T), axis=1)).all()
    # the routing before faiss, among the nearest cells' lists: the exact nearest list nearly always
    routed = ivf.assign_lists(x, cents, bounds, top=2)
    assert (routed == ids).mean() >= 0.98, (routed == ids).mean()
    assert (ivf.assign_lists(x, cents, bounds, top=len(bounds)) == ids).all()
    assert ivf.lists_for(1_000_000) == 15625 and ivf.lists_for(10**9) == ivf.MAX_LISTS and ivf.lists_for(5, 7) == 7


def test_status_and_the_command_show_the_search(loaded, db, capsys, monkeypatch):
    from facepipe.ops.cli import main

    schema, spec, rng, centres, shas = loaded
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", schema)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "search over every day: version 1 built" in out and "12 lists" in out, out
    assert "new centroids are due" not in out
    assert main(["search-maintain"]) == 0
    out = capsys.readouterr().out
    assert "no new centroids due" in out and "480 faces in 12 lists" in out
    monkeypatch.setenv("FACEPIPE_SEARCH_LISTS", "5")
    assert main(["search-maintain", "--rebuild"]) == 0
    out = capsys.readouterr().out
    assert "new centroids (asked for): version 2, 5 lists" in out and "version 1 dropped" in out, out


@pytest.mark.dag
def test_face_search_dag_trains_and_logs_the_state(loaded, db, monkeypatch, airflow_db, caplog):
    from airflow.dag_processing.dagbag import DagBag

    from facepipe.core.config import PROJECT_ROOT
    from facepipe.search import ivf

    schema, spec, rng, centres, shas = loaded
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", schema)
    v = ivf.current(db, schema)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("face_search")
    assert "facepipe" in dag.tags and all(t.execution_timeout and t.retries >= 1 for t in dag.tasks)
    assert str(dag.test().state) == "success"  # nothing due: nothing built
    assert ivf.current(db, schema) == v
    with caplog.at_level("INFO"):
        assert str(dag.test(run_conf={"force": True}).state) == "success"
    assert ivf.current(db, schema).version > v.version
    assert "search before: version" in caplog.text and "search: version 2 built (asked for)" in caplog.text
