// Which of the given ids a label already holds (a few suffice to name them in an error).
MATCH (n:{label})
WHERE n.id IN $ids
RETURN n.id AS id
LIMIT 5
