"""The nightly path of face_ingest: plan a day, process its shards, validate, load the
day's partitions and index them. It never imports people, reports or privacy."""
