// Positive feedback from the service into the graph: one relationship per (user, item, behavior), events
// counted, the latest rating and time kept (a missing count or time counts as none yet). Users may be new;
// items must exist (MATCH, not MERGE). The stream consumer's watermark ($applied_key: the last stream entry
// written) is set in the same statement, so a batch retried after a commit the writer never saw confirmed is
// recognised and not counted twice. The writer merges a batch to one row per key
// (serving.feedback_writer.merge_rows).
UNWIND $rows AS row
MATCH (i:Item {id: row.item_id})
MERGE (u:User {id: row.user_id})
MERGE (u)-[r:INTERACTED {behavior: row.behavior}]->(i)
ON CREATE SET r.rating = toFloat(row.rating), r.count = row.count, r.last_ts = row.last_ts
ON MATCH SET r.rating = coalesce(toFloat(row.rating), r.rating), r.count = coalesce(r.count, 0) + row.count,
             r.last_ts = CASE WHEN r.last_ts IS NULL OR row.last_ts > r.last_ts THEN row.last_ts ELSE r.last_ts END
WITH count(*) AS written
MERGE (m:GraphMeta {key: $applied_key})
SET m.value = $applied_id
