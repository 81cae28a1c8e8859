UNWIND $rows AS row
MATCH (i:Item {id: row.head})
MATCH (e:{kind} {id: row.tail})
MERGE (i)-[:{relation}]->(e)
