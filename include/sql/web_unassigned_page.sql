-- One page of the Faces view's Unassigned page: groups of pooled faces, largest first
-- (unassigned_groups_size index; a page reads its LIMIT + OFFSET rows of that small table,
-- never the pool), each with its largest faces and the identity it looks like.
WITH page AS (
    SELECT g.group_id, g.size, g.near_identity, g.near_distance
    FROM {schema}.unassigned_groups AS g
    WHERE g.size >= %(min_size)s AND g.size <= %(max_size)s
      AND EXISTS (SELECT 1 FROM {schema}.unassigned_members AS e WHERE e.group_id = g.group_id)  -- not emptied since
    ORDER BY g.size DESC, g.group_id
    LIMIT %(limit)s OFFSET %(offset)s
)
-- the identity it looks like: not one merged away since, nor a hidden one (out of the view's pages)
SELECT page.group_id, page.size,
       CASE WHEN ni.hidden_at IS NULL THEN ni.identity_id END AS near_identity,
       CASE WHEN ni.hidden_at IS NULL THEN page.near_distance END AS near_distance,
       CASE WHEN ni.hidden_at IS NULL THEN p.name END AS near_name,
       live.faces AS live, m.day, m.image_id, f.face_no, im.uri
FROM page
LEFT JOIN {schema}.identities AS ni ON ni.identity_id = page.near_identity
LEFT JOIN {schema}.people AS p ON p.person_id = ni.person_id
CROSS JOIN LATERAL (
    SELECT count(*) AS faces FROM {schema}.unassigned_members AS c WHERE c.group_id = page.group_id
) AS live
JOIN LATERAL (
    SELECT u.day, u.image_id, u.box_x, u.box_y, u.box_w, u.box_h
    FROM {schema}.unassigned_members AS u
    WHERE u.group_id = page.group_id
    ORDER BY u.box_w * u.box_h DESC, u.day DESC, u.image_id
    LIMIT %(faces)s
) AS m ON true
JOIN {schema}.faces AS f
  ON f.day = m.day AND f.image_id = m.image_id
 AND (f.box_x, f.box_y, f.box_w, f.box_h) = (m.box_x, m.box_y, m.box_w, m.box_h)
JOIN {schema}.images AS im ON im.day = f.day AND im.image_id = f.image_id
ORDER BY page.size DESC, page.group_id, m.box_w * m.box_h DESC, m.day DESC, m.image_id;
