MATCH (i:Item)
RETURN i.id AS id, i.title AS title
