-- Photos with a face in each of two identities (a merge of them is refused).
SELECT DISTINCT x.day, x.image_id, i.uri
FROM {schema}.face_identity AS x
JOIN {schema}.face_identity AS y ON y.day = x.day AND y.image_id = x.image_id
JOIN {schema}.images AS i ON i.day = x.day AND i.image_id = x.image_id
WHERE x.identity_id = %(a)s AND y.identity_id = %(b)s
ORDER BY x.day, i.uri
LIMIT %(limit)s;
