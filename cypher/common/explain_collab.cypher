// Three-hop collaborative paths: user -> item p <- co-users -> item, one row per p. The co-users are counted,
// never named: an explanation tells a user nothing about who the other users are.
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(p:Item)<-[:INTERACTED]-(v:User)-[:INTERACTED]->(c:Item {id: $item_id})
WHERE v.id <> u.id AND p.id <> c.id
RETURN p.id AS via_item, p.title AS via_title, c.title AS title, r.rating AS rating, r.behavior AS behavior,
       count(DISTINCT v) AS co_users
ORDER BY co_users DESC, via_item, behavior
LIMIT $k
