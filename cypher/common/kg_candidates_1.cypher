// KG candidates, one entity hop: recent positive items -> shared entities -> other items.
// paths = number of distinct (seed item, entity) paths reaching the candidate.
// Caps: $max_seeds most recent positives; $max_entities entities, the most shared first. Ties are broken
// by id at every cap, so both backends keep the same seeds and entities.
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(p:Item)
WHERE coalesce(r.rating >= $min_rating, r.behavior IN $positive_behaviors)
WITH u, p, r.last_ts AS ts
ORDER BY ts DESC, p.id
LIMIT $max_seeds
MATCH (p)-[]->(e)
WITH u, e, count(*) AS shared
ORDER BY shared DESC, e.id
LIMIT $max_entities
MATCH (e)<-[]-(c:Item)
WHERE NOT EXISTS { MATCH (u)-[:INTERACTED]->(c) }
RETURN c.id AS item_id, sum(shared) AS paths
ORDER BY paths DESC, item_id
LIMIT $limit
