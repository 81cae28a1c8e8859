// Knowledge-graph edges with an endpoint this ingest created (see create_interactions).
UNWIND range(0, size($head) - 1) AS k
MATCH (i:Item {id: $head[k]})
MATCH (e:{kind} {id: $tail[k]})
CREATE (i)-[:{relation}]->(e)
