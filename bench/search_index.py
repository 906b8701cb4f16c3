"""Which pgvector index a search generation should have been built with: HNSW, IVFFlat, halfvec,
side by side (the generations went in revision 0011; these remain the baselines that
bench/ivf_external.py and BENCHMARKS.md sections 9 and 13 compare facepipe's IVF with).

    .venv/bin/python bench/search_index.py --faces 1000000 --shapes 100000,50000 \\
        --variants ivfflat:1000,ivfflat:2000,ivfflat-half:1000 --probes 8,16,32,64

One table shaped like a generation (facepipe.search.generations: day, key, vector(128)) per
input shape: bench/ann.py's synthetic dlib-geometry faces, ``--faces`` of them drawn from
``--shapes`` identities (faces per identity = faces / identities), over 365 days. For each
variant, in one run: its build (seconds, index size, peak postgres RSS), then queries shaped
like include/sql/search_on_days.sql on a generation (every day in the day filter, relaxed-order iterative
scan, exact order outside) at each search width, recall@10 against numpy's exact answer,
p50/p95 of the SQL alone (search_faces adds its lock, day list and photo lookup, a few ms:
bench/search_ivf.py measures facepipe's own structure end to end). Variants:

- ``hnsw:M:EFC``: HNSW on the vector, m and ef_construction; widths are ef_search (--ef);
- ``ivfflat:LISTS``: IVFFlat on the vector; widths are probes (--probes);
- ``ivfflat-half:LISTS``: IVFFlat on ``embedding::halfvec(128)`` with an exact re-rank of
  ``--rerank`` x k candidates from the full-precision vectors; widths are probes.

Results: bench/results/<--out>.json. No timed assertion anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann import DAY0, Data  # noqa: E402
from common import RESULTS, connect, log, machine, pct, setup_env, start_db  # noqa: E402

SCHEMA = "bench_index"
DAYS = 365


class PeakRss:
    """The benchmark's own server's processes (its postmaster and children, not other servers
    on the machine): their summed RSS, sampled every 0.5 s while a block runs (bytes); shared
    memory is counted once per process, so an upper bound."""

    def __init__(self, state: Path):
        self.pid = int((state / "pgdata" / "postmaster.pid").read_text().split()[0])

    def __enter__(self):
        import psutil

        self.peak, self.stop = 0, threading.Event()
        root = psutil.Process(self.pid)

        def sample():
            while not self.stop.is_set():
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                self.peak = max(self.peak, total)
                time.sleep(0.5)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False


def load(uri: str, data: Data) -> dict:
    dates = [DAY0 + dt.timedelta(days=d) for d in range(DAYS)]
    with connect(uri) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.gen")
        conn.execute(
            f"CREATE TABLE {SCHEMA}.gen (id bigint NOT NULL, day date NOT NULL, embedding vector(128) NOT NULL)"
            " WITH (parallel_workers = 2)"
        )
        t = time.perf_counter()
        with conn.cursor().copy(f"COPY {SCHEMA}.gen (id, day, embedding) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["int8", "date", "vector"])
            for i, d in enumerate(data.day.astype(int).tolist()):
                cp.write_row((i, dates[d], data.vectors[i]))
        copy_s = time.perf_counter() - t
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.gen")
        heap = conn.execute(f"SELECT pg_relation_size('{SCHEMA}.gen')").fetchone()[0]
    log(f"loaded {len(data.day):,} rows in {copy_s:.0f} s")
    return {"copy_s": round(copy_s, 1), "heap_bytes": heap}


def _server_cpu_s(state: Path) -> float:
    """CPU seconds of the benchmark's own server so far: the postmaster, its live processes and
    the ones it has reaped (parallel workers). Load does not inflate it, as it does wall time."""
    import psutil

    pid = int((state / "pgdata" / "postmaster.pid").read_text().split()[0])
    root = psutil.Process(pid)
    t = root.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in root.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


def build(uri: str, variant: str, mem: str, state: Path, faces: int) -> dict:
    kind, *opts = variant.split(":")
    if opts and opts[0] == "auto":  # as the generations (before revision 0011) chose: a list per 1,000 faces
        opts = [str(max(1, faces // 1000))]
        variant = f"{kind}:{opts[0]}"
    cpu0 = _server_cpu_s(state)
    with connect(uri) as conn, PeakRss(state) as rss:
        conn.add_notice_handler(lambda d: log(f"server: {d.message_primary}"))  # pgvector: "no longer fits"
        conn.execute("DROP INDEX IF EXISTS bench_index.gen_ann")
        conn.execute(f"SET maintenance_work_mem = '{mem}'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        if kind == "hnsw":
            m, efc = int(opts[0]), int(opts[1])
            ddl = f"CREATE INDEX gen_ann ON {SCHEMA}.gen USING hnsw (embedding vector_l2_ops) WITH (m={m}, ef_construction={efc})"
        elif kind == "ivfflat":
            ddl = f"CREATE INDEX gen_ann ON {SCHEMA}.gen USING ivfflat (embedding vector_l2_ops) WITH (lists={int(opts[0])})"
        elif kind == "ivfflat-half":
            ddl = (
                f"CREATE INDEX gen_ann ON {SCHEMA}.gen USING ivfflat ((embedding::halfvec(128)) halfvec_l2_ops)"
                f" WITH (lists={int(opts[0])})"
            )
        else:
            raise SystemExit(f"unknown variant {variant}")
        t = time.perf_counter()
        conn.execute(ddl)
        seconds = time.perf_counter() - t
        size = conn.execute(f"SELECT pg_relation_size('{SCHEMA}.gen_ann')").fetchone()[0]
    cpu = _server_cpu_s(state) - cpu0
    log(
        f"{variant}: built in {seconds:.0f} s ({cpu:.0f} CPU s), {size / 2**20:.0f} MiB, peak RSS {rss.peak / 2**30:.1f} GiB"
    )
    return {
        "variant": variant,
        "build_s": round(seconds, 1),
        "build_cpu_s": round(cpu, 1),
        "index_bytes": size,
        "peak_postgres_rss_bytes": rss.peak,
        "loadavg": machine()["loadavg"],
    }


def exact_all(data: Data, qv: np.ndarray, k: int = 10, block: int = 1_000_000) -> list[np.ndarray]:
    """Every query's exact top-k over all days (what ``Data.exact`` answers for one query),
    in blocks of rows: one matrix product per block instead of a copy of every row per query."""
    best_d = np.full((len(qv), k), np.inf, np.float32)
    best_i = np.zeros((len(qv), k), np.int64)
    for lo in range(0, len(data.sq), block):
        d = data.sq[lo : lo + block, None] - 2 * (data.vectors[lo : lo + block] @ qv.T)  # rows x queries
        top = np.argpartition(d, k, axis=0)[:k].T  # queries x k
        cand_d = np.concatenate([best_d, np.take_along_axis(d.T, top, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, top + lo], axis=1)
        keep = np.argsort(cand_d, axis=1)[:, :k]
        best_d, best_i = np.take_along_axis(cand_d, keep, axis=1), np.take_along_axis(cand_i, keep, axis=1)
    return list(best_i)


def _disk(uri: str) -> int:
    with connect(uri) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def _sql(kind: str, rerank: int) -> tuple[str, list[tuple[str, str]]]:
    from facepipe.search.query import IVFFLAT_WORK_MEM

    if kind == "ivfflat-half":
        # the lists' candidates by the halfvec distance, re-ranked by the exact one (as
        # include/sql/search_on_days_half.sql), with the search's work_mem
        return (
            f"WITH cand AS MATERIALIZED (SELECT id, embedding FROM {SCHEMA}.gen WHERE day = ANY(%(days)s::date[])"
            " ORDER BY embedding::halfvec(128) <-> %(q)s::halfvec(128) LIMIT %(cand)s)"
            " SELECT id FROM cand ORDER BY embedding <-> %(q)s LIMIT %(k)s",
            [("ivfflat.iterative_scan", "relaxed_order"), ("enable_sort", "off"), ("work_mem", IVFFLAT_WORK_MEM)],
        )
    prefix = "hnsw" if kind == "hnsw" else "ivfflat"
    return (
        f"WITH cand AS MATERIALIZED (SELECT id, embedding <-> %(q)s AS d FROM {SCHEMA}.gen"
        " WHERE day = ANY(%(days)s::date[]) ORDER BY embedding <-> %(q)s LIMIT %(k)s)"
        " SELECT id FROM cand ORDER BY d",
        [(f"{prefix}.iterative_scan", "relaxed_order"), ("enable_sort", "off")]
        + ([("hnsw.max_scan_tuples", "50000")] if kind == "hnsw" else [("work_mem", IVFFLAT_WORK_MEM)]),
    )


def measure(uri: str, variant: str, width: int, qv, truth, rerank: int, own=None) -> dict:
    """``own``: per query, the exact top-10's faces of the query's own identity (graph islands
    show as queries that find none of them)."""
    from pgvector import Vector

    kind = variant.split(":")[0]
    statement, settings = _sql(kind, rerank)
    settings = settings + [("hnsw.ef_search", str(width)) if kind == "hnsw" else ("ivfflat.probes", str(width))]
    days = [DAY0 + dt.timedelta(days=d) for d in range(DAYS)]
    lat, rec, rec_own = [], [], []
    own = own if own is not None else [set()] * len(qv)
    with connect(uri) as conn:
        for i, (q, want, mine) in enumerate(zip(qv, truth, own)):
            t0 = time.perf_counter()
            with conn.transaction():
                for name, value in settings:
                    conn.execute("SELECT set_config(%s, %s, true)", (name, value))
                got = conn.execute(statement, {"q": Vector(q), "days": days, "k": 10, "cand": 10 * rerank}).fetchall()
            if i >= 5:  # the first five warm the caches
                lat.append((time.perf_counter() - t0) * 1000)
                rec.append(len({int(r[0]) for r in got} & {int(x) for x in want}) / 10)
                if mine:
                    rec_own.append(len({int(r[0]) for r in got} & mine) / len(mine))
    row = {
        "variant": variant,
        "width": width,
        "queries": len(rec),
        "recall": round(float(np.mean(rec)), 4),
        "min_recall": round(float(np.min(rec)), 2),
        "own_identity_recall": round(float(np.mean(rec_own)), 4) if rec_own else None,
        "own_identity_none": sum(1 for r in rec_own if r == 0),
        "p50_ms": round(pct(lat, 50), 2),
        "p95_ms": round(pct(lat, 95), 2),
        "loadavg": machine()["loadavg"],
    }
    log(f"  {row}")
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=1_000_000)
    p.add_argument("--shapes", default="100000,50000", help="identities per run, comma-separated")
    p.add_argument("--variants", default="ivfflat:1000,ivfflat:2000,ivfflat-half:1000")
    p.add_argument("--probes", default="8,16,32,64")
    p.add_argument("--ef", default="100,200,400")
    p.add_argument("--rerank", type=int, default=4, help="ivfflat-half: candidates = rerank x k")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--build-mem", default="2GB")
    p.add_argument("--state", default=str(RESULTS / "state_search"))
    p.add_argument("--out", default="search_index")
    args = p.parse_args(argv)
    setup_env(Path(args.state))
    uri = start_db(Path(args.state))
    out = {"args": vars(args), "machine": machine(), "shapes": {}}
    for identities in [int(x) for x in args.shapes.split(",")]:
        log(f"shape {identities:,} identities x {args.faces // identities} faces: generating {args.faces:,}")
        data = Data(args.faces, identities, DAYS, 10, seed=5)
        shape = {"identities": identities, "loadavg_start": machine()["loadavg"], "load": load(uri, data)}
        shape["peak_python_rss_bytes"] = (
            __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss * 1024
        )
        ids = data.rng.integers(0, len(data.centres), args.queries + 5)
        qv = data.face(ids)
        truth = exact_all(data, qv)
        own = [{int(i) for i in t if data.identity[i] == q} for t, q in zip(truth, ids)]
        data.vectors = None  # 5 GB at 10M faces: the server's page cache needs it more
        shape["builds"], shape["queries"] = [], []
        for variant in args.variants.split(","):
            shape["builds"].append(build(uri, variant, args.build_mem, Path(args.state), args.faces))
            variant = shape["builds"][-1]["variant"]
            widths = args.ef if variant.startswith("hnsw") else args.probes
            for w in [int(x) for x in widths.split(",")]:
                shape["queries"].append(measure(uri, variant, w, qv, truth, args.rerank, own))
            shape["disk_bytes"] = _disk(uri)
            out["shapes"][str(identities)] = shape
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=2, default=str))
        shape["loadavg_end"] = machine()["loadavg"]
        del data
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=2, default=str))
    log(f"written {RESULTS / (args.out + '.json')}")
    return 0


def markdown(path: Path) -> str:
    """bench/HISTORY.md section 9's index table from a results file."""
    d = json.loads(path.read_text())
    a = d["args"]
    out = [
        f"`bench/search_index.py --faces {a['faces']} --shapes {a['shapes']} --variants {a['variants']}"
        f" --probes {a['probes']} --ef {a['ef']} --queries {a['queries']}`",
        "",
        "| identities x faces | index | build s | build CPU s | index MiB | width | recall@10 | min | own identity"
        " | queries finding none of their own | p50 ms | p95 ms | load average |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for ids, shape in d["shapes"].items():
        builds = {b["variant"]: b for b in shape["builds"]}
        for r in shape["queries"]:
            b = builds[r["variant"]]
            out.append(
                f"| {int(ids):,} x {a['faces'] // int(ids)} | {r['variant']} | {b['build_s']} | {b.get('build_cpu_s', '-')}"
                f" | {b['index_bytes'] / 2**20:.0f} | {r['width']} | {r['recall']:.3f} | {r['min_recall']}"
                f" | {r.get('own_identity_recall', '-')} | {r.get('own_identity_none', '-')} | {r['p50_ms']} | {r['p95_ms']}"
                f" | {r['loadavg'][0]:.1f} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    from common import run_or_markdown

    run_or_markdown(main, markdown)
