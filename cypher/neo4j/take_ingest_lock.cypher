// Takes the ingest lock: a write to the lock node in a transaction the ingest keeps open to its end and then rolls
// back. A second ingest blocks here until then (or its query timeout); the server releases the lock by itself when
// the ingesting process or its connection dies.
MATCH (l:{label} {id: $id})
SET l.holder = $token
RETURN count(l) AS n
