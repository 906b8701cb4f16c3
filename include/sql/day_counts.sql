-- What one source holds for a day (the counts of a load_runs row).
SELECT
    (SELECT count(*) FROM {schema}.images
      WHERE day = %(day)s AND source = %(source)s AND status = 'loaded')    AS images,
    (SELECT count(*) FROM {schema}.images
      WHERE day = %(day)s AND source = %(source)s AND status = 'duplicate') AS duplicates,
    (SELECT count(*) FROM {schema}.faces WHERE day = %(day)s AND source = %(source)s) AS faces,
    (SELECT count(*) FROM {schema}.rejects WHERE day = %(day)s AND source = %(source)s) AS rejects;
