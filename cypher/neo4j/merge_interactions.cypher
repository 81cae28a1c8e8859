// Interactions between nodes that existed before this ingest: merged, since the feedback writer may add the
// same (user, item, behavior) at any time.
UNWIND range(0, size($user_id) - 1) AS k
MATCH (u:User {id: $user_id[k]})
MATCH (i:Item {id: $item_id[k]})
MERGE (u)-[r:INTERACTED {behavior: $behavior[k]}]->(i)
SET r.rating = $rating[k], r.count = $count[k], r.last_ts = $last_ts[k]
