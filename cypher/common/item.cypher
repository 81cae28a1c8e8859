MATCH (i:Item {id: $item_id})
RETURN i.id AS id, i.title AS title
