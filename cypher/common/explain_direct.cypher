// The one-hop path: the user already interacted with the item.
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(c:Item {id: $item_id})
RETURN c.title AS title, r.rating AS rating, r.behavior AS behavior, r.count AS count
ORDER BY r.count DESC, behavior
LIMIT $k
