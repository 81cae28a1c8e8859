// Interactions with an endpoint this ingest created: no other writer can have linked that node yet (it is
// locked until the commit), so CREATE needs no MERGE's relationship scan over dense user and item nodes.
UNWIND range(0, size($user_id) - 1) AS k
MATCH (u:User {id: $user_id[k]})
MATCH (i:Item {id: $item_id[k]})
CREATE (u)-[:INTERACTED {behavior: $behavior[k], rating: $rating[k], count: $count[k], last_ts: $last_ts[k]}]->(i)
