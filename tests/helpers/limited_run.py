"""Run one face_ingest day through Airflow (dag.test) in this process, as a worker
with less than root's powers and a memory limit:

    python limited_run.py DAY SOURCE [--address-space-gib N] [--drop-dac]

--address-space-gib sets RLIMIT_AS (what ``ulimit -v`` sets): an allocation past
it fails with MemoryError, as on a worker with that much memory. --drop-dac drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that a root worker (CI containers
run as root) cannot list a folder that its mode forbids, as any other user could
not. Prints the run's state and the process's peak address space, as JSON.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import sys

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
_PR_CAPBSET_DROP = 24


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_dac() -> None:
    if os.geteuid() != 0:
        return  # an ordinary user has no such powers to drop
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    mask = ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH)) & 0xFFFFFFFF
    for field in ("effective", "permitted", "inheritable"):
        setattr(data[0], field, getattr(data[0], field) & mask)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # nor for anything this process starts
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def peak_address_space_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmPeak:"):
                return int(line.split()[1])
    return -1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("day")
    ap.add_argument("source")
    ap.add_argument("--address-space-gib", type=float)
    ap.add_argument("--drop-dac", action="store_true")
    args = ap.parse_args()
    if args.drop_dac:
        drop_dac()
    if args.address_space_gib:
        limit = int(args.address_space_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from facepipe.ops.demo import run_day

    state = run_day("face_ingest", args.day, source=args.source)
    print(
        json.dumps(
            {
                "state": state,
                "peak_kib": peak_address_space_kib(),
                "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
