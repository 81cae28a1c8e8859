// Items whose title contains $text (any case), most interacted-with first: the console's item picker.
MATCH (i:Item)
WHERE toLower(coalesce(i.title, '')) CONTAINS toLower($text)
OPTIONAL MATCH (:User)-[r:INTERACTED]->(i)
RETURN i.id AS item_id, i.title AS title, count(r) AS interactions
ORDER BY interactions DESC, item_id
LIMIT $limit
