"""Search over every day: the search structure (facepipe.search.generations) against today's
per-day path, the same faces spread over 30 and over 365 day partitions.

    .venv/bin/python bench/search_all.py --faces 1000000 --layouts 30,365 --queries 200

For each layout: synthetic dlib-geometry faces (bench/ann.py's Data: identities, new faces of
known identities as queries), binary COPY into facepipe's tables with one load_runs row per
day, one HNSW index per day (ingest's index_day), then the first generation
(generations.rebuild, timed, with the postgres processes' peak RSS sampled). Then, in one
run, alternating: unfiltered top-10 over every day through search_faces on the per-day path
(ef_search 100 and 400, as facepipe searched before) and on the sealed path (ef_search 40,
100, 200), recall@10 against numpy's exact answer, p50/p95 latency (the per-day path on the
first 60 queries: it is slow); the sealed path with 3
open days (their load_runs re-written: what search meets before the nightly rebuild); 4
clients at once. A night: one more day loaded (COPY + index_day) against a rebuild.
Results: bench/results/search_all.json. No timed assertion anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann import DAY0, ID_OFFSET, Data, copy_rows  # noqa: E402
from common import RESULTS, connect, drop_schema, log, machine, pct, run_or_markdown, setup_env, start_db  # noqa: E402


def _drop(uri: str, schema: str) -> None:
    """Drop a schema of hundreds of partitions: one partition per transaction first (one
    DROP SCHEMA would need more locks than max_locks_per_transaction allows)."""
    with connect(uri) as conn:
        parts = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relispartition AND c.relkind = 'r'",
            (schema,),
        ).fetchall()
        for (part,) in parts:
            conn.execute(f'DROP TABLE IF EXISTS "{schema}"."{part}"')
    drop_schema(uri, schema)


def _load_layout(uri: str, schema: str, data: Data, days: int) -> dict:
    from facepipe.core.db import ensure_partitions
    from facepipe.core.schema import require
    from facepipe.core.specs import model_spec
    from facepipe.ingest.store import index_day

    spec = model_spec("dlib-resnet-128")
    _drop(uri, schema)
    out = {}
    with connect(uri) as conn:
        require(conn, schema, spec, may_upgrade=True)
        dates = [DAY0 + dt.timedelta(days=d) for d in range(days)]
        for d in dates:
            ensure_partitions(conn, schema, d)
        t = time.perf_counter()
        with conn.transaction():
            copy_rows(conn, schema, data, dates, spec.name)
            counts = np.bincount(data.day.astype(int), minlength=days)
            for d, n in zip(dates, counts.tolist()):
                conn.execute(
                    f'INSERT INTO "{schema}".load_runs (day, run_id, source, detector, model, images, duplicates,'
                    " faces, rejects) VALUES (%s, 'bench', 'bench', 'haar', %s, %s, 0, %s, 0)",
                    (d, spec.name, n, n),
                )
        out["copy_s"] = round(time.perf_counter() - t, 1)
        log(f"{schema}: {len(data.day):,} faces over {days} days copied in {out['copy_s']} s")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        t = time.perf_counter()
        per_day = []
        for d in dates:
            t1 = time.perf_counter()
            index_day(conn, schema, d, spec, maintenance_work_mem="1GB")
            per_day.append(time.perf_counter() - t1)
        out["per_day_index_s"] = round(time.perf_counter() - t, 1)
        out["per_day_index_median_s"] = round(statistics.median(per_day), 2)
        log(f"{schema}: {days} per-day HNSW indexes in {out['per_day_index_s']} s")
    return out


def _loaded(uri: str, schema: str) -> int:
    """How many faces a layout's schema holds (0: none, or no such schema)."""
    with connect(uri) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f'"{schema}".faces',)).fetchone()[0] is None:
            return 0
        return conn.execute(f'SELECT count(*) FROM "{schema}".faces').fetchone()[0]


def _peak_rss(state: Path):
    """The benchmark's own server's processes' summed RSS, sampled while a block runs
    (search_index.PeakRss: other servers on the machine are not counted)."""
    from search_index import PeakRss

    return PeakRss(state)


def _rebuild(uri: str, schema: str, mem: str, index: str, state: Path) -> dict:
    from facepipe.core.specs import model_spec
    from facepipe.search import generations

    policy = generations.Policy(build_mem=mem, index=index)
    with connect(uri) as conn, _peak_rss(state) as rss:
        conn.execute("SET max_parallel_maintenance_workers = 2")
        built = generations.rebuild(conn, schema, model_spec("dlib-resnet-128"), reason="bench", policy=policy)
        gen = generations.current(conn, schema)
        table = generations.sealed_table(gen)
        heap, size = conn.execute(
            "SELECT pg_relation_size(%s::regclass), pg_relation_size(%s::regclass)",
            (f'"{schema}"."{table}"', f'"{schema}"."{table}_embedding_{index}"'),
        ).fetchone()
        loadavg = machine()["loadavg"]
    built.update(peak_postgres_rss_bytes=rss.peak, heap_bytes=heap, index_bytes=size, build_mem=mem, loadavg=loadavg)
    log(f"{schema}: {index} generation built in {built['seconds']} s, peak postgres RSS {rss.peak / 2**30:.1f} GiB")
    return built


def _queries(data: Data, n: int, days: int):
    """Query vectors and, per query, the exact top-10 and which of them are faces of the
    query's own identity (the rest are strangers at near-equal distances: with few faces per
    identity the exact top-10 holds some)."""
    ids = data.rng.integers(0, len(data.centres), n)
    qv = data.face(ids)
    truth = [data.exact(q, 0, days, None) for q in qv]
    own = [{int(i) for i in t if data.identity[i] == q} for t, q in zip(truth, ids)]
    return qv, truth, own


def _measure(
    conn, schema, qv, truth, own, days, *, per_day: bool, ef: int, probes=None, index="", per_day_queries: int = 60
) -> dict:
    from facepipe.core.specs import model_spec
    from facepipe.search import query

    spec = model_spec("dlib-resnet-128")
    saved = query.SEALED_MIN_DAYS
    query.SEALED_MIN_DAYS = 10**9 if per_day else saved
    args = {"k": 10, "ef_search": ef, "probes": probes}
    try:
        until = DAY0 + dt.timedelta(days=days - 1)
        for q in qv[:5]:  # warm
            query.search_faces(conn, schema, spec, q, since=DAY0, until=until, **args)
        path, _ = query.explain_search(conn, schema, spec, qv[0], since=DAY0, until=until, **args)
        lat, rec, rec_own = [], [], []
        n = per_day_queries if per_day else len(qv)
        for q, t, o in zip(qv[:n], truth[:n], own[:n]):
            t0 = time.perf_counter()
            got = query.search_faces(conn, schema, spec, q, since=DAY0, until=until, **args)
            lat.append((time.perf_counter() - t0) * 1000)
            found = {m.image_id for m in got}
            rec.append(len({str(uuid.UUID(int=ID_OFFSET + int(i))) for i in t} & found) / 10)
            if o:
                rec_own.append(len({str(uuid.UUID(int=ID_OFFSET + i)) for i in o} & found) / len(o))
    finally:
        query.SEALED_MIN_DAYS = saved
    return {
        "path": path,
        "index": "per-day hnsw" if per_day else index,
        "ef_search": ef,
        "probes": probes,
        "queries": len(rec),
        "recall": round(float(np.mean(rec)), 3),
        "min_recall": round(float(np.min(rec)), 2),
        "own_identity_recall": round(float(np.mean(rec_own)), 3),
        "min_own_identity_recall": round(float(np.min(rec_own)), 2),
        "p50_ms": round(pct(lat, 50), 2),
        "p95_ms": round(pct(lat, 95), 2),
        "loadavg": machine()["loadavg"],
    }


def _concurrent(
    uri, schema, qv, days, *, per_day: bool, ef: int, probes=None, index="", clients: int = 4, seconds: float = 20.0
) -> dict:
    from facepipe.core.specs import model_spec
    from facepipe.search import query

    spec = model_spec("dlib-resnet-128")
    until = DAY0 + dt.timedelta(days=days - 1)
    saved = query.SEALED_MIN_DAYS
    query.SEALED_MIN_DAYS = 10**9 if per_day else saved
    done, lat = [0] * clients, [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(c: int):
        with connect(uri) as conn:
            start.wait()
            i = c
            while time.perf_counter() < deadline[0]:
                t0 = time.perf_counter()
                query.search_faces(
                    conn, schema, spec, qv[i % len(qv)], k=10, since=DAY0, until=until, ef_search=ef, probes=probes
                )
                lat[c].append((time.perf_counter() - t0) * 1000)
                done[c] += 1
                i += clients

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds + 1.0
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    query.SEALED_MIN_DAYS = saved
    every = [x for c in lat for x in c]
    return {
        "clients": clients,
        "per_day": per_day,
        "index": "per-day hnsw" if per_day else index,
        "ef_search": ef,
        "probes": probes,
        "loadavg": machine()["loadavg"],
        "queries": sum(done),
        "qps": round(sum(done) / wall, 1),
        "p50_ms": round(pct(every, 50), 2),
        "p95_ms": round(pct(every, 95), 2),
    }


def _open_days(uri: str, schema: str, days: int, n: int) -> None:
    """Mark the last n days as loaded again since the build (new load_runs rows): open."""
    with connect(uri) as conn:
        for d in range(days - n, days):
            conn.execute(
                f'INSERT INTO "{schema}".load_runs (day, run_id, source, detector, model, images, duplicates, faces,'
                " rejects) SELECT day, 'bench-again', source, detector, model, images, duplicates, faces, rejects"
                f' FROM "{schema}".load_runs WHERE day = %s AND run_id = %s',
                (DAY0 + dt.timedelta(days=d), "bench"),
            )


def _a_night(uri: str, schema: str, data: Data, days: int) -> dict:
    """One more day like the others (COPY + index_day), against a rebuild of the generation."""
    from facepipe.core.db import ensure_partitions
    from facepipe.core.specs import model_spec
    from facepipe.ingest.store import index_day

    spec = model_spec("dlib-resnet-128")
    n = int(len(data.day) / days)
    day = DAY0 + dt.timedelta(days=days)
    vectors = data.face(data.rng.integers(0, len(data.centres), n))
    with connect(uri) as conn:
        ensure_partitions(conn, schema, day)
        t = time.perf_counter()
        with conn.transaction():
            with conn.cursor().copy(
                f'COPY "{schema}".faces (day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector,'
                " det_score, model, embedding) FROM STDIN (FORMAT BINARY)"
            ) as cp:
                cp.set_types(
                    ["date", "uuid", "int2", "int4", "int4", "int4", "int4", "text", "text", "float4", "text", "vector"]
                )
                for i in range(n):
                    cp.write_row((day, uuid.uuid4(), 0, 1, 1, 9, 9, "source-00", "haar", 2.0, spec.name, vectors[i]))
            conn.execute(
                f'INSERT INTO "{schema}".load_runs (day, run_id, source, detector, model, images, duplicates,'
                " faces, rejects) VALUES (%s, 'night', 'bench', 'haar', %s, %s, 0, %s, 0)",
                (day, spec.name, n, n),
            )
        copy_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("SET max_parallel_maintenance_workers = 2")
        index_day(conn, schema, day, spec, maintenance_work_mem="1GB")
        index_s = time.perf_counter() - t
    return {"faces": n, "copy_s": round(copy_s, 2), "index_day_s": round(index_s, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=1_000_000)
    p.add_argument("--layouts", default="30,365", help="day counts, comma-separated")
    p.add_argument("--identities", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--build-mem", default="2GB")
    p.add_argument(
        "--indexes",
        default="hnsw,ivfflat",
        help="generation index kinds, built one after the other (the last: open days)",
    )
    p.add_argument("--probes", default="16,32,64", help="ivfflat probes measured")
    p.add_argument("--seconds", type=float, default=20.0, help="each concurrent-clients measurement")
    p.add_argument("--state", default=str(RESULTS / "state_search"))
    p.add_argument("--out", default="search_all")
    p.add_argument(
        "--reuse-loaded",
        action="store_true",
        help="a layout whose schema already holds --faces faces (a run stopped after its load) is not loaded again",
    )
    p.add_argument(
        "--night-rebuild", action="store_true", help="rebuild again after the night (else: the first build's time)"
    )
    args = p.parse_args(argv)
    args.probes = [int(x) for x in str(args.probes).split(",")]
    setup_env(Path(args.state))
    uri = start_db(Path(args.state))
    result = {"args": vars(args), "machine": machine(), "layouts": {}}
    for days in [int(x) for x in args.layouts.split(",")]:
        schema = f"bench_all_{days}"
        log(f"layout {days} days: generating {args.faces:,} faces")
        data = Data(args.faces, args.identities, days, 10, seed=5)
        layout = {"days": days, "loadavg_start": machine()["loadavg"]}
        if args.reuse_loaded and _loaded(uri, schema) == args.faces:
            layout["load"] = {"reused": True}  # the same seed: the same faces, already loaded and indexed
            log(f"{schema}: reusing its {args.faces:,} loaded faces")
        else:
            layout["load"] = _load_layout(uri, schema, data, days)
        qv, truth, own = _queries(data, args.queries, days)
        layout["builds"], rows, layout["concurrent"] = [], [], []
        with connect(uri) as conn:
            rows.append(_measure(conn, schema, qv, truth, own, days, per_day=True, ef=100))
            log(f"{schema}: {rows[-1]}")
        for index in args.indexes.split(","):
            layout["builds"].append(_rebuild(uri, schema, args.build_mem, index, Path(args.state)))
            widths = [(ef, None) for ef in (100, 200, 400)] if index == "hnsw" else [(100, p) for p in args.probes]
            with connect(uri) as conn:
                for ef, probes in widths:
                    rows.append(
                        _measure(conn, schema, qv, truth, own, days, per_day=False, ef=ef, probes=probes, index=index)
                    )
                    log(f"{schema}: {rows[-1]}")
            from facepipe.search.query import PROBES, SEALED_EF_SEARCH

            ef, probes = (SEALED_EF_SEARCH, None) if index == "hnsw" else (100, PROBES)  # query.py's defaults
            layout["concurrent"].append(
                _concurrent(
                    uri, schema, qv, days, per_day=False, ef=ef, probes=probes, index=index, seconds=args.seconds
                )
            )
            log(f"{schema}: concurrent {layout['concurrent'][-1]}")
        with connect(uri) as conn:
            rows.append(_measure(conn, schema, qv, truth, own, days, per_day=True, ef=400))
            log(f"{schema}: {rows[-1]}")
        layout["queries"] = rows
        layout["concurrent"].append(_concurrent(uri, schema, qv, days, per_day=True, ef=100, seconds=args.seconds))
        log(f"{schema}: concurrent {layout['concurrent'][-1]}")
        _open_days(uri, schema, days, 3)
        with connect(uri) as conn:
            layout["open_3"] = _measure(
                conn, schema, qv, truth, own, days, per_day=False, ef=ef, probes=probes, index=index
            )
        log(f"{schema}: with 3 open days {layout['open_3']}")
        layout["night"] = _a_night(uri, schema, data, days)
        if args.night_rebuild:
            layout["rebuild"] = _rebuild(uri, schema, args.build_mem, index, Path(args.state))
        layout["loadavg_end"] = machine()["loadavg"]
        result["layouts"][str(days)] = layout
        RESULTS.mkdir(parents=True, exist_ok=True)
        import json

        (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2, default=str))
        _drop(uri, schema)  # the next layout's disk
        del data
    log(f"written {RESULTS / (args.out + '.json')}")
    return 0


def markdown(path: Path) -> str:
    """BENCHMARKS.md section 9's tables from a results file."""
    import json

    d = json.loads(path.read_text())
    a = d["args"]

    def load(x) -> str:
        return f"{x[0]:.1f}" if x else "-"

    def width(r) -> str:
        if r["index"] == "ivfflat":
            return f"probes {r['probes']}"
        return f"ef_search {r['ef_search']}"

    def name(r) -> str:
        return "per day (before)" if r["index"] == "per-day hnsw" else f"search structure, {r['index']}"

    out = [
        f"`bench/search_all.py --faces {a['faces']} --identities {a['identities']} --layouts {a['layouts']}"
        f" --indexes {a.get('indexes', 'hnsw')} --probes {','.join(map(str, a.get('probes', [])))}"
        f" --queries {a['queries']} --seconds {a['seconds']}` ({d['machine'].get('cpus', 2)} cores, shared)."
        " Unfiltered top-10 over every day; recall@10 against numpy's exact answer; own identity: the share of"
        " the exact top-10's faces of the query's own identity that came back.",
        "",
        "| days | path | width | queries | recall@10 | min | own identity | min | p50 ms | p95 ms | load average |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for days, lay in d["layouts"].items():
        rows = [*lay["queries"], {**lay["open_3"], "open": True}] if "open_3" in lay else lay["queries"]
        for r in rows:
            label = name(r) + (" + 3 open days" if r.get("open") else "")
            out.append(
                f"| {days} | {label} | {width(r)} | {r['queries']} | {r['recall']:.3f} | {r['min_recall']}"
                f" | {r.get('own_identity_recall', '-')} | {r.get('min_own_identity_recall', '-')}"
                f" | {r['p50_ms']} | {r['p95_ms']} | {load(r.get('loadavg'))} |"
            )
    out += [
        "",
        "| days | path | width | clients | queries/s | p50 ms | p95 ms | load average |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for days, lay in d["layouts"].items():
        for c in lay.get("concurrent", []):
            out.append(
                f"| {days} | {name(c)} | {width(c)} | {c['clients']} | {c['qps']} | {c['p50_ms']} | {c['p95_ms']}"
                f" | {load(c.get('loadavg'))} |"
            )
    out += [
        "",
        "| days | load: COPY s | per-day HNSW s | index | generation build s (copy + index) | maintenance_work_mem"
        " | peak postgres RSS GiB | heap MiB | index MiB | load average |",
        "| ---: | ---: | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for days, lay in d["layouts"].items():
        for b in lay.get("builds", []):
            out.append(
                f"| {days} | {lay['load'].get('copy_s', '-')} | {lay['load'].get('per_day_index_s', '-')} | {b['index']}"
                + (f" ({b['lists']} lists)" if b.get("lists") else "")
                + f" | {b['seconds']} ({b['copy_seconds']} + {b['index_seconds']}) | {b['build_mem']}"
                f" | {b['peak_postgres_rss_bytes'] / 2**30:.1f} | {b['heap_bytes'] / 2**20:.0f}"
                f" | {b['index_bytes'] / 2**20:.0f} | {load(b.get('loadavg'))} |"
            )
    out += ["", "| days | a night: COPY s | index_day s | faces | load average at the layout's start -> end |"]
    out += ["| ---: | ---: | ---: | ---: | --- |"]
    for days, lay in d["layouts"].items():
        if "night" in lay:
            n = lay["night"]
            out.append(
                f"| {days} | {n['copy_s']} | {n['index_day_s']} | {n['faces']:,} | {load(lay['loadavg_start'])} ->"
                f" {load(lay.get('loadavg_end'))} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    run_or_markdown(main, markdown)
