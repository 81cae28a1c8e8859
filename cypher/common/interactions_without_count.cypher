// Interactions whose count or time is missing (feedback batches that met one key twice before the writer
// merged its batches wrote them so): what serving.feedback_repair rebuilds.
MATCH (u:User)-[r:INTERACTED]->(i:Item)
WHERE r.count IS NULL OR r.last_ts IS NULL
RETURN u.id AS user_id, i.id AS item_id, r.behavior AS behavior, r.count AS count, r.last_ts AS last_ts
