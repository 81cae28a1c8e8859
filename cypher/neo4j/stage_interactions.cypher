// Interactions with an endpoint this ingest creates, in transactions of $rows rows: invisible while that endpoint
// is staged, since every read matches User and Item by label. Endpoints are found by internal id, read just before
// (several seconds cheaper per million rows than an index seek): no other writer deletes a user or an item, and the
// ingest lock keeps another ingest from clearing this one's staging, so an id names the same node throughout.
UNWIND range(0, size($user_node) - 1) AS k
CALL (k) {
  MATCH (u) WHERE id(u) = $user_node[k]
  MATCH (i) WHERE id(i) = $item_node[k]
  CREATE (u)-[:INTERACTED {behavior: $behavior[k], rating: $rating[k], count: $count[k], last_ts: $last_ts[k]}]->(i)
} IN TRANSACTIONS OF $rows ROWS
