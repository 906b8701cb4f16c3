-- block_future: the one vector a forget keeps, the mean of the person's reference photos,
-- else their identity's centroid (no row when they have neither).
INSERT INTO {schema}.forget_templates (op_no, template, threshold)
SELECT %(op_no)s, coalesce(
           (SELECT avg(embedding) FROM {schema}.person_refs WHERE person_id = %(person_id)s),
           (SELECT centroid FROM {schema}.identities WHERE identity_id = %(identity_id)s)),
       %(threshold)s
WHERE coalesce(
          (SELECT avg(embedding) FROM {schema}.person_refs WHERE person_id = %(person_id)s),
          (SELECT centroid FROM {schema}.identities WHERE identity_id = %(identity_id)s)) IS NOT NULL;
