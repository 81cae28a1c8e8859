MATCH (u:User {id: $user_id})-[r:INTERACTED]->(i:Item)
RETURN i.id AS item_id, i.title AS title, r.rating AS rating, r.behavior AS behavior,
       r.count AS count, r.last_ts AS last_ts
ORDER BY last_ts DESC, item_id, behavior
LIMIT $limit
