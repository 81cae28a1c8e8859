// Titles of the given items (one query for a whole slate).
MATCH (i:Item)
WHERE i.id IN $item_ids
RETURN i.id AS id, i.title AS title
