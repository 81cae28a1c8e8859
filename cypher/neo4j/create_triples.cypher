// Knowledge-graph edges with an endpoint this ingest created: no other writer can have linked that node yet, so
// CREATE needs no MERGE's relationship scan.
UNWIND range(0, size($head) - 1) AS k
MATCH (i:Item {id: $head[k]})
MATCH (e:{kind} {id: $tail[k]})
CREATE (i)-[:{relation}]->(e)
