// Interactions between nodes that existed before this ingest, and changes to stored ones: merged, since the
// feedback writer may add the same (user, item, behavior) at any time. On a stored relationship counts and times
// only move up, and a rating only replaces one that is not newer, so re-ingesting a source keeps feedback.
UNWIND range(0, size($user_id) - 1) AS k
MATCH (u:User {id: $user_id[k]})
MATCH (i:Item {id: $item_id[k]})
MERGE (u)-[r:INTERACTED {behavior: $behavior[k]}]->(i)
ON CREATE SET r.rating = $rating[k], r.count = $count[k], r.last_ts = $last_ts[k]
ON MATCH SET r.rating = CASE WHEN $last_ts[k] >= r.last_ts THEN $rating[k] ELSE r.rating END,
             r.count = CASE WHEN $count[k] > r.count THEN $count[k] ELSE r.count END,
             r.last_ts = CASE WHEN $last_ts[k] > r.last_ts THEN $last_ts[k] ELSE r.last_ts END
