// An ingest's staged nodes become visible: the label's uniqueness constraint refuses one that another writer
// created since the plan, which rolls back the whole publish.
MATCH (n:{staged} {ingest: $token})
SET n:{label}
REMOVE n:{staged}, n.ingest
RETURN count(n) AS n
