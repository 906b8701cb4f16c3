-- 3. Recurring unknown faces: faces of the day that match no enrolled person
-- but have at least %(min_neighbours)s close faces in the %(lookback_days)s days
-- before. The neighbour search is one ANN query per face over the lookback
-- partitions (pruned by day, one HNSW scan each, merged): the nearest
-- %(max_neighbours)s, of which those within the threshold count. The distance
-- filter stays outside the LIMIT, as pgvector advises, so each scan is bounded.
INSERT INTO {schema}.report_recurring_unknowns
    (day, image_id, face_no, neighbours, days_seen, first_seen, uri, source, captured_at,
     box_x, box_y, box_w, box_h)
SELECT f.day, f.image_id, f.face_no, n.neighbours, n.days_seen, n.first_seen,
       i.uri, f.source, i.captured_at, f.box_x, f.box_y, f.box_w, f.box_h
FROM {schema}.faces AS f
JOIN {schema}.images AS i USING (day, image_id)
CROSS JOIN LATERAL (
    SELECT count(*) AS neighbours, count(DISTINCT g.day) AS days_seen, min(g.day) AS first_seen
    FROM (
        SELECT g.day, g.embedding {op} f.embedding AS distance
        FROM {schema}.faces AS g
        WHERE g.day >= %(day)s::date - %(lookback_days)s AND g.day < %(day)s::date
        ORDER BY g.embedding {op} f.embedding
        LIMIT %(max_neighbours)s
    ) AS g
    WHERE g.distance < %(threshold)s
) AS n
WHERE f.day = %(day)s
  AND n.neighbours >= %(min_neighbours)s
  AND NOT EXISTS (
      SELECT 1 FROM {schema}.person_refs AS r
      WHERE r.embedding {op} f.embedding < %(threshold)s
  );
