// One page of user-item edges: the users of the page are given, so a page is bounded and stable.
MATCH (u:User)-[r:INTERACTED]->(i:Item)
WHERE u.id IN $user_ids
RETURN u.id AS user_id, i.id AS item_id, r.rating AS rating, r.behavior AS behavior,
       r.count AS count, r.last_ts AS last_ts
