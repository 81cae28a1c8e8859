// Three-hop collaborative paths: user -> item p <- co-users -> item, one row per p. The co-users are counted,
// never named: an explanation tells a user nothing about who the other users are. $max_rows bounds the
// (item p, co-user) pairs that are looked at, so a user with a long history or a popular item cannot make one
// explanation walk a whole audience; above it the counts are of those pairs only (which ones is the engine's
// choice). One pattern from both ends lets the engine join the user's side with the item's audience (on
// LadybugDB a third of the time of expanding the audience first).
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(p:Item)<-[:INTERACTED]-(v:User)-[:INTERACTED]->(c:Item {id: $item_id})
WHERE p.id <> c.id AND v.id <> u.id
WITH r, p, c, v
LIMIT $max_rows
RETURN p.id AS via_item, p.title AS via_title, c.title AS title, r.rating AS rating, r.behavior AS behavior,
       count(DISTINCT v) AS co_users
ORDER BY co_users DESC, via_item, behavior
LIMIT $k
