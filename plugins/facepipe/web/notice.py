"""Short-lived signed cookies: the notice a change leaves for the page it redirects to
(Post/Redirect/Get), and the forget being previewed.

A POST answers 303 to the GET page it acted on and sets ``facepipe_notice``: what changed,
for that page only, for two minutes; the page shows it once and clears it, so a reload or
a bookmark shows the page as it is. The value is signed (HMAC-SHA256) with a key from
Airflow's own secrets, so no other site or link can make the view say something it did
not do; nothing in it is ever rendered unescaped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from functools import cache

log = logging.getLogger(__name__)

NOTICE = "facepipe_notice"
FORGET = "facepipe_forget"


@cache
def _key() -> bytes:
    """Airflow's JWT secret (the same in every api-server worker), else this process's own."""
    secret = ""
    try:
        from airflow.configuration import conf

        secret = conf.get("api_auth", "jwt_secret", fallback="") or conf.get("api", "secret_key", fallback="")
    except Exception:  # outside Airflow (the unit tests): a key of this process
        secret = ""
    if not secret:
        log.info("Faces view: no [api_auth] jwt_secret; notices are signed with this process's own key")
        return os.urandom(32)
    return hashlib.sha256(b"facepipe-web-notice\0" + secret.encode()).digest()


def sign(payload: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps({**payload, "ts": int(time.time())}).encode()).decode().rstrip("=")
    mac = base64.urlsafe_b64encode(hmac.new(_key(), body.encode(), hashlib.sha256).digest()).decode().rstrip("=")
    return f"{body}.{mac}"


def unsign(value: str | None, max_age: int) -> dict | None:
    """The payload of a value this app signed less than ``max_age`` seconds ago, else None."""
    if not value or value.count(".") != 1 or len(value) > 4096:
        return None
    body, mac = value.split(".")
    want = base64.urlsafe_b64encode(hmac.new(_key(), body.encode(), hashlib.sha256).digest()).decode().rstrip("=")
    if not hmac.compare_digest(mac, want):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not 0 <= time.time() - payload.get("ts", 0) <= max_age:
        return None
    return payload
