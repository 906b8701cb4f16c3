"""One video's faces grouped into tracks: the same person in consecutive sampled frames.

A face joins the track it continues: the track was seen in one of the last few
sampled frames (``max_gap`` seconds, so that a missed detection or a turned head does
not split it), and the face is that track's person by its vector (closer than the
model's match distance to the track's last face) or is where the track's box was
(boxes overlapping by ``min_iou``) and its vector only a little farther (within
``BOX_SLACK`` times the match distance: with dlib's vectors 0.65, the distance under
which only 1% of different people's pairs fall; twice it let a person who took
another's place in the frame continue that one's track, and one of the two was lost). Each frame's faces are matched greedily, closest first, one face per
track. A track ends when it is not seen for ``max_gap``; a person who comes back later
starts a new track. Pure numpy: no model, no
database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facepipe.core.suppression import distances, iou
from facepipe.models.detect import Box

BOX_SLACK = 1.3


@dataclass(frozen=True)
class Sighting:
    seconds: float
    box: Box  # full-size upright pixels
    vector: np.ndarray


@dataclass
class Track:
    sightings: list[Sighting] = field(default_factory=list)

    @property
    def first(self) -> float:
        return self.sightings[0].seconds

    @property
    def last(self) -> float:
        return self.sightings[-1].seconds

    def best(self) -> Sighting:
        """The sighting whose face is largest (most pixels to crop and recognise), then the
        detector's surest; the earliest of equals, so a re-run picks the same frame."""
        return max(self.sightings, key=lambda s: (s.box.w * s.box.h, round(s.box.score, 3), -s.seconds))


def track_faces(
    frames: list[tuple[float, list[tuple[Box, np.ndarray]]]],
    match_distance: float,
    op: str = "<->",
    max_gap: float = 3.0,
    min_iou: float = 0.3,
) -> list[Track]:
    """Tracks of (seconds, [(box, vector), ...]) frames in time order, by first sighting."""
    done: list[Track] = []
    live: list[Track] = []
    for seconds, faces in frames:
        still = []
        for tr in live:
            (still if seconds - tr.last <= max_gap + 1e-6 else done).append(tr)
        live = still
        pairs = []
        for i, (box, vec) in enumerate(faces):
            for j, tr in enumerate(live):
                last = tr.sightings[-1]
                d = float(distances(op, np.asarray([vec]), np.asarray(last.vector))[0])
                overlap = iou((box.x, box.y, box.w, box.h), (last.box.x, last.box.y, last.box.w, last.box.h))
                if d < match_distance or (overlap >= min_iou and d < BOX_SLACK * match_distance):
                    pairs.append((d - overlap * match_distance, i, j))
        taken_faces, taken_tracks = set(), set()
        for _cost, i, j in sorted(pairs):
            if i in taken_faces or j in taken_tracks:
                continue
            taken_faces.add(i)
            taken_tracks.add(j)
            live[j].sightings.append(Sighting(seconds, faces[i][0], faces[i][1]))
        for i, (box, vec) in enumerate(faces):
            if i not in taken_faces:
                live.append(Track([Sighting(seconds, box, vec)]))
    return sorted(done + live, key=lambda t: (t.first, t.sightings[0].box.x, t.sightings[0].box.y))
