"""face_report's day reports: relational filters mixed with vector similarity, written
to report tables keyed by day and to an HTML page and CSV files."""
