// Positive feedback from the service into the graph: one relationship per (user, item, behavior), events
// counted, the latest rating and time kept. Users may be new; items must exist (MATCH, not MERGE).
UNWIND $rows AS row
MATCH (i:Item {id: row.item_id})
MERGE (u:User {id: row.user_id})
MERGE (u)-[r:INTERACTED {behavior: row.behavior}]->(i)
ON CREATE SET r.rating = toFloat(row.rating), r.count = row.count, r.last_ts = row.last_ts
ON MATCH SET r.rating = coalesce(toFloat(row.rating), r.rating), r.count = r.count + row.count,
             r.last_ts = CASE WHEN row.last_ts > r.last_ts THEN row.last_ts ELSE r.last_ts END
