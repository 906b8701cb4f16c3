"""facepipe: photos that land every day become a face index in PostgreSQL with pgvector.

Subpackages by capability, each importing only the ones below it (import-linter's
contracts in pyproject.toml, checked by ``make lint``):

    ops        the command line, the local Airflow, the demo and its sample photos
    privacy    forget a person or a photo, retention, the report readers' role
    people     identities night by night, enrolment, naming, merging, moving
    reports    the day's report tables, HTML page and CSV files
    ingest     the nightly path: plan, process shards, validate, load, index
    search     faces like the face in a photo, over a day range
    models     decoding, face detectors and embedding models (no database)
    core       settings, the database, the schema, the photo sources, the audit and
               the suppressions that ingest and privacy both read
"""
