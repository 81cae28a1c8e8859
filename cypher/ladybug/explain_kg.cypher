// Three-hop knowledge-graph paths: user -> item p -> entity <- item. Starts from the target item, whose
// few entities bound the expansion better than the user's whole history.
MATCH (c:Item {id: $item_id})-[k2]->(e)<-[k1]-(p:Item)<-[r:INTERACTED]-(u:User {id: $user_id})
WHERE p.id <> c.id
RETURN p.id AS via_item, p.title AS via_title, c.title AS title, r.rating AS rating, r.behavior AS behavior,
       label(k1) AS via_relation, label(e) AS entity_kind, e.id AS entity, label(k2) AS relation
ORDER BY coalesce(rating, 0.0) DESC, r.count DESC, r.last_ts DESC, via_item, entity, relation
LIMIT $k
