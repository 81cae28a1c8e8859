// Removes every node and relationship: used by the Neo4j tests to start from an empty database.
MATCH (n)
DETACH DELETE n
