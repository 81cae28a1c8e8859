// Three-hop collaborative paths: user -> item p <- co-users -> item, one row per p. The co-users are counted,
// never named: an explanation tells a user nothing about who the other users are. $max_rows bounds the users of
// the item that are looked at, so a popular item cannot make one explanation walk its whole audience; above it
// the counts are of those users only (which ones is the engine's choice).
MATCH (c:Item {id: $item_id})<-[:INTERACTED]-(v:User)
WHERE v.id <> $user_id
WITH c, v
LIMIT $max_rows
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(p:Item)<-[:INTERACTED]-(v)
WHERE p.id <> c.id
RETURN p.id AS via_item, p.title AS via_title, c.title AS title, r.rating AS rating, r.behavior AS behavior,
       count(DISTINCT v) AS co_users
ORDER BY co_users DESC, via_item, behavior
LIMIT $k
