// Changed properties of stored interactions; the key (user, item, behavior) stays. Counts and times only move
// up, and a rating only replaces one that is not newer: re-ingesting a source after /v1/feedback added events
// keeps them (the feedback writer counts them onto the same relationships).
UNWIND $rows AS row
MATCH (u:User {id: row.user_id})-[r:INTERACTED {behavior: row.behavior}]->(i:Item {id: row.item_id})
SET r.rating = CASE WHEN row.last_ts >= r.last_ts THEN CAST(row.rating AS DOUBLE) ELSE r.rating END,
    r.count = CASE WHEN row.count > r.count THEN row.count ELSE r.count END,
    r.last_ts = CASE WHEN row.last_ts > r.last_ts THEN row.last_ts ELSE r.last_ts END
