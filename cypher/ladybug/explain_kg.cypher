// Three-hop knowledge-graph paths: user -> item p -> entity <- item. The target item's few entities come first
// and the user's items are then matched against them (on LadybugDB about half the time of one pattern from the
// target item to the user). Every path comes back unordered, and graph.explain picks the best k: LadybugDB's
// ORDER BY costs several times the match it sorts.
MATCH (c:Item {id: $item_id})-[k2]->(e)
WITH c, k2, e
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(p:Item)-[k1]->(e)
WHERE p.id <> c.id
RETURN p.id AS via_item, p.title AS via_title, c.title AS title, r.rating AS rating, r.behavior AS behavior,
       r.count AS count, r.last_ts AS last_ts, label(k1) AS via_relation, label(e) AS entity_kind, e.id AS entity,
       label(k2) AS relation
