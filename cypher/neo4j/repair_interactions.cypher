// Sets the count and time of interactions that have none (serving.feedback_repair), and the rating where the
// stream still holds one; an interaction given a count since is left alone.
UNWIND $rows AS row
MATCH (u:User {id: row.user_id})-[r:INTERACTED {behavior: row.behavior}]->(i:Item {id: row.item_id})
WHERE r.count IS NULL OR r.last_ts IS NULL
SET r.count = coalesce(r.count, row.count), r.last_ts = coalesce(r.last_ts, row.last_ts),
    r.rating = coalesce(r.rating, toFloat(row.rating))
RETURN count(*) AS repaired
