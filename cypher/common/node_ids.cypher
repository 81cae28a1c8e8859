// Ids of every node of one label, for diffing an ingest against what is stored.
MATCH (n:{label})
RETURN n.id AS id
