"""An independent count of what arrived for a day in a folder source, by os.walk
alone (no facepipe code): every non-hidden entry under the root that is not in
another day's dated folder, where a folder the walk cannot enter (a link to a
folder, a folder it may not list or whose path is too long) counts as one entry.

    python walk.py ROOT DAY [--drop-dac]    # prints the paths, hex-encoded, as JSON

--drop-dac walks with the powers of a worker run by limited_run.py --drop-dac.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys


def independent_walk(root, day: dt.date) -> list[bytes]:
    found: list[bytes] = []

    def error(exc: OSError) -> None:
        found.append(os.fsencode(exc.filename))

    broot = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(broot, onerror=error):
        if dirpath == broot:
            dirnames[:] = [d for d in dirnames if not (_looks_dated(d) and d != day.isoformat().encode())]
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        found += [os.path.join(dirpath, d) for d in links if not d.startswith(b".")]
        dirnames[:] = [d for d in dirnames if d not in links and not d.startswith(b".")]
        found += [os.path.join(dirpath, f) for f in filenames if not f.startswith(b".")]
    return found


def _looks_dated(name: bytes) -> bool:
    try:
        dt.date.fromisoformat(name.decode())
        return True
    except ValueError:
        return False


if __name__ == "__main__":
    if "--drop-dac" in sys.argv:
        from limited_run import drop_dac

        drop_dac()
    print(json.dumps([p.hex() for p in independent_walk(sys.argv[1], dt.date.fromisoformat(sys.argv[2]))]))
