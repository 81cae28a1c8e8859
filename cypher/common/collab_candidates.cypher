// Collaborative candidates: recent positive items <- co-users -> their positive items.
// $max_rows bounds the co-user expansion, so a popular seed cannot make one request touch the whole
// table; $max_neighbours keeps the co-users with the largest overlap. Which co-user rows fit under $max_rows is
// the engine's choice, so ties are left to it too (an id tie-break here costs LadybugDB ~130 ms a request and
// would not make the result deterministic).
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(p:Item)
WHERE coalesce(r.rating >= $min_rating, r.behavior IN $positive_behaviors)
WITH u, p, r.last_ts AS ts
ORDER BY ts DESC
LIMIT $max_seeds
MATCH (p)<-[r2:INTERACTED]-(v:User)
WHERE v.id <> u.id AND coalesce(r2.rating >= $min_rating, r2.behavior IN $positive_behaviors)
WITH u, v
LIMIT $max_rows
WITH u, v, count(*) AS overlap
ORDER BY overlap DESC
LIMIT $max_neighbours
MATCH (v)-[r3:INTERACTED]->(c:Item)
WHERE coalesce(r3.rating >= $min_rating, r3.behavior IN $positive_behaviors)
  AND NOT EXISTS { MATCH (u)-[:INTERACTED]->(c) }
RETURN c.id AS item_id, sum(overlap) AS paths
ORDER BY paths DESC, item_id
LIMIT $limit
