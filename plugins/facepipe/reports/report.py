"""face_report: the day's report tables, then an HTML page and CSV files.

The queries live in include/sql/report_*.sql. Every report table is keyed by
the report's day and rewritten whole, in one transaction, for that day.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from facepipe.core.config import PROJECT_ROOT
from facepipe.core.db import dict_rows, load_sql
from facepipe.core.deployment import settings
from facepipe.core.specs import ModelSpec
from facepipe.core.text import plural

log = logging.getLogger(__name__)

# In the order they are built: person_days reads the day's sightings.
REPORTS = ("daily_summary", "sightings", "recurring_unknowns", "person_days")
_SQL = {
    "daily_summary": "report_summary.sql",
    "sightings": "report_sightings.sql",
    "recurring_unknowns": "report_recurring.sql",
    "person_days": "report_person_days.sql",
}


@dataclass(frozen=True)
class ReportParams:
    threshold: float  # same person below this distance (the model's default)
    min_days: int = 2  # a recurring unknown's identity has been seen on at least this many days
    lookback_days: int = 7  # neighbours and days_seen count the identity's faces in these days before
    best_crops: int = 3  # crops of each recurring unknown identity shown in the HTML report
    range_days: int = 30  # person_days covers this many days up to the report's day


def build_reports(
    conn: psycopg.Connection, schema: str, day: dt.date, model: ModelSpec, params: ReportParams
) -> dict[str, int]:
    values = {"day": day, **asdict(params)}
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:report'), %s)", (int(day.strftime("%Y%m%d")),))
        conn.execute("SET LOCAL hnsw.ef_search = 100")
        counts = {}
        for name in REPORTS:
            table = sql.Identifier(schema, f"report_{name}")
            conn.execute(sql.SQL("DELETE FROM {} WHERE day = %s").format(table), (day,))
            cur = conn.execute(load_sql(_SQL[name], schema=schema, op=model.distance_op), values)
            counts[name] = cur.rowcount
        conn.execute(
            sql.SQL(
                "INSERT INTO {runs} (day, load_run_no, params)"
                " SELECT %(day)s, coalesce(max(run_no), 0), %(params)s FROM {loads} WHERE day = %(day)s"
                " ON CONFLICT (day) DO UPDATE SET load_run_no = EXCLUDED.load_run_no,"
                " params = EXCLUDED.params, built_at = now()"
            ).format(runs=sql.Identifier(schema, "report_runs"), loads=sql.Identifier(schema, "load_runs")),
            {"day": day, "params": json.dumps(asdict(params))},
        )
    log.info("reports for %s: %s", day, counts)
    return counts


def built_with(conn: psycopg.Connection, schema: str, day: dt.date, model: ModelSpec) -> ReportParams | None:
    """The parameters the day's reports were last built with (None: never built); the
    model's defaults for reports built before they were recorded."""
    row = conn.execute(
        sql.SQL("SELECT params FROM {} WHERE day = %s").format(sql.Identifier(schema, "report_runs")), (day,)
    ).fetchone()
    if row is None:
        return None
    known = {k: v for k, v in (row[0] or {}).items() if k in ReportParams.__dataclass_fields__}
    return ReportParams(**{"threshold": model.match_threshold, **known})


_rows = dict_rows  # the report tables' rows as dicts (facepipe.core.db)


# The recurring unknowns a report page shows (the most recurring first), each with its crops;
# recurring_unknowns.csv has every one. A day of 23,000 of them (1M faces, bench/web.py) made a
# page of 23,000 crops.
SHOWN_UNKNOWNS = 100


def fetch_report(
    conn: psycopg.Connection,
    schema: str,
    day: dt.date,
    best_crops: int = ReportParams.best_crops,
    shown: int | None = None,
) -> dict[str, list[dict]]:
    """The day's report rows (every one, for the files), or with ``shown`` (the Faces view's
    page) only the first ``shown`` recurring unknowns, their number in ``unknowns_total``."""
    out: dict = {}
    order = {
        "daily_summary": "source, camera",
        "sightings": "person_name, distance",
        "recurring_unknowns": "neighbours DESC, uri, face_no",
        "person_days": "person_name, seen_day, source",
    }
    for name in REPORTS:
        limit = shown if shown is not None and name == "recurring_unknowns" else None
        out[name] = _rows(
            conn,
            sql.SQL("SELECT * FROM {} WHERE day = %s ORDER BY " + order[name] + " LIMIT %s").format(
                sql.Identifier(schema, f"report_{name}")
            ),
            (day, limit),
        )
    out["unknowns_total"] = len(out["recurring_unknowns"])
    if shown is not None and len(out["recurring_unknowns"]) >= shown:
        out["unknowns_total"] = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE day = %s").format(
                sql.Identifier(schema, "report_recurring_unknowns")
            ),
            (day,),
        ).fetchone()[0]
    refs = _rows(
        conn,
        sql.SQL("SELECT r.person_id, r.content_sha256, r.uri, r.box_x, r.box_y, r.box_w, r.box_h FROM {} r").format(
            sql.Identifier(schema, "person_refs")
        ),
        (),
    )
    out["refs"] = refs
    out["identity_crops"] = _rows(
        conn,
        load_sql("report_identity_crops.sql", schema=schema),
        {"day": day, "best_crops": best_crops, "shown": SHOWN_UNKNOWNS},
    )
    _add_frame_times(conn, schema, [*out["sightings"], *out["recurring_unknowns"], *out["identity_crops"]])
    return out


def _add_frame_times(conn: psycopg.Connection, schema: str, rows: list[dict]) -> None:
    """Each video face's frame time (frame_s) on its report row, for its thumbnail."""
    keys = {(r["day"], r["image_id"], r["face_no"]) for r in rows if "image_id" in r and "face_no" in r}
    if not keys:
        return
    found = {
        (d, i, n): t
        for d, i, n, t in conn.execute(
            load_sql("report_frame_times.sql", schema=schema),
            {"days": sorted({k[0] for k in keys}), "ids": sorted({k[1] for k in keys})},
        ).fetchall()
    }
    for r in rows:
        t = found.get((r.get("day"), r.get("image_id"), r.get("face_no")))
        if t is not None:
            r["frame_s"] = t


def write_csv(rows: list[dict], path: Path, columns: list[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})


CSV_COLUMNS = {
    "daily_summary": [
        "day",
        "source",
        "camera",
        "images",
        "duplicates",
        "faces",
        "rejects",
        "faces_per_image",
        "videos",
        "video_faces",
    ],
    "sightings": [
        "day",
        "person_name",
        "person_id",
        "distance",
        "uri",
        "source",
        "camera",
        "captured_at",
        "image_id",
        "face_no",
        "box_x",
        "box_y",
        "box_w",
        "box_h",
        "identity_id",
        "matched_by",
    ],
    "recurring_unknowns": [
        "day",
        "neighbours",
        "days_seen",
        "first_seen",
        "uri",
        "source",
        "captured_at",
        "image_id",
        "face_no",
        "box_x",
        "box_y",
        "box_w",
        "box_h",
        "identity_id",
        "identity_faces",
        "identity_days",
    ],
    "person_days": ["day", "person_name", "person_id", "seen_day", "source", "sightings", "best_distance"],
}


def face_thumbnail(data: bytes, box: tuple[int, int, int, int], size: int = 128) -> str:
    """A JPEG data URI of the box (full-size pixels) with a margin, ``size`` px high."""
    import cv2

    from facepipe.models.imaging import decode

    img = decode(data, max_side=2048)
    x, y, w, h = (round(v / img.scale) for v in box)
    m = round(0.25 * max(w, h))
    H, W = img.rgb.shape[:2]
    crop = img.rgb[max(0, y - m) : min(H, y + h + m), max(0, x - m) : min(W, x + w + m)]
    scale = size / max(1, crop.shape[0])
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), size), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def _thumb(read, uri: str, row: dict) -> str | None:
    try:
        frame_s = row.get("frame_s")  # a video's face: cut from the frame it was found in
        data = read(uri, row.get("source")) if frame_s is None else read(uri, row.get("source"), frame_s=frame_s)
        return face_thumbnail(data, (row["box_x"], row["box_y"], row["box_w"], row["box_h"]))
    except Exception as exc:  # the photo may have moved since it was loaded
        log.warning("no thumbnail for a face of %s: %s", row.get("day"), type(exc).__name__)
        return None


def write_report(
    report: dict[str, list[dict]], day: dt.date, out_dir: Path, read, params: ReportParams, model: ModelSpec
) -> Path:
    """Write ``out_dir/DAY/report.html`` and one CSV per report table."""
    import jinja2

    folder = out_dir / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for name in REPORTS:
        write_csv(report[name], folder / f"{name}.csv", CSV_COLUMNS[name])
    refs = {(str(r["person_id"]), r["content_sha256"]): r for r in report["refs"]}
    sightings, ref_imgs = [], {}  # one thumbnail per reference photo, however many sightings
    for s in report["sightings"]:
        key = (str(s["person_id"]), s["ref_sha256"])
        if key in refs and key not in ref_imgs:
            ref_imgs[key] = _thumb(read, refs[key]["uri"], refs[key])
        sightings.append({**s, "face_img": _thumb(read, s["uri"], s), "ref_img": ref_imgs.get(key)})
    crops: dict = {}  # identity -> its best faces (largest, most confident), the day's face excluded
    for c in report.get("identity_crops", []):
        crops.setdefault(c["identity_id"], []).append(c)
    unknowns = []
    for u in report["recurring_unknowns"][:SHOWN_UNKNOWNS]:
        others = [
            c
            for c in crops.get(u.get("identity_id"), [])
            if (c["day"], c["image_id"], c["box_x"], c["box_y"]) != (u["day"], u["image_id"], u["box_x"], u["box_y"])
        ]
        unknowns.append(
            {
                **u,
                "face_img": _thumb(read, u["uri"], u),
                "best_imgs": [img for c in others[: params.best_crops - 1] if (img := _thumb(read, c["uri"], c))],
            }
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROJECT_ROOT / "include" / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["plural"] = plural  # {{ n | plural("day") }}: "1 day", "2 days"
    html = env.get_template("report.html.j2").render(
        day=day,
        summary=report["daily_summary"],
        sightings=sightings,
        unknowns=unknowns,
        unknowns_total=len(report["recurring_unknowns"]),
        person_days=report["person_days"],
        params=params,
        model=model,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def read_uri(uri: str, source: str | None = None, frame_s: float | None = None) -> bytes:
    """The bytes of a loaded image (through its source, which keeps to the
    source's folder or prefix) or of an enrolment photo (a path); with ``frame_s``,
    the video's frame at that second as a JPEG (the video streamed, never read whole)."""
    from facepipe.core.sources import open_source, path_of

    if frame_s is not None:
        from facepipe.models.video import VideoLimits, frame_jpeg

        limits = VideoLimits.from_settings(settings())
        src = open_source(source) if source else None
        if src is None:
            return frame_jpeg(str(path_of(uri)), frame_s, limits)
        with src.open_stream(uri, limits.max_bytes) as (path, _size):
            return frame_jpeg(path, frame_s, limits)
    if source:
        return open_source(source).read(uri)
    return path_of(uri).read_bytes()
