MERGE (m:GraphMeta {key: $key})
SET m.value = $value
