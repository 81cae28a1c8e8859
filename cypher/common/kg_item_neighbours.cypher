// Items sharing knowledge-graph entities with the seed items (a session's recent positives, or the items
// of a request): the KG candidates of the request path, for known and cold-start users alike.
// paths = number of distinct (seed item, entity) paths reaching the candidate.
// Caps: $max_entities entities, the most shared among the seeds first.
MATCH (p:Item)-[]->(e)
WHERE p.id IN $item_ids
WITH e, count(*) AS shared
ORDER BY shared DESC, e.id
LIMIT $max_entities
MATCH (e)<-[]-(c:Item)
WHERE NOT c.id IN $item_ids
RETURN c.id AS item_id, sum(shared) AS paths
ORDER BY paths DESC, item_id
LIMIT $limit
