"""Videos (issue 22): made by the tests with PyAV's real encoders, read as a night reads
them. Two sample people entering and leaving a 30 s clip are two tracks with their
spans; a portrait phone video is turned upright from its display matrix; the capture
time comes from the container; truncated, zero-length, 10-hour and sparse 40 GB files
are rejects with their reasons. Through Airflow: a person in a photo and in a video is
one identity, and forgetting them removes the video's face for good."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from helpers.rows import q
from helpers.videos import Appearance, long_4k_video, write_video

from facepipe.core.sources import Arrival, FolderSource
from facepipe.ingest.process import VideoOptions, process_images
from facepipe.models.detect import FaceSizing
from facepipe.models.video import VideoLimits, VideoReader, frame_jpeg, is_video

ARRIVED = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
# the astronaut from 2 s to 14 s, the visitor from 10 s to 26 s; both drift right
WALK = [Appearance("astronaut", 2, 14, 100, 150), Appearance("visitor", 10, 26, 700, 200)]
CREATED = dt.datetime(2026, 11, 20, 9, 30, 5)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """The test's videos, encoded once: libx264 (key frame every second), a portrait phone
    video (display matrix -90), VP9 in WebM and MPEG-4 part 2 with sparse key frames."""
    d = tmp_path_factory.mktemp("clips")
    write_video(d / "walk.mp4", 30, WALK, created=CREATED.replace(tzinfo=dt.UTC))
    write_video(d / "portrait.mov", 4, [Appearance("visitor", 0, 4, 100, 300, 0)], size=(720, 1280), rotation=-90)
    write_video(d / "vp9.webm", 3, [Appearance("visitor", 0, 3, 300, 100, 0)], codec="libvpx-vp9", size=(960, 540))
    write_video(d / "mpeg4.avi", 6, [Appearance("visitor", 0, 6, 300, 100, 0)], codec="mpeg4", gop=50)
    write_video(
        d / "iphone.mov", 3, [Appearance("visitor", 0, 3, 100, 300, 0)], codec="libx265", size=(720, 1280), rotation=-90
    )
    return d


def _run(paths: list[Path], hog, emb, limits: VideoLimits = VideoLimits(), seen=lambda shas: {}):
    source = FolderSource(paths[0].parent)
    arrivals = [Arrival(str(p), p.stat().st_size, ARRIVED) for p in paths]
    return process_images(
        arrivals,
        source.read,
        seen,
        hog,
        emb,
        FaceSizing.of("hog", 64),
        VideoOptions(source, limits, 0.5, "<->"),
    )


def test_mpeg_ts_and_avchd_m2ts_are_videos(tmp_path, hog, dlib_embedder):
    """A camcorder's AVCHD .mts (192-byte packets) and a broadcast .ts (188) load as videos."""
    ts = write_video(tmp_path / "cam.ts", 3, [Appearance("visitor", 0, 3, 300, 100, 0)], container="mpegts")
    data = ts.read_bytes()
    assert is_video(data[:400]) == "mpegts"
    # M2TS: each 188-byte packet behind a 4-byte arrival time stamp
    m2ts = tmp_path / "00001.mts"
    m2ts.write_bytes(b"".join(b"\x00\x00\x00\x00" + data[i : i + 188] for i in range(0, len(data), 188)))
    assert is_video(m2ts.read_bytes()[:400]) == "m2ts"
    result = _run([ts, m2ts], hog, dlib_embedder)
    assert not result.rejects, result.rejects
    assert [im.media for im in result.images] == ["video", "video"] and len(result.faces) == 2


def test_the_largest_of_two_video_streams_is_read(tmp_path, hog, dlib_embedder):
    """A file of two video streams (a small blank one first) is read from the larger one."""
    from helpers.videos import frame_at, person_image

    path = tmp_path / "two.mkv"
    people = [Appearance("visitor", 0, 3, 100, 20, 0)]
    portraits = {"visitor": person_image("visitor")}
    with av.open(str(path), "w", format="matroska") as out:
        small, large = out.add_stream("libx264", rate=5), out.add_stream("libx264", rate=5)
        for st, (w, h) in ((small, (160, 120)), (large, (640, 480))):
            st.width, st.height, st.pix_fmt, st.options = w, h, "yuv420p", {"preset": "ultrafast"}
        for i in range(15):
            blank = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="rgb24")
            scene = av.VideoFrame.from_ndarray(frame_at(i / 5, (640, 480), people, portraits), format="rgb24")
            for st, frame in ((small, blank), (large, scene)):
                for packet in st.encode(frame):
                    out.mux(packet)
        for st in (small, large):
            for packet in st.encode():
                out.mux(packet)
    result = _run([path], hog, dlib_embedder)
    (video,) = result.images
    assert (video.width, video.height) == (640, 480) and len(result.faces) == 1


def _live_webm(path: Path, seconds: int, people: list) -> Path:
    """A WebM written live (as a browser's MediaRecorder writes it): no stated length."""
    from helpers.videos import frame_at, person_image

    portraits = {a.person: person_image(a.person) for a in people}
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as out:
        st = out.add_stream("libvpx-vp9", rate=2)
        st.width, st.height, st.pix_fmt, st.gop_size = 640, 480, "yuv420p", 2
        st.options = {"deadline": "realtime", "cpu-used": "8"}
        for i in range(seconds * 2):
            for packet in st.encode(
                av.VideoFrame.from_ndarray(frame_at(i / 2, (640, 480), people, portraits), "rgb24")
            ):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    with av.open(str(path)) as c:
        assert c.duration is None and c.streams.video[0].duration is None
    return path


def _claiming(data: bytes, seconds: float) -> bytes:
    """An MP4 whose movie and media headers (version 0) state ``seconds``."""
    import struct

    b = bytearray(data)
    for atom in (b"mvhd", b"mdhd"):
        i = b.find(atom)
        scale = struct.unpack(">I", b[i + 16 : i + 20])[0]
        struct.pack_into(">I", b, i + 20, int(seconds * scale))
    return bytes(b)


def test_a_video_longer_than_its_container_says_is_never_cut_short_silently(tmp_path, hog, dlib_embedder):
    """A live WebM (no length) has its length read from its packets: its face at 15-20 s is
    found, and over the limits it is a reject with its reason; an MP4 whose header says 1 s
    for 20 s is read to its end and stored with the length decoded, or is too_long."""
    live = _live_webm(tmp_path / "live.webm", 20, [Appearance("visitor", 15, 20, 100, 20, 0)])
    result = _run([live], hog, dlib_embedder)
    (video,) = result.images
    assert len(result.faces) == 1 and result.faces[0].first_s >= 14 and video.duration_s >= 19
    sparse = _run([live], hog, dlib_embedder, VideoLimits(max_frames=5))
    assert len(sparse.images) == 1 and not sparse.rejects  # sampled sparsely over its 20 s
    too_long = _run([live], hog, dlib_embedder, VideoLimits(max_seconds=10))
    assert [r.reason for r in too_long.rejects] == ["too_long"] and not too_long.images

    mp4 = write_video(tmp_path / "real.mp4", 20, [Appearance("visitor", 15, 20, 100, 20, 0)], size=(640, 480), fps=2)
    lying = tmp_path / "says1s.mp4"
    lying.write_bytes(_claiming(mp4.read_bytes(), 1))
    with av.open(str(lying)) as c:
        stated = c.streams.video[0].duration * c.streams.video[0].time_base
    if stated < 2:  # FFmpeg believed the header (it may take the length from the sample tables)
        result = _run([lying], hog, dlib_embedder)
        (video,) = result.images
        assert len(result.faces) == 1 and video.duration_s >= 19
        refused = _run([lying], hog, dlib_embedder, VideoLimits(max_frames=5))
        assert [r.reason for r in refused.rejects] == ["too_long"] and not refused.images


def test_a_person_taking_anothers_place_starts_a_track_of_their_own(tmp_path, hog, dlib_embedder):
    """The visitor sits at a spot until 5 s and the astronaut takes the same spot from 5 s:
    two tracks, each person indexed (one track of both lost the astronaut)."""
    swap = [Appearance("visitor", 0, 5, 100, 20, 0), Appearance("astronaut", 5, 10, 100, 20, 0)]
    path = write_video(tmp_path / "swap.mp4", 10, swap, size=(640, 480), fps=2)
    result = _run([path], hog, dlib_embedder)
    spans = sorted((f.first_s, f.last_s) for f in result.faces)
    assert len(spans) == 2, spans
    assert spans[0][1] < 5 <= spans[1][0], spans


def test_headers_say_what_is_a_video(clips):
    assert is_video((clips / "walk.mp4").read_bytes()[:64]) == "mp4"
    assert is_video((clips / "vp9.webm").read_bytes()[:64]) == "matroska"
    assert is_video((clips / "mpeg4.avi").read_bytes()[:64]) == "avi"
    assert is_video(b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x00") == "mp4"
    assert is_video(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00") == "mp4"
    assert is_video(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") is None  # a HEIC photo
    assert is_video(b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x00") is None  # a Canon CR3
    assert is_video(b"\xff\xd8\xff\xe0") is None and is_video(b"") is None


def test_two_people_entering_and_leaving_are_two_tracks_with_their_spans(clips, hog, dlib_embedder):
    result = _run([clips / "walk.mp4"], hog, dlib_embedder)
    assert result.rejects == []
    (video,) = result.images
    assert (video.media, video.width, video.height, video.status) == ("video", 1280, 720, "loaded")
    assert video.duration_s == pytest.approx(30, abs=0.2)
    assert video.captured_at == CREATED  # the container's creation_time
    assert video.face_count == 2 == len(result.faces) == len(result.embeddings)
    astronaut, visitor = sorted(result.faces, key=lambda f: f.first_s)
    # sampled once a second: first and last sampled second inside each appearance
    assert (astronaut.first_s, astronaut.last_s) == (pytest.approx(2, abs=1), pytest.approx(13, abs=1))
    assert (visitor.first_s, visitor.last_s) == (pytest.approx(10, abs=1), pytest.approx(25, abs=1))
    for face in (astronaut, visitor):
        assert face.first_s <= face.frame_s <= face.last_s
    # the stored box is where the face is in its frame: found again in the frame cut at frame_s
    import cv2

    from facepipe.models.imaging import decode

    frame = decode(frame_jpeg(str(clips / "walk.mp4"), visitor.frame_s))
    assert (frame.width, frame.height) == (1280, 720)
    (again,) = hog.detect(frame.rgb, 30)
    b = visitor.box
    assert abs(again.x * frame.scale - b.x) < 12 and abs(again.y * frame.scale - b.y) < 12
    # two people, far apart by their vectors
    assert np.linalg.norm(result.embeddings[0] - result.embeddings[1]) > 0.6
    assert cv2 is not None


def test_a_re_run_stores_the_same_faces(clips, hog, dlib_embedder):
    a = _run([clips / "walk.mp4"], hog, dlib_embedder)
    b = _run([clips / "walk.mp4"], hog, dlib_embedder)
    assert [(f.box, f.frame_s, f.first_s, f.last_s) for f in a.faces] == [
        (f.box, f.frame_s, f.first_s, f.last_s) for f in b.faces
    ]


def test_a_portrait_phone_video_is_turned_upright(clips, hog, dlib_embedder):
    with av.open(str(clips / "portrait.mov")) as c:
        vs = c.streams.video[0]
        assert (vs.codec_context.width, vs.codec_context.height) == (1280, 720)  # stored landscape
    result = _run([clips / "portrait.mov"], hog, dlib_embedder)
    (video,) = result.images
    assert (video.width, video.height) == (720, 1280)
    (face,) = result.faces
    # the visitor's portrait is pasted upright at (100, 300); the face is in its middle
    assert 100 < face.box.x < 400 and 300 < face.box.y < 700


def test_an_hevc_portrait_mov_as_an_iphone_records_it(clips, hog, dlib_embedder):
    with av.open(str(clips / "iphone.mov")) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
    result = _run([clips / "iphone.mov"], hog, dlib_embedder)
    (video,) = result.images
    assert (video.width, video.height) == (720, 1280) and not result.rejects
    (face,) = result.faces
    assert 100 < face.box.x < 400 and 300 < face.box.y < 700 and face.first_s == 0 and face.last_s >= 2


@pytest.mark.parametrize("name", ["vp9.webm", "mpeg4.avi"])
def test_other_codecs_and_sparse_key_frames(clips, hog, dlib_embedder, name):
    result = _run([clips / name], hog, dlib_embedder)
    (video,) = result.images
    (face,) = result.faces
    assert face.first_s == 0 and face.last_s >= 2  # mpeg4: key frames every 5 s, every frame decoded


def test_limits_sample_sparsely(clips):
    with VideoReader(str(clips / "walk.mp4"), VideoLimits(max_frames=5)) as r:
        times = [f.seconds for f in r.frames()]
    assert len(times) == 5 and times[0] == 0 and times[-1] >= 20  # spread over the 30 s


def test_bad_videos_are_rejects_with_reasons_and_the_rest_loads(clips, tmp_path, hog, dlib_embedder):
    day = tmp_path / "2026-11-20"
    day.mkdir()
    shutil.copy(clips / "walk.mp4", day / "walk.mp4")
    data = (clips / "walk.mp4").read_bytes()
    (day / "truncated.mp4").write_bytes(data[: len(data) // 2])  # its index (moov) was at the end
    (day / "empty.mov").write_bytes(b"")
    # ten hours at one frame a minute: a real video, longer than FACEPIPE_VIDEO_MAX_SECONDS
    write_video(day / "ten hours.mp4", 36000, [], size=(320, 240), fps=Fraction(1, 60))
    # a 10-hour 4K phone video's size (40 GB), sparse: no disk, and never read
    sparse = day / "sparse ten hours.mov"
    sparse.write_bytes(data[:64])
    os.truncate(sparse, 40 * 10**9)
    paths = sorted(day.iterdir())
    result = _run(paths, hog, dlib_embedder)
    rejects = {Path(r.uri).name: r.reason for r in result.rejects}
    assert rejects == {
        "truncated.mp4": "corrupt_video",
        "empty.mov": "empty",
        "ten hours.mp4": "too_long",
        "sparse ten hours.mov": "too_large",
    }
    assert all(r.detail for r in result.rejects)
    assert [im.uri for im in result.images] == [str(day / "walk.mp4")]
    assert len(result.images) + len(result.rejects) == len(paths)  # every file accounted for


def test_a_video_seen_before_is_a_duplicate_and_not_decoded(clips, hog, dlib_embedder):
    result = _run([clips / "walk.mp4"], hog, dlib_embedder, seen=lambda shas: {s: "/earlier/walk.mp4" for s in shas})
    (video,) = result.images
    assert (video.status, video.duplicate_of, video.media, result.faces) == ("duplicate", "/earlier/walk.mp4",
                                                                             "video", [])  # fmt: skip


def test_a_long_4k_video_streams_within_4_gib(tmp_path):
    """An hour of 2160p (a key frame a second, remuxed from a few encoded ones: 3,600 4K
    frames) read under RLIMIT_AS 4 GiB, the worker limit of tests/test_every_file.py."""
    path = tmp_path / "long 4k.mp4"
    long_4k_video(path, seconds=3600)
    script = f"""
import resource, json, sys
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
from facepipe.models.detect import FaceSizing
from facepipe.models.video import VideoLimits, VideoReader
n = 0
with VideoReader({str(path)!r}, VideoLimits(max_frames=60), FaceSizing.of("hog", 400)) as r:
    for f in r.frames():
        n += 1
        shape = f.rgb.shape
print(json.dumps({{"frames": n, "shape": shape, "w": r.info.width, "h": r.info.height,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    got = json.loads(out.stdout)
    assert got["frames"] == 60 and (got["w"], got["h"]) == (3840, 2160)
    assert path.stat().st_size > 0


@pytest.mark.dag
def test_a_person_in_a_photo_and_a_video_is_one_identity_and_forgotten_for_good(
    clips, schema, db, tmp_path, monkeypatch, airflow_db, capsys
):
    """Through Airflow: the visitor in two photos and in the walk video is one identity; the
    day counts videos apart and accounts for every file; forgetting the visitor removes the
    video's face, and a re-run of the day does not bring it back."""
    import json

    from facepipe.ops.cli import main
    from facepipe.ops.demo import run_day
    from facepipe.ops.samples import VISITOR_NAME, enrolment_images, jpeg_bytes

    day = dt.date(2026, 11, 20)
    folder = tmp_path / "photos" / day.isoformat()
    folder.mkdir(parents=True)
    shutil.copy(clips / "walk.mp4", folder / "walk.mp4")
    for name, rgb in enrolment_images()[VISITOR_NAME].items():
        (folder / f"visitor {name}").write_bytes(jpeg_bytes(rgb))
    (folder / "empty.mov").write_bytes(b"")
    monkeypatch.setenv("FACEPIPE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("FACEPIPE_ENROL_DIR", raising=False)
    source = str(tmp_path / "photos")

    assert run_day("face_ingest", day.isoformat(), source=source) == "success"
    assert run_day("face_report", day.isoformat()) == "success"
    media = dict(q(db, schema, "SELECT media, count(*) FROM {s}.images GROUP BY media"))
    (rejects,) = q(db, schema, "SELECT count(*) FROM {s}.rejects")[0]
    assert media == {"photo": 2, "video": 1} and rejects == 1  # 2 + 1 + 1: the folder's 4 files
    video_faces = q(
        db, schema, "SELECT first_s, last_s, frame_s, box_x, box_y FROM {s}.faces WHERE frame_s IS NOT NULL ORDER BY 1"
    )
    assert len(video_faces) == 2
    assert q(db, schema, "SELECT count(*) FROM {s}.faces WHERE frame_s IS NULL") == [(2,)]

    # the visitor's photo faces and video track share one identity
    ids = q(
        db,
        schema,
        "SELECT i.media, a.identity_id FROM {s}.face_identity a JOIN {s}.images i USING (day, image_id)"
        " JOIN {s}.faces f ON f.day = a.day AND f.image_id = a.image_id"
        " AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)"
        " WHERE i.media = 'photo' OR f.first_s >= 5",
    )
    assert len(ids) == 3 and len({identity for _m, identity in ids}) == 1, ids
    identity = ids[0][1]

    # counted apart: the report's summary, its HTML, status
    assert q(db, schema, "SELECT images, videos, video_faces, rejects FROM {s}.report_daily_summary") == [(3, 1, 2, 1)]
    html = (tmp_path / "reports" / day.isoformat() / "report.html").read_text()
    assert "<th>videos</th>" in html
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["days"]
    assert (row["photos"], row["videos"], row["video_faces"], row["rejects"]) == (2, 1, 2, 1)

    assert main(["forget", "person", str(identity)]) == 0
    left = q(db, schema, "SELECT first_s, last_s FROM {s}.faces WHERE frame_s IS NOT NULL")
    assert left == [video_faces[0][:2]]  # the astronaut's track only
    assert q(db, schema, "SELECT face_count FROM {s}.images WHERE media = 'video'") == [(1,)]

    assert run_day("face_ingest", day.isoformat(), source=source) == "success"  # a re-run of the day
    assert q(db, schema, "SELECT first_s, last_s FROM {s}.faces WHERE frame_s IS NOT NULL") == left
    assert q(db, schema, "SELECT count(*) FROM {s}.faces WHERE frame_s IS NULL") == [(0,)]


def test_a_forgotten_track_does_not_take_another_persons_track_at_the_same_place():
    """A forget keeps a video face as its box and frame time: a re-run drops that track, not
    another person's seen later at the same place (the boxes overlap; the spans do not)."""
    import uuid

    from facepipe.ingest.records import FaceRecord, ImageRecord, ShardResult
    from facepipe.ingest.suppress import drop_suppressed
    from facepipe.models.detect import Box

    iid = uuid.uuid4()
    video = ImageRecord(iid, "v.mp4", "sha", 10, 640, 480, None, None, ARRIVED, "loaded", None, 2, "video", 9.5)
    visitor = FaceRecord(iid, 0, Box(185, 171, 112, 144, 0.99), 640, 480, 1.0, 0.0, 3.0)
    astronaut = FaceRecord(iid, 1, Box(202, 169, 100, 131, 0.99), 640, 480, 6.0, 6.0, 9.0)
    result = ShardResult(images=[video], faces=[visitor, astronaut], embeddings=np.eye(2, 128, dtype=np.float32))
    out = drop_suppressed(result, {"sha": [((185, 171, 112, 144), 1.0)]})
    assert [f.face_no for f in out.faces] == [1] and out.images[0].face_count == 1
    # a photo's suppression (no frame time) still drops the face at that box
    out = drop_suppressed(result, {"sha": [((185, 171, 112, 144), None)]})
    assert [f.face_no for f in out.faces] == []
