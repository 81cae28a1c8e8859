// Knowledge-graph edges between nodes that existed before this ingest.
UNWIND range(0, size($head) - 1) AS k
MATCH (i:Item {id: $head[k]})
MATCH (e:{kind} {id: $tail[k]})
MERGE (i)-[:{relation}]->(e)
