// One page of users' interactions as one record of column lists: a few large lists decode far faster than a
// record per relationship. A missing rating is NaN, so the columns stay aligned (collect skips nulls).
MATCH (u:User)-[r:INTERACTED]->(i:Item)
WHERE u.id IN $user_ids
RETURN collect(u.id) AS user_id, collect(i.id) AS item_id, collect(coalesce(r.rating, 0.0 / 0.0)) AS rating,
       collect(r.behavior) AS behavior, collect(r.count) AS count, collect(r.last_ts) AS last_ts
