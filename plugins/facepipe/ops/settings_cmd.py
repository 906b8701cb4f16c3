"""`facepipe settings`: every setting with its value and where it comes from; `settings set
NAME VALUE` and `settings unset NAME` for the deployment's (facepipe.core.deployment)."""

from __future__ import annotations

from facepipe.ops.tables import shown, table, to_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "settings",
        help="every setting, its value and where it comes from; set NAME VALUE / unset NAME for the deployment",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_list)
    cmds = p.add_subparsers(dest="settings_command")
    q = cmds.add_parser("set", help="give a deployment setting one value for every process (audited)")
    q.add_argument("name", help="e.g. retention_days or FACEPIPE_RETENTION_DAYS")
    q.add_argument("value")
    q.set_defaults(func=_set)
    q = cmds.add_parser(
        "unset", help="remove a deployment setting's value: each process's environment, else the default"
    )
    q.add_argument("name")
    q.set_defaults(func=_unset)


def _schema_conn():
    from facepipe.core.db import connection
    from facepipe.core.deployment import settings

    return settings().db_schema, connection()


def _list(args) -> int:
    from facepipe.core.deployment import listing

    schema, cm = _schema_conn()
    with cm as conn:
        rows = listing(conn, schema)
    if args.json:
        print(to_json([r.__dict__ for r in rows]))
        return 0
    out = []
    for r in rows:
        origin = r.origin
        if r.origin == "database":
            origin = f"database ({r.set_by}, {r.set_at:%Y-%m-%d %H:%M} UTC)"
        elif r.origin == "environment" and r.scope == "deployment":
            origin = "environment (this process only)"
        out.append((r.name, r.scope, r.value, origin))
    print(table(["setting", "scope", "value", "from"], out))
    notes = [r.note for r in rows if r.note]
    if notes:
        print()
        for note in notes:
            print(f"note: {shown(note)}")
    print(
        f"\nschema {schema}: deployment settings hold for every process (`facepipe settings set NAME VALUE`);"
        " process settings come from each process's environment (FACEPIPE_<NAME>). docs/operating.md: Configuration"
    )
    return 0


def _set(args) -> int:
    from facepipe.core.deployment import set_value

    schema, cm = _schema_conn()
    with cm as conn:
        name, old, new = set_value(conn, schema, args.name, args.value)
    if old == new:
        print(f"{name} is already {shown(new)} for the deployment: nothing changed")
        return 0
    print(
        f"{name}: {shown(old) if old is not None else '(not set)'} -> {shown(new)} for every process of the deployment"
    )
    print("  the next task of every Airflow component and worker reads it; the audit trail has the change")
    _consequences(name, new)
    return 0


def _unset(args) -> int:
    from facepipe.core.deployment import unset_value

    schema, cm = _schema_conn()
    with cm as conn:
        name, old = unset_value(conn, schema, args.name)
    if old is None:
        print(f"{name} has no value in the database: nothing changed")
        return 0
    print(
        f"{name}: {shown(old)} removed; each process now reads its environment's FACEPIPE_{name.upper()}, else the default"
    )
    _consequences(name, None)
    return 0


def _consequences(name: str, new: str | None) -> None:
    """What else a change means, said where it is not obvious."""
    if name == "retention_days":
        print(
            "  retention: face_retention applies it at its next daily run (`facepipe retention` now); a larger"
            " value does not bring back expired days: `facepipe retention --reopen-from DAY` lets them load again"
        )
    elif name == "start_date":
        print("  face_ingest's schedule follows at its next parse (about 30 s); `facepipe status` counts from it now")
    elif name == "max_active_shards":
        print("  face_ingest takes it at its next parse (about 30 s)")
    elif name in ("search_lists", "search_retrain_growth"):
        print("  the search structure takes it when it next trains centroids (`facepipe search-maintain --rebuild`)")
    elif name == "model":
        print("  a model must match the vectors the tables hold: a run of another model is refused (docs: Models)")
