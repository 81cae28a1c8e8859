// Item-entity edges of one relation type towards one entity kind.
MATCH (i:Item)-[:{relation}]->(e:{kind})
RETURN i.id AS head, e.id AS tail
