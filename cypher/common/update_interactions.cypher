// Changed properties of stored interactions; the key (user, item, behavior) stays.
UNWIND $rows AS row
MATCH (u:User {id: row.user_id})-[r:INTERACTED {behavior: row.behavior}]->(i:Item {id: row.item_id})
SET r.rating = row.rating, r.count = row.count, r.last_ts = row.last_ts
