SELECT uri, arrived_at FROM {schema}.first_seen WHERE uri = ANY(%(uris)s);
