UNWIND $rows AS row
MATCH (u:User {id: row.user_id})
MATCH (i:Item {id: row.item_id})
MERGE (u)-[r:INTERACTED {behavior: row.behavior}]->(i)
SET r.rating = row.rating, r.count = row.count, r.last_ts = row.last_ts
