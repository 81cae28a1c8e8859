// Users whose id, as text, starts with $prefix, shortest first: the console's user suggestions.
MATCH (u:User)
WITH u, CAST(u.id AS STRING) AS text
WHERE text STARTS WITH $prefix
RETURN u.id AS user_id
ORDER BY size(text), text
LIMIT $limit
