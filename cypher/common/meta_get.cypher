MATCH (m:GraphMeta)
RETURN m.key AS key, m.value AS value
