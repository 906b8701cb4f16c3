"""What every capability stands on: settings, connections and the schema, model specs,
days, photo sources, the audit table and the suppressions of forgotten faces."""
