"""facepipe benchmarks: ``make bench`` or ``.venv/bin/python bench/run.py [options]``.

Prints the figures as it goes, writes bench/results/<section>.json (plus
EXPLAIN plans and profiles) and bench/results/tables.md (--quick: under
bench/results/quick/), and with --update-md (the default for full runs without
--only) replaces the generated part of BENCHMARKS.md.
Nothing is asserted: targets are reported as met or missed.

Sections: groups (recall by face size on 12 and 24 MP group photos, and facepipe
against the classic loop on them), throughput (facepipe against the classic loop), stages (where the
time goes), load (COPY / INSERT / executemany, storage and TOAST), ann
(HNSW at scale, partitioned and not), growth (one night with 1/30/90 days loaded), people
(a night's identity assignment and reports with --faces loaded, and clustering quality:
bench/identities.py).

    bench/run.py --quick                 # ~2 minute smoke run of every section
    bench/run.py                         # the full run (1M faces; about an hour on 2 cores)
    bench/run.py --only ann --faces 200000 --days 30
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "plugins"))

from common import RESULTS, log, machine, server_facts, setup_env, start_db, stop_db, write_result  # noqa: E402

SECTIONS = ("groups", "throughput", "stages", "load", "ann", "growth", "people")
FULL = dict(
    groups_12mp=24,
    groups_24mp=12,
    groups_tp=48,
    camera=192,
    phone=96,
    rounds=2,
    faces=1_000_000,
    days=30,
    range_days=30,
    identities=None,
    sources=10,
    queries=200,
    ef="40,100,200,400",
    exact_queries=20,
    n_insert=5000,
    n_many=20000,
    n_copy=100_000,
    growth_photos=40,
    growth_images_per_day=5000,
    growth_rounds=3,
    people_quality_faces=4000,
)
QUICK = dict(
    groups_12mp=3,
    groups_24mp=2,
    groups_tp=4,
    camera=8,
    phone=4,
    rounds=1,
    faces=20_000,
    days=30,
    range_days=30,
    identities=None,
    sources=10,
    queries=30,
    ef="40,200",
    exact_queries=5,
    n_insert=300,
    n_many=2000,
    n_copy=5000,
    growth_photos=6,
    growth_images_per_day=100,
    growth_rounds=1,
    people_quality_faces=1000,
)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: a 1-2 minute smoke run")
    p.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    p.add_argument("--state", default=str(RESULTS / "state"), help="bench-only FACEPIPE_HOME (embedded database)")
    p.add_argument(
        "--results",
        default=None,
        help="where the JSON, plans, profiles and tables.md go (default bench/results, bench/results/quick"
        " with --quick)",
    )
    p.add_argument("--nice", type=int, default=10, help="lower this process' priority (and the database's)")
    p.add_argument("--keep-db", action="store_true", help="leave the embedded database running at the end")
    p.add_argument("--reuse-ann", action="store_true", help="reuse the ann tables if they hold --faces rows")
    p.add_argument(
        "--update-md",
        dest="update_md",
        action="store_true",
        default=None,
        help="replace the generated part of BENCHMARKS.md (default: on for full runs)",
    )
    p.add_argument("--no-update-md", dest="update_md", action="store_false")
    sizes = p.add_argument_group("scale (defaults: full run; --quick lowers them)")
    for name, default in FULL.items():
        sizes.add_argument(
            "--" + name.replace("_", "-"),
            type=type(default) if default is not None else int,
            default=None,
            help=f"full: {default}, quick: {QUICK[name]}",
        )
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    for name in FULL:
        if getattr(args, name) is None:
            setattr(args, name, base[name])
    if args.identities is None:
        args.identities = max(100, args.faces // 20)
    if args.update_md is None:
        args.update_md = not args.quick and (not args.only or args.only == ["groups"])
    return args


def main(argv=None) -> int:
    args = parse(argv)
    import common

    common.RESULTS = Path(args.results or (RESULTS / "quick" if args.quick else RESULTS)).resolve()
    if args.nice:
        os.nice(args.nice)
    state = Path(args.state).resolve()
    setup_env(state)
    sections = args.only or list(SECTIONS)
    command = "bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    log(f"facepipe bench: {', '.join(sections)} ({'quick' if args.quick else 'full'}); state {state}")
    t = time.perf_counter()
    uri = start_db(state)
    log(f"embedded database up in {time.perf_counter() - t:.1f}s")
    meta = {
        "command": command.strip(),
        "quick": args.quick,
        "args": vars(args),
        "machine": machine(),
        "server": server_facts(uri),
        "sections": {},
    }
    source = state / "photos"
    t = time.perf_counter()
    import great_expectations  # noqa: F401  (validate's cold import, paid once per task process)

    meta["great_expectations_import_s"] = round(time.perf_counter() - t, 2)
    log(f"great_expectations imported in {meta['great_expectations_import_s']}s (not inside the timed runs)")
    try:
        for name in sections:
            t = time.perf_counter()
            log(f"== {name}")
            if name == "groups":
                import groups

                old = common.RESULTS / "groups.json"
                res = groups.run(
                    uri,
                    source,
                    {"phone_12mp": args.groups_12mp, "phone_24mp": args.groups_24mp},
                    args.groups_tp,
                    rounds=args.rounds,
                    previous=json.loads(old.read_text()) if old.exists() else None,
                )
            elif name == "throughput":
                import throughput

                res = throughput.run(uri, source, {"camera": args.camera, "phone": args.phone}, rounds=args.rounds)
            elif name == "stages":
                import stages

                res = stages.run(uri, source, {"camera": args.camera, "phone": args.phone})
            elif name == "load":
                import load

                res = load.run(uri, args.n_insert, args.n_many, args.n_copy)
            elif name == "ann":
                import ann

                res = ann.run(
                    uri,
                    args.faces,
                    args.days,
                    args.range_days,
                    args.identities,
                    args.sources,
                    args.queries,
                    [int(x) for x in args.ef.split(",")],
                    args.exact_queries,
                    reuse=args.reuse_ann,
                )
            elif name == "people":
                import identities

                res = identities.run(
                    uri, args.faces, args.days, None, args.people_quality_faces, [0.75, 0.5, 0.45, 0.4, 0.35, 0.3]
                )
            else:
                import growth

                res = growth.run(uri, source, args.growth_photos, args.growth_images_per_day, args.growth_rounds)
            wall = time.perf_counter() - t
            res["wall_s"] = round(wall, 1)
            res["command"] = meta["command"]
            res["quick"] = args.quick
            res["machine"] = {**meta["machine"], "loadavg_end": os.getloadavg()}
            res["server"] = meta["server"]
            res["great_expectations_import_s"] = meta["great_expectations_import_s"]
            path = write_result(name, res)
            meta["sections"][name] = {"wall_s": round(wall, 1), "file": str(path)}
            log(f"== {name} done in {wall:.0f}s -> {path}")
    finally:
        meta["machine"]["loadavg_end"] = os.getloadavg()
        write_result("run", meta)
        if not args.keep_db:
            stop_db(state)
    import report

    if "groups" in sections:
        groups_md = report.render_groups(common.RESULTS)
        (common.RESULTS / "groups.md").write_text(groups_md)
        print(groups_md)
        if args.update_md:
            report.update_benchmarks_md(groups_md, start=report.GROUPS_START, end=report.GROUPS_END)
            log("BENCHMARKS.md section 0 updated")
    others = [s for s in sections if s != "groups"]
    if others:
        tables = report.render(common.RESULTS)
        (common.RESULTS / "tables.md").write_text(tables)
        print(tables)
        if args.update_md and set(others) == set(SECTIONS) - {"groups"}:
            report.update_benchmarks_md(tables)
            log("BENCHMARKS.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
