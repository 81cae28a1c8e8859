// Internal ids of stored nodes that staged relationships attach to.
UNWIND $ids AS id
MATCH (n:{label} {id: id})
RETURN n.id AS id, id(n) AS node
