"""facepipe's command line: ``python -m facepipe COMMAND``.

  status            per-day counts of what is loaded (images, duplicates, faces, rejects)
  rejects DAY       the day's rejects with their reasons
  db-uri            the connection string of the embedded database (for psql)
  stop-db           stop the embedded database
  demo              lay out sample photos and run face_ingest for each day
"""
from __future__ import annotations

import argparse
import sys

from psycopg import sql


def _status(args) -> int:
    from facepipe.config import settings
    from facepipe.db import connection

    schema = settings().db_schema
    with connection() as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.load_runs",)).fetchone()[0]
        if exists is None:
            print(f"nothing loaded yet (schema {schema!r} is empty)")
            return 0
        rows = conn.execute(sql.SQL(
            "SELECT DISTINCT ON (day) day, images, duplicates, faces, rejects, model, detector, loaded_at"
            " FROM {} ORDER BY day, run_no DESC").format(sql.Identifier(schema, "load_runs"))).fetchall()
    print(f"{'day':<12}{'images':>8}{'dupes':>7}{'faces':>7}{'rejects':>9}  model / detector, loaded at")
    for day, images, dupes, faces, rejects, model, detector, at in rows:
        print(f"{day!s:<12}{images:>8}{dupes:>7}{faces:>7}{rejects:>9}  {model} / {detector}, {at:%Y-%m-%d %H:%M}")
    return 0


def _rejects(args) -> int:
    from facepipe.config import settings
    from facepipe.db import connection

    with connection() as conn:
        rows = conn.execute(sql.SQL("SELECT uri, reason, detail FROM {} WHERE day = %s ORDER BY uri")
                            .format(sql.Identifier(settings().db_schema, "rejects")), (args.day,)).fetchall()
    for uri, reason, detail in rows:
        print(f"{reason:<16}{uri}\n{'':<16}{detail}")
    return 0


def _db_uri(args) -> int:
    from facepipe.config import settings
    from facepipe.db import embedded_uri

    print(embedded_uri(settings().home))
    return 0


def _stop_db(args) -> int:
    from facepipe.config import settings
    from facepipe.db import stop_embedded

    print("stopped" if stop_embedded(settings().home) else "not running")
    return 0


def _demo(args) -> int:
    from facepipe.demo import main

    return main(days=args.days)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facepipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status").set_defaults(func=_status)
    p = sub.add_parser("rejects")
    p.add_argument("day")
    p.set_defaults(func=_rejects)
    sub.add_parser("db-uri").set_defaults(func=_db_uri)
    sub.add_parser("stop-db").set_defaults(func=_stop_db)
    p = sub.add_parser("demo")
    p.add_argument("--days", type=int, default=3)
    p.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)

