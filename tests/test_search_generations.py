"""The search structure over every day (facepipe.search.generations) against an exact search
over ``faces``, through every change the tables see: a load, a re-run and a Clear of a day's
load, a forget of a photo and of a person, retention, another model, and a forget or
retention that lands while a generation is being built.

Days are loaded as a night loads them (write_manifest, write_shard, load_day, index_day), few
enough faces that an HNSW search at ef_search 1000 visits every one: the search structure's
answer must then equal the exact answer row for row, whatever path it takes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import numpy as np
import pytest
from psycopg import sql

DAY0 = dt.date(2026, 9, 1)
EVERY = {"ef_search": 1000, "exact_max_rows": 0}  # visit every face; never the exact path


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


def _check(conn, schema, spec, rng, centres, *, since, until, path="sealed", source=None, n=8, extra=()):
    """Queries (near random identities, plus ``extra``) answered as the exact search answers them."""
    from facepipe.search.query import explain_search, search_faces

    queries = [centres[rng.integers(0, len(centres))] + rng.normal(scale=0.15, size=128) for _ in range(n)]
    for query in [*queries, *extra]:
        query = np.asarray(query, np.float32)
        args = {"k": 10, "since": since, "until": until, "source": source, **EVERY}
        taken, _ = explain_search(conn, schema, spec, query, **args)
        assert taken == path
        assert _found(search_faces(conn, schema, spec, query, **args)) == _exact(
            conn, schema, query, 10, since, until, source
        )


@pytest.fixture
def loaded(schema, db):
    """Six days of two sources loaded, and the first generation built."""
    from pgvector.psycopg import register_vector

    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.search import generations

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
    assert generations.lag(db, schema).due(generations.Policy()) == "first generation"
    assert generations.lag(db, schema).summary().startswith("off (opt-in: unpause the DAG face_search")
    built = generations.rebuild(db, schema, spec, reason="test")
    assert built["faces"] == 6 * 2 * 40 and not built["discarded"] and not built["spilled"]
    return schema, spec, rng, centres, shas


def _gen_rows(db, schema) -> int:
    from facepipe.search import generations

    gen = generations.current(db, schema)
    return db.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, generations.sealed_table(gen)))
    ).fetchone()[0]


def test_one_graph_answers_as_the_exact_search_through_loads_reruns_and_clears(loaded, db):
    from facepipe.search import generations
    from facepipe.search.query import SEALED_EF_SEARCH, _search_plan, explain_search

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    gen = generations.current(db, schema)
    path, plan = explain_search(db, schema, spec, centres[0], k=10, since=DAY0, until=last)
    kind = generations.Policy().for_faces(480).index  # auto: one graph at this size
    assert path == "sealed" and f"search_sealed_g{gen}_embedding_{kind}" in plan, plan
    assert "faces_p" not in plan, plan  # no day partition is searched: every day is sealed
    with db.transaction():  # the one graph searches wider than a day's graph (section 9)
        plan_ = _search_plan(
            db, schema, spec, centres[0], k=10, since=DAY0, until=last, source=None, ef_search=None, exact_max_rows=0
        )
        assert ("hnsw.ef_search", str(SEALED_EF_SEARCH)) in plan_.settings[0]
        plan_ = _search_plan(
            db, schema, spec, centres[0], k=10, since=DAY0, until=last, source=None, ef_search=60, exact_max_rows=0
        )
        assert ("hnsw.ef_search", "60") in plan_.settings[0]
    _check(db, schema, spec, rng, centres, since=DAY0, until=last)
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, source="cam1")  # a filter: iterative scan
    # a narrow range is searched day by day
    _check(db, schema, spec, rng, centres, since=DAY0, until=DAY0 + dt.timedelta(days=1), path="hnsw")

    # a new night: its day is open, searched in its partition beside the graph
    new = last + dt.timedelta(days=1)
    _load(db, schema, spec, new, "cam0", rng, centres)
    lag = generations.lag(db, schema)
    assert (lag.open_days, lag.open_faces, lag.oldest_open) == (1, 40, new)
    path, plan = explain_search(db, schema, spec, centres[0], k=10, since=DAY0, until=new)
    assert path == "sealed" and f"faces_p{new:%Y%m%d}_embedding_hnsw" in plan, plan
    assert plan.count("Index Scan using faces_p") == 1, plan  # the open day only
    _check(db, schema, spec, rng, centres, since=DAY0, until=new)

    # a re-run of a sealed day with other faces (a new run), then a Clear of its load (the same
    # run loads again): the day is open, the generation's old rows of it are never returned
    day = DAY0 + dt.timedelta(days=2)
    old = db.execute(
        sql.SQL("SELECT embedding FROM {} WHERE day = %s AND source = 'cam0'").format(sql.Identifier(schema, "faces")),
        (day,),
    ).fetchall()
    _load(db, schema, spec, day, "cam0", rng, centres, n=30, run="rerun")
    _check(db, schema, spec, rng, centres, since=DAY0, until=new, extra=[v.to_numpy() for (v,) in old[:5]])
    _load(db, schema, spec, day, "cam0", rng, centres, n=30, run="rerun")  # the Clear: same run, same day
    lag = generations.lag(db, schema)
    assert lag.open_days == 2 and lag.shadowed == 80  # the day's 80 sealed rows, now shadowed
    _check(db, schema, spec, rng, centres, since=DAY0, until=new, extra=[v.to_numpy() for (v,) in old[:5]])

    # maintenance folds them in: nothing open, the new generation equals faces
    result = generations.maintain(db, schema, spec, generations.Policy(max_open_days=1))
    assert result["rebuilt"] and result["lag_after"]["open_days"] == 0 and result["build"]["dropped"] == gen
    assert db.execute("SELECT to_regclass(%s)", (f"{schema}.search_sealed_g{gen}",)).fetchone()[0] is None
    assert (
        _gen_rows(db, schema)
        == db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "faces"))).fetchone()[0]
    )
    _check(db, schema, spec, rng, centres, since=DAY0, until=new)
    assert generations.maintain(db, schema, spec, generations.Policy())["rebuilt"] is False  # nothing due


def test_every_index_kind_answers_as_the_exact_search(loaded, db, monkeypatch):
    """A generation indexed by IVFFlat on the vectors as halfvec with several lists (every list
    probed; candidates re-ranked by the full vector) or by HNSW on the vector (every face
    visited) answers as the exact search, distances included, with and without a filter; with
    one probe of 8 lists a filtered search still returns k rows (iterative scan)."""
    from facepipe.search import generations
    from facepipe.search.query import explain_search, search_faces

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    ivfflat = {"FACEPIPE_SEARCH_INDEX": "ivfflat", "FACEPIPE_SEARCH_LISTS": "8", "FACEPIPE_SEARCH_PROBES": "8"}
    for env in (ivfflat, {"FACEPIPE_SEARCH_INDEX": "hnsw", "FACEPIPE_SEARCH_HNSW_M": "24"}):
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            built = generations.rebuild(db, schema, spec, reason="test")
            assert built["index"] == generations.Policy.from_env().index and not built["discarded"]
            _check(db, schema, spec, rng, centres, since=DAY0, until=last)
            _check(db, schema, spec, rng, centres, since=DAY0, until=last, source="cam1")
            table = sql.Identifier(schema, generations.sealed_table(built["gen"]))
            (indexdef,) = db.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s AND indexdef LIKE %s",
                (schema, generations.sealed_table(built["gen"]), f"%USING {built['index']}%"),
            ).fetchone()
            # IVFFlat on the vectors as halfvec, HNSW on the vector; the search uses the index
            assert built["half"] == ("halfvec(128)" in indexdef) == (built["index"] == "ivfflat"), indexdef
            assert generations.is_half(db, schema, built["gen"]) == built["half"]
            # status says which index the searches read
            said = {"ivfflat": "ivfflat, 8 lists, on halfvec", "hnsw": "hnsw, m 24, ef_construction 64"}
            assert f"({said[built['index']]}) built" in generations.lag(db, schema).summary()
            _, plans = explain_search(db, schema, spec, centres[3], k=10, since=DAY0, until=last, **EVERY)
            assert f"Index Scan using {generations.sealed_table(built['gen'])}_embedding_{built['index']}" in plans
            assert db.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0] == 6 * 2 * 40
            if built["index"] == "ivfflat":
                assert built["lists"] == 8
                m.setenv("FACEPIPE_SEARCH_PROBES", "1")
                found = search_faces(db, schema, spec, centres[3], k=10, since=DAY0, until=last, source="cam1", **EVERY)
                assert len(found) == 10 and {f.source for f in found} == {"cam1"}


def test_the_search_settings_are_checked(monkeypatch):
    from facepipe.core.config import ConfigError
    from facepipe.core.specs import model_spec
    from facepipe.search.generations import Policy, ivfflat_lists, kmeans_bytes
    from facepipe.search.query import search_probes

    # a list per 1,000 faces, as many as the build's k-means fits in FACEPIPE_SEARCH_BUILD_MEM
    assert (ivfflat_lists(10), ivfflat_lists(500_000), ivfflat_lists(2_000_000)) == (1, 500, 2000)
    assert 2000 < ivfflat_lists(10_000_000) < 2300 and 6500 < ivfflat_lists(10_000_000, "10GB") < 7071
    assert kmeans_bytes(10_000, 128, half=True) // 2**20 in range(19_500, 19_700)  # pgvector: "19595 MB"
    spec = model_spec("dlib-resnet-128")
    ivf = Policy(index="ivfflat", lists=5000)
    with pytest.raises(
        ConfigError, match=r"FACEPIPE_SEARCH_LISTS=5000 needs FACEPIPE_SEARCH_BUILD_MEM of at least 4\d\d\dMB"
    ):
        ivf.lists_for(10_000_000, spec)
    assert dataclasses.replace(ivf, build_mem="6GB").lists_for(10_000_000, spec) == 5000
    assert ivf.lists_for(800, spec) == 800  # no more lists than faces
    # auto: one graph below AUTO_IVFFLAT_FACES, lists from there
    assert Policy.from_env().index == "auto"
    assert [Policy().for_faces(n).index for n in (480, 1_499_999, 1_500_000, 10_000_000)] == [
        "hnsw",
        "hnsw",
        "ivfflat",
        "ivfflat",
    ]
    assert Policy(index="hnsw").for_faces(10_000_000).index == "hnsw"  # a kind asked for stays
    for name, value in [("INDEX", "flat"), ("LISTS", "-1"), ("HNSW_M", "1"), ("HNSW_EF_CONSTRUCTION", "8")]:
        with monkeypatch.context() as m:
            m.setenv(f"FACEPIPE_SEARCH_{name}", value)
            with pytest.raises(ConfigError):
                Policy.from_env()
    monkeypatch.setenv("FACEPIPE_SEARCH_PROBES", "0")
    with pytest.raises(ConfigError):
        search_probes()


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


def test_forget_removes_from_the_graph_at_once_and_rebuilds_it(loaded, db):
    from facepipe.privacy.forget import forget_person, forget_photo
    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    faces = sql.Identifier(schema, "faces")

    # a photo: its face goes from the generation in the forget's transaction
    sha = shas[(DAY0 + dt.timedelta(days=1), "cam1")][3]
    (vector,) = db.execute(
        sql.SQL("SELECT f.embedding FROM {} f JOIN {} i USING (day, image_id) WHERE i.content_sha256 = %s").format(
            faces, sql.Identifier(schema, "images")
        ),
        (sha,),
    ).fetchone()
    gen = generations.current(db, schema)
    dry = forget_photo(db, schema, sha, spec, dry_run=True)
    assert dry.rows["search_generation"] == 1 and generations.current(db, schema) == gen
    out = forget_photo(db, schema, sha, spec)
    assert out.rows["search_generation"] == 1
    assert generations.current(db, schema) > gen  # rebuilt after the commit, the old table dropped
    assert db.execute("SELECT to_regclass(%s)", (f"{schema}.search_sealed_g{gen}",)).fetchone()[0] is None
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, extra=[vector.to_numpy()])

    # a person (an enrolled reference photo): every face within the threshold of it goes
    centre = centres[5]
    for day in (DAY0 + dt.timedelta(days=2), DAY0 + dt.timedelta(days=4)):  # her faces, on two days, sealed
        hers = centre + rng.normal(scale=0.01, size=(4, 128))
        others = centres[rng.integers(6, len(centres), 36)] + rng.normal(scale=0.15, size=(36, 128))
        _load(db, schema, spec, day, "cam2", rng, centres, vectors=np.vstack([hers, others]))
    generations.rebuild(db, schema, spec, reason="test")
    _enrol_ada(db, schema, spec, centre)
    near = db.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE embedding <-> %s < %s").format(faces),
        (centre, spec.match_threshold * 1.5),
    ).fetchone()[0]
    assert near >= 8
    # between her forget's commit and the rebuild, search must not return her: stop the rebuild
    import facepipe.search.generations as g

    real = g.rebuild
    g.rebuild = lambda *a, **kw: None
    try:
        out = forget_person(db, schema, "ada", spec, threshold=spec.match_threshold * 1.5)
    finally:
        g.rebuild = real
    assert out.rows["search_generation"] == out.rows["faces"] == near
    lag = generations.lag(db, schema)
    assert lag.removed == near and lag.stale > 0
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, extra=[centre, centre + 0.01])
    # the maintenance sees the stale rows and rebuilds
    assert generations.maintain(db, schema, spec, generations.Policy(max_stale=0.0))["rebuilt"]
    gen = generations.current(db, schema)
    left = db.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE embedding <-> %s < %s").format(
            sql.Identifier(schema, generations.sealed_table(gen))
        ),
        (centre, spec.match_threshold * 1.5),
    ).fetchone()[0]
    assert left == 0
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, extra=[centre])


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


def test_forget_scrubs_a_halfvec_generation(loaded, db, monkeypatch):
    """A forget on an IVFFlat generation indexed on halfvec: when it reports done, her vectors
    are in no table or index file of the schema, in neither encoding (float32 in the tables,
    float16 in the index), and in no pg_stats row (the index's expression has statistics of its
    own); searches answer as the exact search before, between and after."""
    from facepipe.privacy.forget import forget_person
    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    monkeypatch.setenv("FACEPIPE_SEARCH_INDEX", "ivfflat")
    monkeypatch.setenv("FACEPIPE_SEARCH_LISTS", "8")
    monkeypatch.setenv("FACEPIPE_SEARCH_PROBES", "8")
    last = DAY0 + dt.timedelta(days=5)
    centre = centres[5]
    hers = []
    for day in (DAY0 + dt.timedelta(days=2), DAY0 + dt.timedelta(days=4)):
        mine = (centre + rng.normal(scale=0.01, size=(4, 128))).astype(np.float32)
        others = centres[rng.integers(6, len(centres), 36)] + rng.normal(scale=0.15, size=(36, 128))
        _load(db, schema, spec, day, "cam2", rng, centres, vectors=np.vstack([mine, others]))
        hers += list(mine)
    built = generations.rebuild(db, schema, spec, reason="test")
    assert built["half"] and built["index"] == "ivfflat"
    table = generations.sealed_table(built["gen"])
    db.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
    needles = [np.asarray(v, np.float32).tobytes()[:64] for v in hers]
    needles += [np.asarray(v, np.float16).tobytes()[:32] for v in hers]
    # before: the checks can fail (her half vectors in the index file, its expression's statistics)
    assert f"{table}_embedding_ivfflat" in _in_schema_files(db, schema, needles)
    assert db.execute(
        "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = %s",
        (schema, f"{table}_embedding_ivfflat"),
    ).fetchone()[0]
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, extra=[centre])
    _enrol_ada(db, schema, spec, centre)
    out = forget_person(db, schema, "ada", spec, threshold=spec.match_threshold)
    assert out.rows["faces"] >= 8 and out.rows["search_generation"] == out.rows["faces"]
    after = generations.current(db, schema)
    assert after > built["gen"] and generations.is_half(db, schema, after)
    assert _in_schema_files(db, schema, needles) == []
    assert _stats_holding(db, schema, hers, atol=2e-3) == []
    _check(db, schema, spec, rng, centres, since=DAY0, until=last, extra=[centre, centre + 0.01])


def _generation_rows(db, schema) -> list[tuple[int, str]]:
    return db.execute(
        sql.SQL("SELECT gen, state FROM {} ORDER BY gen").format(sql.Identifier(schema, "search_generations"))
    ).fetchall()


def test_a_failed_build_leaves_no_table_and_bad_settings_fail_before_the_copy(loaded, db, monkeypatch):
    """A build that fails after its copy drops its table (a copy of every face, which a later
    forget would not know of) and resets its memory; settings that would fail it after the
    copy are refused before it."""
    from facepipe.core.config import ConfigError
    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    before = _generation_rows(db, schema)
    mem = db.execute("SHOW maintenance_work_mem").fetchone()[0]

    def boom(*args, **kwargs):
        raise RuntimeError("the index build failed")

    with monkeypatch.context() as m:
        m.setattr(generations, "index_column", boom)
        with pytest.raises(RuntimeError, match="index build failed"):
            generations.rebuild(db, schema, spec, reason="test")
    (failed, state) = _generation_rows(db, schema)[-1]
    assert state == "discarded" and failed > before[-1][0]
    assert db.execute("SELECT to_regclass(%s)", (f"{schema}.search_sealed_g{failed}",)).fetchone()[0] is None
    assert db.execute("SHOW maintenance_work_mem").fetchone()[0] == mem
    assert generations.current(db, schema) == before[-1][0]
    rows = _generation_rows(db, schema)
    for env, match in [
        ({"FACEPIPE_SEARCH_BUILD_MEM": "0MB"}, "FACEPIPE_SEARCH_BUILD_MEM=0MB: .*outside the valid range"),
        ({"FACEPIPE_SEARCH_BUILD_MEM": "999999999TB"}, "FACEPIPE_SEARCH_BUILD_MEM=999999999TB"),
        ({"FACEPIPE_SEARCH_INDEX": "ivfflat", "FACEPIPE_SEARCH_LISTS": "5000"}, "FACEPIPE_SEARCH_LISTS=5000 needs"),
        ({"FACEPIPE_SEARCH_LISTS": "5000"}, "FACEPIPE_SEARCH_LISTS=5000 needs"),  # auto: IVFFlat one day
    ]:
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            with pytest.raises(ConfigError, match=match):
                generations.rebuild(db, schema, spec, reason="test")
        assert _generation_rows(db, schema) == rows  # refused before a generation was registered
    for value in ("1MBB", "1.5GB", "1gb", "1kMGTB"):
        monkeypatch.setenv("FACEPIPE_SEARCH_BUILD_MEM", value)
        with pytest.raises(ConfigError, match="like 512MB"):
            generations.Policy.from_env()
    assert generations.mem_bytes("1048576B") == generations.mem_bytes("1MB") == generations.mem_bytes("1024") == 2**20


def test_forget_drops_a_table_a_dead_build_left(loaded, db):
    """A build whose process died left its table, holding a face of a day loaded after the
    current generation (so the current generation has none of it): the forget of that photo
    drops the table before it reports done, and her vector is in no file of the schema."""
    from facepipe.core.config import SQL_DIR
    from facepipe.core.db import load_sql
    from facepipe.privacy.forget import forget_photo
    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    new = DAY0 + dt.timedelta(days=6)
    sha = _load(db, schema, spec, new, "cam0", rng, centres)[2]
    (vector,) = db.execute(
        sql.SQL("SELECT f.embedding FROM {} f JOIN {} i USING (day, image_id) WHERE i.content_sha256 = %s").format(
            sql.Identifier(schema, "faces"), sql.Identifier(schema, "images")
        ),
        (sha,),
    ).fetchone()
    # what a build killed in its copy leaves: a 'building' row and its table, with the new day
    (dead,) = db.execute(
        sql.SQL("INSERT INTO {} (state, reason) VALUES ('building', 'killed') RETURNING gen").format(
            sql.Identifier(schema, "search_generations")
        )
    ).fetchone()
    table = generations.sealed_table(dead)
    db.execute(
        sql.SQL((SQL_DIR / "search_gen_table.sql").read_text()).format(
            schema=sql.Identifier(schema), sealed=sql.Identifier(table), vector_type=sql.SQL(spec.column_type)
        )
    )
    db.execute(load_sql("search_gen_copy_day.sql", schema=schema, sealed=table), {"gen": dead, "day": new})
    needle = [np.asarray(vector.to_numpy(), np.float32).tobytes()[:64]]
    assert table in _in_schema_files(db, schema, needle)  # the check can fail
    out = forget_photo(db, schema, sha, spec)
    assert out.rows["search_generation"] == 0  # the current generation never held it
    assert db.execute("SELECT to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0] is None
    assert dict(_generation_rows(db, schema))[dead] == "discarded"
    assert _in_schema_files(db, schema, needle) == []


def test_a_halfvec_generation_survives_a_downgrade_and_upgrade(loaded, db, monkeypatch):
    """Revision 0009 undone and done again with a halfvec IVFFlat generation current: its flag
    comes back from its index, and searches use the index again, exactly."""
    from facepipe.core import schema as versions
    from facepipe.search import generations
    from facepipe.search.query import explain_search

    schema, spec, rng, centres, shas = loaded
    monkeypatch.setenv("FACEPIPE_SEARCH_INDEX", "ivfflat")
    monkeypatch.setenv("FACEPIPE_SEARCH_LISTS", "8")
    monkeypatch.setenv("FACEPIPE_SEARCH_PROBES", "8")
    gen = generations.rebuild(db, schema, spec, reason="test")["gen"]
    assert versions.downgrade(schema, spec, "0008")[1] == "0008"
    assert versions.upgrade(schema, spec)[1] == versions.head()
    assert generations.is_half(db, schema, gen)
    last = DAY0 + dt.timedelta(days=5)
    _, plans = explain_search(db, schema, spec, centres[3], k=10, since=DAY0, until=last, **EVERY)
    assert f"Index Scan using {generations.sealed_table(gen)}_embedding_ivfflat" in plans
    _check(db, schema, spec, rng, centres, since=DAY0, until=last)


def test_retention_removes_expired_days_from_the_graph(loaded, db, tmp_path):
    from facepipe.privacy.retention import expire
    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    last = DAY0 + dt.timedelta(days=5)
    before = _gen_rows(db, schema)
    result = expire(db, schema, last, 3, tmp_path)  # keeps the last 4 days
    assert result["rows"]["search_generation"] == 2 * 2 * 40
    assert _gen_rows(db, schema) == before - 160
    lag = generations.lag(db, schema)
    assert lag.removed == 160 and lag.open_days == 0
    _check(db, schema, spec, rng, centres, since=DAY0, until=last)


def test_another_model_is_refused_and_leaves_the_search_as_it_was(loaded, db, monkeypatch):
    from facepipe.core.db import ModelMismatch
    from facepipe.search import generations
    from facepipe.search.tasks import maintain

    schema, spec, rng, centres, shas = loaded
    gen = generations.current(db, schema)
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", schema)
    monkeypatch.setenv("FACEPIPE_MODEL", "imgbeddings-clip-768")
    with pytest.raises(ModelMismatch):
        maintain(force=True)
    assert generations.current(db, schema) == gen
    _check(db, schema, spec, rng, centres, since=DAY0, until=DAY0 + dt.timedelta(days=5))
    monkeypatch.setenv("FACEPIPE_MODEL", spec.name)
    assert maintain(force=True)["rebuilt"]


def test_a_forget_or_retention_during_a_build_discards_it(loaded, db, pg_uri, monkeypatch):
    import psycopg

    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    gen = generations.current(db, schema)
    real = generations._swap_lock

    def retention_lands_first(conn, *args, **kwargs):
        with psycopg.connect(pg_uri, autocommit=True) as other, other.transaction():
            generations.expire_days(other, schema, DAY0 + dt.timedelta(days=1))
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(generations, "_swap_lock", retention_lands_first)
    built = generations.rebuild(db, schema, spec, reason="test")
    assert built["discarded"] and generations.current(db, schema) == gen
    assert db.execute("SELECT to_regclass(%s)", (f"{schema}.search_sealed_g{built['gen']}",)).fetchone()[0] is None
    monkeypatch.setattr(generations, "_swap_lock", real)
    assert not generations.rebuild(db, schema, spec, reason="test")["discarded"]


def test_a_build_that_outgrows_its_memory_says_so(loaded, db, caplog):
    """At 10M faces the graph outgrew 10 GB and the build went on on disk 8x slower, silently
    (BENCHMARKS.md section 9): a rebuild now says it in the task log and in its result."""
    import logging

    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    _load(db, schema, spec, DAY0 + dt.timedelta(days=8), "cam0", rng, centres, n=1500)
    with caplog.at_level(logging.WARNING, logger="facepipe.search.generations"):
        built = generations.rebuild(
            db, schema, spec, reason="test", policy=dataclasses.replace(generations.Policy(), build_mem="1MB")
        )
    assert built["spilled"] and built["faces"] == 6 * 2 * 40 + 1500
    (said,) = [r.getMessage() for r in caplog.records if "FACEPIPE_SEARCH_BUILD_MEM=1MB" in r.getMessage()]
    assert "no longer fits into maintenance_work_mem" in said
    # and the graph it built on disk answers as the exact search
    _check(db, schema, spec, rng, centres, since=DAY0, until=DAY0 + dt.timedelta(days=9))


def test_status_and_the_command_show_the_lag(loaded, db, capsys, monkeypatch):
    from facepipe.ops.cli import main

    schema, spec, rng, centres, shas = loaded
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", schema)
    _load(db, schema, spec, DAY0 + dt.timedelta(days=9), "cam0", rng, centres)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "search over every day: generation" in out and "1 day loaded since (40 faces" in out
    monkeypatch.setenv("FACEPIPE_SEARCH_MAX_OPEN_DAYS", "0")
    assert main(["status"]) == 0
    assert "a rebuild is due (1 open day > 0)" in capsys.readouterr().out
    assert main(["search-maintain"]) == 0
    out = capsys.readouterr().out
    assert "rebuilt (1 open day > 0)" in out and "0 days loaded since" in out


@pytest.mark.dag
def test_face_search_dag_rebuilds_and_logs_the_lag(loaded, db, monkeypatch, airflow_db, caplog):
    from airflow.dag_processing.dagbag import DagBag

    from facepipe.core.config import PROJECT_ROOT
    from facepipe.search import generations

    schema, spec, rng, centres, shas = loaded
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", schema)
    gen = generations.current(db, schema)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("face_search")
    assert "facepipe" in dag.tags and all(t.execution_timeout and t.retries >= 1 for t in dag.tasks)
    assert str(dag.test().state) == "success"  # nothing due: nothing built
    assert generations.current(db, schema) == gen
    with caplog.at_level("INFO"):
        assert str(dag.test(run_conf={"force": True}).state) == "success"
    assert generations.current(db, schema) > gen
    assert "search lag before: generation" in caplog.text and "search rebuild:" in caplog.text
