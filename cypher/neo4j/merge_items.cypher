// Items that exist: a title given in the input replaces the stored one, a missing title keeps it.
UNWIND range(0, size($id) - 1) AS k
MERGE (i:Item {id: $id[k]})
SET i.title = coalesce($title[k], i.title)
