-- What a load of this run would remove from its (day, source): images the day
-- holds from the source whose URI the run did not stage as an image.
SELECT
    count(*)                                                         AS held,
    count(*) FILTER (WHERE NOT EXISTS (
        SELECT 1 FROM {schema}.stage_images AS s
        WHERE s.day = i.day AND s.run_id = %(run_id)s AND s.image_id = i.image_id)) AS removed
FROM {schema}.images AS i
WHERE i.day = %(day)s AND i.source = %(source)s;
