"""What the exact top-10 of a search over every day is made of, per input shape (no database).

    .venv/bin/python bench/search_truth.py --faces 1000000 --shapes 100000,50000

bench/ann.py's synthetic dlib-geometry faces (the inputs of BENCHMARKS.md sections 4 and 9):
for queries that are new faces of known identities, how many of the exact 10 nearest faces
are of the query's own identity (the rest are strangers), and the distances of the 10th,
11th, 21st and 50th nearest. When the strangers in the top-10 lie within a few percent of
the next dozens, an approximate index that finds every face of the identity still scores
recall@10 = own share; more needs a near-exhaustive search. Results:
bench/results/search_truth.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann import Data  # noqa: E402
from common import RESULTS, log  # noqa: E402


def shape(faces: int, identities: int, queries: int) -> dict:
    data = Data(faces, identities, 365, 10, seed=5)
    qi = data.rng.integers(0, len(data.centres), queries)
    qv = data.face(qi)
    own, dist, faces_of = [], [], []
    for q, i in zip(qv, qi):
        d = data.sq - 2 * (data.vectors @ q) + q @ q
        top = np.argpartition(d, 50)[:50]
        top = top[np.argsort(d[top])]
        own.append(int((data.identity[top[:10]] == i).sum()))
        faces_of.append(int((data.identity == i).sum()))
        dd = np.sqrt(np.maximum(d[top], 0))
        dist.append((dd[9], dd[10], dd[20], dd[49]))
    own, dist = np.array(own), np.array(dist)
    out = {
        "identities": identities,
        "faces_per_identity": faces // identities,
        "queries": queries,
        "own_share_of_exact_top10": round(float(own.mean() / 10), 4),
        "queries_with_all_10_own": round(float((own == 10).mean()), 3),
        "faces_of_query_identity_min_median": [int(min(faces_of)), float(np.median(faces_of))],
        "median_distance_10th_11th_21st_50th": [round(float(x), 3) for x in np.median(dist, axis=0)],
        "share_11th_within_2pct_of_10th": round(float((dist[:, 1] < dist[:, 0] * 1.02).mean()), 3),
    }
    log(str(out))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=1_000_000)
    p.add_argument("--shapes", default="100000,50000")
    p.add_argument("--queries", type=int, default=200)
    args = p.parse_args(argv)
    out = {"args": vars(args), "shapes": [shape(args.faces, int(n), args.queries) for n in args.shapes.split(",")]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_truth.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
