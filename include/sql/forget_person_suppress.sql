-- A person's suppressions: the photo and box of each face a forget removes, and of each
-- of their reference photos (so that enrolling the same folder again skips them). A
-- video's face also keeps its frame time (another track at the same place is not it).
INSERT INTO {schema}.suppressions (content_sha256, box_x, box_y, box_w, box_h, frame_s, op_no)
SELECT content_sha256, box_x, box_y, box_w, box_h, frame_s, %(op_no)s FROM forget_faces
UNION
SELECT content_sha256, box_x, box_y, box_w, box_h, NULL::real, %(op_no)s FROM {schema}.person_refs
WHERE person_id = %(person_id)s;
