SELECT person_id, content_sha256 FROM {schema}.person_refs;
