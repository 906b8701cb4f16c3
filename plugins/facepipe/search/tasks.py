"""face_search's task as a plain function: the search structure's maintenance."""

from __future__ import annotations

import logging

from facepipe.core.db import connection
from facepipe.core.deployment import settings
from facepipe.core.schema import require
from facepipe.core.specs import model_spec

log = logging.getLogger(__name__)


def maintain(force: bool = False) -> dict:
    """Log the search structure's state, train new centroids when due (or ``force``), log the
    state after (facepipe.search.ivf). Returns counts and times."""
    from facepipe.search.ivf import maintain as run

    s = settings()
    spec = model_spec(s.model)
    with connection() as conn:
        require(conn, s.db_schema, spec, may_upgrade=True)
        return run(conn, s.db_schema, spec, growth=s.search_retrain_growth, lists=s.search_lists, force=force)
