// One metadata value by key (none when the key is absent).
MATCH (m:GraphMeta {key: $key})
RETURN m.value AS value
