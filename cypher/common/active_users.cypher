// The most recently active users: whose candidate sets the service computes into the cache at start.
MATCH (u:User)-[r:INTERACTED]->(:Item)
RETURN u.id AS user_id, max(r.last_ts) AS last_ts
ORDER BY last_ts DESC, user_id
LIMIT $limit
