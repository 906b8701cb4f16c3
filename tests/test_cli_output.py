"""What the command line prints: each line once, and nothing but JSON with --json.

Airflow, once imported (every command that opens facepipe's database looks up the
connection through it), puts a handler on stdout that prints every log record; facepipe's
task functions log what the command then prints itself."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from facepipe.core.config import PROJECT_ROOT


def facepipe(*args: str, schema: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACEPIPE_DB_SCHEMA": schema, "PYTHONPATH": str(PROJECT_ROOT / "plugins")}
    return subprocess.run(
        [sys.executable, "-m", "facepipe", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_facepipe_log_records_reach_the_terminal_once_and_on_stderr(capfd):
    import airflow.sdk  # noqa: F401  (installs Airflow's handler on stdout, as a command does)

    from facepipe.ops.cli import _terminal_logging

    log = logging.getLogger("facepipe.privacy.tasks")
    logger = logging.getLogger("facepipe")
    before = logger.handlers[:], logger.propagate, logger.level
    capfd.readouterr()
    with _terminal_logging(debug=False):
        log.info("retention: 1 day before ... expired")  # the command prints it from the result
        log.warning("retention: a report file of %s could not be deleted: %s", "2026-11-20", "PermissionError")
        log.warning("report of %s not rebuilt: %s", "2026-11-20", "OSError", extra={"in_result": True})
    out, err = capfd.readouterr()
    assert out == ""
    assert err == "warning: retention: a report file of 2026-11-20 could not be deleted: PermissionError\n"
    assert (logger.handlers, logger.propagate, logger.level) == before  # the tests' own logging is back

    with _terminal_logging(debug=True):
        log.info("shown with --debug")
    assert capfd.readouterr() == ("", "info: shown with --debug\n")


def test_json_is_all_that_json_prints_and_an_upgrade_is_said_once(schema, pg_uri):
    done = facepipe("report", "2026-11-20", "--json", schema=schema)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["day"] == "2026-11-20"  # no log line before or in it
    # the embedded database's schema was new: upgraded first, and said so once, on stderr
    assert done.stderr.count("revision none ->") == 1, done.stderr
    assert "(upgraded first: FACEPIPE_SCHEMA_UPGRADE=auto" in done.stderr
    assert "reports for 2026-11-20" not in done.stdout + done.stderr  # the log line of what --json holds

    again = facepipe("report", "2026-11-20", schema=schema)
    assert again.returncode == 0 and again.stderr == "", again.stderr
    lines = again.stdout.splitlines()
    assert lines[0] == "reports of 2026-11-20 built:" and len(lines) == len(set(lines)), again.stdout


def test_db_upgrade_says_what_changed_once(schema, pg_uri):
    done = facepipe("db", "upgrade", schema=schema)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("revision none ->") == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"schema {schema!r}: revision none -> ")
