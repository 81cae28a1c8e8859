UNWIND $rows AS row
MERGE (:{label} {id: row.id})
