// {id_type} is INT64 or STRING, fixed by the first ingest: ids are stored exactly as the source gave them.
CREATE NODE TABLE IF NOT EXISTS User(id {id_type}, PRIMARY KEY(id))
