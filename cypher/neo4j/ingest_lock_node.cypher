// The node an ingest locks (see take_ingest_lock), created once behind its uniqueness constraint.
MERGE (:{label} {id: $id})
