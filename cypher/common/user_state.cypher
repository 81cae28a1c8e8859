// What a user's session state needs from the graph: the items they interacted with, newest first, and whether
// each interaction is a positive one (a rating at or above $min_rating, or a positive behaviour). Leaner than
// user_history: no titles, and the positive rule applied by the engine.
MATCH (:User {id: $user_id})-[r:INTERACTED]->(i:Item)
RETURN i.id AS item_id, coalesce(r.rating >= $min_rating, r.behavior IN $positive_behaviors) AS positive
ORDER BY r.last_ts DESC, item_id
LIMIT $limit
