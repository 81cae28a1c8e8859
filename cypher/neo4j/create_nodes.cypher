// Nodes the upsert plan found absent, created (not merged): the uniqueness constraint on id refuses one that
// another writer added since, which rolls back the whole ingest instead of hiding the race.
UNWIND $id AS id
CREATE (:{label} {id: id})
