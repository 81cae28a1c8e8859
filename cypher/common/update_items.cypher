UNWIND $rows AS row
MATCH (i:Item {id: row.id})
SET i.title = row.title
