"""The S3 source against a real S3-compatible server: moto's server in a separate process on loopback.

Everything goes over HTTP through the Amazon provider (S3Hook and an Airflow AWS
connection defined by an environment variable); nothing is patched in process.
The server checks signatures (INITIAL_NO_AUTH_ACTION_COUNT): the tests make an
IAM user whose random secret key must never show up in logs or errors.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.rows import q

from facepipe.core.sources import S3Source, SourceError, Unreadable, open_source

CONN_ID = "facepipe_s3_test"
CONN_ENV = f"AIRFLOW_CONN_{CONN_ID.upper()}"
REGION = "us-east-1"


# ---------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if pytest dies without its fixture teardown (e.g. killed)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture(scope="module")
def moto_server():
    """``python -m moto.server`` on a free loopback port; signatures are checked after 3 set-up calls."""
    import boto3

    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        # the 3 unauthenticated calls: a user allowed everything on S3, and its access key
        iam = boto3.client(
            "iam", endpoint_url=url, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup"
        )
        iam.create_user(UserName="facepipe")
        iam.put_user_policy(
            UserName="facepipe",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="facepipe")["AccessKey"]
        yield {"url": url, "key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _conn(url: str, key_id: str, secret: str, **extra) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": key_id,
            "password": secret,
            "extra": {"endpoint_url": url, "region_name": REGION, **extra},
        }
    )


@pytest.fixture
def s3(moto_server, monkeypatch):
    """The connection (FACEPIPE_S3_CONN_ID, defined by env var), a fresh bucket and a client to fill it."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    monkeypatch.setenv("FACEPIPE_S3_CONN_ID", CONN_ID)
    monkeypatch.setenv(CONN_ENV, _conn(moto_server["url"], moto_server["key_id"], moto_server["secret"]))
    bucket = "fp-" + uuid.uuid4().hex[:12]
    client = S3Hook(aws_conn_id=CONN_ID).get_conn()
    client.create_bucket(Bucket=bucket)
    return {**moto_server, "bucket": bucket, "client": client}


def put_all(client, bucket: str, objects: dict[str, bytes]) -> dt.date:
    """Upload; returns the UTC day of their LastModified (the arrival), uploading again across midnight."""
    for _ in range(2):
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()))
        days = {
            client.head_object(Bucket=bucket, Key=k)["LastModified"].astimezone(dt.UTC).date()
            for k in (min(objects), max(objects))
        }
        if len(days) == 1:
            return days.pop()
    raise AssertionError("uploads straddled midnight twice")


def demo_objects(photos: Path, day: dt.date, prefix: str) -> dict[str, bytes]:
    """The sample photos of one day (with its truncated upload) as keys under prefix."""
    return {f"{prefix}/{p.name}": p.read_bytes() for p in sorted((photos / day.isoformat()).iterdir())}


def day_rows(db, schema: str, day: dt.date) -> dict:
    return {
        "images": q(db, schema, "SELECT * FROM {s}.images WHERE day = %s ORDER BY image_id", day),
        "faces": q(
            db,
            schema,
            "SELECT image_id, face_no, box_x, box_y, box_w, box_h, embedding::text"
            " FROM {s}.faces WHERE day = %s ORDER BY image_id, face_no",
            day,
        ),
        "rejects": q(db, schema, "SELECT * FROM {s}.rejects WHERE day = %s ORDER BY uri", day),
    }


def assert_no_secret(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text


def last_try(task_id: str) -> tuple[str, int]:
    """State and try number of the newest face_ingest task instance of task_id."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == "face_ingest", TaskInstance.task_id == task_id)
            .order_by(TaskInstance.start_date.desc())
            .first()
        )
        return str(ti.state), ti.try_number


def airflow_files_text() -> str:
    """Everything Airflow wrote to files (task logs...), but its metadata database."""
    home = Path(os.environ["AIRFLOW_HOME"])
    return "\n".join(
        p.read_text(errors="replace")
        for p in home.rglob("*")
        if p.is_file() and not p.name.endswith((".db", ".db-journal", ".db-wal"))
    )


# ---------------------------------------------------------------- through the DAG


@pytest.mark.dag
def test_day_from_bucket_end_to_end_and_rerun(airflow_db, schema, db, s3, photos, sample_days, capfd, caplog):
    from facepipe.ops.demo import run_day

    bucket, client = s3["bucket"], s3["client"]
    objects = demo_objects(photos, sample_days[-1], "incoming")  # includes broken_upload.jpg (truncated)
    first = min(k for k in objects if not k.endswith("broken_upload.jpg"))
    objects["incoming/phone/again.jpg"] = objects[first]  # the same content under a second key
    objects["elsewhere/not-mine.jpg"] = objects[first]  # outside the prefix
    day = put_all(client, bucket, objects)

    source = f"s3://{bucket}/incoming"
    assert run_day("face_ingest", day.isoformat(), source=source) == "success"
    rows = day_rows(db, schema, day)
    images = q(
        db,
        schema,
        "SELECT uri, status, duplicate_of, face_count, source, bytes FROM {s}.images WHERE day = %s ORDER BY uri",
        day,
    )
    rejects = q(db, schema, "SELECT uri, reason FROM {s}.rejects WHERE day = %s", day)
    in_prefix = sorted(k for k in objects if k.startswith("incoming/"))
    assert sorted([u for u, *_ in images] + [u for u, _ in rejects]) == [f"s3://{bucket}/{k}" for k in in_prefix]
    assert rejects == [(f"s3://{bucket}/incoming/broken_upload.jpg", "truncated")]
    dup = [r for r in images if r[1] == "duplicate"]
    assert dup == [
        (
            f"s3://{bucket}/incoming/phone/again.jpg",
            "duplicate",
            f"s3://{bucket}/{first}",
            0,
            f"s3://{bucket}/incoming/",
            len(objects[first]),
        )
    ]
    assert sum(face_count for *_, face_count, _, _ in images) == len(rows["faces"]) > 0
    arrived = q(db, schema, "SELECT uri, arrived_at FROM {s}.images WHERE uri = %s", f"s3://{bucket}/{first}")
    assert arrived[0][1] == client.head_object(Bucket=bucket, Key=first)["LastModified"]

    assert run_day("face_ingest", day.isoformat(), source=source) == "success"  # re-run: the same rows
    assert day_rows(db, schema, day) == rows
    out, err = capfd.readouterr()
    assert f"{len(in_prefix)} files in 1 shard" in out + err + caplog.text  # the task logs were captured
    assert_no_secret(s3["secret"], out, err, caplog.text, airflow_files_text())


@pytest.mark.dag
@pytest.mark.parametrize("case", ["missing bucket", "bad secret"])
def test_refused_source_fails_the_run_and_loads_nothing(airflow_db, schema, db, s3, monkeypatch, capfd, caplog, case):
    from facepipe.ops.demo import run_day

    bucket = s3["bucket"]
    day = put_all(s3["client"], bucket, {"incoming/a.jpg": b"\xff\xd8not much of a jpeg"})
    wrong = "wrong-" + uuid.uuid4().hex
    if case == "missing bucket":
        bucket = "no-such-" + uuid.uuid4().hex[:8]
    else:
        monkeypatch.setenv(CONN_ENV, _conn(s3["url"], s3["key_id"], wrong))
    assert run_day("face_ingest", day.isoformat(), source=f"s3://{bucket}/incoming") == "failed"
    assert last_try("plan") == ("failed", 1), "a refused source should fail at once, not retry"
    for table in ("images", "faces", "rejects", "load_runs", "stage_manifest"):
        assert q(db, schema, f"SELECT count(*) FROM {{s}}.{table}") == [(0,)], table
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert f"s3://{bucket}/incoming/" in logs
    assert ("NoSuchBucket" if case == "missing bucket" else "SignatureDoesNotMatch") in logs
    assert_no_secret(s3["secret"], logs, airflow_files_text())
    assert_no_secret(wrong, logs, airflow_files_text())


# ---------------------------------------------------------------- listing


def test_listing_pages_past_1000_keys_and_keeps_to_the_day_and_prefix(s3):
    bucket, client = s3["bucket"], s3["client"]
    objects = {f"many/{i:05d}.jpg": b"x" * (i % 7) for i in range(1100)}
    objects.update(
        {"many/": b"", "many/.DS_Store": b"x", "many/.hidden/a.jpg": b"x", "many2/b.jpg": b"x", "top.jpg": b"x"}
    )
    day = put_all(client, bucket, objects)

    arrivals = list(S3Source(f"s3://{bucket}/many").list_day(day))
    assert [a.uri for a in arrivals] == [f"s3://{bucket}/many/{i:05d}.jpg" for i in range(1100)]
    assert [a.bytes for a in arrivals] == [i % 7 for i in range(1100)]
    assert all(a.arrived_at.date() == day and a.arrived_at.utcoffset() == dt.timedelta(0) for a in arrivals)
    # one small page at a time: the same result however the listing is paged
    assert [a.uri for a in S3Source(f"s3://{bucket}/many/", page_size=250).list_day(day)] == [a.uri for a in arrivals]
    for other in (day - dt.timedelta(days=1), day + dt.timedelta(days=1)):
        assert list(S3Source(f"s3://{bucket}/many").list_day(other)) == []
    whole = {a.uri for a in open_source(f"s3://{bucket}").list_day(day)}
    assert len(whole) == 1102 and f"s3://{bucket}/top.jpg" in whole and f"s3://{bucket}/many2/b.jpg" in whole


def test_open_source_parses_the_spec(monkeypatch):
    monkeypatch.delenv("FACEPIPE_S3_CONN_ID", raising=False)
    src = open_source("s3://photos-bucket/in/coming")
    assert isinstance(src, S3Source)
    assert (src.bucket, src.prefix, src.name, src.conn_id) == (
        "photos-bucket",
        "in/coming/",
        "s3://photos-bucket/in/coming/",
        "aws_default",
    )
    assert open_source("s3://photos-bucket").prefix == ""
    monkeypatch.setenv("FACEPIPE_S3_CONN_ID", "other")
    assert open_source("s3://photos-bucket/").conn_id == "other"
    for bad in ("s3://", "s3:///prefix", "s3://AKIA:hunter2@bucket/p"):
        with pytest.raises(SourceError, match="bucket name") as info:
            open_source(bad)
        assert "hunter2" not in str(info.value)


# ---------------------------------------------------------------- reading


def test_read_gets_one_object_and_rejects_what_it_cannot_read(s3, photos, sample_days):
    from facepipe.models.imaging import decode

    bucket, client = s3["bucket"], s3["client"]
    names = ["with space.jpg", "Åsa på stranden ✈ 日本.jpg", "semi;colon & dollar$+plus.jpg", "x?y#z%20.jpg"]
    objects = {f"in/{n}": n.encode() for n in names}
    objects.update(demo_objects(photos, sample_days[-1], "in/demo"))
    day = put_all(client, bucket, objects)
    src = S3Source(f"s3://{bucket}/in")
    arrivals = {a.uri: a for a in src.list_day(day)}
    assert set(arrivals) == {f"s3://{bucket}/{k}" for k in objects}
    for key, data in objects.items():
        assert src.read(f"s3://{bucket}/{key}") == data

    with pytest.raises(Unreadable) as info:  # a truncated JPEG reads fine and is rejected when decoded
        decode(src.read(f"s3://{bucket}/in/demo/broken_upload.jpg"))
    assert info.value.reason == "truncated"

    client.delete_object(Bucket=bucket, Key="in/with space.jpg")  # deleted between plan and process
    with pytest.raises(Unreadable) as info:
        src.read(f"s3://{bucket}/in/with space.jpg")
    assert (info.value.reason, info.value.detail) == ("unreadable", "object no longer exists")
    for outside in (f"s3://{bucket}/elsewhere/a.jpg", "s3://other-bucket/in/a.jpg", "/etc/passwd"):
        with pytest.raises(Unreadable) as info:
            src.read(outside)
        assert info.value.reason == "outside_source"


# ---------------------------------------------------------------- errors, unit level


def test_missing_bucket_and_bad_credentials_raise_named_source_errors(s3, monkeypatch, caplog):
    import logging

    from airflow.sdk.exceptions import AirflowFailException

    caplog.set_level(logging.DEBUG)
    bucket = s3["bucket"]
    wrong = "wrong-" + uuid.uuid4().hex
    cases = {
        "NoSuchBucket": ("no-such-" + uuid.uuid4().hex[:8], None),
        "SignatureDoesNotMatch": (bucket, _conn(s3["url"], s3["key_id"], wrong)),
        "InvalidAccessKeyId": (bucket, _conn(s3["url"], "AKIANOTAKEY000000000", wrong)),
    }
    texts = []
    for code, (name, conn) in cases.items():
        if conn:
            monkeypatch.setenv(CONN_ENV, conn)
        with pytest.raises(SourceError) as info:
            list(S3Source(f"s3://{name}/photos").list_day(dt.date.today()))
        message = str(info.value)
        assert f"s3://{name}/photos/" in message and code in message and CONN_ID in message
        assert isinstance(info.value, AirflowFailException)  # a retry cannot fix it: fail at once
        assert info.value.__cause__ is None and info.value.__suppress_context__
        texts += [message, repr(info.value), "".join(traceback.format_exception(info.value))]

    monkeypatch.setenv(CONN_ENV, _conn(s3["url"], s3["key_id"], wrong))
    with pytest.raises(SourceError, match="SignatureDoesNotMatch") as info:  # reading, too
        S3Source(f"s3://{bucket}/photos").read(f"s3://{bucket}/photos/a.jpg")
    texts.append("".join(traceback.format_exception(info.value)))
    assert_no_secret(wrong, caplog.text, *texts)
    assert_no_secret(s3["secret"], caplog.text, *texts)


def test_undefined_connection_and_unreachable_endpoint(s3, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("FACEPIPE_S3_CONN_ID", "facepipe_s3_nowhere")
    with pytest.raises(SourceError, match="'facepipe_s3_nowhere'.*not defined") as info:
        list(S3Source(f"s3://{s3['bucket']}/p").list_day(dt.date.today()))
    assert isinstance(info.value, AirflowFailException)

    monkeypatch.setenv("FACEPIPE_S3_CONN_ID", CONN_ID)
    closed = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv(
        CONN_ENV,
        _conn(
            closed,
            s3["key_id"],
            s3["secret"],
            config_kwargs={"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 2},
        ),
    )
    with pytest.raises(SourceError, match="cannot connect") as info:
        list(S3Source(f"s3://{s3['bucket']}/p").list_day(dt.date.today()))
    assert s3["bucket"] in str(info.value)
    assert not isinstance(info.value, AirflowFailException)  # may pass: Airflow retries the task


def test_a_video_object_is_read_by_its_header_and_a_temporary_copy_always_deleted(s3, tmp_path, monkeypatch):
    """head() is a ranged GET; open_stream() copies the object to FACEPIPE_TMP_DIR and deletes
    the copy afterwards, also when the video is refused or unreadable."""
    from helpers.videos import write_video

    from facepipe.models.video import VideoLimits, VideoReader, is_video

    bucket, client = s3["bucket"], s3["client"]
    clip = write_video(tmp_path / "clip.mp4", 2, [], size=(320, 240))
    data = clip.read_bytes()
    put_all(client, bucket, {"in/clip.mp4": data, "in/cut.mp4": data[: len(data) // 2], "in/empty.mov": b""})
    src = S3Source(f"s3://{bucket}/in")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("FACEPIPE_TMP_DIR", str(temp))
    assert is_video(src.head(f"s3://{bucket}/in/clip.mp4")) == "mp4"
    assert src.head(f"s3://{bucket}/in/empty.mov") == b""
    with src.open_stream(f"s3://{bucket}/in/clip.mp4", 10**9) as (path, size):
        assert size == len(data) and Path(path).parent == temp
        with VideoReader(path, VideoLimits()) as r:
            assert len(list(r.frames())) == 2
    with pytest.raises(Unreadable) as info:
        with src.open_stream(f"s3://{bucket}/in/cut.mp4", 10**9) as (path, _size):
            VideoReader(path, VideoLimits())
    assert info.value.reason == "corrupt_video"
    with pytest.raises(Unreadable) as info:
        with src.open_stream(f"s3://{bucket}/in/clip.mp4", 1000):
            pass
    assert info.value.reason == "too_large"
    assert list(temp.iterdir()) == []  # no copy left behind


@pytest.mark.dag
@pytest.mark.skipif(subprocess.run(["which", "exiftool"], capture_output=True).returncode != 0, reason="exiftool")
def test_face_tags_of_a_bucket(airflow_db, schema, db, s3, photos, sample_days, tmp_path, monkeypatch):
    """Sidecar objects beside a bucket's photos, as for a folder: a tagged face the detector
    misses (an underexposed photo, its IMG.jpg.xmp uploaded with it) becomes a face at the load,
    and a Lightroom-style IMG.xmp added later names a detected face at the night's assignment.
    With xmp_write on, facepipe's regions go into the objects beside the photos (never the
    photo), and a forget takes its region of her out again, and only that."""
    from helpers.tagged import dark_photo, sidecar

    from facepipe.core.deployment import set_value
    from facepipe.core.specs import model_spec
    from facepipe.core.text import display_name
    from facepipe.ingest.regions import REGION_DETECTOR
    from facepipe.models.xmp import read_regions
    from facepipe.ops.cli import main
    from facepipe.ops.demo import run_day
    from facepipe.ops.samples import enrolment_photos
    from facepipe.privacy.forget import forget_person

    bucket, client = s3["bucket"], s3["client"]
    (tmp_path / "nobody").mkdir()  # nobody enrolled: the tags alone name the faces
    monkeypatch.setenv("FACEPIPE_ENROL_DIR", str(tmp_path / "nobody"))
    seen = enrolment_photos(tmp_path / "people")["eileen_collins"][-1]
    dark = tmp_path / "IMG_dark.jpg"
    box = dark_photo(seen, dark)
    objects = {
        k: v for k, v in demo_objects(photos, sample_days[-1], "tagged").items() if not k.endswith("broken_upload.jpg")
    }
    objects["tagged/IMG_dark.jpg"] = dark.read_bytes()
    objects["tagged/IMG_dark.jpg.xmp"] = sidecar(str(dark), 1600, 1200, box, "Eileen Collins").read_bytes()
    day = put_all(client, bucket, objects)
    source = f"s3://{bucket}/tagged"
    assert run_day("face_ingest", day.isoformat(), source=source) == "success"
    made = q(
        db,
        schema,
        "SELECT f.box_x, f.box_y, f.box_w, f.box_h, f.detector FROM {s}.faces f JOIN {s}.images i USING (day, image_id)"
        " WHERE i.uri = %s",
        f"s3://{bucket}/tagged/IMG_dark.jpg",
    )
    assert len(made) == 1 and made[0][4] == REGION_DETECTOR, made
    assert all(abs(a - b) <= 2 for a, b in zip(made[0][:4], box))
    assert not q(db, schema, "SELECT 1 FROM {s}.rejects WHERE uri LIKE %s", "%.xmp")  # a sidecar is no photo
    # a detected face of another photo, named later in a Lightroom-style sidecar (IMG.xmp)
    uri, x, y, w, h, width, height = q(
        db,
        schema,
        "SELECT i.uri, f.box_x, f.box_y, f.box_w, f.box_h, i.width, i.height FROM {s}.faces f JOIN {s}.images i"
        " USING (day, image_id) WHERE f.detector <> %s ORDER BY i.uri, f.face_no LIMIT 1",
        REGION_DETECTOR,
    )[0]
    local = tmp_path / uri.rsplit("/", 1)[-1]
    local.write_bytes(objects[uri.split("/", 3)[3]])
    side = sidecar(str(local), width, height, (x, y, w, h), "Zoë O'Brien")
    key = uri.split("/", 3)[3]
    client.put_object(Bucket=bucket, Key=key.rsplit(".", 1)[0] + ".xmp", Body=side.read_bytes())
    set_value(db, schema, "xmp_write", "on")  # and facepipe writes what it knows back beside the objects
    assert run_day("face_report", day.isoformat()) == "success"
    names = dict(
        q(
            db,
            schema,
            "SELECT i.uri, p.name FROM {s}.face_identity a JOIN {s}.images i USING (day, image_id)"
            " JOIN {s}.identities d USING (identity_id) JOIN {s}.people p USING (person_id) WHERE a.day = %s",
            day,
        )
    )
    # her face: into her identity when she is enrolled (eileen_collins), else a new one named as tagged
    assert display_name(names.get(f"s3://{bucket}/tagged/IMG_dark.jpg")) == "Eileen Collins", names
    assert names.get(uri) == "Zoë O'Brien", names

    def regions(sidecar_key: str) -> list[tuple[str, bool]]:
        body = client.get_object(Bucket=bucket, Key=sidecar_key)["Body"].read()
        got = read_regions(b"", sidecar_data=[(sidecar_key, body)], width=width, height=height, orientation=1)
        return sorted((t.name, t.ours) for t in got.tags if t.box is not None)

    lightroom = key.rsplit(".", 1)[0] + ".xmp"
    assert regions(lightroom) == [("Zoë O'Brien", False)]  # her tag says it already: no second region
    # renamed in facepipe: its region with the new name goes beside her tag, in the same object
    (ident,) = q(
        db,
        schema,
        "SELECT identity_id FROM {s}.identities i JOIN {s}.people p USING (person_id) WHERE p.name = %s",
        "Zoë O'Brien",
    )[0]
    assert main(["people", "name", str(ident), "Zoë Smith"]) == 0
    assert regions(lightroom) == [("Zoë O'Brien", False), ("Zoë Smith", True)]
    photo_bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert photo_bytes == objects[key]  # never the photo itself
    forget_person(db, schema, "Zoë Smith", model_spec("dlib-resnet-128"))
    assert regions(lightroom) == [("Zoë O'Brien", False)]  # facepipe's region of her gone, and only it
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert key in keys and client.get_object(Bucket=bucket, Key=key)["Body"].read() == photo_bytes
