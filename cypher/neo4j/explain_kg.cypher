// Three-hop knowledge-graph paths: user -> item p -> entity <- item (see the LadybugDB twin, which returns every
// path). The order is graph.explain's: the best k come back.
MATCH (c:Item {id: $item_id})-[k2]->(e)<-[k1]-(p:Item)<-[r:INTERACTED]-(u:User {id: $user_id})
WHERE p.id <> c.id
RETURN p.id AS via_item, p.title AS via_title, c.title AS title, r.rating AS rating, r.behavior AS behavior,
       r.count AS count, r.last_ts AS last_ts, type(k1) AS via_relation, labels(e)[0] AS entity_kind,
       e.id AS entity, type(k2) AS relation
ORDER BY coalesce(rating, 0.0) DESC, r.count DESC, r.last_ts DESC, via_item, entity, relation
LIMIT $k
