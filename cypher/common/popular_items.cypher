// The most interacted-with items: the cold-start fallback.
MATCH (:User)-[r:INTERACTED]->(i:Item)
RETURN i.id AS item_id, count(r) AS interactions
ORDER BY interactions DESC, item_id
LIMIT $limit
