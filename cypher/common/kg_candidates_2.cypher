// KG candidates, two entity hops: seeds -> entities -> items -> entities -> candidates.
// Each hop keeps only its strongest nodes: $max_entities entities, $max_frontier intermediate items.
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(p:Item)
WHERE coalesce(r.rating >= $min_rating, r.behavior IN $positive_behaviors)
WITH u, p, r.last_ts AS ts
ORDER BY ts DESC, p.id
LIMIT $max_seeds
MATCH (p)-[]->(e)
WITH u, e, count(*) AS shared
ORDER BY shared DESC, e.id
LIMIT $max_entities
MATCH (e)<-[]-(m:Item)
WITH u, m, sum(shared) AS weight
ORDER BY weight DESC, m.id
LIMIT $max_frontier
MATCH (m)-[]->(e2)
WITH u, e2, sum(weight) AS weight2
ORDER BY weight2 DESC, e2.id
LIMIT $max_entities
MATCH (e2)<-[]-(c:Item)
WHERE NOT EXISTS { MATCH (u)-[:INTERACTED]->(c) }
RETURN c.id AS item_id, sum(weight2) AS paths
ORDER BY paths DESC, item_id
LIMIT $limit
