"""One truth for settings: the typed model (every setting declared once), the deployment's
values in the database (set, unset, audited, used over a process's environment), the one-line
error for a bad value of every setting, and the docs' table made from the model."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from facepipe.core.config import FIELDS, PROJECT_ROOT, ConfigError, env_name, scope

# A value each setting must refuse. A setting added to the model without one fails
# test_every_setting_has_a_bad_value: a new setting is declared, checked and tested at once.
BAD = {
    "home": "/tmp/a\tb",
    "db_schema": "x" * 57,
    "airflow_host": "bad host",
    "airflow_port": "99999",
    "model_threads": "abc",
    "clip_model_path": "/m\x01.onnx",
    "tmp_dir": "/tmp/\x7f",
    "worker_name": "a b",
    "web_upload_max_mb": "0",
    "embedded_db": "maybe",
    "start_date": "2026-13-01",
    "retention_days": "-1",
    "source": "ftp://photos.example/in",
    "s3_conn_id": "aws default",
    "reports_dir": "/r\x1b[2J",
    "enrol_dir": "/p\x00",
    "detector": "yolo",
    "model": "arcface",
    "schema_upgrade": "sometimes",
    "shard_size": "0",
    "min_face": "1.5",
    "haar_scale_factor": "1",
    "max_active_shards": "1025",
    "staging_keep_days": "0",
    "video_sample_seconds": "0",
    "video_max_seconds": "fast",
    "video_max_pixels": "10",
    "video_max_frames": "-3",
    "video_max_bytes": "1KB",
    "people_min_faces": "1",
    "people_pool_days": "0",
    "people_neighbours": "1",
    "people_join": "2",
    "people_margin": "-0.1",
    "people_radius_slack": "x",
    "people_members": "0",
    "people_duplicate": "1.5",
    "search_lists": "70000",
    "search_probes": "0",
    "search_retrain_growth": "1.0",
    "xmp_write": "yes",
    "xmp_folder": "sidecars",
    "web_dag": "face report",
}


@pytest.fixture
def upgraded(schema):
    """The test's schema at head (the settings table made)."""
    from facepipe.core import schema as versions
    from facepipe.core.specs import model_spec

    versions.upgrade(schema, model_spec("dlib-resnet-128"))
    return schema


def test_every_setting_has_a_bad_value():
    assert set(BAD) == set(FIELDS)


def _cli(env: dict, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facepipe", *argv], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_is_one_line_naming_the_setting(name, monkeypatch, capsys):
    """The command line with the bad value in its environment: exit code 2, one line on stderr
    naming the variable and what it accepts, no traceback."""
    from facepipe.ops.cli import main

    if "\x00" in BAD[name]:  # no environment variable can hold a NUL: the model's own check
        from facepipe.core.config import parse_value

        with pytest.raises(ConfigError, match=env_name(name)):
            parse_value(name, BAD[name])
        return
    monkeypatch.setenv(env_name(name), BAD[name])
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert re.match(rf"error: {env_name(name)} must be ", err), err


def test_a_bad_value_in_a_subprocess_is_one_line_too(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEPIPE_MODEL_THREADS")}
    env["FACEPIPE_MODEL_THREADS"] = "abc"
    done = _cli(env, "search", str(tmp_path / "x.jpg"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == "error: FACEPIPE_MODEL_THREADS must be a whole number from 1 to 256, got 'abc'\n"


def test_set_unset_and_the_audit(upgraded, db, monkeypatch, capsys):
    """A deployment setting set for every process: used over this process's environment (which
    is then reported), audited with who, old and new; unset gives the environment back."""
    schema = upgraded
    from facepipe.core.deployment import forget_cached, settings
    from facepipe.ops.cli import main

    monkeypatch.setenv("FACEPIPE_DETECTOR", "hog")
    assert settings().detector == "hog"  # no value in the database: the environment's
    assert main(["settings", "set", "FACEPIPE_DETECTOR", " HAAR "]) == 0
    assert "detector: (not set) -> haar" in capsys.readouterr().out
    assert settings().detector == "haar"  # the database's, not this process's variable
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "note: FACEPIPE_DETECTOR=hog in this process's environment is not used" in out
    assert main(["settings", "set", "detector", "haar"]) == 0
    assert "already haar" in capsys.readouterr().out
    assert main(["settings", "--json"]) == 0
    listed = {r["name"]: r for r in __import__("json").loads(capsys.readouterr().out)}
    assert listed["detector"]["origin"] == "database" and listed["detector"]["value"] == "haar"
    assert listed["detector"]["environment"] == "hog" and "not used" in listed["detector"]["note"]
    assert listed["home"]["scope"] == "process"
    rows = db.execute(f'SELECT who, detail FROM "{schema}".audit WHERE op = %s ORDER BY op_no', ("setting",)).fetchall()
    assert [r[1] for r in rows] == [{"name": "detector", "old": None, "new": "haar"}] and rows[0][0]
    assert main(["settings", "unset", "detector"]) == 0
    capsys.readouterr()
    forget_cached()
    assert settings().detector == "hog"
    assert db.execute(
        f'SELECT detail FROM "{schema}".audit WHERE op = %s ORDER BY op_no DESC LIMIT 1', ("setting",)
    ).fetchone() == ({"name": "detector", "old": "haar", "new": None},)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["settings", "set", "home", "/tmp"], "home is a process setting"),
        (["settings", "set", "no_such", "1"], "no setting 'no_such'"),
        (["settings", "set", "retention_days", "ten"], "FACEPIPE_RETENTION_DAYS must be a whole number from 0"),
        (["settings", "set", "search_retrain_growth", "1"], "FACEPIPE_SEARCH_RETRAIN_GROWTH must be a number from 1.1"),
        (["settings", "set", "source", "ftp://x"], "FACEPIPE_SOURCE must be an absolute folder path or s3://"),
    ],
)
def test_set_refuses_what_no_process_could_use(upgraded, db, capsys, argv, message):
    from facepipe.ops.cli import main

    schema = upgraded
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert db.execute(f'SELECT count(*) FROM "{schema}".settings').fetchone() == (0,)


def test_another_process_reads_the_value_without_restart(upgraded, db, tmp_path):
    """A value set here is what a process started before it reads at its next use (the
    long-lived api-server re-reads after CACHE_SECONDS; a task process reads it at its start)."""
    schema = upgraded
    import os

    from facepipe.core.deployment import set_value

    code = (
        "import time, sys\n"
        "from facepipe.core import deployment\n"
        "deployment.CACHE_SECONDS = 0.1\n"
        "print(deployment.settings().shard_size, flush=True)\n"
        "sys.stdin.readline()\n"
        "time.sleep(0.2)\n"
        "print(deployment.settings().shard_size, flush=True)\n"
    )
    env = {**os.environ, "FACEPIPE_DB_SCHEMA": schema, "FACEPIPE_SHARD_SIZE": "300"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )

    def printed() -> str:  # the next line the child printed, past its log lines
        while not (line := proc.stdout.readline().strip()).isdigit():
            assert line, "the child ended"
        return line

    assert printed() == "300"  # its environment's: nothing in the database
    set_value(db, schema, "shard_size", "7")
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert printed() == "7"
    proc.wait(timeout=30)


def _doc_rows(text: str) -> dict[str, list[str]]:
    from facepipe.ops.settings_doc import documented

    block = documented(text)
    assert block is not None, "docs/operating.md lost the markers of its settings table"
    rows = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_the_docs_table_is_the_model_both_ways():
    """Every setting of the model is in docs/operating.md's table with its variable, scope,
    default and what it accepts; every row of the table is a setting of the model."""
    from facepipe.ops.settings_doc import DOC, table

    text = DOC.read_text()
    rows = _doc_rows(text)
    assert set(rows) == set(FIELDS), "run `python -m facepipe.ops.settings_doc`"
    for name, cells in rows.items():
        assert cells[1] == f"`{env_name(name)}`" and cells[2] == scope(name), cells
    assert table() in text, "the table differs from the model: run `python -m facepipe.ops.settings_doc`"


def test_the_docs_name_no_variable_the_model_lacks():
    """A FACEPIPE_ variable named anywhere in the docs, the README or .env.example is a setting."""
    compose = set(re.findall(r"\$\{(FACEPIPE_[A-Z0-9_]+)", (PROJECT_ROOT / "docker-compose.yml").read_text()))
    suite = {"FACEPIPE_UPDATE_SCREENSHOTS"}  # the test suite's own switch (docs/developing.md)
    # compose's own variables (docker-compose.yml), the cluster's tag, and one documented as gone
    known = {env_name(n) for n in FIELDS} | compose | suite | {"FACEPIPE_CLUSTER", "FACEPIPE_DETECT_MAX_SIDE"}
    files = [PROJECT_ROOT / "README.md", PROJECT_ROOT / ".env.example", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    named = {}
    for f in files:
        if f.exists():
            for m in re.findall(r"(?<!CONN_)FACEPIPE_[A-Z0-9_]*[A-Z0-9]", f.read_text()):
                named.setdefault(m, f.name)
    unknown = {k: v for k, v in named.items() if k not in known and not k.endswith("_")}
    assert not unknown, unknown


def test_no_module_reads_a_facepipe_variable_itself():
    """Settings are read through the model only: no os.environ / getenv of FACEPIPE_* elsewhere
    (cluster/ launches processes and passes variables on: it may read them)."""
    pattern = re.compile(r"(environ(\.get)?\s*[\[(]\s*f?[\"']FACEPIPE_|getenv\(\s*f?[\"']FACEPIPE_)")
    offenders = []
    for root in ("plugins", "dags"):
        for path in sorted((PROJECT_ROOT / root).rglob("*.py")):
            if path.name == "config.py" and path.parent.name == "core":
                continue
            for no, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) and "setdefault" not in line and "] = " not in line:
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{no}: {line.strip()}")
    assert not offenders, offenders


def test_status_starts_at_the_deployments_start_date_in_a_new_shell(upgraded, db, capsys, monkeypatch):
    """The start date set for the deployment is what status counts from in a shell that exports nothing."""
    schema = upgraded
    from facepipe.core.deployment import set_value
    from facepipe.ops.cli import main

    monkeypatch.delenv("FACEPIPE_START_DATE", raising=False)
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
    set_value(db, schema, "start_date", start.isoformat())
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"never loaded, 3 of the days {start} .. " in out and "2026-11-01" not in out


def test_generated_table_is_written_by_the_module(tmp_path):
    from facepipe.ops import settings_doc

    doc = tmp_path / "operating.md"
    doc.write_text(f"# x\n\n{settings_doc.BEGIN}\nold\n{settings_doc.END}\n\nafter\n")
    assert settings_doc.write(doc) is True and settings_doc.table() in doc.read_text()
    assert doc.read_text().endswith("\n\nafter\n") and settings_doc.write(doc) is False
    assert Path(settings_doc.DOC).is_file()


@pytest.mark.dag
def test_status_shows_runs_waiting_on_a_paused_face_ingest(airflow_db, upgraded, capsys):
    """A run queued behind a paused face_ingest (a Trigger, a backfill with the DAG paused) is
    what status says, with how to let it run; Airflow's own CLI makes the state."""
    import json
    import os

    import sqlalchemy as sa

    from facepipe.ops.cli import main

    def airflow(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *argv], capture_output=True, text=True, timeout=300, env=os.environ
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
    airflow("dags", "reserialize")
    airflow("dags", "pause", "face_ingest")
    run_id = "manual__status_waiting"
    airflow("dags", "trigger", "face_ingest", "-c", json.dumps({"day": day}), "-r", run_id)
    engine = sa.create_engine(f"sqlite:///{os.environ['AIRFLOW_HOME']}/airflow.db")
    try:
        assert main(["status"]) == 0
        text = capsys.readouterr().out
        assert "1 run of face_ingest (manual) wait because face_ingest is paused" in text, text
        assert "unpause face_ingest" in text
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DELETE FROM dag_run WHERE run_id = :r"), {"r": run_id})
        engine.dispose()


def test_a_bad_value_in_the_database_names_its_fix_and_unset_still_works(upgraded, db, capsys):
    """A value the code refuses (written by hand, or by another version) stops what reads it
    with one line naming the fix, and `settings unset` / `settings set` still repair it."""
    from facepipe.core.deployment import forget_cached
    from facepipe.ops.cli import main

    schema = upgraded
    db.execute(f'INSERT INTO "{schema}".settings (name, value, set_by) VALUES (%s, %s, %s)', ("min_face", "abc", "x"))
    forget_cached()
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "FACEPIPE_MIN_FACE must be" in err and "`facepipe settings unset min_face`" in err, err
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "not used until fixed" in out
    assert main(["settings", "unset", "min_face"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0


def test_a_removed_setting_in_the_database_or_the_shell_is_ignored(upgraded, db, capsys, monkeypatch):
    """search_index and search_hnsw_m went with the generations (revision 0011): a value a
    deployment stored or a shell still sets is not an error."""
    from facepipe.core import deployment
    from facepipe.ops.cli import main

    schema = upgraded
    db.execute(
        f'INSERT INTO "{schema}".settings (name, value, set_by) VALUES (%s, %s, %s)', ("search_index", "hnsw", "t")
    )
    monkeypatch.setenv("FACEPIPE_SEARCH_HNSW_M", "50")
    deployment.forget_cached()
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "search_probes" in out and "search_index" not in out and "search_hnsw_m" not in out
    assert main(["settings", "set", "search_hnsw_m", "50"]) == 2
    assert "no setting 'search_hnsw_m'" in capsys.readouterr().err


def test_a_model_the_tables_do_not_hold_is_refused(upgraded, db, capsys):
    from facepipe.ops.cli import main

    assert main(["settings", "set", "model", "imgbeddings-clip-768"]) == 2
    assert "hold vectors of dlib-resnet-128" in capsys.readouterr().err
    assert main(["settings", "set", "model", "dlib-resnet-128"]) == 0


def test_a_downgrade_and_upgrade_keep_the_settings_and_the_reopened_horizon(upgraded, db, capsys):
    """Below revision 0010 the tables are gone; the upgrade replays the audit trail: each
    setting's newest value, and the horizon as retention and --reopen-from left it."""
    from facepipe.core import schema as versions
    from facepipe.core.specs import model_spec
    from facepipe.ops.cli import main

    schema = upgraded
    spec = model_spec("dlib-resnet-128")
    assert main(["settings", "set", "retention_days", "6"]) == 0
    assert main(["settings", "set", "shard_size", "9"]) == 0
    assert main(["settings", "unset", "shard_size"]) == 0
    from facepipe.core import audit

    audit.record(db, schema, "retention", detail={"before": "2026-11-20", "keep_days": 6})
    audit.record(db, schema, "retention", detail={"before": "2026-11-25", "keep_days": 6})
    db.execute(
        f'INSERT INTO "{schema}".retention_horizon (before, keep_days, set_by) VALUES (%s, 6, %s)',
        ("2026-11-25", "x"),
    )
    assert main(["retention", "--reopen-from", "2026-11-22", "--dry-run"]) == 2  # no dry run of a change
    assert main(["retention", "--reopen-from", "2026-11-22"]) == 0
    capsys.readouterr()
    versions.downgrade(schema, spec, "0009")
    versions.upgrade(schema, spec)
    assert dict(db.execute(f'SELECT name, value FROM "{schema}".settings').fetchall()) == {"retention_days": "6"}
    assert db.execute(f'SELECT before::text FROM "{schema}".retention_horizon').fetchone() == ("2026-11-22",)


def test_a_variable_equal_to_the_folder_a_process_would_use_is_no_difference(upgraded, monkeypatch):
    from facepipe.core.config import process_settings
    from facepipe.core.deployment import differences

    home = process_settings().home.resolve()
    for name in ("FACEPIPE_ENROL_DIR", "FACEPIPE_DETECTOR", "FACEPIPE_MODEL", "FACEPIPE_START_DATE"):
        monkeypatch.delenv(name, raising=False)  # what earlier tests of the session may have left
    monkeypatch.setenv("FACEPIPE_SOURCE", f"{home}/photos/")
    monkeypatch.setenv("FACEPIPE_REPORTS_DIR", str(home / "reports"))
    assert [d.name for d in differences() if d.name in ("source", "reports_dir")] == []
    monkeypatch.setenv("FACEPIPE_SOURCE", "/srv/elsewhere")
    assert [d.name for d in differences() if d.name in ("source", "reports_dir")] == ["source"]
