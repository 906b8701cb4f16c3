SELECT
    (SELECT count(*) FROM {schema}.images WHERE day = %(day)s AND status = 'loaded')    AS images,
    (SELECT count(*) FROM {schema}.images WHERE day = %(day)s AND status = 'duplicate') AS duplicates,
    (SELECT count(*) FROM {schema}.faces WHERE day = %(day)s)                           AS faces,
    (SELECT count(*) FROM {schema}.rejects WHERE day = %(day)s)                         AS rejects;
