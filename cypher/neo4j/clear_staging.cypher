// Staged nodes left by an ingest that failed (a stopped server, a refused publish), with their relationships.
MATCH (n:{staged})
CALL (n) {
  DETACH DELETE n
} IN TRANSACTIONS OF 200 ROWS
