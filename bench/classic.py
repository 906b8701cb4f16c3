"""The classic baseline, as the tutorials write it.

For each photo: cv2.imread at full size, Haar cascade at full resolution
(scaleFactor 1.05, minNeighbors 2, minSize 100x100), dlib's 5-point landmarks
and ResNet descriptor for each face alone, and one INSERT per face with the
vector formatted as text, on an autocommit connection. Same models as
facepipe (haarcascade_frontalface_default, dlib-resnet-128).
"""

from __future__ import annotations

import time


def create_table(conn, schema: str) -> None:
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{schema}".faces (id bigserial PRIMARY KEY, uri text NOT NULL,'
        f" face_no int NOT NULL, x int, y int, w int, h int, embedding vector(128) NOT NULL)"
    )
    conn.execute(f'TRUNCATE "{schema}".faces')


def run(paths: list[str], uri: str, schema: str) -> dict:
    """Process ``paths`` the classic way; wall seconds per step and the boxes found."""
    import cv2
    import dlib
    import face_recognition_models as frm
    import psycopg

    steps = {"load_models": 0.0, "imread": 0.0, "detect": 0.0, "landmarks": 0.0, "embed": 0.0, "insert": 0.0}
    found: dict[str, list[tuple[int, int, int, int]]] = {}
    t_all = time.perf_counter()
    cpu0 = time.process_time()
    t = time.perf_counter()
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    steps["load_models"] += time.perf_counter() - t
    faces = 0
    with psycopg.connect(uri, autocommit=True) as conn:
        for path in paths:
            t = time.perf_counter()
            bgr = cv2.imread(path)
            steps["imread"] += time.perf_counter() - t
            t = time.perf_counter()
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            rects = cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=2, minSize=(100, 100))
            steps["detect"] += time.perf_counter() - t
            if len(rects) == 0:
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            for face_no, (x, y, w, h) in enumerate(rects):
                x, y, w, h = int(x), int(y), int(w), int(h)
                t = time.perf_counter()
                shape = predictor(rgb, dlib.rectangle(x, y, x + w - 1, y + h - 1))
                steps["landmarks"] += time.perf_counter() - t
                t = time.perf_counter()
                vector = net.compute_face_descriptor(rgb, shape)
                steps["embed"] += time.perf_counter() - t
                t = time.perf_counter()
                text = "[" + ",".join(str(v) for v in vector) + "]"
                conn.execute(
                    f'INSERT INTO "{schema}".faces (uri, face_no, x, y, w, h, embedding)'
                    f" VALUES (%s, %s, %s, %s, %s, %s, %s::vector)",
                    (path, face_no, x, y, w, h, text),
                )
                steps["insert"] += time.perf_counter() - t
                found.setdefault(path, []).append((x, y, w, h))
                faces += 1
    total = time.perf_counter() - t_all
    return {
        "total": total,
        "cpu": time.process_time() - cpu0,
        "steps": steps,
        "images": len(paths),
        "faces": faces,
        "found": found,
    }
