"""The name a worker records in task instances (Airflow's [core] hostname_callable).

Several workers on one host (``make cluster``, or ``docker compose --scale`` with host
networking) share its hostname, so the UI could not tell which ran a shard. Set
AIRFLOW__CORE__HOSTNAME_CALLABLE=facepipe.ops.worker.hostname and FACEPIPE_WORKER_NAME on
each worker; without FACEPIPE_WORKER_NAME this is Airflow's default (the FQDN).
"""

from __future__ import annotations

import socket


def hostname() -> str:
    from facepipe.core.config import process_settings

    return process_settings().worker_name or socket.getfqdn()
