-- A search generation's table: a copy of the faces' key, source, box and vector (the
-- vector type of the schema's model); its HNSW graph is built after the copy.
CREATE TABLE {schema}.{sealed} (
    day       date     NOT NULL,
    image_id  uuid     NOT NULL,
    face_no   smallint NOT NULL,
    source    text     NOT NULL,
    box_x     integer  NOT NULL,
    box_y     integer  NOT NULL,
    box_w     integer  NOT NULL,
    box_h     integer  NOT NULL,
    embedding {vector_type} NOT NULL
) WITH (parallel_workers = 2);
