"""face_search's task as a plain function: the search structure's maintenance."""

from __future__ import annotations

import dataclasses
import logging

from facepipe.core.db import connection
from facepipe.core.deployment import settings
from facepipe.core.schema import require
from facepipe.core.specs import model_spec

log = logging.getLogger(__name__)


def maintain(force: bool = False) -> dict:
    """Log how far the search structure is behind, rebuild it if the policy says so (or
    ``force``), log the lag after (facepipe.search.generations). Returns counts and times."""
    from facepipe.search.generations import Policy
    from facepipe.search.generations import maintain as run

    s = settings()
    spec = model_spec(s.model)
    policy = Policy.from_env()
    if force:
        policy = dataclasses.replace(policy, max_open_days=-1)
    with connection() as conn:
        require(conn, s.db_schema, spec, may_upgrade=True)
        return run(conn, s.db_schema, spec, policy)
