// Relationships per type, without those of an unfinished ingest (a staged user or item at one end).
MATCH (a)-[r]->(b)
WHERE NOT a:{staged_user} AND NOT b:{staged_item}
RETURN type(r) AS type, count(*) AS n
